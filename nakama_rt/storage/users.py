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
)
from .sql import Dialect, Tx, UniqueViolation

#: The unique constraints a new or renamed account may break, and what each means.
_DUPLICATES: dict[str, type[DuplicateError]] = {
    "users_username_key": UsernameTaken,
    "users_custom_id_key": CustomIdTaken,
    "users_email_key": EmailTaken,
    "user_device_pkey": DeviceIdTaken,
}


def new_user_id() -> str:
    return str(uuid.uuid4())


def normalise_email(email: str | None) -> str | None:
    """Nakama lowercases emails before storing or comparing them."""
    return email.lower() if email else None


def _duplicate(violation: UniqueViolation, values: dict[str, Any]) -> DuplicateError | None:
    """The error a caller knows for a broken unique constraint, or None for another one."""
    kind = _DUPLICATES.get(violation.constraint)
    return None if kind is None else kind(values.get(kind.field) or "")


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
        self._unlink_device = d.sql("DELETE FROM user_device WHERE id = ? AND user_id = ?")
        self._rename = d.sql(f"UPDATE users SET username = ?, update_time = {d.time} WHERE id = ?")

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
        try:
            tx.run(
                self._insert,
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
                tx.run(self._insert_device, (values["device_id"], values["id"]))
        except UniqueViolation as violation:
            duplicate = _duplicate(violation, values)
            if duplicate is None:
                raise
            raise duplicate from violation
        user = self.get_user(tx, self.by_id, values["id"])
        assert user is not None
        return user

    def link_device(self, tx: Tx, user_id: str, device_id: str) -> None:
        if tx.one(self._lock_user, (user_id,)) is None:
            raise UserNotFound(user_id)
        if not tx.run(self._link_device, (device_id, user_id)):
            raise DeviceIdTaken(device_id)

    def unlink_device(self, tx: Tx, user_id: str, device_id: str) -> bool:
        return tx.run(self._unlink_device, (device_id, user_id)) == 1

    def update_username(self, tx: Tx, user_id: str, username: str, now: float) -> None:
        try:
            renamed = tx.run(self._rename, (username, now, user_id))
        except UniqueViolation as violation:
            duplicate = _duplicate(violation, {"username": username})
            if duplicate is None:
                raise
            raise duplicate from violation
        if renamed != 1:
            raise UserNotFound(user_id)
