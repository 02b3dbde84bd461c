"""Schema migrations of the chat tables (see :mod:`nakama_rt.storage.schema`)."""

from __future__ import annotations

from .chat import POSTGRES_SCHEMA, SQLITE_SCHEMA
from .schema import Migration

SQLITE_MIGRATIONS: tuple[Migration, ...] = ((2, SQLITE_SCHEMA),)
POSTGRES_MIGRATIONS: tuple[Migration, ...] = ((2, POSTGRES_SCHEMA),)
