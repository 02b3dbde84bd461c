"""The storage seam: the :class:`IStorage` interface, the :class:`User` record, errors.

Every method returns a Deferred and does its work off the reactor thread, so
the realtime state the reactor owns is never held up by the database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
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


class ValueRefused(StorageError):
    """A value the database would refuse (text with a NUL, too long for its column, an
    unset ``lang_tag``): refused before the query, alike on both backends."""


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
        """Users matching any of the ids or usernames; unknown ones are simply absent.
        :class:`ValueRefused` for a username with a NUL."""

    def link_device(user_id: str, device_id: str) -> Deferred[None]:
        """Link a device id to a user; :class:`DeviceIdTaken` if another user has it,
        :class:`UserNotFound` if the user does not exist. Linking twice changes only
        the update time."""

    def link_custom(user_id: str, custom_id: str) -> Deferred[None]:
        """Set the user's custom id; :class:`CustomIdTaken` if another user has it or the
        user does not exist (Nakama cannot tell the two apart)."""

    def link_email(user_id: str, email: str, password_hash: bytes | None) -> Deferred[None]:
        """Set the user's email (compared lowercased) and password hash;
        :class:`EmailTaken` if another user has it or the user does not exist."""

    def unlink_device(user_id: str, device_id: str) -> Deferred[bool]:
        """Remove a device id from a user; True if it was linked to that user and was
        not the account's last way to log in (nothing changes otherwise)."""

    def unlink_custom(user_id: str, custom_id: str = "") -> Deferred[bool]:
        """Clear the user's custom id (only if it is ``custom_id``, when given); True if
        done, False for no such user, another custom id, or the last way to log in."""

    def unlink_email(user_id: str, email: str = "") -> Deferred[bool]:
        """Clear the user's email and password (only if the email is ``email``, compared
        lowercased, when given); False as :meth:`unlink_custom`."""

    def update_account(user_id: str, changes: Mapping[str, str]) -> Deferred[None]:
        """Set profile columns (``username``, ``display_name``, ``timezone``,
        ``location``, ``lang_tag``, ``avatar_url``; an empty text clears the column) and
        ``metadata`` (the text of a JSON object).
        :class:`UsernameTaken`, or :class:`ValueRefused` for a value the database would
        refuse; an unknown user is no error (nothing changes), as in Nakama."""

    def update_username(user_id: str, username: str) -> Deferred[None]:
        """Change a username; :class:`UsernameTaken` or :class:`UserNotFound` on failure."""
