"""Chat channels over the socket: rooms, direct messages and group channels.

A channel is a presence stream (mode 2 room, 3 group, 4 DM) and its id is
Nakama's text form of that stream, ``"<mode>.<subject>.<subcontext>.<label>"``,
so ids a client got earlier stay valid for the history call. Members hidden from
presence still receive messages. Replies go out before the presence events they
cause (:class:`~nakama_rt.core.pipeline.ReplyFirst`), as Nakama's asynchronous tracker
makes them arrive; a message reaches the channel before its sender's ack, as in
Nakama.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from functools import partial
from typing import NoReturn

import orjson
from google.protobuf import timestamp_pb2, wrappers_pb2
from twisted.internet.defer import Deferred, succeed
from twisted.python.failure import Failure

from nakama_rt.core.held import HeldPresences
from nakama_rt.core.notifications import NewNotification, NotificationCode, Notifier
from nakama_rt.core.pipeline import ErrorCode, RealtimeError, ReplyFirst, Requester
from nakama_rt.core.registry import SessionDirectory
from nakama_rt.core.router import IRouter
from nakama_rt.core.tracker import ITracker, Presence, PresenceMeta, PresenceStream, StreamMode
from nakama_rt.logs import Logger
from nakama_rt.storage.chat import StoredMessage, StreamKey
from nakama_rt.wire.ids import canonical_uuid
from nakama_rt.wire.proto import api_pb2, realtime_pb2

CHANNEL_MODES = (StreamMode.CHANNEL, StreamMode.GROUP, StreamMode.DM)

# ChannelJoin.type
ROOM, DIRECT_MESSAGE, GROUP = 1, 2, 3
# ChannelMessage.code for chat, update and removal
CHAT, CHAT_UPDATE, CHAT_REMOVE = 0, 1, 2

INVALID_TARGET = "Invalid channel target"
INVALID_CHANNEL = "Invalid channel identifier"
INVALID_MESSAGE = "Invalid message identifier"
NOT_JSON_OBJECT = "Message content must be a valid JSON object"
_CONTROL_CHARS = re.compile("[\x00-\x1f\x7f]")
#: Group membership states that may use the group's channel (superadmin, admin, member).
MEMBER_STATES = (0, 1, 2)
BLOCKED = 3


def channel_id(stream: PresenceStream) -> str:
    return f"{stream.mode}.{stream.subject}.{stream.subcontext}.{stream.label}"


def parse_channel_id(value: str) -> PresenceStream | None:
    """The stream of a channel id, or None when it is not a valid one (Nakama's rules)."""
    parts = value.split(".", 3)
    if len(parts) != 4:
        return None
    mode, subject, subcontext, label = parts
    if mode == "2":
        if subject or subcontext or not 1 <= len(label.encode()) <= 64:
            return None
        return PresenceStream(StreamMode.CHANNEL, label=label)
    if mode == "3":
        if subcontext or label or (subject and canonical_uuid(subject) is None):
            return None
        return PresenceStream(StreamMode.GROUP, canonical_uuid(subject) or "")
    if mode == "4":
        if label:
            return None
        one, two = (
            canonical_uuid(subject) if subject else "",
            canonical_uuid(subcontext) if subcontext else "",
        )
        if one is None or two is None:
            return None
        return PresenceStream(StreamMode.DM, one, two)
    return None


def stream_key(stream: PresenceStream) -> StreamKey:
    return StreamKey(int(stream.mode), stream.subject, stream.subcontext, stream.label)


def is_json_object(content: str) -> bool:
    try:
        return isinstance(orjson.loads(content), dict)
    except orjson.JSONDecodeError:
        return False


def _timestamp(microseconds: int) -> timestamp_pb2.Timestamp:
    return timestamp_pb2.Timestamp(
        seconds=microseconds // 1_000_000, nanos=(microseconds % 1_000_000) * 1000
    )


def _place(message, stream: PresenceStream) -> None:
    """Fill the room name, group id or the two DM user ids of a message/ack/event."""
    if stream.mode == StreamMode.CHANNEL:
        message.room_name = stream.label
    elif stream.mode == StreamMode.GROUP:
        message.group_id = stream.subject
    else:
        message.user_id_one = stream.subject
        message.user_id_two = stream.subcontext


def wire_message(
    stored: StoredMessage, stream: PresenceStream, persistent: bool
) -> api_pb2.ChannelMessage:
    message = api_pb2.ChannelMessage(
        channel_id=channel_id(stream),
        message_id=stored.id,
        code=wrappers_pb2.Int32Value(value=stored.code),
        sender_id=stored.sender_id,
        username=stored.username,
        content=stored.content,
        create_time=_timestamp(stored.create_time_us),
        update_time=_timestamp(stored.update_time_us),
        persistent=wrappers_pb2.BoolValue(value=persistent),
    )
    _place(message, stream)
    return message


def _user_presence(presence: Presence) -> realtime_pb2.UserPresence:
    return realtime_pb2.UserPresence(
        user_id=presence.user_id,
        session_id=presence.session_id,
        username=presence.meta.username,
        persistence=presence.meta.persistence,
    )


def _refused(message: str) -> RealtimeError:
    return RealtimeError(ErrorCode.BAD_INPUT, message)


#: Channels whose last message time is kept before memberless ones are dropped.
_ACTIVITY_LIMIT = 10_000


class ChannelHandlers:
    """``channel_join``, ``channel_leave`` and ``channel_message_send/update/remove``."""

    log = Logger()

    def __init__(
        self,
        tracker: ITracker,
        router: IRouter,
        storage,
        notifier: Notifier,
        clock,
        sessions: SessionDirectory,
        held: HeldPresences | None = None,
    ) -> None:
        self._tracker = tracker
        #: Channels resumed sessions kept over a drop: their re-joins answer as fresh.
        self._held = held if held is not None else HeldPresences()
        self._router = router
        self._storage = storage
        self._notifier = notifier
        self._clock = clock
        self._sessions = sessions
        #: When each channel with members here last carried a message, from this node
        #: (epoch seconds; for the operator console). Forgotten when it empties.
        self.last_message_at: dict[PresenceStream, float] = {}
        self._activity_limit = _ACTIVITY_LIMIT
        for mode in CHANNEL_MODES:
            tracker.add_listener(mode, self._presence_changed)

    # Presence events

    def _presence_changed(
        self, stream: PresenceStream, joins: list[Presence], leaves: list[Presence]
    ) -> None:
        event = realtime_pb2.ChannelPresenceEvent(
            channel_id=channel_id(stream),
            joins=[_user_presence(p) for p in joins],
            leaves=[_user_presence(p) for p in leaves],
        )
        _place(event, stream)
        self._router.send_to_stream(stream, realtime_pb2.Envelope(channel_presence_event=event))
        if leaves and stream in self.last_message_at and not self._tracker.count_by_stream(stream):
            del self.last_message_at[stream]

    # Join and leave

    def join(
        self, envelope: realtime_pb2.Envelope, requester: Requester
    ) -> ReplyFirst | Deferred[ReplyFirst | None]:
        request = envelope.channel_join
        target = self._resolve_target(requester.user_id, request.target, request.type)
        if isinstance(target, PresenceStream):
            return self._join(requester, target, request)

        def joined(stream: PresenceStream) -> ReplyFirst | None:
            if self._sessions.requester(requester.session_id) is None:
                return None  # closed while storage answered: nothing to join
            return self._join(requester, stream, request)

        return target.addCallback(joined)

    def _resolve_target(self, user_id: str, target: str, kind: int) -> PresenceStream | Deferred:
        """The stream to join after Nakama's checks: at once for rooms, a Deferred where
        storage must be asked. A refusal is a :class:`RealtimeError`, raised or failed."""
        if not target:
            raise _refused(INVALID_TARGET)
        if kind in (0, ROOM):
            if not 1 <= len(target.encode()) <= 64:
                raise _refused(f"Channel name is required and must be 1-64 chars: {INVALID_TARGET}")
            if _CONTROL_CHARS.search(target):
                raise _refused(f"Channel name must not contain control chars: {INVALID_TARGET}")
            return PresenceStream(StreamMode.CHANNEL, label=target)
        if kind == DIRECT_MESSAGE:
            other = canonical_uuid(target)
            if other is None or other == str(uuid.UUID(int=0)):
                raise _refused(f"Invalid user ID in direct message join: {INVALID_TARGET}")
            return self._dm_stream(user_id, other)
        if kind == GROUP:
            group_id = canonical_uuid(target)
            if group_id is None:
                raise _refused(f"Invalid group ID in group channel join: {INVALID_TARGET}")
            return self._group_stream(user_id, group_id)
        raise _refused("Invalid channel type")

    def _dm_stream(self, user_id: str, other: str) -> Deferred:
        async def check() -> PresenceStream:
            try:
                target = await self._storage.get_user(other)
                blocked = (
                    target is not None
                    and (await self._storage.friend_state(other, user_id)) == BLOCKED
                )
            except Exception:
                self.log.failure("channel join: could not look up user {other}", other=other)
                raise RealtimeError(
                    ErrorCode.RUNTIME_EXCEPTION, "Failed to look up user ID"
                ) from None
            if target is None or blocked:
                raise _refused(f"User ID not found: {INVALID_TARGET}")
            one, two = sorted((user_id, other))
            return PresenceStream(StreamMode.DM, one, two)

        return Deferred.fromCoroutine(check())

    def _group_stream(self, user_id: str, group_id: str) -> Deferred:
        async def check() -> PresenceStream:
            try:
                state = await self._storage.group_member_state(group_id, user_id)
            except Exception:
                self.log.failure("channel join: could not look up group {gid}", gid=group_id)
                raise RealtimeError(
                    ErrorCode.RUNTIME_EXCEPTION, "Failed to look up group membership"
                ) from None
            if state not in MEMBER_STATES:
                raise _refused(f"Group not found: {INVALID_TARGET}")
            return PresenceStream(StreamMode.GROUP, group_id)

        return Deferred.fromCoroutine(check())

    def _join(
        self, requester: Requester, stream: PresenceStream, request: realtime_pb2.ChannelJoin
    ) -> ReplyFirst:
        meta = PresenceMeta(
            username=requester.username,
            format=requester.format.value,
            hidden=request.HasField("hidden") and request.hidden.value,
            persistence=not request.HasField("persistence") or request.persistence.value,
        )
        is_new = self._tracker.get_by_stream(requester.session_id, stream) is None
        members = self._tracker.list_by_stream(stream, False, True)
        if not is_new and self._held.take(requester.session_id, stream):
            members = [p for p in members if p.session_id != requester.session_id]
        channel = realtime_pb2.Channel(
            id=channel_id(stream),
            presences=[_user_presence(p) for p in members],
            self=realtime_pb2.UserPresence(
                user_id=requester.user_id,
                session_id=requester.session_id,
                username=requester.username,
                persistence=meta.persistence,
            ),
        )
        _place(channel, stream)
        track = partial(self._track, requester, stream, meta, is_new)
        return ReplyFirst(realtime_pb2.Envelope(channel=channel), then=track)

    def _track(
        self, requester: Requester, stream: PresenceStream, meta: PresenceMeta, is_new: bool
    ) -> None:
        self._tracker.track(requester.session_id, stream, requester.user_id, meta)
        if is_new and stream.mode == StreamMode.DM:
            user_id = requester.user_id
            other = stream.subcontext if stream.subject == user_id else stream.subject
            if not any(
                p.user_id == other for p in self._tracker.list_by_stream(stream, True, True)
            ):
                self._invite(requester, other)

    def _invite(self, requester: Requester, other: str) -> None:
        """Tell the other user, who is not in the DM, that someone wants to chat."""
        notice = NewNotification(
            user_id=other,
            subject=f"{requester.username} wants to chat",
            content={"username": requester.username},
            code=NotificationCode.DM_REQUEST,
            sender_id=requester.user_id,
        )
        self._notifier.send([notice]).addErrback(
            lambda f: self.log.failure("could not send the DM request notification", f)
        )

    def leave(self, envelope: realtime_pb2.Envelope, requester: Requester) -> ReplyFirst:
        stream = parse_channel_id(envelope.channel_leave.channel_id)
        if stream is None:
            raise _refused(INVALID_CHANNEL)
        untrack = partial(self._tracker.untrack, requester.session_id, stream, requester.user_id)
        return ReplyFirst(realtime_pb2.Envelope(), then=untrack)

    # Messages

    def _member(
        self, requester: Requester, raw_id: str, action: str
    ) -> tuple[PresenceStream, Presence]:
        stream = parse_channel_id(raw_id)
        if stream is None:
            raise _refused(INVALID_CHANNEL)
        presence = self._tracker.get_by_stream(requester.session_id, stream)
        if presence is None:
            raise _refused(f"Must join channel before {action}")
        return stream, presence

    def _now_us(self) -> int:
        return int(self._clock.seconds() * 1_000_000)

    def send(
        self, envelope: realtime_pb2.Envelope, requester: Requester
    ) -> realtime_pb2.Envelope | Deferred[realtime_pb2.Envelope]:
        request = envelope.channel_message_send
        if parse_channel_id(request.channel_id) is None:
            raise _refused(INVALID_CHANNEL)
        if not is_json_object(request.content):
            raise _refused(NOT_JSON_OBJECT)
        stream, presence = self._member(requester, request.channel_id, "sending messages")
        now = self._now_us()
        stored = StoredMessage(
            id=str(uuid.uuid4()),
            code=CHAT,
            sender_id=requester.user_id,
            username=requester.username,
            stream=stream_key(stream),
            content=request.content,
            create_time_us=now,
            update_time_us=now,
        )
        persist = presence.meta.persistence

        def deliver(_: object = None) -> realtime_pb2.Envelope:
            return self._deliver(stream, stored, persist)

        if not persist:
            return deliver()
        return self._storage.add_message(stored).addCallbacks(
            deliver, self._persist_failed("Could not persist message to channel history")
        )

    def update(
        self, envelope: realtime_pb2.Envelope, requester: Requester
    ) -> realtime_pb2.Envelope | Deferred[realtime_pb2.Envelope]:
        request = envelope.channel_message_update
        if canonical_uuid(request.message_id) is None:
            raise _refused(INVALID_MESSAGE)
        if parse_channel_id(request.channel_id) is None:
            raise _refused(INVALID_CHANNEL)
        if not is_json_object(request.content):
            raise _refused(NOT_JSON_OBJECT)
        stream, presence = self._member(requester, request.channel_id, "updating messages")
        now = self._now_us()

        def done(create_us: int | None, persist: bool) -> realtime_pb2.Envelope:
            if create_us is None:
                raise _refused("Could not find message to update in channel history")
            stored = StoredMessage(
                id=request.message_id,
                code=CHAT_UPDATE,
                sender_id=requester.user_id,
                username=requester.username,
                stream=stream_key(stream),
                content=request.content,
                create_time_us=create_us,
                update_time_us=now,
            )
            return self._deliver(stream, stored, persist)

        if not presence.meta.persistence:
            return done(now, False)
        d = self._storage.update_message(
            request.message_id, requester.user_id, request.content, requester.username, now
        )
        return d.addCallbacks(
            done,
            self._persist_failed("Could not persist message update to channel history"),
            callbackArgs=(True,),
        )

    def remove(
        self, envelope: realtime_pb2.Envelope, requester: Requester
    ) -> realtime_pb2.Envelope | Deferred[realtime_pb2.Envelope]:
        request = envelope.channel_message_remove
        if canonical_uuid(request.message_id) is None:
            raise _refused(INVALID_MESSAGE)
        if parse_channel_id(request.channel_id) is None:
            raise _refused(INVALID_CHANNEL)
        stream, presence = self._member(requester, request.channel_id, "removing messages")
        now = self._now_us()

        def done(times: tuple[int, int] | None, persist: bool) -> realtime_pb2.Envelope:
            if times is None:
                raise _refused("Could not find message to remove in channel history")
            stored = StoredMessage(
                id=request.message_id,
                code=CHAT_REMOVE,
                sender_id=requester.user_id,
                username=requester.username,
                stream=stream_key(stream),
                content="{}",
                create_time_us=times[0],
                update_time_us=times[1],
            )
            return self._deliver(stream, stored, persist)

        if not presence.meta.persistence:
            return done((now, now), False)
        d = self._storage.remove_message(request.message_id, requester.user_id)
        return d.addCallbacks(
            done,
            self._persist_failed("Could not persist message remove to channel history"),
            callbackArgs=(True,),
        )

    def post(
        self, channel: str, content: str, sender_id: str, username: str, persist: bool
    ) -> Deferred:
        """A message from game code (``nk.channel_message_send``): persisted if asked,
        delivered to the channel's members; fires with its ``ChannelMessageAck``."""
        stream = parse_channel_id(channel)
        if stream is None:
            raise ValueError("invalid channel id")
        now = self._now_us()
        stored = StoredMessage(
            id=str(uuid.uuid4()),
            code=CHAT,
            sender_id=sender_id,
            username=username,
            stream=stream_key(stream),
            content=content,
            create_time_us=now,
            update_time_us=now,
        )

        def deliver(_=None) -> realtime_pb2.ChannelMessageAck:
            self._broadcast(stream, stored, persist)
            return _ack_of(stream, stored, persist)

        if not persist:
            return succeed(deliver())
        return self._storage.add_message(stored).addCallback(deliver)

    def _persist_failed(self, message: str) -> Callable[[Failure], NoReturn]:
        def failed(failure: Failure) -> NoReturn:
            self.log.failure("channel message: {message}", failure, message=message)
            raise RealtimeError(ErrorCode.RUNTIME_EXCEPTION, message)

        return failed

    def _deliver(
        self, stream: PresenceStream, stored: StoredMessage, persist: bool
    ) -> realtime_pb2.Envelope:
        """The message to the channel's members, then the sender's ack (the reply)."""
        self._broadcast(stream, stored, persist)
        return realtime_pb2.Envelope(channel_message_ack=_ack_of(stream, stored, persist))

    def _broadcast(self, stream: PresenceStream, stored: StoredMessage, persist: bool) -> None:
        envelope = realtime_pb2.Envelope(channel_message=wire_message(stored, stream, persist))
        self._router.send_to_stream(stream, envelope)
        last = self.last_message_at
        last[stream] = stored.update_time_us / 1e6
        if len(last) > self._activity_limit:
            # (game code posting to channels nobody is in: drop the memberless, and
            # scan again only once as many more are kept)
            for other in [s for s in last if not self._tracker.count_by_stream(s)]:
                del last[other]
            self._activity_limit = max(_ACTIVITY_LIMIT, 2 * len(last))


def _ack_of(
    stream: PresenceStream, stored: StoredMessage, persist: bool
) -> realtime_pb2.ChannelMessageAck:
    ack = realtime_pb2.ChannelMessageAck(
        channel_id=channel_id(stream),
        message_id=stored.id,
        code=wrappers_pb2.Int32Value(value=stored.code),
        username=stored.username,
        create_time=_timestamp(stored.create_time_us),
        update_time=_timestamp(stored.update_time_us),
        persistent=wrappers_pb2.BoolValue(value=persist),
    )
    _place(ack, stream)
    return ack
