"""Chat storage: persisted channel messages and notifications, for both backends.

Times are integer microseconds since the epoch in both databases (see
:mod:`.chat_schema`), so the SQL differs only in its parameter marks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from twisted.internet.defer import Deferred
from zope.interface import Interface

from .sql import Dialect, Tx


@dataclass(frozen=True, slots=True)
class StreamKey:
    """A channel's stream as stored with its messages (empty strings when unset)."""

    mode: int
    subject: str = ""
    subcontext: str = ""
    label: str = ""


@dataclass(frozen=True, slots=True)
class StoredMessage:
    id: str
    code: int
    sender_id: str
    username: str
    stream: StreamKey
    content: str
    create_time_us: int
    update_time_us: int


@dataclass(frozen=True, slots=True)
class StoredNotification:
    id: str
    user_id: str
    subject: str
    content: str
    code: int
    sender_id: str
    create_time_us: int


class IChatStorage(Interface):
    """Every method returns a Deferred and runs off the reactor thread."""

    def add_message(message: StoredMessage) -> Deferred[None]:
        """Persist a new channel message."""

    def update_message(
        message_id: str, sender_id: str, content: str, username: str, update_time_us: int
    ) -> Deferred[int | None]:
        """Update a message its sender wrote; fire with its create time, or None if none."""

    def remove_message(message_id: str, sender_id: str) -> Deferred[tuple[int, int] | None]:
        """Delete a message its sender wrote; fire with (create_us, update_us), or None."""

    def list_messages(
        stream: StreamKey, limit: int, ascending: bool, after: tuple[int, str] | None
    ) -> Deferred[list[StoredMessage]]:
        """Up to ``limit`` messages of a stream ordered by (create time, id), strictly
        after (ascending) or before (descending) the ``after`` position when given."""

    def add_notifications(notifications: Sequence[StoredNotification]) -> Deferred[None]:
        """Persist notifications."""

    def list_notifications(
        user_id: str, limit: int, after: tuple[int, str] | None
    ) -> Deferred[list[StoredNotification]]:
        """A user's notifications, oldest first, strictly after ``after`` when given."""

    def delete_notifications(user_id: str, ids: Sequence[str]) -> Deferred[None]:
        """Delete a user's notifications by id (others' ids are ignored)."""


_MESSAGE_COLUMNS = (
    "id, code, sender_id, username, stream_mode, stream_subject, stream_descriptor, "
    "stream_label, content, create_time, update_time"
)
_NOTIFICATION_COLUMNS = "id, user_id, subject, content, code, sender_id, create_time"


class ChatQueries:
    """The chat queries, rendered for one dialect when the storage is built; each runs
    in one transaction."""

    def __init__(self, d: Dialect) -> None:
        self._insert_message = d.sql(
            f"INSERT INTO message ({_MESSAGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        )
        mine = "FROM message WHERE id = ? AND sender_id = ?"
        self._message_created = d.sql(f"SELECT create_time {mine}")
        self._message_times = d.sql(f"SELECT create_time, update_time {mine}")
        self._update_message = d.sql(
            "UPDATE message SET update_time = ?, username = ?, content = ? "
            "WHERE id = ? AND sender_id = ?"
        )
        self._delete_message = d.sql(f"DELETE {mine}")
        stream = (
            f"SELECT {_MESSAGE_COLUMNS} FROM message WHERE stream_mode = ? AND "
            "stream_subject = ? AND stream_descriptor = ? AND stream_label = ?"
        )

        def page(ascending: bool, after: bool) -> str:
            direction = "ASC" if ascending else "DESC"
            sql = stream
            if after:
                sql += f" AND (create_time, id) {'>' if ascending else '<'} (?, ?)"
            return d.sql(f"{sql} ORDER BY create_time {direction}, id {direction} LIMIT ?")

        #: By (ascending, after a position).
        self._messages = {(a, b): page(a, b) for a in (False, True) for b in (False, True)}
        self._insert_notification = d.sql(
            f"INSERT INTO notification ({_NOTIFICATION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
        )
        notifications = f"SELECT {_NOTIFICATION_COLUMNS} FROM notification WHERE user_id = ?"
        order = " ORDER BY create_time ASC, id ASC LIMIT ?"
        self._notifications = d.sql(notifications + order)
        self._notifications_after = d.sql(notifications + " AND (create_time, id) > (?, ?)" + order)
        self._delete_notification = d.sql("DELETE FROM notification WHERE id = ? AND user_id = ?")

    def add_message(self, tx: Tx, m: StoredMessage) -> None:
        tx.run(
            self._insert_message,
            (
                m.id,
                m.code,
                m.sender_id,
                m.username,
                m.stream.mode,
                m.stream.subject,
                m.stream.subcontext,
                m.stream.label,
                m.content,
                m.create_time_us,
                m.update_time_us,
            ),
        )

    def update_message(
        self, tx: Tx, message_id: str, sender_id: str, content: str, username: str, now_us: int
    ) -> int | None:
        created = tx.scalar(self._message_created, (message_id, sender_id))
        if created is None:
            return None
        tx.run(self._update_message, (now_us, username, content, message_id, sender_id))
        return created

    def remove_message(self, tx: Tx, message_id: str, sender_id: str) -> tuple[int, int] | None:
        found = tx.one(self._message_times, (message_id, sender_id))
        if found is None:
            return None
        tx.run(self._delete_message, (message_id, sender_id))
        return found[0], found[1]

    def list_messages(
        self,
        tx: Tx,
        stream: StreamKey,
        limit: int,
        ascending: bool,
        after: tuple[int, str] | None,
    ) -> list[StoredMessage]:
        params: tuple[Any, ...] = (stream.mode, stream.subject, stream.subcontext, stream.label)
        if after is not None:
            params += after
        rows = tx.rows(self._messages[ascending, after is not None], (*params, limit))
        return [
            StoredMessage(
                id=r[0],
                code=r[1],
                sender_id=r[2],
                username=r[3],
                stream=StreamKey(r[4], r[5], r[6], r[7]),
                content=r[8],
                create_time_us=r[9],
                update_time_us=r[10],
            )
            for r in rows
        ]

    def add_notifications(self, tx: Tx, notifications: Sequence[StoredNotification]) -> None:
        for n in notifications:
            tx.run(
                self._insert_notification,
                (n.id, n.user_id, n.subject, n.content, n.code, n.sender_id, n.create_time_us),
            )

    def list_notifications(
        self, tx: Tx, user_id: str, limit: int, after: tuple[int, str] | None
    ) -> list[StoredNotification]:
        if after is None:
            rows = tx.rows(self._notifications, (user_id, limit))
        else:
            rows = tx.rows(self._notifications_after, (user_id, *after, limit))
        return [StoredNotification(*row) for row in rows]

    def delete_notifications(self, tx: Tx, user_id: str, ids: Sequence[str]) -> None:
        for notification_id in ids:
            tx.run(self._delete_notification, (notification_id, user_id))
