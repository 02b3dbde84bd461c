"""Chat storage: persisted channel messages and notifications, for both backends.

The SQL here is written once with ``?`` placeholders; the PostgreSQL mixin turns
them into ``%s``. Times are integer microseconds since the epoch in both
databases, so ordering and cursors are exact and identical on both.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from twisted.internet.defer import Deferred
from zope.interface import Interface


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

    def add_message(message: StoredMessage) -> Deferred:
        """Persist a new channel message."""

    def update_message(
        message_id: str, sender_id: str, content: str, username: str, update_time_us: int
    ) -> Deferred:
        """Update a message its sender wrote; fire with its create time, or None if none."""

    def remove_message(message_id: str, sender_id: str) -> Deferred:
        """Delete a message its sender wrote; fire with (create_us, update_us), or None."""

    def list_messages(
        stream: StreamKey, limit: int, ascending: bool, after: tuple[int, str] | None
    ) -> Deferred:
        """Up to ``limit`` messages of a stream ordered by (create time, id), strictly
        after (ascending) or before (descending) the ``after`` position when given."""

    def add_notifications(notifications: Sequence[StoredNotification]) -> Deferred:
        """Persist notifications."""

    def list_notifications(user_id: str, limit: int, after: tuple[int, str] | None) -> Deferred:
        """A user's notifications, oldest first, strictly after ``after`` when given."""

    def delete_notifications(user_id: str, ids: Sequence[str]) -> Deferred:
        """Delete a user's notifications by id (others' ids are ignored)."""


def _schema(text_type: str, int_type: str) -> tuple[str, ...]:
    return (
        f"""
CREATE TABLE message (
    id                {text_type} NOT NULL PRIMARY KEY,
    code              {int_type}  NOT NULL DEFAULT 0,
    sender_id         {text_type} NOT NULL,
    username          {text_type} NOT NULL,
    stream_mode       {int_type}  NOT NULL,
    stream_subject    {text_type} NOT NULL,
    stream_descriptor {text_type} NOT NULL,
    stream_label      {text_type} NOT NULL,
    content           {text_type} NOT NULL DEFAULT '{{}}',
    create_time       BIGINT      NOT NULL,
    update_time       BIGINT      NOT NULL
)""",
        """
CREATE UNIQUE INDEX message_stream_order ON message
    (stream_mode, stream_subject, stream_descriptor, stream_label, create_time, id)""",
        "CREATE INDEX message_sender ON message (sender_id)",
        f"""
CREATE TABLE notification (
    id          {text_type} NOT NULL PRIMARY KEY,
    user_id     {text_type} NOT NULL,
    subject     {text_type} NOT NULL,
    content     {text_type} NOT NULL DEFAULT '{{}}',
    code        {int_type}  NOT NULL,
    sender_id   {text_type} NOT NULL DEFAULT '',
    create_time BIGINT      NOT NULL
)""",
        "CREATE UNIQUE INDEX notification_user_order ON notification (user_id, create_time, id)",
    )


SQLITE_SCHEMA = _schema("TEXT", "INTEGER")
POSTGRES_SCHEMA = _schema("TEXT", "INTEGER")

_MESSAGE_COLUMNS = (
    "id, code, sender_id, username, stream_mode, stream_subject, stream_descriptor, "
    "stream_label, content, create_time, update_time"
)
_STREAM_MATCH = (
    "stream_mode = ? AND stream_subject = ? AND stream_descriptor = ? AND stream_label = ?"
)
_NOTIFICATION_COLUMNS = "id, user_id, subject, content, code, sender_id, create_time"

#: ``execute(sql, params) -> list of rows`` on one connection inside one transaction.
Execute = Callable[[str, tuple[Any, ...]], list[tuple[Any, ...]]]


