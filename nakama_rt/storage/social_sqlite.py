"""SQLite queries for the social graph: friends and groups."""

from __future__ import annotations


class SqliteSocial:
    """Mixed into :class:`~nakama_rt.storage.sqlite.SqliteStorage`."""
