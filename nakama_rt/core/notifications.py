"""Notifications: persisted for ``GET /v2/notification`` and delivered live to every
socket of an online recipient (its notifications stream), as Nakama does.

Everything that notifies a user (friend requests, group joins, DM invites, the
Python runtime later) goes through :meth:`Notifier.send`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import orjson
from google.protobuf import timestamp_pb2
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime

from nakama_rt.core.router import IRouter
from nakama_rt.core.tracker import PresenceStream, StreamMode
from nakama_rt.logs import Logger
from nakama_rt.storage.chat import StoredNotification
from nakama_rt.wire.proto import api_pb2, realtime_pb2


class NotificationCode(IntEnum):
    """Codes of the notifications the server itself sends (Nakama's, all negative)."""

    DM_REQUEST = -1
    FRIEND_REQUEST = -2
    FRIEND_ACCEPT = -3
    GROUP_ADD = -4
    GROUP_JOIN_REQUEST = -5
    FRIEND_JOIN_GAME = -6
    SINGLE_SOCKET = -7
    USER_BANNED = -8
    FRIEND_REMOVE = -9


@dataclass(frozen=True)
class NewNotification:
    """A notification to send. ``content`` is a JSON object (a mapping or its text)."""

    user_id: str
    subject: str
    content: Mapping[str, Any] | str
    code: int
    sender_id: str = ""
    persistent: bool = True


def notifications_stream(user_id: str) -> PresenceStream:
    return PresenceStream(StreamMode.NOTIFICATIONS, user_id)


def wire_notification(stored: StoredNotification, persistent: bool = True) -> api_pb2.Notification:
    """The wire form; Nakama gives notification times in whole seconds."""
    return api_pb2.Notification(
        id=stored.id,
        subject=stored.subject,
        content=stored.content,
        code=stored.code,
        sender_id=stored.sender_id,
        create_time=timestamp_pb2.Timestamp(seconds=stored.create_time_us // 1_000_000),
        persistent=persistent,
    )


class Notifier:
    """Persists the persistent notifications, then delivers all of them live."""

    log = Logger()

    def __init__(self, storage: Any, router: IRouter, clock: IReactorTime) -> None:
        self._storage = storage
        self._router = router
        self._clock = clock

    def send(self, notifications: Sequence[NewNotification]) -> Deferred:
        """Fire once persisted (delivery is immediate after); errback if storing failed."""
        if not notifications:
            return succeed(None)
        now_us = int(self._clock.seconds() * 1_000_000)
        prepared = [(self._stored(n, now_us), n.persistent) for n in notifications]
        persistent = [stored for stored, keep in prepared if keep]
        stored_all = self._storage.add_notifications(persistent) if persistent else succeed(None)
        stored_all.addCallback(lambda _: self._deliver(prepared))
        return stored_all

    @staticmethod
    def _stored(n: NewNotification, now_us: int) -> StoredNotification:
        content = n.content if isinstance(n.content, str) else orjson.dumps(n.content).decode()
        return StoredNotification(
            id=str(uuid.uuid4()),
            user_id=n.user_id,
            subject=n.subject,
            content=content,
            code=n.code,
            sender_id=n.sender_id,
            create_time_us=now_us,
        )

    def _deliver(self, prepared: list[tuple[StoredNotification, bool]]) -> None:
        by_user: dict[str, list[api_pb2.Notification]] = {}
        for stored, persistent in prepared:
            by_user.setdefault(stored.user_id, []).append(wire_notification(stored, persistent))
        for user_id, wire in by_user.items():
            envelope = realtime_pb2.Envelope(
                notifications=realtime_pb2.Notifications(notifications=wire)
            )
            self._router.send_to_stream(notifications_stream(user_id), envelope)
