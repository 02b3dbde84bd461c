"""SQLite transactions for the social graph: friends and groups."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from zope.interface import implementer

from .social import GroupNameTaken, ISocialStorage
from .social_methods import SocialMethods


class _SqliteTx:
    """:class:`~.social_core.Tx` on the storage's connection; times are REAL seconds."""

    ilike = "LIKE"  # SQLite's LIKE ignores ASCII case already.
    for_update = ""  # BEGIN IMMEDIATE: one writing transaction at a time.

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def _execute(self, sql: str, params: Sequence[Any]) -> sqlite3.Cursor:
        try:
            return self._db.execute(sql, tuple(params))
        except sqlite3.IntegrityError as error:
            if "groups.name" in str(error):
                raise GroupNameTaken(str(params)) from error
            raise

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._execute(sql, params).fetchall()

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._execute(sql, params).rowcount

    def time(self, seconds: float) -> float:
        return float(seconds)

    def seconds(self, value: Any) -> float:
        return float(value)


@implementer(ISocialStorage)
class SqliteSocial(SocialMethods):
    """Mixed into :class:`~nakama_rt.storage.sqlite.SqliteStorage`."""

    _conn: Callable[[], sqlite3.Connection]

    def _social_tx(self, fn: Callable[..., Any], *args: Any) -> Any:
        db = self._conn()
        db.execute("BEGIN IMMEDIATE")
        try:
            result = fn(_SqliteTx(db), *args)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return result
