"""The storage engine's table: Nakama's ``storage``, its columns and indexes.

SQLite: owners are canonical lowercase UUID text, times UNIX seconds (REAL), values
the text PostgreSQL's JSONB would write (see :mod:`.jsonb`). PostgreSQL: Nakama's
columns, with ``collection`` and ``key`` in the "C" collation so that listings are
ordered bytewise, as SQLite orders them, whatever the database's default collation.
"""

from __future__ import annotations

from .migration import Migration

_INDEXES = (
    "CREATE INDEX collection_read_user_id_key_idx ON storage (collection, read, user_id, key)",
    "CREATE INDEX collection_read_key_user_id_idx ON storage (collection, read, key, user_id)",
    "CREATE INDEX collection_user_id_read_key_idx ON storage (collection, user_id, read, key)",
    "CREATE INDEX storage_auto_index_fk_user_id_ref_users ON storage (user_id)",
)

MIGRATIONS = (
    Migration(
        4,
        sqlite=(
            """
CREATE TABLE storage (
    collection  TEXT    NOT NULL,
    key         TEXT    NOT NULL,
    user_id     TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    value       TEXT    NOT NULL DEFAULT '{}',
    version     TEXT    NOT NULL,
    read        INTEGER NOT NULL DEFAULT 1 CHECK (read >= 0),
    write       INTEGER NOT NULL DEFAULT 1 CHECK (write >= 0),
    create_time REAL    NOT NULL,
    update_time REAL    NOT NULL,
    PRIMARY KEY (collection, key, user_id)
)""",
            *_INDEXES,
        ),
        postgresql=(
            """
CREATE TABLE storage (
    PRIMARY KEY (collection, key, user_id),
    FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    collection  VARCHAR(128) COLLATE "C" NOT NULL,
    key         VARCHAR(128) COLLATE "C" NOT NULL,
    user_id     UUID         NOT NULL,
    value       JSONB        NOT NULL DEFAULT '{}',
    version     VARCHAR(32)  NOT NULL,
    read        SMALLINT     NOT NULL DEFAULT 1 CHECK (read >= 0),
    write       SMALLINT     NOT NULL DEFAULT 1 CHECK (write >= 0),
    create_time TIMESTAMPTZ  NOT NULL DEFAULT now(),
    update_time TIMESTAMPTZ  NOT NULL DEFAULT now()
)""",
            *_INDEXES,
        ),
    ),
)
