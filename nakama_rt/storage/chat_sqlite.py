"""SQLite transactions for chat: channel messages and notifications."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from zope.interface import implementer

from .chat import ChatMethods, IChatStorage


@implementer(IChatStorage)
class SqliteChat(ChatMethods):
    """Mixed into :class:`~nakama_rt.storage.sqlite.SqliteStorage`."""

    _conn: Callable[[], Any]

    def _chat_tx(self, fn: Callable[..., Any], *args: Any) -> Any:
        db = self._conn()
        db.execute("BEGIN IMMEDIATE")
        try:
            result = fn(lambda sql, params: db.execute(sql, params).fetchall(), *args)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return result
