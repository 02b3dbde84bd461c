"""The storage seam: the :class:`IStorage` interface, the :class:`User` record, errors.

Every method returns a Deferred and does its work off the reactor thread, so
the realtime state the reactor owns is never held up by the database.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from twisted.internet.defer import Deferred
from zope.interface import Attribute, Interface

#: Nakama's system user: owns server-side objects; created by the first migration.
SYSTEM_USER_ID = "00000000-0000-0000-0000-000000000000"


@dataclass(frozen=True)
class User:
    """One account, as Nakama's ``users`` table (plus its ``user_device`` rows) holds it.

    Times are UNIX seconds (float); ``verify_time`` / ``disable_time`` are ``None``
    when unset (Nakama stores the epoch for that).
    """

    id: str
    username: str
    create_time: float
    update_time: float
    display_name: str | None = None
    avatar_url: str | None = None
    lang_tag: str = "en"
    location: str | None = None
    timezone: str | None = None
    metadata: str = "{}"
    wallet: str = "{}"
    email: str | None = None
    password_hash: bytes | None = field(default=None, repr=False)
    custom_id: str | None = None
    edge_count: int = 0
    verify_time: float | None = None
    disable_time: float | None = None
    device_ids: tuple[str, ...] = ()

    @property
    def disabled(self) -> bool:
        """True when the account is banned (Nakama: a non-epoch disable_time)."""
        return bool(self.disable_time)


class StorageError(Exception):
    """Base of the errors storage raises on purpose."""


class StorageUnavailable(StorageError):
    """The database cannot be opened or reached; the message says why, in one line."""


class UserNotFound(StorageError):
    """The user the operation refers to does not exist."""


class DuplicateError(StorageError):
    """A unique value is already used by another account; ``field`` says which."""

    field = ""

    def __init__(self, value: str = "") -> None:
        super().__init__(f"{self.field} already in use: {value!r}" if value else self.field)
        self.value = value


class UsernameTaken(DuplicateError):
    field = "username"


class CustomIdTaken(DuplicateError):
    field = "custom_id"


class EmailTaken(DuplicateError):
    field = "email"


class DeviceIdTaken(DuplicateError):
    field = "device_id"


class IStorage(Interface):
    """Account storage. All methods return Deferreds and never block the reactor."""

    address = Attribute("The address the storage was opened with (``sqlite:...`` or a URL).")

    def start() -> Deferred[None]:
        """Connect and apply pending schema migrations."""

    def stop() -> Deferred[None]:
        """Close connections and stop worker threads."""

    def ping() -> Deferred[None]:
        """Fire when the database answers a trivial query; fail when it cannot."""

    def create_user(
        username: str,
        custom_id: str | None = None,
        device_id: str | None = None,
        email: str | None = None,
        password_hash: bytes | None = None,
        user_id: str | None = None,
    ) -> Deferred[User]:
        """Insert a new user (and its device row, in the same transaction).

        Fails with a :class:`DuplicateError` subclass when the username, custom
        id, email (compared lowercased) or device id is already used.
        """

    def get_user(user_id: str) -> Deferred[User | None]:
        """The user with this id, or None (also for a malformed id)."""

    def get_user_by_username(username: str) -> Deferred[User | None]:
        """The user with exactly this username, or None."""

    def get_user_by_custom_id(custom_id: str) -> Deferred[User | None]:
        """The user with this custom id, or None."""

    def get_user_by_device_id(device_id: str) -> Deferred[User | None]:
        """The user this device id is linked to, or None."""

    def get_user_by_email(email: str) -> Deferred[User | None]:
        """The user with this email (case-insensitive), or None."""

    def get_users(ids: Iterable[str] = (), usernames: Iterable[str] = ()) -> Deferred[list[User]]:
        """Users matching any of the ids or usernames; unknown ones are simply absent."""

    def link_device(user_id: str, device_id: str) -> Deferred[None]:
        """Link a device id to a user; :class:`DeviceIdTaken` if another user has it,
        :class:`UserNotFound` if the user does not exist. Linking twice is a no-op."""

    def unlink_device(user_id: str, device_id: str) -> Deferred[bool]:
        """Remove a device id from a user; True if it was linked to that user."""

    def update_username(user_id: str, username: str) -> Deferred[None]:
        """Change a username; :class:`UsernameTaken` or :class:`UserNotFound` on failure."""
