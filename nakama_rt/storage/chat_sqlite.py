"""SQLite queries for chat: channel messages and notifications."""

from __future__ import annotations


class SqliteChat:
    """Mixed into :class:`~nakama_rt.storage.sqlite.SqliteStorage`."""
