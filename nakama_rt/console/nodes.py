"""The console across a cluster: any node's console shows and acts on every node.

Sessions, authoritative matches, parties and a node's CPU and memory are that node's
own, so the console asks each node for them over the cluster's calls (one service,
``console``, whose payload names what is asked). Every node of a cluster answers it,
whether or not it serves a console itself. A node that does not answer within
:data:`ANSWER_TIMEOUT` (or died) is shown as such; what the others answered is still
shown. Outside a cluster the same questions are answered by this process alone.

Actions go to the node that holds what they act on: a disconnect to the session's
node, an end to the match's (the node in its id). Each is logged on that node with
the operator's name, and on the console's node too when that is another one.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import orjson
from twisted.internet.defer import Deferred, DeferredList, maybeDeferred

from nakama_rt.console.figures import (
    ConsoleSource,
    disconnect_session,
    end_match,
    find_sessions,
    list_channels,
    list_matches,
    list_parties,
    overview,
)
from nakama_rt.core.remote import IRemote, Served
from nakama_rt.logs import Logger

#: The service every node of a cluster serves for the others' consoles.
SERVICE = "console"
#: Seconds a console waits for another node's answer: a node that does not answer
#: slows the live overview by this much, not by a whole call timeout.
ANSWER_TIMEOUT = 2.0


@dataclass(frozen=True)
class NodeAnswer:
    """One node's answer, or why there is none."""

    node: str
    answer: Any = None
    problem: str = ""


class ConsoleNodes:
    """This node's console questions to every node, and its answers to theirs.
    Reactor thread only."""

    log = Logger()

    def __init__(
        self,
        source: ConsoleSource,
        remote: IRemote | None = None,
        peers: Callable[[], Collection[str]] = frozenset,
    ) -> None:
        self._source = source
        self._remote = remote
        self._peers = peers
        self.node = source.config.name
        #: What this node answers: question -> (arguments -> answer).
        self._questions: dict[str, Callable[[dict[str, Any]], Any]] = {
            "figures": lambda _: overview(source),
            "sessions": lambda a: find_sessions(source, a["q"], a["limit"]),
            "matches": lambda a: list_matches(source, a["q"], relayed=a["relayed"]),
            "parties": lambda _: list_parties(source),
            "channels": lambda _: list_channels(source),
            "disconnect": self._disconnect,
            "end_match": self._end_match,
        }
        if remote is not None:
            remote.serve(SERVICE, self._serve)

    def nodes(self) -> list[str]:
        """This node and every peer it can call, sorted."""
        return sorted({self.node, *self._peers()})

    def ask(self, node: str, question: str, **arguments: Any) -> Deferred[Any]:
        """``question`` answered by ``node`` (this one at once, another by a call)."""
        if node == self.node or self._remote is None:
            return maybeDeferred(self._answer, question, arguments)
        payload = orjson.dumps({"q": question, "a": arguments})
        asked = self._remote.call(node, SERVICE, payload, timeout=ANSWER_TIMEOUT)
        return asked.addCallback(orjson.loads)

    def ask_all(self, question: str, **arguments: Any) -> Deferred[list[NodeAnswer]]:
        """``question`` answered by every node, in node order; a node that failed to
        answer has its problem instead."""
        return self._ask_each(self.nodes(), question, arguments)

    def ask_others(self, question: str, **arguments: Any) -> Deferred[list[NodeAnswer]]:
        """As :meth:`ask_all`, without this node."""
        others = [node for node in self.nodes() if node != self.node]
        return self._ask_each(others, question, arguments)

    def _ask_each(
        self, nodes: list[str], question: str, arguments: dict[str, Any]
    ) -> Deferred[list[NodeAnswer]]:
        asked = [self.ask(node, question, **arguments) for node in nodes]

        def gathered(results: list[tuple[bool, Any]]) -> list[NodeAnswer]:
            answers = []
            for node, (ok, value) in zip(nodes, results, strict=True):
                if ok:
                    answers.append(NodeAnswer(node, value))
                else:
                    answers.append(NodeAnswer(node, problem=_problem(value)))
            return answers

        return DeferredList(asked, consumeErrors=True).addCallback(gathered)

    def _answer(self, question: str, arguments: dict[str, Any]) -> Any:
        return self._questions[question](arguments)

    def _serve(self, sender: str, payload: bytes) -> Served:
        asked = orjson.loads(payload)
        question = asked.get("q")
        if question not in self._questions:
            raise ValueError(f"unknown console question {question!r} from {sender}")
        return orjson.dumps(self._answer(question, asked.get("a") or {})), None

    def _disconnect(self, arguments: dict[str, Any]) -> str | None:
        username = disconnect_session(self._source, arguments["session_id"])
        if username is not None:
            self.log.info(
                "console: {operator} disconnected session {sid} ({username}) on {node}",
                operator=arguments["operator"],
                sid=arguments["session_id"],
                username=username,
                node=self.node,
            )
        return username

    def _end_match(self, arguments: dict[str, Any]) -> bool:
        ended = end_match(self._source, arguments["match_id"], arguments["grace"])
        if ended:
            self.log.info(
                "console: {operator} ended match {mid} (grace {grace} s) on {node}",
                operator=arguments["operator"],
                mid=arguments["match_id"],
                grace=arguments["grace"],
                node=self.node,
            )
        return ended


def _problem(failure: Any) -> str:
    error = getattr(failure, "value", failure)
    return f"no answer ({type(error).__name__}: {error})" if str(error) else "no answer"
