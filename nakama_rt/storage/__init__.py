"""Accounts, chat, the social graph, storage objects and leaderboards behind one
interface, on SQLite or PostgreSQL.

``open_storage("sqlite:data/nakama-rt.sqlite3", reactor)`` or
``open_storage("postgresql://user@host/db", reactor)``; then ``start()`` (migrates)
and ``stop()``, both Deferreds.

The shape, and why:

* One class, :class:`~.store.Storage`, implements every interface. It holds a
  backend (:class:`~.sql.Database`: its connections, lifecycle and
  :class:`~.sql.Dialect`) and one query object per feature, and runs their queries
  on its thread pool. Composition, not mixins: a backend is a value it is given,
  so the SQL cannot know which backend runs it.
* Every query is written once, in the feature's module (:mod:`.users`, :mod:`.chat`,
  :mod:`.social_friends`, :mod:`.social_groups`, :mod:`.social_lists`,
  :mod:`.objects_queries`, :mod:`.leaderboards_queries`), with
  ``?`` marks and the dialect's fragments (row locks, times, ILIKE); the query
  object renders it for the backend's dialect when the storage is built, so a call
  costs what it did with hand-written SQL. Feature modules hold the rules too, so
  a feature is read in one file.
* A backend (:mod:`.sqlite`, :mod:`.postgres`) is what truly differs: how to
  connect, check, lock, migrate under a lock, and what its errors mean.
* Each feature declares its tables in its ``*_schema`` module; :mod:`.schema` lists
  them in version order and applies them, so the schema modules import in one
  direction only.
"""

from __future__ import annotations

from typing import Any

from .interface import (
    SYSTEM_USER_ID,
    CustomIdTaken,
    DeviceIdTaken,
    DuplicateError,
    EmailTaken,
    IStorage,
    StorageError,
    StorageUnavailable,
    User,
    UsernameTaken,
    UserNotFound,
    ValueRefused,
)
from .sqlite import SqliteDatabase
from .store import IServerStorage, Storage

__all__ = [
    "SYSTEM_USER_ID",
    "CustomIdTaken",
    "DeviceIdTaken",
    "DuplicateError",
    "EmailTaken",
    "IServerStorage",
    "IStorage",
    "Storage",
    "StorageError",
    "StorageUnavailable",
    "User",
    "UserNotFound",
    "UsernameTaken",
    "ValueRefused",
    "open_storage",
]


def open_storage(address: str, reactor: Any) -> IServerStorage:
    """Build (not start) the storage for ``sqlite:PATH`` or a ``postgresql://`` URL."""
    if address.startswith("sqlite:"):
        path = address[len("sqlite:") :]
        if not path:
            raise ValueError("sqlite address needs a path: sqlite:PATH")
        return Storage(SqliteDatabase(path), reactor)
    if address.startswith(("postgresql://", "postgres://")):
        from .postgres import PostgresDatabase  # Here: psycopg is an optional extra.

        return Storage(PostgresDatabase(address), reactor)
    raise ValueError(f"unsupported database address {address!r}: use sqlite:PATH or postgresql://")
