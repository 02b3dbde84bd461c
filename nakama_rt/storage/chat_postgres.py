"""PostgreSQL queries for chat: channel messages and notifications."""

from __future__ import annotations


class PostgresChat:
    """Mixed into :class:`~nakama_rt.storage.postgres.PostgresStorage`."""
