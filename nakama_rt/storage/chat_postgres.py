"""PostgreSQL transactions for chat: channel messages and notifications."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from zope.interface import implementer

from .chat import ChatMethods, IChatStorage


@implementer(IChatStorage)
class PostgresChat(ChatMethods):
    """Mixed into :class:`~nakama_rt.storage.postgres.PostgresStorage`."""

    _db: Any

    def _chat_tx(self, fn: Callable[..., Any], *args: Any) -> Any:
        with self._db.connection() as conn, conn.transaction():

            def execute(sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
                cursor = conn.execute(sql.replace("?", "%s"), params)
                return cursor.fetchall() if cursor.description else []

            return fn(execute, *args)
