"""The PostgreSQL backend: psycopg 3 with a psycopg_pool ConnectionPool, used from a
thread pool as large as the connection pool.

The schema mirrors Nakama's; unique violations are told apart by constraint name,
as Nakama does. JSONB and UUID columns are read as their text, as SQLite holds them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from . import schema
from .interface import StorageUnavailable
from .sql import Dialect, Tx

try:
    import psycopg
    from psycopg import errors as pg_errors
    from psycopg.types.string import TextLoader
    from psycopg_pool import ConnectionPool, PoolTimeout
except ImportError:  # pragma: no cover - depends on the installed extras
    psycopg = None  # type: ignore[assignment]

T = TypeVar("T")

#: How long opening the database at startup may take.
OPEN_TIMEOUT_SEC = 10

#: How long a healthcheck waits for a pooled connection before calling the database down:
#: under the healthcheck's own 1 s, so that this reason, not a bare timeout, answers it.
PING_TIMEOUT_SEC = 0.8

#: One migrator per schema at a time; other schemas are not held up.
_MIGRATION_LOCK = "SELECT pg_advisory_xact_lock(hashtext(current_schema()))"


def _violated(error: Exception) -> str | None:
    return getattr(getattr(error, "diag", None), "constraint_name", None)


def _libpq_reason(error: Exception) -> str:
    """libpq's message on one line: ``connection to server at "127.0.0.1", port 1
    failed: Connection refused`` (its hint lines dropped)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith(("Is the server", "HINT"))]
    reason = " ".join(lines) or type(error).__name__
    return reason.removeprefix("connection failed: ")


def _configure(conn: Any) -> None:
    """Each pooled connection reads JSONB and UUID values as their text."""
    conn.adapters.register_loader("jsonb", TextLoader)
    conn.adapters.register_loader("uuid", TextLoader)


if psycopg is not None:
    DIALECT = Dialect(
        name="postgresql",
        mark="%s",
        lock=" FOR UPDATE",
        ilike="ILIKE",
        time="to_timestamp(?)",
        epoch="'1970-01-01 00:00:00 UTC'",
        seconds_of="extract(epoch FROM {})::float8",
        integrity_error=pg_errors.UniqueViolation,
        violated=_violated,
    )


class PostgresDatabase:
    """A PostgreSQL database at a libpq URL.

    A ``search_path`` for the connection can be given the libpq way, in the URL:
    ``?options=-csearch_path%3Dmyschema``.
    """

    name = "nakama-rt-postgres"

    def __init__(self, address: str, min_size: int = 1, max_size: int = 8) -> None:
        if psycopg is None:
            raise StorageUnavailable(
                "PostgreSQL storage needs psycopg and psycopg-pool: "
                "pip install '.[postgres]' in the nakama-rt checkout"
            )
        self.address = address
        self.dialect = DIALECT
        self.threads = max_size
        self.pool = ConnectionPool(
            address,
            min_size=min_size,
            max_size=max_size,
            open=False,
            kwargs={"autocommit": True},
            configure=_configure,
            name="nakama-rt",
        )

    def transaction(self, fn: Callable[..., T], *args: Any) -> T:
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cursor:
            return fn(Tx(cursor.execute, DIALECT), *args)

    def autocommit(self, fn: Callable[..., T], *args: Any) -> T:
        with self.pool.connection() as conn, conn.cursor() as cursor:
            return fn(Tx(cursor.execute, DIALECT), *args)

    def ping(self) -> None:
        # A short wait for a pooled connection: a healthcheck must answer promptly.
        try:
            with self.pool.connection(timeout=PING_TIMEOUT_SEC) as conn:
                conn.execute("SELECT 1")
        except PoolTimeout:
            raise StorageUnavailable(
                f"no database connection within {PING_TIMEOUT_SEC:g} s "
                "(all in use, or the server does not answer)"
            ) from None

    def open(self, now: float) -> None:
        # One direct connection first: an unreachable server or a refused login fails
        # at once with libpq's reason, where the pool would retry for its whole timeout
        # and then say only that it timed out.
        try:
            psycopg.connect(self.address, connect_timeout=OPEN_TIMEOUT_SEC).close()
        except psycopg.OperationalError as error:
            raise StorageUnavailable(_libpq_reason(error)) from None
        self.pool.open(wait=True, timeout=OPEN_TIMEOUT_SEC)
        self.transaction(self._migrate, now)

    @staticmethod
    def _migrate(tx: Tx, now: float) -> None:
        tx.run(_MIGRATION_LOCK)
        schema.migrate(tx, DIALECT, now)

    def close(self) -> None:
        self.pool.close()