def add_message(execute: Execute, m: StoredMessage) -> None:
    execute(
        f"INSERT INTO message ({_MESSAGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
    execute: Execute, message_id: str, sender_id: str, content: str, username: str, now_us: int
) -> int | None:
    found = execute(
        "SELECT create_time FROM message WHERE id = ? AND sender_id = ?", (message_id, sender_id)
    )
    if not found:
        return None
    execute(
        "UPDATE message SET update_time = ?, username = ?, content = ? "
        "WHERE id = ? AND sender_id = ?",
        (now_us, username, content, message_id, sender_id),
    )
    return found[0][0]


def remove_message(execute: Execute, message_id: str, sender_id: str) -> tuple[int, int] | None:
    found = execute(
        "SELECT create_time, update_time FROM message WHERE id = ? AND sender_id = ?",
        (message_id, sender_id),
    )
    if not found:
        return None
    execute("DELETE FROM message WHERE id = ? AND sender_id = ?", (message_id, sender_id))
    return found[0][0], found[0][1]


def list_messages(
    execute: Execute, stream: StreamKey, limit: int, ascending: bool, after: tuple[int, str] | None
) -> list[StoredMessage]:
    params: tuple[Any, ...] = (stream.mode, stream.subject, stream.subcontext, stream.label)
    sql = f"SELECT {_MESSAGE_COLUMNS} FROM message WHERE {_STREAM_MATCH}"
    if after is not None:
        sql += " AND (create_time, id) " + (">" if ascending else "<") + " (?, ?)"
        params += after
    order = "ASC" if ascending else "DESC"
    sql += f" ORDER BY create_time {order}, id {order} LIMIT ?"
    rows = execute(sql, (*params, limit))
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


def add_notifications(execute: Execute, notifications: Sequence[StoredNotification]) -> None:
    for n in notifications:
        execute(
            f"INSERT INTO notification ({_NOTIFICATION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (n.id, n.user_id, n.subject, n.content, n.code, n.sender_id, n.create_time_us),
        )


def list_notifications(
    execute: Execute, user_id: str, limit: int, after: tuple[int, str] | None
) -> list[StoredNotification]:
    sql = f"SELECT {_NOTIFICATION_COLUMNS} FROM notification WHERE user_id = ?"
    params: tuple[Any, ...] = (user_id,)
    if after is not None:
        sql += " AND (create_time, id) > (?, ?)"
        params += after
    rows = execute(sql + " ORDER BY create_time ASC, id ASC LIMIT ?", (*params, limit))
    return [StoredNotification(*row) for row in rows]


def delete_notifications(execute: Execute, user_id: str, ids: Sequence[str]) -> None:
    for notification_id in ids:
        execute("DELETE FROM notification WHERE id = ? AND user_id = ?", (notification_id, user_id))


class ChatMethods:
    """The :class:`IChatStorage` methods, given a backend's ``_chat_tx``."""

    _run: Callable[..., Deferred]

    def _chat_tx(self, fn: Callable[..., Any], *args: Any) -> Any:  # pragma: no cover
        raise NotImplementedError

    def _chat(self, fn: Callable[..., Any], *args: Any) -> Deferred:
        return self._run(self._chat_tx, fn, *args)

    def add_message(self, message: StoredMessage) -> Deferred:
        return self._chat(add_message, message)

    def update_message(
        self, message_id: str, sender_id: str, content: str, username: str, update_time_us: int
    ) -> Deferred:
        return self._chat(update_message, message_id, sender_id, content, username, update_time_us)

    def remove_message(self, message_id: str, sender_id: str) -> Deferred:
        return self._chat(remove_message, message_id, sender_id)

    def list_messages(
        self, stream: StreamKey, limit: int, ascending: bool, after: tuple[int, str] | None
    ) -> Deferred:
        return self._chat(list_messages, stream, limit, ascending, after)

    def add_notifications(self, notifications: Sequence[StoredNotification]) -> Deferred:
        return self._chat(add_notifications, list(notifications))

    def list_notifications(
        self, user_id: str, limit: int, after: tuple[int, str] | None
    ) -> Deferred:
        return self._chat(list_notifications, user_id, limit, after)

    def delete_notifications(self, user_id: str, ids: Sequence[str]) -> Deferred:
        return self._chat(delete_notifications, user_id, list(ids))
