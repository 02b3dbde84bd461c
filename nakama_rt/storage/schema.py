"""Schema migrations, one ordered list per backend.

The tables follow Nakama's own (``users`` and ``user_device``) so the meaning of
every column is Nakama's. ``nakama_rt_schema`` records the versions applied;
a later change appends ``(version, statements)`` to both lists and never edits
an applied entry.
"""

from __future__ import annotations

VERSION_TABLE = "nakama_rt_schema"

Migration = tuple[int, tuple[str, ...]]

SQLITE_VERSION_TABLE_DDL = f"""
CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (
    version    INTEGER PRIMARY KEY,
    applied_at REAL    NOT NULL
)"""

POSTGRES_VERSION_TABLE_DDL = f"""
CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (
    version    INTEGER     PRIMARY KEY,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)"""

# SQLite: UUIDs are canonical lowercase text, times are UNIX seconds (REAL, 0 = unset
# for verify/disable as Nakama's epoch default). Emails are stored lowercased.
SQLITE_MIGRATIONS: tuple[Migration, ...] = (
    (
        1,
        (
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
    ),
)

POSTGRES_MIGRATIONS: tuple[Migration, ...] = (
    (
        1,
        (
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


def sqlite_migrations() -> tuple[Migration, ...]:
    """Every SQLite migration, in version order: users here, each feature's in its module."""
    from . import chat_schema, social_schema

    return _ordered(
        SQLITE_MIGRATIONS, chat_schema.SQLITE_MIGRATIONS, social_schema.SQLITE_MIGRATIONS
    )


def postgres_migrations() -> tuple[Migration, ...]:
    """Every PostgreSQL migration, in version order."""
    from . import chat_schema, social_schema

    return _ordered(
        POSTGRES_MIGRATIONS, chat_schema.POSTGRES_MIGRATIONS, social_schema.POSTGRES_MIGRATIONS
    )


def _ordered(*groups: tuple[Migration, ...]) -> tuple[Migration, ...]:
    migrations = sorted((m for group in groups for m in group), key=lambda m: m[0])
    versions = [version for version, _ in migrations]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate schema versions in {versions}")
    return tuple(migrations)
