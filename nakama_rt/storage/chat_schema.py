"""The chat tables: channel messages and notifications.

The same DDL on both backends: ids are text and times integer microseconds since the
epoch, so ordering and cursors are exact and identical on both.
"""

from __future__ import annotations

from .migration import Migration

_DDL = (
    """
CREATE TABLE message (
    id                TEXT NOT NULL PRIMARY KEY,
    code              INTEGER  NOT NULL DEFAULT 0,
    sender_id         TEXT NOT NULL,
    username          TEXT NOT NULL,
    stream_mode       INTEGER  NOT NULL,
    stream_subject    TEXT NOT NULL,
    stream_descriptor TEXT NOT NULL,
    stream_label      TEXT NOT NULL,
    content           TEXT NOT NULL DEFAULT '{}',
    create_time       BIGINT      NOT NULL,
    update_time       BIGINT      NOT NULL
)""",
    """
CREATE UNIQUE INDEX message_stream_order ON message
    (stream_mode, stream_subject, stream_descriptor, stream_label, create_time, id)""",
    "CREATE INDEX message_sender ON message (sender_id)",
    """
CREATE TABLE notification (
    id          TEXT NOT NULL PRIMARY KEY,
    user_id     TEXT NOT NULL,
    subject     TEXT NOT NULL,
    content     TEXT NOT NULL DEFAULT '{}',
    code        INTEGER  NOT NULL,
    sender_id   TEXT NOT NULL DEFAULT '',
    create_time BIGINT      NOT NULL
)""",
    "CREATE UNIQUE INDEX notification_user_order ON notification (user_id, create_time, id)",
)

MIGRATIONS = (Migration(2, sqlite=_DDL, postgresql=_DDL),)
