"""The leaderboards' tables: Nakama's ``leaderboard`` and ``leaderboard_record``.

Only the columns a leaderboard uses (Nakama's tournament columns are left out).
SQLite: owners are canonical lowercase UUID text (so they order as PostgreSQL's UUIDs
do, bytewise), times UNIX seconds, an expiry whole seconds; metadata the text
PostgreSQL's JSONB would write. A record's primary key is its place in the ranking,
which every listing and rank count walks.
"""

from __future__ import annotations

from .migration import Migration

_INDEX = (
    "CREATE INDEX owner_id_expiry_time_leaderboard_id_idx "
    "ON leaderboard_record (owner_id, expiry_time, leaderboard_id)"
)

MIGRATIONS = (
    Migration(
        5,
        sqlite=(
            """
CREATE TABLE leaderboard (
    id             TEXT    PRIMARY KEY,
    authoritative  INTEGER NOT NULL DEFAULT 0,
    sort_order     INTEGER NOT NULL DEFAULT 1,
    operator       INTEGER NOT NULL DEFAULT 0,
    reset_schedule TEXT,
    metadata       TEXT    NOT NULL DEFAULT '{}',
    create_time    REAL    NOT NULL,
    enable_ranks   INTEGER NOT NULL DEFAULT 1
)""",
            """
CREATE TABLE leaderboard_record (
    leaderboard_id TEXT    NOT NULL REFERENCES leaderboard (id) ON DELETE CASCADE,
    owner_id       TEXT    NOT NULL,
    username       TEXT,
    score          INTEGER NOT NULL DEFAULT 0 CHECK (score >= 0),
    subscore       INTEGER NOT NULL DEFAULT 0 CHECK (subscore >= 0),
    num_score      INTEGER NOT NULL DEFAULT 1 CHECK (num_score >= 0),
    max_num_score  INTEGER NOT NULL DEFAULT 1000000 CHECK (max_num_score > 0),
    metadata       TEXT    NOT NULL DEFAULT '{}',
    create_time    REAL    NOT NULL,
    update_time    REAL    NOT NULL,
    expiry_time    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (leaderboard_id, expiry_time, score, subscore, owner_id),
    UNIQUE (owner_id, leaderboard_id, expiry_time)
)""",
            _INDEX,
        ),
        postgresql=(
            """
CREATE TABLE leaderboard (
    PRIMARY KEY (id),
    id             VARCHAR(128) NOT NULL,
    authoritative  BOOLEAN      NOT NULL DEFAULT FALSE,
    sort_order     SMALLINT     NOT NULL DEFAULT 1,
    operator       SMALLINT     NOT NULL DEFAULT 0,
    reset_schedule VARCHAR(64),
    metadata       JSONB        NOT NULL DEFAULT '{}',
    create_time    TIMESTAMPTZ  NOT NULL DEFAULT now(),
    enable_ranks   BOOLEAN      NOT NULL DEFAULT TRUE
)""",
            """
CREATE TABLE leaderboard_record (
    PRIMARY KEY (leaderboard_id, expiry_time, score, subscore, owner_id),
    FOREIGN KEY (leaderboard_id) REFERENCES leaderboard (id) ON DELETE CASCADE,
    leaderboard_id VARCHAR(128) NOT NULL,
    owner_id       UUID         NOT NULL,
    username       VARCHAR(128),
    score          BIGINT       NOT NULL DEFAULT 0 CHECK (score >= 0),
    subscore       BIGINT       NOT NULL DEFAULT 0 CHECK (subscore >= 0),
    num_score      INT          NOT NULL DEFAULT 1 CHECK (num_score >= 0),
    max_num_score  INT          NOT NULL DEFAULT 1000000 CHECK (max_num_score > 0),
    metadata       JSONB        NOT NULL DEFAULT '{}',
    create_time    TIMESTAMPTZ  NOT NULL DEFAULT now(),
    update_time    TIMESTAMPTZ  NOT NULL DEFAULT now(),
    expiry_time    BIGINT       NOT NULL DEFAULT 0,
    UNIQUE (owner_id, leaderboard_id, expiry_time)
)""",
            _INDEX,
        ),
    ),
)
