"""The storage engine behind one interface: JSON objects by collection, key and owner,
with Nakama's versions and permissions.

An object belongs to a user (the system user for the server's own); its value is a
JSON object (:mod:`.jsonb`). Read permission: 0 only the server reads it, 1 its owner
too, 2 everyone. Write permission: 0 only the server writes or deletes it, 1 its owner
too. A write's ``version`` guards it: ``""`` writes whatever is there, ``"*"`` only
creates, any other value must be the stored object's version.

``caller_id`` None means the server acts, as Nakama's runtime does with the nil user
id: no permission applies. Every method returns a Deferred and runs off the reactor
thread; a batch of writes or deletes is one transaction, all or nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from twisted.internet.defer import Deferred
from zope.interface import Interface

from .interface import SYSTEM_USER_ID, StorageError
from .jsonb import ObjectValue

#: The most characters a collection or key holds (Nakama's ``VARCHAR(128)``).
MAX_NAME_CHARS = 128
#: Nakama's read permissions: only the server, the owner too, everyone.
NO_READ, OWNER_READ, PUBLIC_READ = 0, 1, 2
#: Nakama's write permissions: only the server, the owner too.
NO_WRITE, OWNER_WRITE = 0, 1


@dataclass(frozen=True, slots=True)
class StorageObject:
    """A stored object; times are UNIX seconds (microseconds kept)."""

    collection: str
    key: str
    user_id: str
    value: str
    version: str
    permission_read: int
    permission_write: int
    create_time: float
    update_time: float


@dataclass(frozen=True, slots=True)
class ObjectId:
    """An object to read or delete; ``version``, when set, must match to delete it."""

    collection: str
    key: str
    user_id: str = SYSTEM_USER_ID
    version: str = ""


@dataclass(frozen=True, slots=True)
class StorageWrite:
    """One object to write for ``user_id``: its checked value and the guard ``version``."""

    collection: str
    key: str
    user_id: str
    value: ObjectValue
    version: str = ""
    permission_read: int = OWNER_READ
    permission_write: int = OWNER_WRITE


@dataclass(frozen=True, slots=True)
class StorageAck:
    """What a write stored: the version and times the object has now."""

    collection: str
    key: str
    user_id: str
    version: str
    create_time: float
    update_time: float


@dataclass(frozen=True, slots=True)
class StorageObjectList:
    objects: tuple[StorageObject, ...]
    #: Pass back for the next page; empty on the last one.
    cursor: str = ""


class StorageObjectError(StorageError):
    """Base of the storage engine's refusals; the message is Nakama's."""


class WriteRejected(StorageObjectError):
    """A write of the batch was refused; nothing of the batch was written."""


class VersionRejected(WriteRejected):
    def __init__(self) -> None:
        super().__init__("Storage write rejected - version check failed.")


class PermissionRejected(WriteRejected):
    def __init__(self) -> None:
        super().__init__("Storage write rejected - permission denied.")


class DeleteRejected(StorageObjectError):
    """An object of the batch was not there, had another version or was not the
    caller's to delete; nothing of the batch was deleted."""

    def __init__(self) -> None:
        super().__init__(
            "Storage delete rejected - not found, version check failed, or permission denied."
        )


class IObjectStorage(Interface):
    """Nakama's storage engine. Ids are canonical UUIDs (the callers check them)."""

    def read_objects(
        caller_id: str | None, object_ids: Sequence[ObjectId]
    ) -> Deferred[list[StorageObject]]:
        """The objects that exist and the caller may read (its own with read permission
        1 or 2, anyone's with 2), in the order first asked for; each once."""

    def write_objects(
        caller_id: str | None, writes: Sequence[StorageWrite]
    ) -> Deferred[list[StorageAck]]:
        """Write all (acks in the order given) or none. A client (``caller_id`` set)
        writes only its own objects (a ValueError otherwise) and only those with write
        permission 1: :class:`PermissionRejected`; a version that does not hold:
        :class:`VersionRejected`. Writes are applied ordered by collection, key and
        owner, and the first refused in that order is the one reported."""

    def delete_objects(caller_id: str | None, object_ids: Sequence[ObjectId]) -> Deferred[None]:
        """Delete all or none: :class:`DeleteRejected` when one is missing, has another
        version or (for a client) has write permission 0. A client deletes only its own
        objects (a ValueError otherwise). The server's unguarded delete of a missing
        object is no error."""

    def list_objects(
        caller_id: str | None, owner_id: str | None, collection: str, limit: int, cursor: str = ""
    ) -> Deferred[StorageObjectList]:
        """A page of a collection, in Nakama's orders: of everyone's objects (only
        public ones for a client) by read permission, key and owner; of the caller's own
        (the server: of ``owner_id``'s, all) by read permission and key; of another
        user's public objects by key. :class:`~.social.InvalidCursor` for a malformed
        cursor; a limit under 1 lists nothing."""
