"""Account storage behind one interface, on SQLite or PostgreSQL.

``open_storage("sqlite:data/nakama-rt.sqlite3", reactor)`` or
``open_storage("postgresql://user@host/db", reactor)``; then ``start()`` (migrates)
and ``stop()``, both Deferreds.
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
)

__all__ = [
    "SYSTEM_USER_ID",
    "CustomIdTaken",
    "DeviceIdTaken",
    "DuplicateError",
    "EmailTaken",
    "IStorage",
    "StorageError",
    "StorageUnavailable",
    "User",
    "UserNotFound",
    "UsernameTaken",
    "open_storage",
]


def open_storage(address: str, reactor: Any) -> IStorage:
    """Build (not start) the storage for ``sqlite:PATH`` or a ``postgresql://`` URL."""
    if address.startswith("sqlite:"):
        from .sqlite import SqliteStorage

        path = address[len("sqlite:") :]
        if not path:
            raise ValueError("sqlite address needs a path: sqlite:PATH")
        return SqliteStorage(path, reactor)
    if address.startswith(("postgresql://", "postgres://")):
        from .postgres import PostgresStorage

        return PostgresStorage(address, reactor)
    raise ValueError(f"unsupported database address {address!r}: use sqlite:PATH or postgresql://")
