"""The SQLite backend: stdlib sqlite3 in WAL mode, every call on one dedicated thread.

A pool of exactly one thread owns the one connection, so calls are serialised
the way SQLite wants and never wait on each other's locks. Only another process
can hold a lock this connection waits for; that wait is kept short, because it
holds the only worker thread and so every other call of the server.

Opening checks the file (``PRAGMA quick_check``) and that no other process holds
its write lock, so a damaged, foreign or locked file fails the start with one
line instead of failing requests later.
"""

from __future__ import annotations

import os
import random
import sqlite3
import time
from collections.abc import Callable
from typing import Any, TypeVar

from . import schema
from .interface import StorageUnavailable
from .sql import Dialect, Tx

T = TypeVar("T")

# SQLite names the columns, not the constraint, in its unique-violation message: the
# constraints queries tell apart, by the columns the schema gives them.
_CONSTRAINTS = {
    "users.username": "users_username_key",
    "users.custom_id": "users_custom_id_key",
    "users.email": "users_email_key",
    "user_device.id": "user_device_pkey",
    "groups.name": "groups_name_key",
}
_UNIQUE_FAILED = "UNIQUE constraint failed: "


def _violated(error: Exception) -> str | None:
    message = str(error)
    if not message.startswith(_UNIQUE_FAILED):
        return None
    return _CONSTRAINTS.get(message[len(_UNIQUE_FAILED) :])


DIALECT = Dialect(
    name="sqlite",
    mark="?",
    lock="",  # BEGIN IMMEDIATE: one writing transaction at a time holds the whole file.
    ilike="LIKE",  # SQLite's LIKE ignores ASCII case already.
    time="?",  # REAL seconds.
    epoch="0",
    seconds_of="{}",
    integrity_error=sqlite3.IntegrityError,
    violated=_violated,
)

#: How long a statement waits for a lock another process holds, then fails with
#: "database is locked". It was 30 s, during which the one worker thread, so every
#: request, waited. In WAL mode only another writer blocks us, and the legitimate
#: ones (a sqlite3 shell, a script, a checkpoint) hold the lock for milliseconds; 2 s
#: rides them out and answers the request well within a client's own timeout
#: (nakama-js gives up after 7 s).
BUSY_TIMEOUT_SEC = 2.0
#: How long opening waits for another process's lock before failing the start.
OPEN_BUSY_TIMEOUT_SEC = 3.0
#: The pause before opening again after SQLite refused a lock at once (jittered).
OPEN_RETRY_SEC = 0.05
#: How long a healthcheck's ping waits for the write lock: under the healthcheck's 1 s.
PING_BUSY_TIMEOUT_SEC = 0.5
#: Longest the start may spend reading the file ahead of the integrity check; a file
#: that takes longer (gigabytes, or a slow disk) is not checked, and a warning says so.
CHECK_READ_BUDGET_SEC = 5.0


def _milliseconds(seconds: float) -> int:
    return round(seconds * 1000)


def _primary_code(error: sqlite3.Error) -> int:
    """SQLite's primary result code (``SQLITE_BUSY`` for ``SQLITE_BUSY_RECOVERY``...)."""
    return (getattr(error, "sqlite_errorcode", None) or 0) & 0xFF


def _damaged(what: str) -> str:
    return f"the database file is damaged ({what}): restore it from a backup"


def _unavailable(error: sqlite3.Error, waited: float) -> str | None:
    """What is wrong, in one line, when ``error`` says the file is locked by another
    process, damaged or not a database; None for any other error."""
    code = _primary_code(error)
    if code == sqlite3.SQLITE_BUSY:
        return f"the database file is locked by another process (waited {waited:g} s)"
    if code == sqlite3.SQLITE_CORRUPT:
        return _damaged(str(error))
    if code == sqlite3.SQLITE_NOTADB:
        return "the file is not a SQLite database (file is not a database)"
    return None


def _read_ahead(path: str, budget: float) -> bool:
    """Read the file front to back, so that the integrity check finds its pages cached:
    ``quick_check`` walks each b-tree in key order, which in a file filled by random
    UUID keys is random I/O (a 635 MB file: 14 s cold against 1.6 s of reading it
    through plus 0.9 s warm). False when ``budget`` seconds ran out first.

    Timed by the monotonic clock, not the reactor's: this measures the worker's
    own I/O, while the reactor's time (a test's Clock) may not move meanwhile.
    """
    deadline = time.monotonic() + budget
    chunk = bytearray(1 << 20)
    try:
        with open(path, "rb", buffering=0) as file:
            while file.readinto(chunk):
                if time.monotonic() > deadline:
                    return False
    except FileNotFoundError:
        pass  # A new database: nothing to read.
    return True


def _quick_check(db: sqlite3.Connection) -> None:
    """Raise :class:`StorageUnavailable` naming the first problem ``PRAGMA
    quick_check`` finds: b-tree structure, page and record format, free list (not
    the index-to-table agreement that the much slower ``integrity_check`` adds)."""
    rows = db.execute("PRAGMA quick_check(1)").fetchall()
    if rows == [("ok",)]:
        return
    lines = [line for (text,) in rows for line in str(text).splitlines()]
    problems = [line for line in lines if line.strip() and not line.startswith("***")]
    raise StorageUnavailable(_damaged("PRAGMA quick_check: " + "; ".join(problems)[:300]))


class _Busy(Exception):
    """Opening found the file locked (see :meth:`SqliteDatabase.open`)."""

    def __init__(self, error: sqlite3.Error) -> None:
        super().__init__(str(error))
        self.error = error


