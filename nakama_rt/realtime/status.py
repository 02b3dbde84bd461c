"""Online status: who follows whom, and the status messages of Nakama's protocol.

A user is online while any of their sessions is on their status stream (mode 1).
Sessions follow users; each change of a followed user's status stream becomes one
``status_presence_event``, encoded once per format for all followers. Every session
follows its own user, as in Nakama, so it sees its user's other sockets.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import NoReturn

from google.protobuf import wrappers_pb2
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from nakama_rt.core.pipeline import Answer, ErrorCode, RealtimeError, ReplyFirst, Requester
from nakama_rt.core.registry import SessionDirectory
from nakama_rt.core.router import IRouter
from nakama_rt.core.tracker import ITracker, Presence, PresenceMeta, PresenceStream, StreamMode
from nakama_rt.logs import Logger
from nakama_rt.wire.ids import canonical_uuid
from nakama_rt.wire.proto import realtime_pb2

MAX_STATUS_LENGTH = 2048


def nul_refusal(field: str) -> str:
    """The BAD_INPUT message for text with a NUL, worded as the HTTP API's."""
    return f'Invalid value for field "{field}": contains a NUL character.'


def status_stream(user_id: str) -> PresenceStream:
    return PresenceStream(StreamMode.STATUS, user_id)


def wire_presence(presence: Presence) -> realtime_pb2.UserPresence:
    """A status-stream presence as sent to followers (status always set, even empty)."""
    return realtime_pb2.UserPresence(
        user_id=presence.user_id,
        session_id=presence.session_id,
        username=presence.meta.username,
        persistence=presence.meta.persistence,
        status=wrappers_pb2.StringValue(value=presence.meta.status),
    )


class StatusRegistry:
    """Follow relations (session -> users, user -> sessions) and event fan-out."""

    log = Logger()

    def __init__(self, tracker: ITracker, router: IRouter) -> None:
        self._tracker = tracker
        self._router = router
        self._by_session: dict[str, set[str]] = {}
        self._by_user: dict[str, set[str]] = {}
        tracker.add_listener(StreamMode.STATUS, self._status_changed)

    def follow(self, session_id: str, user_ids: Iterable[str]) -> None:
        followed = self._by_session.setdefault(session_id, set())
        for user_id in user_ids:
            followed.add(user_id)
            self._by_user.setdefault(user_id, set()).add(session_id)

    def unfollow(self, session_id: str, user_ids: Iterable[str]) -> None:
        followed = self._by_session.get(session_id)
        if followed is None:
            return
        for user_id in user_ids:
            followed.discard(user_id)
            self._drop_follower(user_id, session_id)
        if not followed:
            del self._by_session[session_id]

    def unfollow_all(self, session_id: str) -> None:
        for user_id in self._by_session.pop(session_id, ()):
            self._drop_follower(user_id, session_id)

    def followers(self, user_id: str) -> frozenset[str]:
        return frozenset(self._by_user.get(user_id, ()))

    def following(self, session_id: str) -> frozenset[str]:
        return frozenset(self._by_session.get(session_id, ()))

    def is_online(self, user_id: str) -> bool:
        return self._tracker.count_by_stream(status_stream(user_id)) > 0

    def _drop_follower(self, user_id: str, session_id: str) -> None:
        sessions = self._by_user.get(user_id)
        if sessions is not None:
            sessions.discard(session_id)
            if not sessions:
                del self._by_user[user_id]

    def _status_changed(
        self, stream: PresenceStream, joins: list[Presence], leaves: list[Presence]
    ) -> None:
        followers = self._by_user.get(stream.subject)
        if not followers:
            return
        event = realtime_pb2.StatusPresenceEvent(
            joins=[wire_presence(p) for p in joins],
            leaves=[wire_presence(p) for p in leaves],
        )
        envelope = realtime_pb2.Envelope(status_presence_event=event)
        self._router.send_to_session_ids(list(followers), envelope)


