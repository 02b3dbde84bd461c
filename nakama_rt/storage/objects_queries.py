"""The storage engine's queries and rules (Nakama's core_storage.go), written once for
both backends; what arguments they take is checked first by :func:`checked_writes` and
:func:`checked_ids`, on the reactor thread."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from nakama_rt.wire.ids import canonical_uuid

from .objects import (
    MAX_NAME_CHARS,
    OWNER_READ,
    OWNER_WRITE,
    PUBLIC_READ,
    DeleteRejected,
    ObjectId,
    PermissionRejected,
    StorageAck,
    StorageObject,
    StorageWrite,
    VersionRejected,
)
from .objects_cursor import ListPosition
from .sql import Dialect, Tx

# Arguments ---------------------------------------------------------------------------------


def owner(user_id: str) -> str:
    """The canonical id of an object's owner, or a ValueError."""
    canonical = canonical_uuid(user_id)
    if canonical is None:
        raise ValueError(f"invalid user id {user_id!r}")
    return canonical


def optional_owner(user_id: str | None) -> str | None:
    """:func:`owner`, or None for None (the server acting, or no owner named)."""
    return None if user_id is None else owner(user_id)


def _name(value: str, what: str) -> None:
    if not value or len(value) > MAX_NAME_CHARS:
        raise ValueError(f"a {what} must have 1 to {MAX_NAME_CHARS} characters: {value!r}")


def _own(caller_id: str | None, user_id: str) -> None:
    if caller_id is not None and user_id != caller_id:
        raise ValueError(f"a client writes and deletes only its own objects, not {user_id!r}")


def checked_writes(caller_id: str | None, writes: Sequence[StorageWrite]) -> list[StorageWrite]:
    """``writes`` with canonical owners, each checked (a ValueError names the first bad
    one): what the API and the runtime refuse in Nakama's words never gets here."""
    checked = []
    for write in writes:
        _name(write.collection, "collection")
        _name(write.key, "key")
        if write.permission_read not in range(3) or write.permission_write not in range(2):
            raise ValueError(f"invalid permissions in {write!r}")
        user_id = owner(write.user_id)
        _own(caller_id, user_id)
        checked.append(dataclasses.replace(write, user_id=user_id))
    return checked


def checked_ids(caller_id: str | None, object_ids: Sequence[ObjectId]) -> list[ObjectId]:
    """Objects to delete, with canonical owners (ValueError as :func:`checked_writes`;
    a name too long to store is one that is not there)."""
    checked = []
    for object_id in object_ids:
        if not object_id.collection or not object_id.key:
            raise ValueError(f"a collection and key must be set: {object_id!r}")
        user_id = owner(object_id.user_id)
        _own(caller_id, user_id)
        checked.append(ObjectId(object_id.collection, object_id.key, user_id, object_id.version))
    return checked


def readable_ids(object_ids: Sequence[ObjectId]) -> list[ObjectId]:
    """Objects to read, each once, in the order first asked for; one whose owner is no
    UUID does not exist."""
    wanted: dict[tuple[str, str, str], None] = {}
    for object_id in object_ids:
        user_id = canonical_uuid(object_id.user_id)
        if user_id is not None:
            wanted.setdefault((object_id.collection, object_id.key, user_id), None)
    return [ObjectId(*ident) for ident in wanted]


def _batch_order(item: ObjectId | StorageWrite) -> tuple[str, str, str]:
    """Nakama applies a batch in this order, so concurrent batches never deadlock."""
    return item.collection, item.key, item.user_id


# Queries -----------------------------------------------------------------------------------

#: How each listing filters, pages and orders (Nakama's four queries, the server's own
#: two included): by who lists and whose objects.
_LISTINGS = {
    # Everyone's objects, for the server: every read permission.
    "all": ("", "(read, key, user_id) > (?, ?, ?)", "read, key, user_id"),
    # Everyone's objects, for a client: public ones only.
    "public": (" AND read >= 2", "(read, key, user_id) > (2, ?, ?)", "read, key, user_id"),
    # One user's objects, for the server.
    "owner": (" AND user_id = ? AND read >= 0", "(read, key) > (?, ?)", "read, key"),
    # A client's own objects: those it may read.
    "own": (" AND user_id = ? AND read >= 1", "(read, key) > (?, ?)", "read, key"),
    # Another user's public objects, for a client.
    "theirs": (" AND read = 2 AND user_id = ?", "key > ?", "key"),
}


def listing(caller_id: str | None, owner_id: str | None) -> str:
    """Which of :data:`_LISTINGS` a caller's listing of ``owner_id``'s objects is."""
    if caller_id is None:
        return "all" if owner_id is None else "owner"
    if owner_id is None:
        return "public"
    return "own" if owner_id == caller_id else "theirs"


def _after(kind: str, position: ListPosition) -> tuple[Any, ...]:
    """The cursor's values the listing's page condition takes."""
    if kind == "all":
        return position.read, position.key, position.user_id
    if kind == "public":
        return position.key, position.user_id
    if kind == "theirs":
        return (position.key,)
    return position.read, position.key