class SqliteDatabase:
    """A SQLite file (or ``:memory:``), one connection, used from one thread."""

    dialect = DIALECT
    threads = 1
    name = "nakama-rt-sqlite"

    def __init__(self, path: str) -> None:
        self.path = path
        self.address = f"sqlite:{path}"
        self._db: sqlite3.Connection | None = None
        #: What a call found damaged in the file, once one did (read and written on
        #: the worker thread only): the healthcheck then reports it.
        self._damage: str | None = None

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("SQLite storage is not started")
        return self._db

    # Calls --------------------------------------------------------------------------------

    def _fail_unavailable(self, error: sqlite3.Error) -> None:
        """Raise :class:`StorageUnavailable` saying so when ``error`` says the file is
        locked, damaged or foreign, and remember damage for the healthcheck. Every
        call goes through here."""
        reason = _unavailable(error, BUSY_TIMEOUT_SEC)
        if reason is None:
            return
        if _primary_code(error) != sqlite3.SQLITE_BUSY:
            self._damage = reason
        raise StorageUnavailable(reason) from error

    def _transaction(self, fn: Callable[..., T], *args: Any) -> T:
        db = self._conn()
        db.execute("BEGIN IMMEDIATE")
        try:
            result = fn(Tx(db.execute, DIALECT), *args)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return result

    def transaction(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            return self._transaction(fn, *args)
        except sqlite3.Error as error:
            self._fail_unavailable(error)
            raise

    def autocommit(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            return fn(Tx(self._conn().execute, DIALECT), *args)
        except sqlite3.Error as error:
            self._fail_unavailable(error)
            raise

    def ping(self) -> None:
        """Take and release the write lock, with a short wait: a read alone would pass
        while another process holds the lock (WAL lets readers through) and every
        write of ours waits for it, then fails. Damage a call found is reported too."""
        if self._damage is not None:
            raise StorageUnavailable(self._damage)
        db = self._conn()
        try:
            db.execute(f"PRAGMA busy_timeout = {_milliseconds(PING_BUSY_TIMEOUT_SEC)}")
            try:
                db.execute("BEGIN IMMEDIATE")
                db.execute("ROLLBACK")
            finally:
                db.execute(f"PRAGMA busy_timeout = {_milliseconds(BUSY_TIMEOUT_SEC)}")
        except sqlite3.Error as error:
            if _primary_code(error) == sqlite3.SQLITE_BUSY:
                reason = _unavailable(error, PING_BUSY_TIMEOUT_SEC)
                raise StorageUnavailable(reason) from error
            self._fail_unavailable(error)
            raise

    # Lifecycle ----------------------------------------------------------------------------

    def open(self, now: float) -> str | None:
        """Open, check and migrate the database; the warning to log when the file was
        too big to check in time, else None.

        Processes that open one file together (the workers of ``--workers``) can find
        SQLite refusing one of them at once rather than waiting: two connections that
        both read the file and then want to write it (the switch to WAL, the first
        migration) would wait for each other forever, so SQLite fails one straight
        away. That one starts over, until :data:`OPEN_BUSY_TIMEOUT_SEC` has passed.
        """
        deadline = time.monotonic() + OPEN_BUSY_TIMEOUT_SEC
        while True:
            try:
                return self._open(now)
            except _Busy as busy:
                if time.monotonic() + OPEN_RETRY_SEC > deadline:
                    raise StorageUnavailable(
                        _unavailable(busy.error, OPEN_BUSY_TIMEOUT_SEC)
                    ) from None
                time.sleep(OPEN_RETRY_SEC * (0.5 + random.random()))

    def _open(self, now: float) -> str | None:
        if self.path != ":memory:":
            parent = os.path.dirname(os.path.abspath(self.path))
            try:
                os.makedirs(parent, exist_ok=True)
            except OSError as error:
                raise StorageUnavailable(
                    f"cannot create the directory {parent}: {error.strerror or error}"
                ) from None
        try:
            # The one-thread pool serialises every use; the thread-identity check would
            # only add a failure mode should the pool ever replace its worker.
            db = sqlite3.connect(
                self.path,
                isolation_level=None,
                timeout=OPEN_BUSY_TIMEOUT_SEC,
                check_same_thread=False,
            )
        except sqlite3.Error as error:
            raise StorageUnavailable(str(error)) from None
        try:
            unchecked = self._check(db)
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=ON")
            self._db = db
            self._transaction(schema.migrate, DIALECT, now)
            db.execute(f"PRAGMA busy_timeout = {_milliseconds(BUSY_TIMEOUT_SEC)}")
        except BaseException as error:
            self._db = None
            db.close()
            if isinstance(error, sqlite3.Error):
                if _primary_code(error) == sqlite3.SQLITE_BUSY:
                    raise _Busy(error) from None
                reason = _unavailable(error, OPEN_BUSY_TIMEOUT_SEC) or str(error)
                raise StorageUnavailable(reason) from None
            raise
        return unchecked

    def _check(self, db: sqlite3.Connection) -> str | None:
        """Check the file before anything writes to it: its pages, then (WAL on) that
        no other process holds its write lock, each lock wait bounded by the connection's
        busy timeout. The warning when the file could not be read in time, else None."""
        unchecked = None
        if self.path == ":memory:" or _read_ahead(self.path, CHECK_READ_BUDGET_SEC):
            _quick_check(db)
        else:
            size = os.path.getsize(self.path) / 1e9
            unchecked = (
                f"database file not checked at start: reading its {size:.1f} GB took more "
                f"than {CHECK_READ_BUDGET_SEC:g} s; check it offline with "
                f"sqlite3 {self.path} 'PRAGMA quick_check'"
            )
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("BEGIN IMMEDIATE")
        db.execute("ROLLBACK")
        return unchecked

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
