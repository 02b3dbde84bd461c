"""Accounts: the ``users`` and ``user_device`` queries, written once for both backends."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from .interface import (
    CustomIdTaken,
    DeviceIdTaken,
    DuplicateError,
    EmailTaken,
    User,
    UsernameTaken,
    UserNotFound,
    ValueRefused,
)
from .jsonb import InvalidValue, object_value
from .sql import Dialect, Tx, UniqueViolation

#: The unique constraints a new or renamed account may break, and what each means.
_DUPLICATES: dict[str, type[DuplicateError]] = {
    "users_username_key": UsernameTaken,
    "users_custom_id_key": CustomIdTaken,
    "users_email_key": EmailTaken,
    "user_device_pkey": DeviceIdTaken,
}


#: The profile columns an account update may set, and how many characters each holds
#: (PostgreSQL's VARCHAR sizes; the same limits hold on SQLite).
PROFILE_LIMITS = {
    "username": 128,
    "display_name": 255,
    "timezone": 255,
    "location": 255,
    "lang_tag": 18,
    "avatar_url": 512,
}


def checked_profile(changes: dict[str, str]) -> dict[str, str | None]:
    """The column values an account update writes: an empty text clears its column (as
    Nakama does), ``metadata`` is a JSON object stored as PostgreSQL's JSONB keeps it;
    what PostgreSQL would refuse (a NUL, text too long, no ``lang_tag``, metadata that
    is not a JSON object) raises :class:`ValueRefused` on either backend."""
    values: dict[str, str | None] = {}
    for column, value in changes.items():
        if column == "metadata":
            try:
                values[column] = object_value(value).text
            except InvalidValue as invalid:
                raise ValueRefused(f"metadata: {invalid.reason}") from None
            continue
        limit = PROFILE_LIMITS.get(column)
        if limit is None:
            raise ValueError(f"not a profile column: {column!r}")
        if "\x00" in value or len(value) > limit or (column == "lang_tag" and not value):
            raise ValueRefused(column)
        values[column] = value or None
    return values


def refuse_nul(*texts: str) -> None:
    """PostgreSQL stores no NUL in text: refused alike on both backends."""
    if any("\x00" in text for text in texts):
        raise ValueRefused("text with a NUL character")


def new_user_id() -> str:
    return str(uuid.uuid4())


def normalise_email(email: str | None) -> str | None:
    """Nakama lowercases emails before storing or comparing them."""
    return email.lower() if email else None


def _duplicate(violation: UniqueViolation, values: dict[str, Any]) -> DuplicateError | None:
    """The error a caller knows for a broken unique constraint, or None for another one."""
    kind = _DUPLICATES.get(violation.constraint)
    return None if kind is None else kind(values.get(kind.field) or "")


def _run_unique(tx: Tx, sql: str, params: Sequence[Any], values: dict[str, Any]) -> int:
    """Run a statement (how many rows it changed); a unique value of an account it
    would duplicate raises that value's :class:`DuplicateError` (``values`` name them)."""
    try:
        return tx.run(sql, params)
    except UniqueViolation as violation:
        duplicate = _duplicate(violation, values)
        if duplicate is None:
            raise
        raise duplicate from violation


def user_from_row(row: Sequence[Any], device_ids: Iterable[str] = ()) -> User:
    """A :class:`User` from the columns :class:`UserQueries` selects."""
    (
        user_id,
        username,
        display_name,
        avatar_url,
        lang_tag,
        location,
        timezone,
        metadata,
        wallet,
        email,
        password,
        custom_id,
        edge_count,
        create_time,
        update_time,
        verify_time,
        disable_time,
    ) = row
    return User(
        id=str(user_id),
        username=username,
        display_name=display_name,
        avatar_url=avatar_url,
        lang_tag=lang_tag,
        location=location,
        timezone=timezone,
        metadata=metadata,
        wallet=wallet,
        email=email,
        password_hash=bytes(password) if password is not None else None,
        custom_id=custom_id,
        edge_count=edge_count,
        create_time=float(create_time),
        update_time=float(update_time),
        verify_time=float(verify_time) if verify_time else None,
        disable_time=float(disable_time) if disable_time else None,
        device_ids=tuple(sorted(device_ids)),
    )


