"""PostgreSQL transactions for the social graph: friends and groups."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from zope.interface import implementer

from .social import GroupNameTaken, ISocialStorage
from .social_methods import SocialMethods

try:
    from psycopg import errors as pg_errors
    from psycopg.types.string import TextLoader
except ImportError:  # pragma: no cover - depends on the installed extras
    pg_errors = None  # type: ignore[assignment]


class _PostgresTx:
    """:class:`~.social_core.Tx` on one cursor: ``?`` placeholders become ``%s``,
    times are TIMESTAMPTZ, and JSONB is read as its text (as Nakama returns it)."""

    ilike = "ILIKE"
    for_update = " FOR UPDATE"

    def __init__(self, cursor: Any) -> None:
        cursor.adapters.register_loader("jsonb", TextLoader)
        self._cursor = cursor

    def _execute(self, sql: str, params: Sequence[Any]) -> Any:
        try:
            return self._cursor.execute(sql.replace("?", "%s"), tuple(params))
        except pg_errors.UniqueViolation as error:
            if error.diag.constraint_name == "groups_name_key":
                raise GroupNameTaken(str(params)) from error
            raise

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cursor = self._execute(sql, params)
        return cursor.fetchall() if cursor.description else []

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._execute(sql, params).rowcount

    def time(self, seconds: float) -> datetime:
        return datetime.fromtimestamp(seconds, UTC)

    def seconds(self, value: datetime) -> float:
        return value.timestamp()


@implementer(ISocialStorage)
class PostgresSocial(SocialMethods):
    """Mixed into :class:`~nakama_rt.storage.postgres.PostgresStorage`."""

    _db: Any

    def _social_tx(self, fn: Callable[..., Any], *args: Any) -> Any:
        with self._db.connection() as conn, conn.transaction(), conn.cursor() as cursor:
            return fn(_PostgresTx(cursor), *args)