class StatusHandlers:
    """``status_follow``, ``status_unfollow`` and ``status_update``."""

    log = Logger()

    def __init__(
        self, registry: StatusRegistry, tracker: ITracker, storage, sessions: SessionDirectory
    ) -> None:
        self._registry = registry
        self._tracker = tracker
        self._storage = storage
        self._sessions = sessions

    def follow(
        self, envelope: realtime_pb2.Envelope, requester: Requester
    ) -> realtime_pb2.Envelope | Deferred[realtime_pb2.Envelope | None]:
        request = envelope.status_follow
        user_ids: set[str] = set()
        for raw in request.user_ids:
            user_id = canonical_uuid(raw)
            if user_id is None:
                raise RealtimeError(ErrorCode.BAD_INPUT, "Invalid user identifier")
            if user_id != requester.user_id:
                user_ids.add(user_id)
        usernames: set[str] = set()
        for username in request.usernames:
            if not username:
                raise RealtimeError(ErrorCode.BAD_INPUT, "Invalid username")
            if "\x00" in username:  # PostgreSQL takes no NUL: refused alike on both backends
                raise RealtimeError(ErrorCode.BAD_INPUT, nul_refusal("usernames"))
            if username != requester.username:
                usernames.add(username)
        if not user_ids and not usernames:
            return _status_reply([])

        def found(users) -> realtime_pb2.Envelope | None:
            if self._sessions.requester(requester.session_id) is None:
                return None  # closed meanwhile: nothing to follow for
            follow = {u.id for u in users if u.id != requester.user_id}
            missing = (user_ids - follow) | (usernames - {u.username for u in users})
            if missing:
                # Nakama follows the users it finds and ignores the rest.
                self.log.debug("status follow: no such users {missing}", missing=sorted(missing))
            self._registry.follow(requester.session_id, follow)
            presences = []
            for user_id in follow:
                presences.extend(self._tracker.list_by_stream(status_stream(user_id), False, True))
            return _status_reply(presences)

        def failed(failure: Failure) -> NoReturn:
            self.log.failure("status follow: could not check users", failure)
            raise RealtimeError(ErrorCode.RUNTIME_EXCEPTION, "Could not check users")

        lookup = self._storage.get_users(sorted(user_ids), sorted(usernames))
        return lookup.addCallbacks(found, failed)

    def unfollow(
        self, envelope: realtime_pb2.Envelope, requester: Requester
    ) -> realtime_pb2.Envelope:
        user_ids = []
        for raw in envelope.status_unfollow.user_ids:
            user_id = canonical_uuid(raw)
            if user_id is None:
                raise RealtimeError(ErrorCode.BAD_INPUT, "Invalid user identifier")
            if user_id != requester.user_id:
                user_ids.append(user_id)
        self._registry.unfollow(requester.session_id, user_ids)
        return realtime_pb2.Envelope()

    def update(self, envelope: realtime_pb2.Envelope, requester: Requester) -> Answer:
        request = envelope.status_update
        stream = status_stream(requester.user_id)
        if not request.HasField("status"):
            untrack = partial(
                self._tracker.untrack, requester.session_id, stream, requester.user_id
            )
            return ReplyFirst(realtime_pb2.Envelope(), then=untrack)
        status = request.status.value
        if len(status.encode()) > MAX_STATUS_LENGTH:  # bytes, as Go counts
            raise RealtimeError(ErrorCode.BAD_INPUT, "Status must be 2048 characters or less")
        meta = PresenceMeta(
            username=requester.username, format=requester.format.value, status=status
        )
        update = partial(
            self._tracker.update, requester.session_id, stream, requester.user_id, meta
        )
        return ReplyFirst(realtime_pb2.Envelope(), then=update)


def _status_reply(presences: list[Presence]) -> realtime_pb2.Envelope:
    status = realtime_pb2.Status(presences=[wire_presence(p) for p in presences])
    return realtime_pb2.Envelope(status=status)
