"""The cluster's match directory: this node's authoritative matches, told to every other
node, and a copy of theirs (:class:`~nakama_rt.core.match_directory.IMatchDirectory`).

Told like presences: a change is one message to every node (batched per reactor turn),
a node that joins gets everyone's matches in answer to its hello, a node that comes
back from a Redis outage tells all of its own again, and a dead node's are forgotten.
"""

from __future__ import annotations

from collections.abc import Iterable

import orjson
from zope.interface import implementer

from nakama_rt.cluster.bus import ClusterBus
from nakama_rt.core.match_directory import IMatchDirectory
from nakama_rt.core.refs import ListedMatch

#: The message kind on the bus.
MATCHES = b"M"


def _put_op(match: ListedMatch) -> list[object]:
    return [
        "+",
        match.subject,
        match.label,
        match.tick_rate,
        match.handler_name,
        match.create_time,
    ]


@implementer(IMatchDirectory)
class ClusterMatchDirectory:
    """Reactor thread only."""

    def __init__(self, bus: ClusterBus) -> None:
        self._bus = bus
        self._own: dict[str, ListedMatch] = {}
        #: The other nodes' matches: node -> subject -> match.
        self._theirs: dict[str, dict[str, ListedMatch]] = {}

    def put(self, match: ListedMatch) -> None:
        self._own[match.subject] = match
        self._bus.broadcast(MATCHES, orjson.dumps([_put_op(match)]))

    def remove(self, subject: str) -> None:
        if self._own.pop(subject, None) is not None:
            self._bus.broadcast(MATCHES, orjson.dumps([["-", subject]]))

    def others(self) -> Iterable[ListedMatch]:
        return [match for matches in self._theirs.values() for match in matches.values()]

    def find(self, subject: str, node: str) -> ListedMatch | None:
        return self._theirs.get(node, {}).get(subject)

    def tell_all(self, node: str | None = None) -> None:
        """Every match of this node, replacing what ``node`` (None: every node) holds."""
        ops = orjson.dumps([["="], *(_put_op(match) for match in self._own.values())])
        self._bus.send_or_broadcast(node, MATCHES, ops)

    def forget(self, node: str) -> None:
        self._theirs.pop(node, None)

    def received(self, kind: bytes, sender: str, body: bytes) -> bool:
        if kind != MATCHES:
            return False
        theirs = self._theirs.setdefault(sender, {})
        for op in orjson.loads(body):
            if op[0] == "+":
                _, subject, label, tick_rate, handler_name, create_time = op
                theirs[subject] = ListedMatch(
                    subject, sender, label, tick_rate, handler_name, create_time
                )
            elif op[0] == "-":
                theirs.pop(op[1], None)
            elif op[0] == "=":
                theirs.clear()
        if not theirs:
            del self._theirs[sender]
        return True
