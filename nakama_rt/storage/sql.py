"""The SQL seam: a backend's dialect, the transaction queries run on, what a backend is.

Queries are written once, with ``?`` marks and the few fragments a :class:`Dialect`
supplies, and rendered for the backend's dialect when the storage is built: a call
runs a ready string, never rewrites one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Dialect:
    """What the SQL of two backends differs in: only what our queries use."""

    #: ``sqlite`` or ``postgresql``: which DDL of a migration applies.
    name: str
    #: The parameter mark the driver takes.
    mark: str
    #: Ends a SELECT whose rows stay locked until the transaction ends (empty where a
    #: writing transaction holds the whole database already).
    lock: str
    #: The case-insensitive LIKE.
    ilike: str
    #: A time parameter given in UNIX seconds, as an SQL expression (``?`` marked).
    time: str
    #: The time that stands for "unset" (Nakama's epoch default of verify/disable times).
    epoch: str
    #: A time column read as UNIX seconds; ``{}`` stands for the column.
    seconds_of: str
    #: The driver's error raised when a unique constraint is broken (perhaps wider).
    integrity_error: type[Exception]
    #: The name of the unique constraint an ``integrity_error`` broke, or None.
    violated: Callable[[Exception], str | None]

    def sql(self, text: str) -> str:
        """``text``, written with ``?`` marks, in this dialect's marks."""
        return text.replace("?", self.mark)

    def marks(self, count: int) -> str:
        """``count`` parameter marks for an ``IN (...)`` list."""
        return ", ".join([self.mark] * count)

    def seconds(self, column: str) -> str:
        return self.seconds_of.format(column)


class UniqueViolation(Exception):
    """A statement broke the unique constraint named ``constraint``; the query that
    expects it turns it into the error its caller knows (a taken username...)."""

    def __init__(self, constraint: str) -> None:
        super().__init__(constraint)
        self.constraint = constraint


class Cursor(Protocol):
    """What both drivers' cursors offer and :class:`Tx` uses."""

    @property
    def description(self) -> Any: ...

    @property
    def rowcount(self) -> int: ...

    def fetchall(self) -> list[Any]: ...


Execute = Callable[[str, Sequence[Any]], Cursor]


class Tx:
    """Statements on one connection, inside one transaction or, for single reads, in
    autocommit; every broken unique constraint the dialect can name becomes a
    :class:`UniqueViolation`."""

    __slots__ = ("_execute", "_dialect")

    def __init__(self, execute: Execute, dialect: Dialect) -> None:
        self._execute = execute
        self._dialect = dialect

    def _name_violation(self, error: Exception) -> None:
        """Raise :class:`UniqueViolation` if the dialect can name what ``error`` broke."""
        constraint = self._dialect.violated(error)
        if constraint is not None:
            raise UniqueViolation(constraint) from error

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """The rows a statement returns (none for one that returns no result)."""
        try:
            cursor = self._execute(sql, params)
        except self._dialect.integrity_error as error:
            self._name_violation(error)
            raise
        return cursor.fetchall() if cursor.description is not None else []

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        rows = self.rows(sql, params)
        return rows[0] if rows else None

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        rows = self.rows(sql, params)
        return rows[0][0] if rows else None

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run a statement; how many rows it changed."""
        try:
            return self._execute(sql, params).rowcount
        except self._dialect.integrity_error as error:
            self._name_violation(error)
            raise


class Database(Protocol):
    """A backend: connections, their dialect, lifecycle. Every method blocks: the
    storage calls them on its worker threads only."""

    address: str
    dialect: Dialect
    #: Worker threads that suit it: as many as calls it can serve at once.
    threads: int
    #: The worker threads' name.
    name: str

    def open(self, now: float) -> str | None:
        """Connect, check, migrate; a warning to log, or None."""

    def close(self) -> None: ...

    def ping(self) -> None:
        """Return when the database answers; raise when it cannot."""

    def transaction(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(tx, *args)`` in one transaction: committed when it returns."""

    def autocommit(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(tx, *args)`` with each statement its own transaction (plain reads)."""