class UserQueries:
    """The account queries, rendered for one dialect when the storage is built.

    Lookups run in autocommit (two plain reads); writes run in one transaction.
    """

    def __init__(self, d: Dialect) -> None:
        self._d = d
        select = (
            "SELECT u.id, u.username, u.display_name, u.avatar_url, u.lang_tag, u.location, "
            "u.timezone, u.metadata, u.wallet, u.email, u.password, u.custom_id, u.edge_count, "
            + ", ".join(
                d.seconds(f"u.{column}")
                for column in ("create_time", "update_time", "verify_time", "disable_time")
            )
            + " FROM users u WHERE "
        )
        self._select = select
        #: The statements :meth:`get_user` takes, one per way to find a user.
        self.by_id = d.sql(select + "u.id = ?")
        self.by_username = d.sql(select + "u.username = ?")
        self.by_custom_id = d.sql(select + "u.custom_id = ?")
        self.by_device_id = d.sql(select + "u.id = (SELECT user_id FROM user_device WHERE id = ?)")
        self.by_email = d.sql(select + "u.email = ?")
        self._devices_of_one = d.sql("SELECT user_id, id FROM user_device WHERE user_id = ?")
        self._insert = d.sql(
            "INSERT INTO users (id, username, custom_id, email, password, create_time, "
            f"update_time) VALUES (?, ?, ?, ?, ?, {d.time}, {d.time})"
        )
        self._insert_device = d.sql("INSERT INTO user_device (id, user_id) VALUES (?, ?)")
        self._lock_user = d.sql(f"SELECT 1 FROM users WHERE id = ?{d.lock}")
        # One statement, so that two links of one device at once cannot both insert:
        # a device another user has stays theirs and no row changes (DeviceIdTaken);
        # one's own counts as changed, as a new link does.
        self._link_device = d.sql(
            "INSERT INTO user_device (id, user_id) VALUES (?, ?) "
            "ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id "
            "WHERE user_device.user_id = excluded.user_id"
        )
        self._rename = d.sql(f"UPDATE users SET username = ?, update_time = {d.time} WHERE id = ?")
        self._touch = d.sql(f"UPDATE users SET update_time = {d.time} WHERE id = ?")
        # Linking an id another account holds changes no row (as in Nakama, which
        # answers "already in use" for that, and for an account that is gone).
        self._link_custom = d.sql(
            f"UPDATE users SET custom_id = ?, update_time = {d.time} WHERE id = ? "
            "AND NOT EXISTS (SELECT 1 FROM users WHERE custom_id = ? AND id <> ?)"
        )
        self._link_email = d.sql(
            f"UPDATE users SET email = ?, password = ?, update_time = {d.time} WHERE id = ? "
            "AND NOT EXISTS (SELECT 1 FROM users WHERE email = ? AND id <> ?)"
        )
        # An id is unlinked only while another way to log in remains.
        has_devices = "EXISTS (SELECT 1 FROM user_device WHERE user_id = users.id)"
        self._unlink_custom = d.sql(
            f"UPDATE users SET custom_id = NULL, update_time = {d.time} WHERE id = ? "
            f"AND (email IS NOT NULL OR {has_devices})"
        )
        self._unlink_email = d.sql(
            f"UPDATE users SET email = NULL, password = NULL, update_time = {d.time} "
            f"WHERE id = ? AND (custom_id IS NOT NULL OR {has_devices})"
        )
        self._unlink_device = d.sql(
            "DELETE FROM user_device WHERE id = ? AND user_id = ? AND ("
            "EXISTS (SELECT 1 FROM users WHERE id = ? "
            "AND (custom_id IS NOT NULL OR email IS NOT NULL)) "
            "OR EXISTS (SELECT 1 FROM user_device WHERE user_id = ? AND id <> ?))"
        )

    # Reads ------------------------------------------------------------------------------------

    def _users(self, tx: Tx, sql: str, params: Sequence[Any]) -> list[User]:
        rows = tx.rows(sql, params)
        if not rows:
            return []
        ids = [str(row[0]) for row in rows]
        if len(ids) == 1:
            found = tx.rows(self._devices_of_one, ids)
        else:
            found = tx.rows(
                f"SELECT user_id, id FROM user_device WHERE user_id IN ({self._d.marks(len(ids))})",
                ids,
            )
        devices: dict[str, list[str]] = {user_id: [] for user_id in ids}
        for user_id, device_id in found:
            devices[str(user_id)].append(device_id)
        return [user_from_row(row, devices[str(row[0])]) for row in rows]

    def get_user(self, tx: Tx, by: str, value: str) -> User | None:
        """The user ``by`` (one of the ``by_*`` statements) finds with ``value``."""
        users = self._users(tx, by, (value,))
        return users[0] if users else None

    def get_users(self, tx: Tx, ids: list[str], usernames: list[str]) -> list[User]:
        clauses = []
        if ids:
            clauses.append(f"u.id IN ({self._d.marks(len(ids))})")
        if usernames:
            clauses.append(f"u.username IN ({self._d.marks(len(usernames))})")
        return self._users(tx, self._select + " OR ".join(clauses), (*ids, *usernames))

    # Writes -----------------------------------------------------------------------------------

    def create_user(self, tx: Tx, values: dict[str, Any], now: float) -> User:
        row = (values["id"], values["username"], values["custom_id"], values["email"])
        _run_unique(tx, self._insert, (*row, values["password"], now, now), values)
        if values["device_id"] is not None:
            _run_unique(tx, self._insert_device, (values["device_id"], values["id"]), values)
        user = self.get_user(tx, self.by_id, values["id"])
        assert user is not None
        return user

    def link_device(self, tx: Tx, user_id: str, device_id: str, now: float) -> None:
        if tx.one(self._lock_user, (user_id,)) is None:
            raise UserNotFound(user_id)
        if not tx.run(self._link_device, (device_id, user_id)):
            raise DeviceIdTaken(device_id)
        tx.run(self._touch, (now, user_id))

    def link_custom(self, tx: Tx, user_id: str, custom_id: str, now: float) -> None:
        params = (custom_id, now, user_id, custom_id, user_id)
        if not self._linked(tx, self._link_custom, params, {"custom_id": custom_id}):
            raise CustomIdTaken(custom_id)

    def link_email(
        self, tx: Tx, user_id: str, email: str, password: bytes | None, now: float
    ) -> None:
        params = (email, password, now, user_id, email, user_id)
        if not self._linked(tx, self._link_email, params, {"email": email}):
            raise EmailTaken(email)

    def _linked(self, tx: Tx, sql: str, params: Sequence[Any], values: dict[str, Any]) -> bool:
        """Whether the link changed the row; a link another transaction made first
        breaks the unique constraint, which counts as taken too."""
        try:
            return _run_unique(tx, sql, params, values) == 1
        except DuplicateError:
            return False

    # Every unlink locks the account first, so that two at once cannot each leave the
    # other as the last way to log in and together remove both.

    def unlink_device(self, tx: Tx, user_id: str, device_id: str, now: float) -> bool:
        if tx.one(self._lock_user, (user_id,)) is None:
            return False
        params = (device_id, user_id, user_id, user_id, device_id)
        if tx.run(self._unlink_device, params) != 1:
            return False
        tx.run(self._touch, (now, user_id))
        return True

    def unlink_custom(self, tx: Tx, user_id: str, custom_id: str, now: float) -> bool:
        """Unlink ``custom_id`` (any custom id when empty)."""
        sql, params = self._unlink_custom, [now, user_id]
        if custom_id:
            sql, params = sql + self._d.sql(" AND custom_id = ?"), [*params, custom_id]
        return self._locked_update(tx, user_id, sql, params)

    def unlink_email(self, tx: Tx, user_id: str, email: str, now: float) -> bool:
        """Unlink ``email`` (lowercased; any email when empty) and the password."""
        sql, params = self._unlink_email, [now, user_id]
        if email:
            sql, params = sql + self._d.sql(" AND email = ?"), [*params, email]
        return self._locked_update(tx, user_id, sql, params)

    def _locked_update(self, tx: Tx, user_id: str, sql: str, params: Sequence[Any]) -> bool:
        """Lock the account, then run the unlink: whether it changed the row."""
        if tx.one(self._lock_user, (user_id,)) is None:
            return False
        return tx.run(sql, params) == 1

    def update_account(
        self, tx: Tx, user_id: str, values: dict[str, str | None], now: float
    ) -> None:
        """Set the profile columns of ``values``; the row (and its update time) changes
        only when one of them differs, as in Nakama."""
        assignments = ", ".join(f"{column} = ?" for column in values)
        differs = " OR ".join(f"{column} IS DISTINCT FROM ?" for column in values)
        sql = self._d.sql(
            f"UPDATE users SET update_time = {self._d.time}, {assignments} "
            f"WHERE id = ? AND ({differs})"
        )
        _run_unique(tx, sql, (now, *values.values(), user_id, *values.values()), values)

    def update_username(self, tx: Tx, user_id: str, username: str, now: float) -> None:
        renamed = _run_unique(tx, self._rename, (username, now, user_id), {"username": username})
        if renamed != 1:
            raise UserNotFound(user_id)
