"""SQLite storage: stdlib sqlite3 in WAL mode, every call on one dedicated thread.

A pool of exactly one thread owns the one connection, so calls are serialised
the way SQLite wants and never wait on each other's locks.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable
from typing import Any

from twisted.internet.defer import Deferred, succeed
from zope.interface import implementer

from ..ids import canonical_uuid
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


@implementer(IStorage)
class SqliteStorage(SqliteChat, SqliteSocial, ThreadedStorage):
    """:class:`IStorage` on a SQLite file (or ``:memory:``)."""

    def __init__(self, path: str, reactor: Any) -> None:
        super().__init__(f"sqlite:{path}", reactor, threads=1, name="nakama-rt-sqlite")
        self.path = path
        self._db: sqlite3.Connection | None = None

    # Lifecycle ---------------------------------------------------------------------------

    def start(self) -> Deferred[None]:
        self._start_pool()
        return self._run(self._open, self._now())

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
        self._conn().execute("SELECT 1").fetchone()

    def _open(self, now: float) -> None:
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
                self.path, isolation_level=None, timeout=30, check_same_thread=False
            )
            db.execute("PRAGMA journal_mode=WAL")
        except sqlite3.Error as error:
            raise StorageUnavailable(str(error)) from None
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=ON")
        self._db = db
        self._migrate(now)

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
