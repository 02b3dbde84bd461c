"""Schema migrations of the social tables (see :mod:`nakama_rt.storage.schema`)."""

from __future__ import annotations

from .schema import Migration

SQLITE_MIGRATIONS: tuple[Migration, ...] = ()
POSTGRES_MIGRATIONS: tuple[Migration, ...] = ()