class ObjectQueries:
    """The storage engine's queries, rendered for one dialect when the storage is built."""

    def __init__(self, d: Dialect) -> None:
        times = f"{d.seconds('create_time')}, {d.seconds('update_time')}"
        one = "WHERE collection = ? AND key = ? AND user_id = ?"
        columns = f"collection, key, user_id, value, version, read, write, {times}"
        self._object = d.sql(f"SELECT {columns} FROM storage {one}")
        self._current = d.sql(f"SELECT read, write, version, {times} FROM storage {one}{d.lock}")
        self._insert = d.sql(
            "INSERT INTO storage (collection, key, user_id, value, version, read, write, "
            f"create_time, update_time) VALUES (?, ?, ?, ?, ?, ?, ?, {d.time}, {d.time}) "
            "ON CONFLICT (collection, key, user_id) DO NOTHING"
        )
        self._update = d.sql(
            f"UPDATE storage SET value = ?, version = ?, read = ?, write = ?, "
            f"update_time = {d.time} {one}"
        )
        #: By (a client's delete, a version to match).
        self._delete = {
            (client, versioned): d.sql(
                f"DELETE FROM storage {one}"
                + (" AND write > 0" if client else "")
                + (" AND version = ?" if versioned else "")
            )
            for client in (False, True)
            for versioned in (False, True)
        }
        #: By (listing, after a cursor).
        self._lists = {
            (kind, after): d.sql(
                f"SELECT {columns} FROM storage WHERE collection = ?{where}"
                + (f" AND {page}" if after else "")
                + f" ORDER BY {order} LIMIT ?"
            )
            for kind, (where, page, order) in _LISTINGS.items()
            for after in (False, True)
        }

    def read_objects(
        self, tx: Tx, caller_id: str | None, object_ids: Sequence[ObjectId]
    ) -> list[StorageObject]:
        found = []
        for object_id in object_ids:
            row = tx.one(self._object, (object_id.collection, object_id.key, object_id.user_id))
            if row is None:
                continue
            stored = _object(row)
            if (
                caller_id is None
                or stored.permission_read == PUBLIC_READ
                or (stored.permission_read == OWNER_READ and stored.user_id == caller_id)
            ):
                found.append(stored)
        return found

    def write_objects(
        self, tx: Tx, client: bool, writes: Sequence[StorageWrite], now: float
    ) -> list[StorageAck]:
        acks: dict[int, StorageAck] = {}
        for index in sorted(range(len(writes)), key=lambda i: _batch_order(writes[i])):
            acks[index] = self._write(tx, client, writes[index], now)
        return [acks[index] for index in range(len(writes))]

    def _write(self, tx: Tx, client: bool, write: StorageWrite, now: float) -> StorageAck:
        """One write, as Nakama's upsert decides it."""
        ident = (write.collection, write.key, write.user_id)
        value, version = write.value.text, write.value.version
        wanted = (value, version, write.permission_read, write.permission_write)
        current = tx.one(self._current, ident)
        if current is None and write.version in ("", "*"):
            if tx.run(self._insert, (*ident, *wanted, now, now)):
                return StorageAck(*ident, version, now, now)
            current = tx.one(self._current, ident)  # another transaction created it meanwhile
        if current is None or write.version == "*":
            raise VersionRejected()
        read, writable, stored_version, created, updated = current
        if client and writable != OWNER_WRITE:
            raise PermissionRejected()
        if write.version and write.version != stored_version:
            raise VersionRejected()
        if not write.version and (stored_version, read, writable) == wanted[1:]:
            # Nakama leaves an object written again unchanged as it is, times included.
            return StorageAck(*ident, stored_version, float(created), float(updated))
        tx.run(self._update, (*wanted, now, *ident))
        return StorageAck(*ident, version, float(created), now)

    def delete_objects(self, tx: Tx, client: bool, object_ids: Sequence[ObjectId]) -> None:
        for object_id in sorted(object_ids, key=_batch_order):
            params: tuple[str, ...] = (object_id.collection, object_id.key, object_id.user_id)
            if object_id.version:
                params += (object_id.version,)
            deleted = tx.run(self._delete[client, bool(object_id.version)], params)
            # The server's unguarded delete of what is not there is no error.
            if not deleted and (client or object_id.version):
                raise DeleteRejected()

    def list_objects(
        self,
        tx: Tx,
        kind: str,
        owner_id: str | None,
        collection: str,
        limit: int,
        after: ListPosition | None,
    ) -> tuple[list[StorageObject], ListPosition | None]:
        """A page, and the position of its last object when more follow."""
        params: tuple[Any, ...] = (collection,) if owner_id is None else (collection, owner_id)
        if after is not None:
            params += _after(kind, after)
        rows = tx.rows(self._lists[kind, after is not None], (*params, limit + 1))
        objects = [_object(row) for row in rows[:limit]]
        if len(rows) <= limit:
            return objects, None
        last = objects[-1]
        return objects, ListPosition(last.key, last.user_id, last.permission_read)


def _object(row: Sequence[Any]) -> StorageObject:
    collection, key, user_id, value, version, read, write, created, updated = row
    return StorageObject(
        collection, key, str(user_id), value, version, read, write, float(created), float(updated)
    )
