"""The social tables: friends and groups.

``user_edge``, ``groups`` and ``group_edge`` have Nakama's columns and meanings.
``position`` (nanoseconds when the edge was made) orders lists; the primary keys
``(source_id, state, position)`` make paging by state then age an index scan.
Unlike Nakama, ``groups`` is keyed by ``id`` alone (Nakama's key includes the
mutable ``edge_count``). ``group_edge`` has no foreign keys: its ids are users
or groups, depending on the direction.
"""

from __future__ import annotations

from .migration import Migration

# SQLite: ids are canonical lowercase UUID text, times UNIX seconds (REAL; a
# disable_time of 0 means "not disabled", as Nakama's epoch default).
MIGRATIONS = (
    Migration(
        3,
        sqlite=(
            """
CREATE TABLE user_edge (
    source_id      TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    position       INTEGER NOT NULL,
    update_time    REAL    NOT NULL,
    destination_id TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    state          INTEGER NOT NULL DEFAULT 0,
    metadata       TEXT    NOT NULL DEFAULT '{}',
    PRIMARY KEY (source_id, state, position),
    UNIQUE (source_id, destination_id)
)""",
            "CREATE INDEX user_edge_destination_id_idx ON user_edge (destination_id)",
            """
CREATE TABLE groups (
    id           TEXT    NOT NULL PRIMARY KEY,
    creator_id   TEXT    NOT NULL,
    name         TEXT    NOT NULL CONSTRAINT groups_name_key UNIQUE,
    description  TEXT,
    avatar_url   TEXT,
    lang_tag     TEXT    NOT NULL DEFAULT 'en',
    metadata     TEXT    NOT NULL DEFAULT '{}',
    state        INTEGER NOT NULL DEFAULT 0 CHECK (state >= 0),
    edge_count   INTEGER NOT NULL DEFAULT 0
                         CHECK (edge_count >= 1 AND edge_count <= max_count),
    max_count    INTEGER NOT NULL DEFAULT 100 CHECK (max_count >= 1),
    create_time  REAL    NOT NULL,
    update_time  REAL    NOT NULL,
    disable_time REAL    NOT NULL DEFAULT 0
)""",
            "CREATE INDEX groups_lang_tag_idx ON groups (disable_time, lang_tag, edge_count, id)",
            "CREATE INDEX groups_edge_count_idx ON groups (disable_time, edge_count, id)",
            """
CREATE TABLE group_edge (
    source_id      TEXT    NOT NULL,
    position       INTEGER NOT NULL,
    update_time    REAL    NOT NULL,
    destination_id TEXT    NOT NULL,
    state          INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (source_id, state, position),
    UNIQUE (source_id, destination_id)
)""",
            "CREATE INDEX group_edge_destination_id_idx ON group_edge (destination_id)",
        ),
        postgresql=(
            """
CREATE TABLE user_edge (
    PRIMARY KEY (source_id, state, position),
    FOREIGN KEY (source_id)      REFERENCES users (id) ON DELETE CASCADE,
    FOREIGN KEY (destination_id) REFERENCES users (id) ON DELETE CASCADE,
    source_id      UUID        NOT NULL,
    position       BIGINT      NOT NULL,
    update_time    TIMESTAMPTZ NOT NULL DEFAULT now(),
    destination_id UUID        NOT NULL,
    state          SMALLINT    NOT NULL DEFAULT 0,
    metadata       JSONB       NOT NULL DEFAULT '{}',
    UNIQUE (source_id, destination_id)
)""",
            "CREATE INDEX user_edge_destination_id_idx ON user_edge (destination_id)",
            """
CREATE TABLE groups (
    PRIMARY KEY (id),
    id           UUID          NOT NULL,
    creator_id   UUID          NOT NULL,
    name         VARCHAR(255)  NOT NULL CONSTRAINT groups_name_key UNIQUE,
    description  VARCHAR(255),
    avatar_url   VARCHAR(512),
    lang_tag     VARCHAR(18)   NOT NULL DEFAULT 'en',
    metadata     JSONB         NOT NULL DEFAULT '{}',
    state        SMALLINT      NOT NULL DEFAULT 0 CHECK (state >= 0),
    edge_count   INT           NOT NULL DEFAULT 0
                               CHECK (edge_count >= 1 AND edge_count <= max_count),
    max_count    INT           NOT NULL DEFAULT 100 CHECK (max_count >= 1),
    create_time  TIMESTAMPTZ   NOT NULL DEFAULT now(),
    update_time  TIMESTAMPTZ   NOT NULL DEFAULT now(),
    disable_time TIMESTAMPTZ   NOT NULL DEFAULT '1970-01-01 00:00:00 UTC'
)""",
            "CREATE INDEX groups_lang_tag_idx ON groups (disable_time, lang_tag, edge_count, id)",
            "CREATE INDEX groups_edge_count_idx ON groups (disable_time, edge_count, id)",
            """
CREATE TABLE group_edge (
    PRIMARY KEY (source_id, state, position),
    source_id      UUID        NOT NULL,
    position       BIGINT      NOT NULL,
    update_time    TIMESTAMPTZ NOT NULL DEFAULT now(),
    destination_id UUID        NOT NULL,
    state          SMALLINT    NOT NULL DEFAULT 0,
    UNIQUE (source_id, destination_id)
)""",
            "CREATE INDEX group_edge_destination_id_idx ON group_edge (destination_id)",
        ),
    ),
)
