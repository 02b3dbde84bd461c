"""PostgreSQL storage: psycopg 3 with a psycopg_pool ConnectionPool, used from a thread pool.

The schema mirrors Nakama's; unique violations are told apart by constraint name,
as Nakama does.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from twisted.internet.defer import Deferred, succeed
from zope.interface import implementer

from ..ids import canonical_uuid
from . import schema
from ._threaded import (
    ThreadedStorage,
    new_user_id,
    normalise_email,
    user_from_row,
)
from .chat_postgres import PostgresChat
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
from .social_postgres import PostgresSocial

try:
    import psycopg
    from psycopg import errors as pg_errors
    from psycopg_pool import ConnectionPool, PoolTimeout
except ImportError:  # pragma: no cover - depends on the installed extras
    psycopg = None  # type: ignore[assignment]

_SELECT_USER = """
SELECT u.id, u.username, u.display_name, u.avatar_url, u.lang_tag, u.location, u.timezone,
       u.metadata::text, u.wallet::text, u.email, u.password, u.custom_id, u.edge_count,
       extract(epoch FROM u.create_time)::float8, extract(epoch FROM u.update_time)::float8,
       extract(epoch FROM u.verify_time)::float8, extract(epoch FROM u.disable_time)::float8
FROM users u
"""

_DUPLICATES: dict[str, type[DuplicateError]] = {
    "users_username_key": UsernameTaken,
    "users_custom_id_key": CustomIdTaken,
    "users_email_key": EmailTaken,
    "user_device_pkey": DeviceIdTaken,
}


def _duplicate(error: Exception, values: dict[str, Any]) -> Exception:
    constraint = getattr(getattr(error, "diag", None), "constraint_name", None)
    kind = _DUPLICATES.get(constraint or "")
    if kind is None:
        return error
    return kind(values.get(kind.field) or "")


#: How long opening the database at startup may take.
OPEN_TIMEOUT_SEC = 10


def _libpq_reason(error: Exception) -> str:
    """libpq's message on one line: ``connection to server at "127.0.0.1", port 1
    failed: Connection refused`` (its hint lines dropped)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith(("Is the server", "HINT"))]
    reason = " ".join(lines) or type(error).__name__
    return reason.removeprefix("connection failed: ")


#: How long a healthcheck waits for a pooled connection before calling the database down:
#: under the healthcheck's own 1 s, so that this reason, not a bare timeout, answers it.
PING_TIMEOUT_SEC = 0.8


