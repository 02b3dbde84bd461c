"""Streams for game logic: put sessions into any stream, send to it, list and close it.

Runtime code (``nk.stream_*``) uses this to build its own realtime features, as in
Nakama. Members of a stream that no built-in feature owns receive
``stream_presence_event`` and ``stream_data``; a socket that closes leaves every
stream it was in (the tracker's clean-up).
"""

from __future__ import annotations

from collections.abc import Iterable

from nakama_rt.core.pipeline import Requester
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

    def _requester(self, user_id: str, session_id: str) -> Requester:
        """The connected session ``session_id`` of ``user_id``; StreamError otherwise."""
        _uuid(user_id, "expects valid user id")
        found = self._sessions.requester(_uuid(session_id, "expects valid session id"))
        if found is None or found.user_id != _uuid(user_id, "expects valid user id"):
            raise StreamError("session not found")
        return found

    def user_join(
        self,
        ref: StreamRef,
        user_id: str,
        session_id: str,
        hidden: bool = False,
        persistence: bool = False,
        status: str = "",
    ) -> bool:
        """Put a session into a stream; True when it was not there already."""
        stream = to_stream(ref)
        member = self._requester(user_id, session_id)
        meta = PresenceMeta(
            username=member.username,
            format=member.format.value,
            hidden=hidden,
            persistence=persistence,
            status=status,
        )
        return self._tracker.track(member.session_id, stream, member.user_id, meta)

    def user_update(
        self,
        ref: StreamRef,
        user_id: str,
        session_id: str,
        hidden: bool = False,
        persistence: bool = False,
        status: str = "",
    ) -> None:
        stream = to_stream(ref)
        member = self._requester(user_id, session_id)
        meta = PresenceMeta(
            username=member.username,
            format=member.format.value,
            hidden=hidden,
            persistence=persistence,
            status=status,
        )
        self._tracker.update(member.session_id, stream, member.user_id, meta)

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
