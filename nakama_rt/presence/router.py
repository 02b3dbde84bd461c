"""The router: hand an outgoing envelope to sessions, presences or whole streams.

Feature modules never touch sockets; they build one :class:`OutgoingEnvelope` and
ask the router to deliver it. The envelope encodes itself at most once per format,
so a broadcast costs one encoding however many recipients it has.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping

from zope.interface import Interface, implementer

from nakama_rt.codec import OutgoingEnvelope
from nakama_rt.counters import RealtimeCounts
from nakama_rt.presence.registry import SessionRegistry
from nakama_rt.presence.tracker import ITracker, Presence, PresenceStream


class IRouter(Interface):
    def send_to_session_ids(session_ids: Iterable[str], envelope: OutgoingEnvelope) -> None:
        """Deliver to each listed session that is still connected."""

    def send_to_presences(presences: Iterable[Presence], envelope: OutgoingEnvelope) -> None:
        """Deliver to the sessions of these presences."""

    def send_to_stream(stream: PresenceStream, envelope: OutgoingEnvelope) -> None:
        """Deliver to every session on a stream, hidden members included."""


@implementer(IRouter)
class LocalRouter:
    """Delivery within one process."""

    def __init__(
        self, sessions: SessionRegistry, tracker: ITracker, counts: RealtimeCounts | None = None
    ) -> None:
        self._sessions = sessions
        self._tracker = tracker
        self._sent: MutableMapping[str, int] = (counts or RealtimeCounts()).messages_out

    def send_to_session_ids(self, session_ids: Iterable[str], envelope: OutgoingEnvelope) -> None:
        get = self._sessions.get
        sent = 0
        for session_id in session_ids:
            session = get(session_id)
            if session is not None:
                session.send(envelope)
                sent += 1
        if sent:
            # One count update per delivery, however large its audience.
            self._sent[envelope.message_type()] += sent

    def send_to_presences(self, presences: Iterable[Presence], envelope: OutgoingEnvelope) -> None:
        self.send_to_session_ids((p.session_id for p in presences), envelope)

    def send_to_stream(self, stream: PresenceStream, envelope: OutgoingEnvelope) -> None:
        self.send_to_session_ids(self._tracker.session_ids_by_stream(stream), envelope)
