"""The accounts' tables: Nakama's ``users`` and ``user_device``, so that every column
means what it means in Nakama.

SQLite: UUIDs are canonical lowercase text, times are UNIX seconds (REAL, 0 = unset
for verify/disable as Nakama's epoch default). Emails are stored lowercased.
"""

from __future__ import annotations

from .migration import Migration

MIGRATIONS = (
    Migration(
        1,
        sqlite=(
            """
CREATE TABLE users (
    id            TEXT    NOT NULL PRIMARY KEY,
    username      TEXT    NOT NULL CONSTRAINT users_username_key UNIQUE,
    display_name  TEXT,
    avatar_url    TEXT,
    lang_tag      TEXT    NOT NULL DEFAULT 'en',
    location      TEXT,
    timezone      TEXT,
    metadata      TEXT    NOT NULL DEFAULT '{}',
    wallet        TEXT    NOT NULL DEFAULT '{}',
    email         TEXT    CONSTRAINT users_email_key UNIQUE,
    password      BLOB    CHECK (length(password) < 32000),
    custom_id     TEXT    CONSTRAINT users_custom_id_key UNIQUE,
    edge_count    INTEGER NOT NULL DEFAULT 0 CHECK (edge_count >= 0),
    create_time   REAL    NOT NULL,
    update_time   REAL    NOT NULL,
    verify_time   REAL    NOT NULL DEFAULT 0,
    disable_time  REAL    NOT NULL DEFAULT 0
)""",
            """
CREATE TABLE user_device (
    id      TEXT NOT NULL PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE
)""",
            "CREATE INDEX user_device_user_id_idx ON user_device (user_id)",
            "INSERT INTO users (id, username, create_time, update_time) "
            "VALUES ('00000000-0000-0000-0000-000000000000', '', 0, 0)",
        ),
        postgresql=(
            """
CREATE TABLE users (
    PRIMARY KEY (id),
    id            UUID          NOT NULL,
    username      VARCHAR(128)  NOT NULL CONSTRAINT users_username_key UNIQUE,
    display_name  VARCHAR(255),
    avatar_url    VARCHAR(512),
    lang_tag      VARCHAR(18)   NOT NULL DEFAULT 'en',
    location      VARCHAR(255),
    timezone      VARCHAR(255),
    metadata      JSONB         NOT NULL DEFAULT '{}',
    wallet        JSONB         NOT NULL DEFAULT '{}',
    email         VARCHAR(255)  CONSTRAINT users_email_key UNIQUE,
    password      BYTEA         CHECK (length(password) < 32000),
    custom_id     VARCHAR(128)  CONSTRAINT users_custom_id_key UNIQUE,
    edge_count    INT           NOT NULL DEFAULT 0 CHECK (edge_count >= 0),
    create_time   TIMESTAMPTZ   NOT NULL DEFAULT now(),
    update_time   TIMESTAMPTZ   NOT NULL DEFAULT now(),
    verify_time   TIMESTAMPTZ   NOT NULL DEFAULT '1970-01-01 00:00:00 UTC',
    disable_time  TIMESTAMPTZ   NOT NULL DEFAULT '1970-01-01 00:00:00 UTC'
)""",
            """
CREATE TABLE user_device (
    PRIMARY KEY (id),
    FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    id      VARCHAR(128) NOT NULL,
    user_id UUID         NOT NULL
)""",
            "CREATE INDEX user_device_user_id_idx ON user_device (user_id)",
            "INSERT INTO users (id, username, create_time, update_time) "
            "VALUES ('00000000-0000-0000-0000-000000000000', '', "
            "'1970-01-01 00:00:00 UTC', '1970-01-01 00:00:00 UTC')",
        ),
    ),
)
