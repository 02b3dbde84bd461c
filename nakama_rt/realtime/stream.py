"""Streams for game logic: put sessions into any stream, send to it, list and close it.

Runtime code (``nk.stream_*``) uses this to build its own realtime features, as in
Nakama. Members of a stream that no built-in feature owns receive
``stream_presence_event`` and ``stream_data``; a socket that closes leaves every
stream it was in (the tracker's clean-up).
"""

from __future__ import annotations

from collections.abc import Iterable

from nakama_rt.core.refs import StreamRef
from nakama_rt.core.registry import SessionDirectory
from nakama_rt.core.router import IRouter
from nakama_rt.core.tracker import ITracker, Presence, PresenceMeta, PresenceStream
from nakama_rt.wire.ids import canonical_uuid
from nakama_rt.wire.proto import realtime_pb2

__all__ = ["StreamError", "StreamManager", "StreamRef", "to_stream", "wire_stream"]


class StreamError(ValueError):
    """A stream call with bad arguments; the message says which, in Nakama's words."""


def _uuid(value: str, message: str) -> str:
    if not value:
        return ""
    canonical = canonical_uuid(value)
    if canonical is None:
        raise StreamError(message)
    return canonical


def to_stream(ref: StreamRef) -> PresenceStream:
    if not 0 <= ref.mode <= 255:
        raise StreamError("stream mode must be between 0 and 255")
    return PresenceStream(
        ref.mode,
        _uuid(ref.subject, "stream subject must be a valid identifier"),
        _uuid(ref.subcontext, "stream subcontext must be a valid identifier"),
        ref.label,
    )


def wire_stream(stream: PresenceStream) -> realtime_pb2.Stream:
    return realtime_pb2.Stream(
        mode=int(stream.mode),
        subject=stream.subject,
        subcontext=stream.subcontext,
        label=stream.label,
    )


def _presence(p: Presence) -> realtime_pb2.UserPresence:
    wire = realtime_pb2.UserPresence(
        user_id=p.user_id,
        session_id=p.session_id,
        username=p.meta.username,
        persistence=p.meta.persistence,
    )
    if p.meta.status:
        wire.status.value = p.meta.status
    return wire


class StreamManager:
    """``nk.stream_*`` on the local tracker and router."""

    def __init__(self, tracker: ITracker, router: IRouter, sessions: SessionDirectory) -> None:
        self._tracker = tracker
        self._router = router
        self._sessions = sessions
        tracker.add_default_listener(self._presence_changed)

    def _presence_changed(
        self, stream: PresenceStream, joins: list[Presence], leaves: list[Presence]
    ) -> None:
        event = realtime_pb2.StreamPresenceEvent(
            stream=wire_stream(stream),
            joins=[_presence(p) for p in joins],
            leaves=[_presence(p) for p in leaves],
        )
        self._router.send_to_stream(stream, realtime_pb2.Envelope(stream_presence_event=event))

    def _member(self, user_id: str, session_id: str) -> tuple[str, str, str, str]:
        """The (canonical) user and session ids, username and socket format of session
        ``session_id`` of ``user_id``, connected here or (in a cluster) to another
        node; StreamError otherwise."""
        user_id = _uuid(user_id, "expects valid user id")
        session_id = _uuid(session_id, "expects valid session id")
        found = self._sessions.requester(session_id)
        if found is not None and found.user_id == user_id:
            return user_id, session_id, found.username, found.format.value
        presence = self._tracker.elsewhere(session_id)
        if presence is not None and presence.user_id == user_id:
            return user_id, session_id, presence.meta.username, presence.meta.format
        raise StreamError("session not found")

    def _presence(
        self, user_id: str, session_id: str, hidden: bool, persistence: bool, status: str
    ) -> tuple[str, str, PresenceMeta]:
        """A member's user id, session id and presence meta on a stream."""
        user_id, session_id, username, fmt = self._member(user_id, session_id)
        meta = PresenceMeta(
            username=username, format=fmt, hidden=hidden, persistence=persistence, status=status
        )
        return user_id, session_id, meta

    def user_join(
        self,
        ref: StreamRef,
        user_id: str,
        session_id: str,
        hidden: bool = False,
        persistence: bool = False,
        status: str = "",
    ) -> bool:
        """Put a session into a stream, on whichever node it is connected; True when it
        was not there already."""
        user_id, session_id, meta = self._presence(user_id, session_id, hidden, persistence, status)
        return self._tracker.track(session_id, to_stream(ref), user_id, meta)

    def user_update(
        self,
        ref: StreamRef,
        user_id: str,
        session_id: str,
        hidden: bool = False,
        persistence: bool = False,
        status: str = "",
    ) -> None:
        user_id, session_id, meta = self._presence(user_id, session_id, hidden, persistence, status)
        self._tracker.update(session_id, to_stream(ref), user_id, meta)

    def user_leave(self, ref: StreamRef, user_id: str, session_id: str) -> None:
        stream = to_stream(ref)
        self._tracker.untrack(
            _uuid(session_id, "expects valid session id"),
            stream,
            _uuid(user_id, "expects valid user id"),
        )

    def user_list(
        self, ref: StreamRef, include_hidden: bool = True, include_not_hidden: bool = True
    ) -> list[Presence]:
        return self._tracker.list_by_stream(to_stream(ref), include_hidden, include_not_hidden)

    def user_get(self, ref: StreamRef, user_id: str, session_id: str) -> PresenceMeta | None:
        presence = self._tracker.get_by_stream(
            _uuid(session_id, "expects valid session id"), to_stream(ref)
        )
        if presence is None or presence.user_id != _uuid(user_id, "expects valid user id"):
            return None
        return presence.meta

    def count(self, ref: StreamRef) -> int:
        return self._tracker.count_by_stream(to_stream(ref))

    def close(self, ref: StreamRef) -> None:
        """Remove everyone from the stream (their leave events go out)."""
        self._tracker.untrack_by_stream(to_stream(ref))

    def send(
        self,
        ref: StreamRef,
        data: str,
        presences: Iterable[Presence] | None = None,
        reliable: bool = True,
    ) -> None:
        """``stream_data`` to every member, or only to the listed presences."""
        stream = to_stream(ref)
        envelope = realtime_pb2.Envelope(
            stream_data=realtime_pb2.StreamData(
                stream=wire_stream(stream), data=data, reliable=reliable
            )
        )
        listed = list(presences or ())
        if listed:
            self._router.send_to_presences(listed, envelope)
        else:
            self._router.send_to_stream(stream, envelope)