@implementer(IStorage)
class PostgresStorage(PostgresChat, PostgresSocial, ThreadedStorage):
    """:class:`IStorage` on PostgreSQL; ``address`` is a libpq URL.

    A ``search_path`` for the connection can be given the libpq way, in the URL:
    ``?options=-csearch_path%3Dmyschema``.
    """

    def __init__(self, address: str, reactor: Any, min_size: int = 1, max_size: int = 8) -> None:
        if psycopg is None:
            raise StorageUnavailable(
                "PostgreSQL storage needs psycopg and psycopg-pool: "
                "pip install '.[postgres]' in the nakama-rt checkout"
            )
        super().__init__(address, reactor, threads=max_size, name="nakama-rt-postgres")
        self._db = ConnectionPool(
            address,
            min_size=min_size,
            max_size=max_size,
            open=False,
            kwargs={"autocommit": True},
            name="nakama-rt",
        )

    # Lifecycle ---------------------------------------------------------------------------

    def start(self) -> Deferred[None]:
        self._start_pool()
        return self._run(self._open)

    def stop(self) -> Deferred[None]:
        def stopped(result: object) -> object:
            self._stop_pool()
            return result

        if not self._pool.started:
            return succeed(None)
        return self._run(self._db.close).addBoth(stopped)

    def ping(self) -> Deferred[None]:
        return self._run(self._ping)

    def _ping(self) -> None:
        # A short wait for a pooled connection: a healthcheck must answer promptly.
        try:
            with self._db.connection(timeout=PING_TIMEOUT_SEC) as conn:
                conn.execute("SELECT 1")
        except PoolTimeout:
            raise StorageUnavailable(
                f"no database connection within {PING_TIMEOUT_SEC:g} s "
                "(all in use, or the server does not answer)"
            ) from None

    def _open(self) -> None:
        # One direct connection first: an unreachable server or a refused login fails
        # at once with libpq's reason, where the pool would retry for its whole timeout
        # and then say only that it timed out.
        try:
            psycopg.connect(self.address, connect_timeout=OPEN_TIMEOUT_SEC).close()
        except psycopg.OperationalError as error:
            raise StorageUnavailable(_libpq_reason(error)) from None
        self._db.open(wait=True, timeout=OPEN_TIMEOUT_SEC)
        self._migrate()

    def _migrate(self) -> None:
        with self._db.connection() as conn, conn.transaction():
            # One migrator per schema at a time; other schemas are not held up.
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(current_schema()))")
            conn.execute(schema.POSTGRES_VERSION_TABLE_DDL)
            row = conn.execute(
                f"SELECT coalesce(max(version), 0) FROM {schema.VERSION_TABLE}"
            ).fetchone()
            current = row[0] if row else 0
            for version, statements in schema.postgres_migrations():
                if version <= current:
                    continue
                for statement in statements:
                    conn.execute(statement)
                conn.execute(
                    f"INSERT INTO {schema.VERSION_TABLE} (version) VALUES (%s)", (version,)
                )

    # Reads --------------------------------------------------------------------------------

    def _users_where(self, conn: Any, where: str, params: tuple[Any, ...]) -> list[User]:
        rows = conn.execute(_SELECT_USER + where, params).fetchall()
        if not rows:
            return []
        ids = [str(row[0]) for row in rows]
        devices: dict[str, list[str]] = {user_id: [] for user_id in ids}
        for user_id, device_id in conn.execute(
            "SELECT user_id, id FROM user_device WHERE user_id = ANY(%s::uuid[])", (ids,)
        ):
            devices[str(user_id)].append(device_id)
        return [user_from_row(row, devices[str(row[0])]) for row in rows]

    def _one(self, where: str, params: tuple[Any, ...]) -> User | None:
        with self._db.connection() as conn:
            users = self._users_where(conn, where, params)
        return users[0] if users else None

    def get_user(self, user_id: str) -> Deferred[User | None]:
        canonical = canonical_uuid(user_id)
        if canonical is None:
            return succeed(None)
        return self._run(self._one, "WHERE u.id = %s::uuid", (canonical,))

    def get_user_by_username(self, username: str) -> Deferred[User | None]:
        return self._run(self._one, "WHERE u.username = %s", (username,))

    def get_user_by_custom_id(self, custom_id: str) -> Deferred[User | None]:
        return self._run(self._one, "WHERE u.custom_id = %s", (custom_id,))

    def get_user_by_device_id(self, device_id: str) -> Deferred[User | None]:
        return self._run(
            self._one,
            "WHERE u.id = (SELECT user_id FROM user_device WHERE id = %s)",
            (device_id,),
        )

    def get_user_by_email(self, email: str) -> Deferred[User | None]:
        return self._run(self._one, "WHERE u.email = %s", (normalise_email(email),))

    def get_users(
        self, ids: Iterable[str] = (), usernames: Iterable[str] = ()
    ) -> Deferred[list[User]]:
        wanted_ids = sorted({c for c in map(canonical_uuid, ids) if c is not None})
        wanted_names = sorted(set(usernames))
        if not wanted_ids and not wanted_names:
            return succeed([])
        return self._run(self._get_users, wanted_ids, wanted_names)

    def _get_users(self, ids: list[str], usernames: list[str]) -> list[User]:
        with self._db.connection() as conn:
            return self._users_where(
                conn,
                "WHERE u.id = ANY(%s::uuid[]) OR u.username = ANY(%s::text[])",
                (ids, usernames),
            )

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
        with self._db.connection() as conn:
            try:
                with conn.transaction():
                    conn.execute(
                        "INSERT INTO users (id, username, custom_id, email, password, "
                        "create_time, update_time) "
                        "VALUES (%s, %s, %s, %s, %s, to_timestamp(%s), to_timestamp(%s))",
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
                        conn.execute(
                            "INSERT INTO user_device (id, user_id) VALUES (%s, %s)",
                            (values["device_id"], values["id"]),
                        )
            except pg_errors.UniqueViolation as error:
                raise _duplicate(error, values) from error
            users = self._users_where(conn, "WHERE u.id = %s::uuid", (values["id"],))
        return users[0]

    def link_device(self, user_id: str, device_id: str) -> Deferred[None]:
        return self._run(self._link_device, canonical_uuid(user_id), device_id)

    def _link_device(self, user_id: str | None, device_id: str) -> None:
        with self._db.connection() as conn, conn.transaction():
            if (
                user_id is None
                or not conn.execute(
                    "SELECT 1 FROM users WHERE id = %s::uuid FOR UPDATE", (user_id,)
                ).fetchone()
            ):
                raise UserNotFound(user_id or "")
            row = conn.execute(
                "INSERT INTO user_device (id, user_id) VALUES (%s, %s::uuid) "
                "ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id "
                "WHERE user_device.user_id = excluded.user_id RETURNING id",
                (device_id, user_id),
            ).fetchone()
            if row is None:
                raise DeviceIdTaken(device_id)

    def unlink_device(self, user_id: str, device_id: str) -> Deferred[bool]:
        canonical = canonical_uuid(user_id)
        if canonical is None:
            return succeed(False)
        return self._run(self._unlink_device, canonical, device_id)

    def _unlink_device(self, user_id: str, device_id: str) -> bool:
        with self._db.connection() as conn:
            cursor = conn.execute(
                "DELETE FROM user_device WHERE id = %s AND user_id = %s::uuid",
                (device_id, user_id),
            )
            return cursor.rowcount == 1

    def update_username(self, user_id: str, username: str) -> Deferred[None]:
        return self._run(self._update_username, canonical_uuid(user_id), username, self._now())

    def _update_username(self, user_id: str | None, username: str, now: float) -> None:
        if user_id is None:
            raise UserNotFound("")
        with self._db.connection() as conn:
            try:
                cursor = conn.execute(
                    "UPDATE users SET username = %s, update_time = to_timestamp(%s) "
                    "WHERE id = %s::uuid",
                    (username, now, user_id),
                )
            except pg_errors.UniqueViolation as error:
                raise _duplicate(error, {"username": username}) from error
            if cursor.rowcount != 1:
                raise UserNotFound(user_id)
