"""PostgreSQL queries for the social graph: friends and groups."""

from __future__ import annotations


class PostgresSocial:
    """Mixed into :class:`~nakama_rt.storage.postgres.PostgresStorage`."""
