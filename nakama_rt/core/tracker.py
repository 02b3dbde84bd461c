"""The tracker: which sessions are on which stream, and the join/leave events that follow.

A *stream* is Nakama's unit of presence: a user's status, a chat channel, a match,
a party. Everything that asks "who is here?" asks the tracker, and every change of
membership becomes one join/leave event handed to the listener registered for the
stream's mode (status follows, channel presence events, match handlers, ...).

The local tracker lives on the reactor thread and dispatches events synchronously,
so a reply sent by a handler and the events its change caused keep their order.
A clustered tracker can replace it behind :class:`ITracker`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import IntEnum

from zope.interface import Interface, implementer

from nakama_rt.logs import Logger


class StreamMode(IntEnum):
    """Nakama's stream modes; the numbers are on the wire (``Stream.mode``)."""

    NOTIFICATIONS = 0
    STATUS = 1
    CHANNEL = 2
    GROUP = 3
    DM = 4
    MATCH_RELAYED = 5
    MATCH_AUTHORITATIVE = 6
    PARTY = 7


class PresenceReason(IntEnum):
    """Why a presence changed, as Nakama's runtime reports it."""

    UNKNOWN = 0
    JOIN = 1
    UPDATE = 2
    LEAVE = 3
    DISCONNECT = 4


@dataclass(frozen=True, slots=True)
class PresenceStream:
    mode: int
    subject: str = ""
    subcontext: str = ""
    label: str = ""


@dataclass(frozen=True, slots=True)
class PresenceMeta:
    """What the tracker keeps about one presence besides its identity."""

    username: str
    format: str = "json"
    hidden: bool = False
    persistence: bool = False
    status: str = ""
    reason: PresenceReason = PresenceReason.UNKNOWN


@dataclass(frozen=True, slots=True)
class Presence:
    session_id: str
    user_id: str
    stream: PresenceStream
    meta: PresenceMeta = field(compare=False)


#: Called with (stream, joins, leaves) for each change of a stream's visible membership.
PresenceListener = Callable[[PresenceStream, list[Presence], list[Presence]], None]


class ITracker(Interface):
    """Stream membership. Every method runs on the reactor thread."""

    def track(session_id: str, stream: PresenceStream, user_id: str, meta: PresenceMeta) -> bool:
        """Add a presence; return True when it is new (an existing one is left unchanged)."""

    def update(session_id: str, stream: PresenceStream, user_id: str, meta: PresenceMeta) -> None:
        """Track or replace a presence's meta: a leave of the old and a join of the new."""

    def untrack(session_id: str, stream: PresenceStream, user_id: str) -> None:
        """Remove one presence, emitting its leave."""

    def untrack_all(session_id: str, reason: PresenceReason) -> None:
        """Remove every presence a session holds (on close)."""

    def untrack_by_stream(stream: PresenceStream) -> None:
        """Remove every presence on a stream (a channel or match ends)."""

    def list_by_stream(
        stream: PresenceStream, include_hidden: bool, include_not_hidden: bool
    ) -> list[Presence]:
        """The presences on a stream."""

    def get_by_stream(session_id: str, stream: PresenceStream) -> Presence | None:
        """One session's presence on a stream, if any."""

    def count_by_stream(stream: PresenceStream) -> int:
        """How many presences a stream holds."""

    def session_ids_by_stream(stream: PresenceStream) -> list[str]:
        """The sessions on a stream, hidden ones included (for delivery)."""

    def streams_by_session(session_id: str) -> list[PresenceStream]:
        """The streams a session is on."""

    def streams_by_mode(mode: int) -> list[tuple[PresenceStream, int]]:
        """Every stream of a mode with its number of presences (e.g. relayed matches)."""

    def elsewhere(session_id: str) -> Presence | None:
        """A presence of ``session_id`` when another node of a cluster holds that
        session (its user, username and socket format), else None."""

    def add_listener(mode: int, listener: PresenceListener) -> None:
        """Receive the join/leave events of every stream of ``mode``."""

    def add_default_listener(listener: PresenceListener) -> None:
        """Receive the events of streams whose mode has no listener of its own."""


