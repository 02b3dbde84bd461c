"""A socket request handled on the node where its match or party lives.

A player's ``party_promote`` or ``match_join`` names a party or match by an id that
ends with its node. When that is another node, the request goes there with its
:class:`~nakama_rt.core.pipeline.Requester` and the same handler answers it, as if
the socket were local: the answer (a reply, a refusal, or nothing) comes back and
the pipeline here sends it, with the hooks that run here. What the handler does
to others goes through the router and the tracker, which reach every node.

A node that is not live answers nothing: the request is handled here, where the
handler finds no such match or party and refuses it with its own words.

A resumed session's re-join of a match or party it held over its drop
(:mod:`nakama_rt.core.held`) is known on the session's node: the request carries the
held stream, which the home node holds for the session while it answers, so that
its answer is a fresh join's there too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from nakama_rt.core.held import HeldPresences
from nakama_rt.core.pipeline import (
    Answer,
    Dropped,
    ErrorCode,
    Handler,
    RealtimeError,
    Refusal,
    ReplyFirst,
    Requester,
)
from nakama_rt.core.remote import CallFailed, IRemote, NodeUnavailable, Served
from nakama_rt.core.tracker import PresenceStream
from nakama_rt.logs import Logger
from nakama_rt.wire.codec import Format, OutgoingEnvelope
from nakama_rt.wire.proto import realtime_pb2

SERVICE = "request"
#: ``home(request) -> node``: the node a request belongs to, "" for this one (or none).
Home = Callable[[realtime_pb2.Envelope], str]
#: ``joined(request) -> stream``: the match or party stream a join request names.
Joined = Callable[[realtime_pb2.Envelope], PresenceStream | None]

log = Logger()


def forwarded(
    handlers: Mapping[str, Handler],
    homes: Mapping[str, Home],
    remote: IRemote,
    one_way: frozenset[str] = frozenset(),
    joins: Mapping[str, Joined] | None = None,
    held: HeldPresences | None = None,
) -> dict[str, Handler]:
    """``handlers`` with each message of ``homes`` sent to its home node when that is
    another node, and serving the requests other nodes send here. A message in
    ``one_way`` is sent without waiting (its handler answers nothing when it works:
    ``match_data_send``, the busiest). A message of ``joins`` re-joining a stream
    ``held`` over a resume carries it to the home node."""
    held = held if held is not None else HeldPresences()
    joins = joins or {}
    local = dict(handlers)
    remote.serve(SERVICE, lambda sender, payload: _serve(local, held, sender, payload))
    table = dict(local)
    for message, home in homes.items():
        handler = local.get(message)
        if handler is not None:
            table[message] = _Forwarding(
                message, handler, home, remote, message in one_way, joins.get(message), held
            )
    return table


class _Forwarding:
    """One message's handler, run here or on its home node."""

    def __init__(
        self,
        message: str,
        handler: Handler,
        home: Home,
        remote: IRemote,
        one_way: bool,
        joined: Joined | None,
        held: HeldPresences,
    ) -> None:
        self._message = message
        self._handler = handler
        self._home = home
        self._remote = remote
        self._one_way = one_way
        self._joined = joined
        self._held = held

    def __call__(
        self, envelope: realtime_pb2.Envelope, requester: Requester
    ) -> Answer | Deferred[Any]:
        node = self._home(envelope)
        if not node or node == self._remote.node:
            return self._handler(envelope, requester)
        rejoined = self._joined(envelope) if self._joined is not None else None
        if rejoined is not None and not self._held.take(requester.session_id, rejoined):
            rejoined = None
        payload = _request(self._message, envelope, requester, rejoined)
        if self._one_way:
            self._remote.tell(node, SERVICE, payload)
            return None
        answered = self._remote.call(node, SERVICE, payload)
        return answered.addCallbacks(_answer, self._failed, errbackArgs=(node, envelope, requester))

    def _failed(
        self,
        failure: Failure,
        node: str,
        envelope: realtime_pb2.Envelope,
        requester: Requester,
    ) -> Any:
        if failure.check(NodeUnavailable):
            return self._handler(envelope, requester)  # "not found", in its own words
        if failure.check(CallFailed):
            raise RealtimeError(
                ErrorCode.RUNTIME_EXCEPTION, f"node {node} did not answer: {failure.value}"
            )
        return failure


