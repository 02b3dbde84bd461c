"""The cluster's router: deliver here, and publish once per other node with recipients.

Behind :class:`~nakama_rt.core.router.IRouter`. What a listener that every node runs
sends goes to this node's sessions only (:class:`~nakama_rt.cluster.tracker.HereOnly`).
Otherwise, recipients on this node get the
envelope from the local router, encoded once per format as always. For recipients on
other nodes the envelope goes once per node that has any, with their addresses (a
stream, or session ids), as the encodings this node wrote already for its own sockets
(protobuf when it wrote none); that node sends those bytes to its own sessions with
its local router, decoding or encoding only what it lacks. A stream whose members are
all on this node costs no Redis traffic.
"""

from __future__ import annotations

from collections.abc import Iterable

import orjson
from zope.interface import implementer

from nakama_rt.cluster.bus import ClusterBus
from nakama_rt.cluster.tracker import ClusterTracker, HereOnly, stream_key
from nakama_rt.core.router import IRouter, LocalRouter, Routable
from nakama_rt.core.tracker import Presence, PresenceStream
from nakama_rt.wire.codec import Format, LazyEnvelope, OutgoingEnvelope, decode
from nakama_rt.wire.proto import realtime_pb2

#: Message kinds on the bus.
TO_STREAM = b"D"  # an envelope for this node's members of a stream
TO_SESSIONS = b"E"  # an envelope for some of this node's sessions
CLOSE = b"C"  # close some of this node's sessions, with a reason


def _body(address: object, outgoing: OutgoingEnvelope) -> bytes:
    """An envelope for another node: the encodings this node wrote already for its own
    sessions, which spares both nodes a second encoding (a relayed match message is
    written as JSON for a fifth of what building its protobuf costs); its protobuf
    when there is none. The header's sizes say which travel (0: not this one)."""
    json = outgoing.encoded(Format.JSON) or b""
    protobuf = outgoing.encoded(Format.PROTOBUF) or b""
    if not (json or protobuf):
        protobuf = outgoing.payload(Format.PROTOBUF)
    header = orjson.dumps([address, outgoing.message_type() or "", len(protobuf), len(json)])
    return header + b"\n" + protobuf + json


class Forwarded(LazyEnvelope):
    """An envelope another node encoded: sent to this node's sockets as those bytes,
    its message decoded only if something here reads it (or a socket here needs the
    format that did not travel)."""

    __slots__ = ("_type",)

    def __init__(self, message_type: str, protobuf: bytes | None, json: bytes | None) -> None:
        super().__init__()
        self._type = message_type
        self._protobuf = protobuf
        self._json = json

    def build(self) -> realtime_pb2.Envelope:
        if self._protobuf is not None:
            return realtime_pb2.Envelope.FromString(self._protobuf)
        assert self._json is not None  # one of them travels (_body)
        return decode(Format.JSON, self._json, False)

    def message_type(self) -> str:
        return self._type


def _outgoing(envelope: Routable) -> OutgoingEnvelope:
    return envelope if isinstance(envelope, OutgoingEnvelope) else OutgoingEnvelope(envelope)


@implementer(IRouter)
class ClusterRouter:
    """Delivery over the cluster. Reactor thread only."""

    def __init__(
        self, local: LocalRouter, tracker: ClusterTracker, bus: ClusterBus, here_only: HereOnly
    ) -> None:
        self._local = local
        self._here_only = here_only
        self._tracker = tracker
        self._bus = bus

    @property
    def local(self) -> LocalRouter:
        """Delivery to this node's sessions only."""
        return self._local

    def send_to_session_ids(self, session_ids: Iterable[str], envelope: Routable) -> None:
        if self._here_only.depth or not self._tracker.remote_sessions:
            self._local.send_to_session_ids(session_ids, envelope)
            return
        here, elsewhere = self._by_node(session_ids)
        outgoing = _outgoing(envelope)
        if here:
            self._local.send_to_session_ids(here, outgoing)
        for node, ids in elsewhere.items():
            self._bus.send(node, TO_SESSIONS, _body(ids, outgoing))

    def send_to_presences(self, presences: Iterable[Presence], envelope: Routable) -> None:
        self.send_to_session_ids((p.session_id for p in presences), envelope)

    def send_to_stream(self, stream: PresenceStream, envelope: Routable) -> None:
        if self._here_only.depth:
            # Every node runs this listener, for its own sessions.
            self._local.send_to_stream(stream, envelope)
            return
        outgoing = _outgoing(envelope)
        self._local.send_to_stream(stream, outgoing)
        nodes = self._tracker.remote_nodes(stream)
        if nodes:
            body = _body(stream_key(stream), outgoing)
            for node in nodes:
                self._bus.send(node, TO_STREAM, body)

    def close_sessions(self, session_ids: Iterable[str], reason: str) -> None:
        here, elsewhere = self._by_node(session_ids)
        if here:
            self._local.close_sessions(here, reason)
        for node, ids in elsewhere.items():
            self._bus.send(node, CLOSE, orjson.dumps([reason, ids]))

    def _by_node(self, session_ids: Iterable[str]) -> tuple[list[str], dict[str, list[str]]]:
        """This node's sessions, and the others' by node (one dictionary lookup each:
        this runs for every recipient of every match message)."""
        here: list[str] = []
        elsewhere: dict[str, list[str]] = {}
        node_of = self._tracker.remote_sessions.get
        for session_id in session_ids:
            node = node_of(session_id)
            if node is None:
                here.append(session_id)
            else:
                elsewhere.setdefault(node, []).append(session_id)
        return here, elsewhere

    def received(self, kind: bytes, sender: str, body: bytes) -> bool:
        """Deliver what another node routed here; False when it is not the router's."""
        if kind == CLOSE:
            reason, ids = orjson.loads(body)
            self._local.close_sessions(ids, reason)
            return True
        if kind not in (TO_STREAM, TO_SESSIONS):
            return False
        header, _, data = body.partition(b"\n")
        target, message_type, protobuf_size, json_size = orjson.loads(header)
        if (
            min(protobuf_size, json_size) < 0
            or protobuf_size + json_size != len(data)
            or not (protobuf_size or json_size)
        ):
            raise ValueError(f"a forwarded envelope's sizes do not match its {len(data)} bytes")
        envelope = Forwarded(
            message_type,
            data[:protobuf_size] if protobuf_size else None,
            data[protobuf_size:] if json_size else None,
        )
        if kind == TO_STREAM:
            self._local.send_to_stream(PresenceStream(*target), envelope)
        else:
            self._local.send_to_session_ids(target, envelope)
        return True
