"""Schema migrations: every feature's, in version order, and how they are applied.

Each feature declares its tables in its own module (:mod:`.users_schema`,
:mod:`.chat_schema`, :mod:`.social_schema`, :mod:`.objects_schema`,
:mod:`.leaderboards_schema`), which imports only the
:class:`~.migration.Migration` record; this module lists them. ``nakama_rt_schema``
records the versions applied; a change appends a version and never edits one.
"""

from __future__ import annotations

from . import chat_schema, leaderboards_schema, objects_schema, social_schema, users_schema
from .migration import Migration
from .sql import Dialect, Tx

VERSION_TABLE = "nakama_rt_schema"

_VERSION_TABLE_DDL = {
    "sqlite": f"""
CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (
    version    INTEGER PRIMARY KEY,
    applied_at REAL    NOT NULL
)""",
    "postgresql": f"""
CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (
    version    INTEGER     PRIMARY KEY,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)""",
}


def _ordered(*groups: tuple[Migration, ...]) -> tuple[Migration, ...]:
    migrations = sorted((m for group in groups for m in group), key=lambda m: m.version)
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate schema versions in {versions}")
    return tuple(migrations)


MIGRATIONS = _ordered(
    users_schema.MIGRATIONS,
    chat_schema.MIGRATIONS,
    social_schema.MIGRATIONS,
    objects_schema.MIGRATIONS,
    leaderboards_schema.MIGRATIONS,
)


def migrate(tx: Tx, dialect: Dialect, now: float) -> None:
    """Apply the versions the database lacks, in ``tx`` (the caller's transaction, which
    holds whatever lock keeps a second migrator out)."""
    tx.run(_VERSION_TABLE_DDL[dialect.name])
    current = tx.scalar(f"SELECT coalesce(max(version), 0) FROM {VERSION_TABLE}")
    record = dialect.sql(
        f"INSERT INTO {VERSION_TABLE} (version, applied_at) VALUES (?, {dialect.time})"
    )
    for migration in MIGRATIONS:
        if migration.version <= current:
            continue
        for statement in migration.statements(dialect.name):
            tx.run(statement)
        tx.run(record, (migration.version, now))
