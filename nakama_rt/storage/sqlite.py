"""SQLite storage: stdlib sqlite3 in WAL mode, every call on one dedicated thread.

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
import sqlite3
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from twisted.internet.defer import Deferred, succeed
from zope.interface import implementer

from ..ids import canonical_uuid
from ..logs import Logger
from . import schema
from ._threaded import (
    USER_FIELDS,
    ThreadedStorage,
    new_user_id,
    normalise_email,
    user_from_row,
)
from .chat_sqlite import SqliteChat
from .interface import (
    CustomIdTaken,
    DeviceIdTaken,
    DuplicateError,
    EmailTaken,
    IStorage,
    StorageUnavailable,
    User,
    UsernameTaken,
    UserNotFound,
)
from .social_sqlite import SqliteSocial

T = TypeVar("T")

_SELECT_USER = "SELECT " + ", ".join(f"u.{name}" for name in USER_FIELDS) + " FROM users u "

# SQLite names the column, not the constraint, in its unique-violation message.
_DUPLICATES: dict[str, type[DuplicateError]] = {
    "users.username": UsernameTaken,
    "users.custom_id": CustomIdTaken,
    "users.email": EmailTaken,
    "user_device.id": DeviceIdTaken,
}


def _duplicate(error: sqlite3.IntegrityError, value_by_field: dict[str, Any]) -> Exception:
    message = str(error)
    for column, kind in _DUPLICATES.items():
        if message.startswith("UNIQUE constraint failed") and column in message:
            return kind(value_by_field.get(kind.field) or "")
    return error


#: How long a statement waits for a lock another process holds, then fails with
#: "database is locked". It was 30 s, during which the one worker thread, so every
#: request, waited. In WAL mode only another writer blocks us, and the legitimate
#: ones (a sqlite3 shell, a script, a checkpoint) hold the lock for milliseconds; 2 s
#: rides them out and answers the request well within a client's own timeout
#: (nakama-js gives up after 7 s).
BUSY_TIMEOUT_SEC = 2.0
#: How long opening waits for another process's lock before failing the start.
OPEN_BUSY_TIMEOUT_SEC = 3.0
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


@implementer(IStorage)
class SqliteStorage(SqliteChat, SqliteSocial, ThreadedStorage):
    """:class:`IStorage` on a SQLite file (or ``:memory:``)."""

    log = Logger()

    def __init__(self, path: str, reactor: Any) -> None:
        super().__init__(f"sqlite:{path}", reactor, threads=1, name="nakama-rt-sqlite")
        self.path = path
        self._db: sqlite3.Connection | None = None
        #: What a call found damaged in the file, once one did (read and written on
        #: the worker thread only): the healthcheck then reports it.
        self._damage: str | None = None

    # Lifecycle ---------------------------------------------------------------------------

    def start(self) -> Deferred[None]:
        self._start_pool()
        return self._run(self._open, self._now()).addCallback(self._opened)

    def _opened(self, unchecked: str | None) -> None:
        if unchecked is not None:
            self.log.warn("{why}", why=unchecked)

    def stop(self) -> Deferred[None]:
        def stopped(result: object) -> object:
            self._stop_pool()
            return result

        if not self._pool.started:
            return succeed(None)
        return self._run(self._close).addBoth(stopped)

    def ping(self) -> Deferred[None]:
        return self._run(self._ping)

    def _ping(self) -> None:
        """Take and release the write lock, with a short wait: a read alone would pass
        while another process holds the lock (WAL lets readers through) and every
        write of ours waits for it, then fails. Damage a call found is reported too."""
        if self._damage is not None:
            raise StorageUnavailable(self._damage)
        db = self._conn()
        db.execute(f"PRAGMA busy_timeout = {_milliseconds(PING_BUSY_TIMEOUT_SEC)}")
        try:
            db.execute("BEGIN IMMEDIATE")
            db.execute("ROLLBACK")
        except sqlite3.Error as error:
            if _primary_code(error) != sqlite3.SQLITE_BUSY:
                raise  # Told apart by _in_worker, as for any call.
            raise StorageUnavailable(_unavailable(error, PING_BUSY_TIMEOUT_SEC)) from error
        finally:
            db.execute(f"PRAGMA busy_timeout = {_milliseconds(BUSY_TIMEOUT_SEC)}")

    def _in_worker(self, fn: Callable[..., T], *args: Any) -> T:
        """Every call: a locked, damaged or foreign file raises :class:`StorageUnavailable`
        saying so, and damage is remembered for the healthcheck."""
        try:
            return super()._in_worker(fn, *args)
        except sqlite3.Error as error:
            reason = _unavailable(error, BUSY_TIMEOUT_SEC)
            if reason is None:
                raise
            if _primary_code(error) != sqlite3.SQLITE_BUSY:
                self._damage = reason
            raise StorageUnavailable(reason) from error

    def _open(self, now: float) -> str | None:
        """Open, check and migrate the database; the warning to log when the file was
        too big to check in time, else None."""
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
            self._migrate(now)
            db.execute(f"PRAGMA busy_timeout = {_milliseconds(BUSY_TIMEOUT_SEC)}")
        except BaseException as error:
            self._db = None
            db.close()
            if isinstance(error, sqlite3.Error):
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

    def _close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _migrate(self, now: float) -> None:
        db = self._conn()
        db.execute(schema.SQLITE_VERSION_TABLE_DDL)
        (current,) = db.execute(
            f"SELECT coalesce(max(version), 0) FROM {schema.VERSION_TABLE}"
        ).fetchone()
        for version, statements in schema.sqlite_migrations():
            if version <= current:
                continue
            db.execute("BEGIN IMMEDIATE")
            try:
                for statement in statements:
                    db.execute(statement)
                db.execute(
                    f"INSERT INTO {schema.VERSION_TABLE} (version, applied_at) VALUES (?, ?)",
                    (version, now),
                )
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("SQLite storage is not started")
        return self._db

    # Reads --------------------------------------------------------------------------------

    def _users_where(self, where: str, params: tuple[Any, ...]) -> list[User]:
        db = self._conn()
        rows = db.execute(_SELECT_USER + where, params).fetchall()
        if not rows:
            return []
        ids = [row[0] for row in rows]
        marks = ",".join("?" * len(ids))
        devices: dict[str, list[str]] = {user_id: [] for user_id in ids}
        for user_id, device_id in db.execute(
            f"SELECT user_id, id FROM user_device WHERE user_id IN ({marks})", ids
        ):
            devices[user_id].append(device_id)
        return [user_from_row(row, devices[row[0]]) for row in rows]

    def _one(self, where: str, params: tuple[Any, ...]) -> User | None:
        users = self._users_where(where, params)
        return users[0] if users else None

    def get_user(self, user_id: str) -> Deferred[User | None]:
        canonical = canonical_uuid(user_id)
        if canonical is None:
            return succeed(None)
        return self._run(self._one, "WHERE u.id = ?", (canonical,))

    def get_user_by_username(self, username: str) -> Deferred[User | None]:
        return self._run(self._one, "WHERE u.username = ?", (username,))

    def get_user_by_custom_id(self, custom_id: str) -> Deferred[User | None]:
        return self._run(self._one, "WHERE u.custom_id = ?", (custom_id,))

    def get_user_by_device_id(self, device_id: str) -> Deferred[User | None]:
        return self._run(
            self._one,
            "WHERE u.id = (SELECT user_id FROM user_device WHERE id = ?)",
            (device_id,),
        )

    def get_user_by_email(self, email: str) -> Deferred[User | None]:
        return self._run(self._one, "WHERE u.email = ?", (normalise_email(email),))

    def get_users(
        self, ids: Iterable[str] = (), usernames: Iterable[str] = ()
    ) -> Deferred[list[User]]:
        wanted_ids = sorted({c for c in map(canonical_uuid, ids) if c is not None})
        wanted_names = sorted(set(usernames))
        return self._run(self._get_users, wanted_ids, wanted_names)

    def _get_users(self, ids: list[str], usernames: list[str]) -> list[User]:
        clauses = []
        if ids:
            clauses.append(f"u.id IN ({','.join('?' * len(ids))})")
        if usernames:
            clauses.append(f"u.username IN ({','.join('?' * len(usernames))})")
        if not clauses:
            return []
        return self._users_where("WHERE " + " OR ".join(clauses), (*ids, *usernames))

    # Writes -------------------------------------------------------------------------------

    def create_user(
        self,
        username: str,
        custom_id: str | None = None,
        device_id: str | None = None,
        email: str | None = None,
        password_hash: bytes | None = None,
        user_id: str | None = None,
    ) -> Deferred[User]:
        values = {
            "id": canonical_uuid(user_id) if user_id else new_user_id(),
            "username": username,
            "custom_id": custom_id,
            "email": normalise_email(email),
            "password": password_hash,
            "device_id": device_id,
        }
        return self._run(self._create_user, values, self._now())

    def _create_user(self, values: dict[str, Any], now: float) -> User:
        db = self._conn()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(
                "INSERT INTO users (id, username, custom_id, email, password, "
                "create_time, update_time) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    values["id"],
                    values["username"],
                    values["custom_id"],
                    values["email"],
                    values["password"],
                    now,
                    now,
                ),
            )
            if values["device_id"] is not None:
                db.execute(
                    "INSERT INTO user_device (id, user_id) VALUES (?, ?)",
                    (values["device_id"], values["id"]),
                )
        except sqlite3.IntegrityError as error:
            db.execute("ROLLBACK")
            raise _duplicate(error, values) from error
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        user = self._one("WHERE u.id = ?", (values["id"],))
        assert user is not None
        return user

    def link_device(self, user_id: str, device_id: str) -> Deferred[None]:
        return self._run(self._link_device, canonical_uuid(user_id), device_id)

    def _link_device(self, user_id: str | None, device_id: str) -> None:
        db = self._conn()
        db.execute("BEGIN IMMEDIATE")
        try:
            if (
                user_id is None
                or not db.execute("SELECT 1 FROM users WHERE id = ?", (user_id,)).fetchone()
            ):
                raise UserNotFound(user_id or "")
            row = db.execute(
                "SELECT user_id FROM user_device WHERE id = ?", (device_id,)
            ).fetchone()
            if row is not None and row[0] != user_id:
                raise DeviceIdTaken(device_id)
            if row is None:
                db.execute(
                    "INSERT INTO user_device (id, user_id) VALUES (?, ?)", (device_id, user_id)
                )
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def unlink_device(self, user_id: str, device_id: str) -> Deferred[bool]:
        return self._run(self._unlink_device, canonical_uuid(user_id), device_id)

    def _unlink_device(self, user_id: str | None, device_id: str) -> bool:
        cursor = self._conn().execute(
            "DELETE FROM user_device WHERE id = ? AND user_id = ?", (device_id, user_id)
        )
        return cursor.rowcount == 1

    def update_username(self, user_id: str, username: str) -> Deferred[None]:
        return self._run(self._update_username, canonical_uuid(user_id), username, self._now())

    def _update_username(self, user_id: str | None, username: str, now: float) -> None:
        try:
            cursor = self._conn().execute(
                "UPDATE users SET username = ?, update_time = ? WHERE id = ?",
                (username, now, user_id),
            )
        except sqlite3.IntegrityError as error:
            raise _duplicate(error, {"username": username}) from error
        if cursor.rowcount != 1:
            raise UserNotFound(user_id or "")
