"""The router: hand an outgoing envelope to sessions, presences or whole streams.

Features never touch sockets: everything they tell a player other than the reply to
its request goes through an :class:`IRouter`, addressed by session id, presence or
stream, which is what a router spanning processes can carry too. An envelope is
encoded at most once per format (:class:`~nakama_rt.wire.codec.OutgoingEnvelope`), so a
broadcast costs one encoding however many recipients it has.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping

from zope.interface import Interface, implementer

from nakama_rt.core.registry import SessionRegistry
from nakama_rt.core.tracker import ITracker, Presence, PresenceStream
from nakama_rt.counters import RealtimeCounts
from nakama_rt.wire.codec import OutgoingEnvelope
from nakama_rt.wire.proto import realtime_pb2

#: What may be routed: a plain envelope (wrapped here), or one already wrapped, e.g.
#: a :class:`~nakama_rt.wire.codec.LazyEnvelope` that writes its own bytes.
Routable = realtime_pb2.Envelope | OutgoingEnvelope


class IRouter(Interface):
    """Delivery by address; the envelope must not change once handed over."""

    def send_to_session_ids(session_ids: Iterable[str], envelope: Routable) -> None:
        """Deliver to each listed session that is still connected."""

    def send_to_presences(presences: Iterable[Presence], envelope: Routable) -> None:
        """Deliver to the sessions of these presences."""

    def send_to_stream(stream: PresenceStream, envelope: Routable) -> None:
        """Deliver to every session on a stream, hidden members included."""

    def close_sessions(session_ids: Iterable[str], reason: str) -> None:
        """Close these sessions, wherever they are connected (``single_socket``)."""


@implementer(IRouter)
class LocalRouter:
    """Delivery within one process."""

    def __init__(
        self, sessions: SessionRegistry, tracker: ITracker, counts: RealtimeCounts | None = None
    ) -> None:
        self._sessions = sessions
        self._tracker = tracker
        self._sent: MutableMapping[str, int] = (counts or RealtimeCounts()).messages_out

    def send_to_session_ids(self, session_ids: Iterable[str], envelope: Routable) -> None:
        outgoing = (
            envelope if isinstance(envelope, OutgoingEnvelope) else OutgoingEnvelope(envelope)
        )
        get = self._sessions.get
        sent = 0
        for session_id in session_ids:
            session = get(session_id)
            if session is not None:
                session.send(outgoing)
                sent += 1
        if sent:
            # One count update per delivery, however large its audience. An envelope
            # with no message set has no type; it counts under "".
            self._sent[outgoing.message_type() or ""] += sent

    def send_to_presences(self, presences: Iterable[Presence], envelope: Routable) -> None:
        self.send_to_session_ids((p.session_id for p in presences), envelope)

    def send_to_stream(self, stream: PresenceStream, envelope: Routable) -> None:
        self.send_to_session_ids(self._tracker.session_ids_by_stream(stream), envelope)

    def close_sessions(self, session_ids: Iterable[str], reason: str) -> None:
        for session_id in session_ids:
            session = self._sessions.get(session_id)
            if session is not None:
                session.close(reason)