@implementer(ITracker)
class LocalTracker:
    """The single-process tracker."""

    log = Logger()

    def __init__(self) -> None:
        self._by_stream: dict[PresenceStream, dict[str, Presence]] = {}
        self._by_session: dict[str, dict[PresenceStream, Presence]] = {}
        self._listeners: dict[int, list[PresenceListener]] = {}
        self._default_listeners: list[PresenceListener] = []

    def add_listener(self, mode: int, listener: PresenceListener) -> None:
        self._listeners.setdefault(mode, []).append(listener)

    def add_default_listener(self, listener: PresenceListener) -> None:
        self._default_listeners.append(listener)

    def __len__(self) -> int:
        return sum(len(members) for members in self._by_stream.values())

    def announce(
        self, stream: PresenceStream, joins: list[Presence], leaves: list[Presence]
    ) -> None:
        """Run the listeners of ``stream``'s mode for a change this tracker does not hold
        (another node's, in a cluster)."""
        if joins or leaves:
            self._emit(stream, joins, leaves)

    def presences(self) -> list[Presence]:
        """Every presence held (a cluster node tells them to a node that joins)."""
        return [p for members in self._by_stream.values() for p in members.values()]

    def track(
        self, session_id: str, stream: PresenceStream, user_id: str, meta: PresenceMeta
    ) -> bool:
        members = self._by_stream.get(stream)
        if members is not None and session_id in members:
            return False
        presence = Presence(session_id, user_id, stream, meta)
        self._store(presence)
        if not meta.hidden:
            self._emit(stream, [presence], [])
        return True

    def update(
        self, session_id: str, stream: PresenceStream, user_id: str, meta: PresenceMeta
    ) -> None:
        previous = self._by_stream.get(stream, {}).get(session_id)
        presence = Presence(session_id, user_id, stream, meta)
        self._store(presence)
        joins = [] if meta.hidden else [presence]
        leaves = [previous] if previous is not None and not previous.meta.hidden else []
        if joins or leaves:
            self._emit(stream, joins, leaves)

    def untrack(self, session_id: str, stream: PresenceStream, user_id: str) -> None:
        presence = self._remove(session_id, stream)
        if presence is not None and not presence.meta.hidden:
            self._emit(stream, [], [presence])

    def untrack_all(
        self, session_id: str, reason: PresenceReason = PresenceReason.DISCONNECT
    ) -> None:
        held = self._by_session.pop(session_id, None)
        if not held:
            return
        for stream in held:
            members = self._by_stream.get(stream)
            if members is None:
                continue
            presence = members.pop(session_id, None)
            if not members:
                del self._by_stream[stream]
            if presence is not None and not presence.meta.hidden:
                self._emit(stream, [], [with_reason(presence, reason)])

    def untrack_by_stream(self, stream: PresenceStream) -> None:
        members = self._by_stream.pop(stream, None)
        if not members:
            return
        for session_id in members:
            held = self._by_session.get(session_id)
            if held is not None:
                held.pop(stream, None)
                if not held:
                    del self._by_session[session_id]
        leaves = [p for p in members.values() if not p.meta.hidden]
        if leaves:
            self._emit(stream, [], leaves)

    def list_by_stream(
        self, stream: PresenceStream, include_hidden: bool = True, include_not_hidden: bool = True
    ) -> list[Presence]:
        members = self._by_stream.get(stream)
        if not members:
            return []
        if include_hidden and include_not_hidden:
            return list(members.values())
        return [p for p in members.values() if p.meta.hidden == include_hidden]

    def get_by_stream(self, session_id: str, stream: PresenceStream) -> Presence | None:
        return self._by_stream.get(stream, {}).get(session_id)

    def count_by_stream(self, stream: PresenceStream) -> int:
        return len(self._by_stream.get(stream, ()))

    def session_ids_by_stream(self, stream: PresenceStream) -> list[str]:
        return list(self._by_stream.get(stream, ()))

    def streams_by_session(self, session_id: str) -> list[PresenceStream]:
        return list(self._by_session.get(session_id, ()))

    def streams_by_mode(self, mode: int) -> list[tuple[PresenceStream, int]]:
        return [(s, len(members)) for s, members in self._by_stream.items() if s.mode == mode]

    def elsewhere(self, session_id: str) -> Presence | None:
        return None  # one process: every session is this one's

    def _store(self, presence: Presence) -> None:
        self._by_stream.setdefault(presence.stream, {})[presence.session_id] = presence
        self._by_session.setdefault(presence.session_id, {})[presence.stream] = presence

    def _remove(self, session_id: str, stream: PresenceStream) -> Presence | None:
        members = self._by_stream.get(stream)
        if members is None:
            return None
        presence = members.pop(session_id, None)
        if not members:
            del self._by_stream[stream]
        held = self._by_session.get(session_id)
        if held is not None:
            held.pop(stream, None)
            if not held:
                del self._by_session[session_id]
        return presence

    def _emit(self, stream: PresenceStream, joins: list[Presence], leaves: list[Presence]) -> None:
        for listener in self._listeners.get(stream.mode, self._default_listeners):
            try:
                listener(stream, joins, leaves)
            except Exception:
                self.log.failure("presence listener failed for stream {stream}", stream=stream)


def with_reason(presence: Presence, reason: PresenceReason) -> Presence:
    """``presence`` as it leaves for ``reason``."""
    meta = presence.meta
    return Presence(
        presence.session_id,
        presence.user_id,
        presence.stream,
        PresenceMeta(
            meta.username, meta.format, meta.hidden, meta.persistence, meta.status, reason
        ),
    )


def session_ids(presences: Iterable[Presence]) -> list[str]:
    return [p.session_id for p in presences]