# The wire between the nodes: a request, then its answer.


def _request(
    message: str,
    envelope: realtime_pb2.Envelope,
    requester: Requester,
    rejoined: PresenceStream | None = None,
) -> bytes:
    who = [
        requester.session_id,
        requester.user_id,
        requester.username,
        requester.format.value,
        dict(requester.vars) if requester.vars is not None else None,
        requester.lang,
        requester.expiry,
        requester.client_ip,
        requester.client_port,
    ]
    held = (
        [rejoined.mode, rejoined.subject, rejoined.subcontext, rejoined.label] if rejoined else None
    )
    return orjson.dumps([message, who, held]) + b"\n" + envelope.SerializeToString()


def _serve(
    handlers: Mapping[str, Handler], held: HeldPresences, sender: str, payload: bytes
) -> Served | Deferred:
    """Run a request another node forwarded here; its answer, encoded."""
    header, _, body = payload.partition(b"\n")
    message, who, rejoined = orjson.loads(header)
    session_id, user_id, username, fmt, vars_, lang, expiry, ip, port = who
    requester = Requester(session_id, user_id, username, Format(fmt), vars_, lang, expiry, ip, port)
    handler = handlers.get(message)
    if handler is None:
        return _encode_refusal(RealtimeError(ErrorCode.UNRECOGNIZED_PAYLOAD, message)), None
    envelope = realtime_pb2.Envelope.FromString(body)
    stream = PresenceStream(*rejoined) if rejoined else None
    if stream is not None:
        held.add(session_id, stream)  # (taken by the join, which answers at once)
    try:
        answer = handler(envelope, requester)
    except Refusal as refusal:
        return _encode_refusal(refusal), None
    except Exception:
        log.failure("{message} forwarded by node {sender} failed", message=message, sender=sender)
        return _encode_refusal(_INTERNAL), None
    finally:
        if stream is not None:
            held.take(session_id, stream)  # (if the join did not)
    if isinstance(answer, Deferred):
        return answer.addCallbacks(_encode_answer, _encode_failure, errbackArgs=(message, sender))
    return _encode_answer(answer)


_INTERNAL = RealtimeError(ErrorCode.RUNTIME_EXCEPTION, "internal error on the match's node")


def _encode_answer(answer: Answer) -> Served:
    if answer is None:
        return b"N", None
    if isinstance(answer, ReplyFirst):
        encoded, _ = _encode_answer(answer.reply)
        return encoded, answer.then
    envelope = answer.envelope if isinstance(answer, OutgoingEnvelope) else answer
    return b"E" + envelope.SerializeToString(), None


def _encode_failure(failure: Failure, message: str, sender: str) -> Served:
    if isinstance(failure.value, Refusal):
        return _encode_refusal(failure.value), None
    log.failure(
        "{message} forwarded by node {sender} failed", failure, message=message, sender=sender
    )
    return _encode_refusal(_INTERNAL), None


def _encode_refusal(refusal: Refusal) -> bytes:
    if isinstance(refusal, RealtimeError):
        return b"R" + orjson.dumps([int(refusal.code), refusal.message, refusal.with_cid])
    return b"D"


def _answer(data: bytes) -> Answer:
    """The home node's answer, as the handler gave it (a refusal is raised again)."""
    kind, body = data[:1], data[1:]
    if kind == b"E":
        return realtime_pb2.Envelope.FromString(body)
    if kind == b"N":
        return None
    if kind == b"R":
        code, message, with_cid = orjson.loads(body)
        raise RealtimeError(ErrorCode(code), message, with_cid=with_cid)
    raise Dropped()
