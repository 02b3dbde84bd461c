"""What ``nk.storage_*`` take, checked with the messages of Nakama's runtime, and what
they need of the storage.

The runtime acts as the server: no permission applies to its reads, writes, deletes
and listings (unless a listing names a caller), as in Nakama.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import orjson
from twisted.internet.defer import Deferred

from nakama_rt.storage import SYSTEM_USER_ID
from nakama_rt.storage.jsonb import InvalidValue, ObjectValue, object_value
from nakama_rt.storage.objects import (
    MAX_NAME_CHARS,
    ObjectId,
    StorageAck,
    StorageObject,
    StorageObjectList,
    StorageWrite,
)
from nakama_rt.wire.ids import canonical_uuid


@runtime_checkable
class ObjectStore(Protocol):
    """What ``nk.storage_*`` need of the storage (the server's ``IObjectStorage``)."""

    def read_objects(
        self, caller_id: str | None, object_ids: Sequence[ObjectId]
    ) -> Deferred[list[StorageObject]]: ...

    def write_objects(
        self, caller_id: str | None, writes: Sequence[StorageWrite]
    ) -> Deferred[list[StorageAck]]: ...

    def delete_objects(
        self, caller_id: str | None, object_ids: Sequence[ObjectId]
    ) -> Deferred[None]: ...

    def list_objects(
        self, caller_id: str | None, owner_id: str | None, collection: str, limit: int, cursor: str
    ) -> Deferred[StorageObjectList]: ...


def optional_id(value: Any, what: str) -> str | None:
    """A canonical id, or None for an empty one; ``expects an empty or valid <what> id``."""
    if value is None or value == "":
        return None
    canonical = canonical_uuid(value) if isinstance(value, str) else None
    if canonical is None:
        raise ValueError(f"expects an empty or valid {what} id")
    return canonical


def _mapping(item: Any) -> Mapping[str, Any]:
    if not isinstance(item, Mapping):
        raise ValueError("expects each object to be a mapping")
    return item


def _object_id(item: Mapping[str, Any]) -> tuple[str, str, str]:
    """Collection, key and owner (the system user when none is named)."""
    names = []
    for name in ("collection", "key"):
        value = item.get(name)
        if not isinstance(value, str) or not value:
            raise ValueError(f"expects {name} to be a non-empty string")
        names.append(value)
    return names[0], names[1], optional_id(item.get("user_id"), "user") or SYSTEM_USER_ID


def _version(item: Mapping[str, Any]) -> str:
    version = item.get("version") or ""
    if not isinstance(version, str):
        raise ValueError("expects version to be a string")
    return version


def reads(items: Iterable[Any]) -> list[ObjectId]:
    """``nk.storage_read``'s ids: ``collection``, ``key`` and, optionally, ``user_id``."""
    return [ObjectId(*_object_id(_mapping(item))) for item in items]


def deletes(items: Iterable[Any]) -> list[ObjectId]:
    """``nk.storage_delete``'s ids: as :func:`reads`, and optionally a ``version``."""
    checked = []
    for item in map(_mapping, items):
        checked.append(ObjectId(*_object_id(item), _version(item)))
    return checked


def _value(value: Any) -> ObjectValue:
    """A mapping (stored as its JSON, keys sorted) or the JSON text of an object."""
    if isinstance(value, Mapping):
        try:
            value = orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
        except TypeError as error:
            raise ValueError(f"value must be a JSON-encoded object: {error}") from None
    if not isinstance(value, str):
        raise ValueError("value must be a JSON-encoded object")
    try:
        return object_value(value)
    except InvalidValue as invalid:
        if invalid.reason == "not_object":
            raise ValueError("value must be a JSON-encoded object") from None
        raise ValueError(f"value cannot be stored ({invalid.reason})") from None


def _permission(item: Mapping[str, Any], name: str, allowed: range) -> int:
    value = item.get(name, 1)
    if not isinstance(value, int) or isinstance(value, bool) or value not in allowed:
        choices = ", ".join(map(str, allowed[:-1])) + f" or {allowed[-1]}"
        raise ValueError(f"expects {name} to be {choices}")
    return value


def writes(items: Iterable[Any]) -> list[StorageWrite]:
    """``nk.storage_write``'s objects: ``collection``, ``key``, ``value``, and optionally
    ``user_id``, ``version``, ``permission_read`` and ``permission_write`` (both 1)."""
    checked = []
    for item in map(_mapping, items):
        collection, key, owner = _object_id(item)
        if len(collection) > MAX_NAME_CHARS or len(key) > MAX_NAME_CHARS:
            raise ValueError(f"expects collection and key of at most {MAX_NAME_CHARS} characters")
        checked.append(
            StorageWrite(
                collection,
                key,
                owner,
                _value(item.get("value")),
                _version(item),
                _permission(item, "permission_read", range(3)),
                _permission(item, "permission_write", range(2)),
            )
        )
    return checked
