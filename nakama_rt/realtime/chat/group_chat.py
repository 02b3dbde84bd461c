"""What changes in the social graph mean for chat, as Nakama does it.

Group membership changes leave a message in the group's channel (codes 3-9,
persisted like chat), members who leave, are kicked or banned lose their place
in the channel, a deleted group's channel empties, and a block ends the DM
channel between the two users.
"""

from __future__ import annotations

import dataclasses
import uuid
from enum import IntEnum

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime

from nakama_rt.core.router import IRouter
from nakama_rt.core.tracker import ITracker, PresenceStream, StreamMode
from nakama_rt.realtime.chat.channel import stream_key, wire_message
from nakama_rt.storage.chat import StoredMessage
from nakama_rt.wire.proto import realtime_pb2


class GroupMessageCode(IntEnum):
    """``ChannelMessage.code`` of the messages the server writes into group channels."""

    JOIN = 3
    ADD = 4
    LEAVE = 5
    KICK = 6
    PROMOTE = 7
    BAN = 8
    DEMOTE = 9


def group_stream(group_id: str) -> PresenceStream:
    return PresenceStream(StreamMode.GROUP, group_id)


def dm_stream(user_a: str, user_b: str) -> PresenceStream:
    one, two = sorted((user_a, user_b))
    return PresenceStream(StreamMode.DM, one, two)


class ChatEvents:
    """Called by the friend and group endpoints after their change is stored."""

    def __init__(self, tracker: ITracker, router: IRouter, storage, clock: IReactorTime) -> None:
        self._tracker = tracker
        self._router = router
        self._storage = storage
        self._clock = clock

    def group_message(self, group_id: str, code: int, user_id: str, username: str) -> Deferred:
        """Persist and deliver a membership message about ``user_id`` in the group channel."""
        stream = group_stream(group_id)
        now = int(self._clock.seconds() * 1_000_000)
        stored = StoredMessage(
            id=str(uuid.uuid4()),
            code=code,
            sender_id=user_id,
            username=username,
            stream=stream_key(stream),
            content="{}",
            create_time_us=now,
            update_time_us=now,
        )

        # Nakama keeps these messages with whole-second times; the live copy is exact.
        whole = now - now % 1_000_000
        kept = dataclasses.replace(stored, create_time_us=whole, update_time_us=whole)

        def deliver(_: object) -> None:
            envelope = realtime_pb2.Envelope(channel_message=wire_message(stored, stream, True))
            self._router.send_to_stream(stream, envelope)

        return self._storage.add_message(kept).addCallback(deliver)

    def remove_from_group(self, group_id: str, user_id: str) -> None:
        """Take every socket of ``user_id`` out of the group's channel."""
        stream = group_stream(group_id)
        for presence in self._tracker.list_by_stream(stream, True, True):
            if presence.user_id == user_id:
                self._tracker.untrack(presence.session_id, stream, user_id)

    def close_group(self, group_id: str) -> None:
        self._tracker.untrack_by_stream(group_stream(group_id))

    def close_dm(self, user_a: str, user_b: str) -> None:
        self._tracker.untrack_by_stream(dm_stream(user_a, user_b))
