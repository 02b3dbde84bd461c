"""``/v2/storage``: Nakama's storage engine over HTTP (its api_storage.go).

Checks run in Nakama's order and answer in its words: every object of a batch is
checked (collection and key set, permissions in range, the value a JSON object) before
anything is stored. What Nakama leaves to PostgreSQL to refuse (a name past 128
characters, a ``\\u0000`` or a lone surrogate in a value, a number past ``numeric``'s
range) is refused here after those checks, with a 400 that names it, alike on both
backends, where Nakama answers a 500.

A write's acknowledgement carries its times to the microsecond, an object's times
whole seconds, as Nakama stamps them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from nakama_rt.storage import SYSTEM_USER_ID
from nakama_rt.storage.jsonb import InvalidValue, ObjectValue, object_value
from nakama_rt.storage.objects import (
    MAX_NAME_CHARS,
    DeleteRejected,
    ObjectId,
    StorageAck,
    StorageObject,
    StorageWrite,
    WriteRejected,
)
from nakama_rt.storage.social import InvalidCursor
from nakama_rt.wire.ids import canonical_uuid

from .account import timestamp
from .context import ApiContext
from .http import NO_BODY, ApiError, Call, Code, Route, check_text, nul_refused
from .social_http import populated, query_int32

_NOT_SET = ApiError(
    Code.INVALID_ARGUMENT, "Invalid collection or key value supplied. They must be set."
)
_BAD_USER_ID = ApiError(
    Code.INVALID_ARGUMENT, "Invalid user ID - make sure user ID is a valid UUID."
)
_BAD_READ = ApiError(
    Code.INVALID_ARGUMENT, "Invalid Read permission supplied. It must be either 0, 1 or 2."
)
_BAD_WRITE = ApiError(
    Code.INVALID_ARGUMENT, "Invalid Write permission supplied. It must be either 0 or 1."
)
_NOT_OBJECT = ApiError(Code.INVALID_ARGUMENT, "Value must be a JSON object.")


def _refused_value(reason: str) -> ApiError:
    """The answer to a value PostgreSQL would refuse (``reason``: InvalidValue's)."""
    if reason == "nul":
        return nul_refused("value")
    why = {"unicode": "not valid Unicode", "number": "a number is out of range"}
    return ApiError(
        Code.INVALID_ARGUMENT,
        f'Invalid value for field "value": {why.get(reason, "too large to store")}.',
    )


# Message bodies ----------------------------------------------------------------------------

Kind = Literal["string", "int32"]
#: An ``Int32Value`` written as a string: protojson takes no "+" and no spaces.
_INTEGER = re.compile(r"-?[0-9]+")
_NOUNS = {"string": "a string", "int32": "a 32-bit integer"}


def _json_name(name: str) -> str:
    """protojson also takes a field's lowerCamelCase name."""
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _field(message: Mapping[str, Any], name: str, kind: Kind) -> Any:
    """A field as protojson reads it: None when absent or null; an ``Int32Value`` may be
    an integral number or one written as a string."""
    value = message.get(name)
    if value is None:
        value = message.get(_json_name(name))
    if value is None:
        return None
    if kind == "string" and isinstance(value, str):
        return check_text(value, name)
    if kind == "int32" and not isinstance(value, bool):
        number = value
        if isinstance(value, str):
            number = int(value, 10) if len(value) < 12 and _INTEGER.fullmatch(value) else None
        elif isinstance(value, float) and value.is_integer():
            number = int(value)
        if isinstance(number, int) and -(2**31) <= number < 2**31:
            return number
    raise ApiError(Code.INVALID_ARGUMENT, f'Invalid value for field "{name}": not {_NOUNS[kind]}.')


def _messages(ctx: ApiContext, call: Call, name: str, fields: Mapping[str, Kind]) -> list[dict]:
    """The repeated message field ``name`` of the request body, each message's known
    fields decoded (an empty body, or a null field, holds none)."""
    body = call.json_body(ctx.config.socket.max_request_size_bytes)
    if body is NO_BODY:
        return []
    if not isinstance(body, dict):  # a JSON null too: grpc-gateway refuses it
        raise ApiError(Code.INVALID_ARGUMENT, "Invalid JSON request body: expected an object.")
    items = body.get(name)
    if items is None:
        items = body.get(_json_name(name))
    if items is None:
        return []
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise ApiError(
            Code.INVALID_ARGUMENT, f'Invalid value for field "{name}": not an array of objects.'
        )
    return [{field: _field(item, field, kind) for field, kind in fields.items()} for item in items]


# Rendering ---------------------------------------------------------------------------------


def precise_timestamp(seconds: float) -> str:
    """A ``google.protobuf.Timestamp`` as protojson writes one with a fraction: 3 or 6
    digits, as many as the microseconds need."""
    whole, micros = divmod(round(seconds * 1_000_000), 1_000_000)
    text = datetime.fromtimestamp(whole, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if micros:
        digits = f"{micros:06d}"
        text += "." + (digits[:3] if digits.endswith("000") else digits)
    return text + "Z"


def ack_json(ack: StorageAck) -> dict[str, Any]:
    """Nakama's ``StorageObjectAck`` message, fields in proto order."""
    return populated(
        [
            ("collection", ack.collection),
            ("key", ack.key),
            ("version", ack.version),
            ("user_id", ack.user_id),
            ("create_time", precise_timestamp(ack.create_time)),
            ("update_time", precise_timestamp(ack.update_time)),
        ]
    )


def object_json(stored: StorageObject) -> dict[str, Any]:
    """Nakama's ``StorageObject`` message, fields in proto order (a zero permission is
    left out, as protojson leaves out every zero)."""
    return populated(
        [
            ("collection", stored.collection),
            ("key", stored.key),
            ("user_id", stored.user_id),
            ("value", stored.value),
            ("version", stored.version),
            ("permission_read", stored.permission_read),
            ("permission_write", stored.permission_write),
            ("create_time", timestamp(stored.create_time)),
            ("update_time", timestamp(stored.update_time)),
        ]
    )


# Handlers ----------------------------------------------------------------------------------

_WRITE_FIELDS: dict[str, Kind] = {
    "collection": "string",
    "key": "string",
    "value": "string",
    "version": "string",
    "permission_read": "int32",
    "permission_write": "int32",
}


def _checked_write(
    message: dict[str, Any], user_id: str, later: list[ApiError]
) -> StorageWrite | None:
    """The write a message asks for, checked as Nakama checks it; what only the database
    would refuse goes to ``later`` (the first refusal wins, after every Nakama check)."""
    if not message["collection"] or not message["key"] or not message["value"]:
        raise _NOT_SET
    read, write = message["permission_read"], message["permission_write"]
    if read is not None and not 0 <= read <= 2:
        raise _BAD_READ
    if write is not None and not 0 <= write <= 1:
        raise _BAD_WRITE
    value: ObjectValue | None = None
    try:
        value = object_value(message["value"])
    except InvalidValue as invalid:
        if invalid.reason == "not_object":
            raise _NOT_OBJECT from None
        later.append(_refused_value(invalid.reason))
    for name in ("collection", "key"):
        if len(message[name]) > MAX_NAME_CHARS:
            later.append(_too_long(name))
    if value is None:
        return None
    return StorageWrite(
        message["collection"],
        message["key"],
        user_id,
        value,
        message["version"] or "",
        1 if read is None else read,
        1 if write is None else write,
    )


def _too_long(name: str) -> ApiError:
    return ApiError(
        Code.INVALID_ARGUMENT,
        f'Invalid value for field "{name}": longer than {MAX_NAME_CHARS} characters.',
    )


def _checked_writes(messages: list[dict[str, Any]], user_id: str) -> list[StorageWrite]:
    """Every message checked, in Nakama's order, then what only a database refuses."""
    later: list[ApiError] = []
    writes = [_checked_write(message, user_id, later) for message in messages]
    if later:
        raise later[0]
    return [write for write in writes if write is not None]


#: Values longer than this, in all, are checked off the reactor thread: reading and
#: rewriting a large value (:func:`~nakama_rt.storage.jsonb.object_value`) takes
#: milliseconds of CPU (about 25 ms for 200 kB).
INLINE_CHECK_CHARS = 16 * 1024


async def write_objects(ctx: ApiContext, call: Call) -> dict[str, Any]:
    assert call.session is not None
    user_id = call.session.user_id
    messages = _messages(ctx, call, "objects", _WRITE_FIELDS)
    if sum(len(message["value"] or "") for message in messages) > INLINE_CHECK_CHARS:
        writes = await ctx.in_thread(_checked_writes, messages, user_id)
    else:
        writes = _checked_writes(messages, user_id)
    acks = await ctx.storage.write_objects(user_id, writes)
    return populated([("acks", [ack_json(ack) for ack in acks])])


def _named(message: dict[str, Any]) -> tuple[str, str]:
    if not message["collection"] or not message["key"]:
        raise _NOT_SET
    return message["collection"], message["key"]


async def read_objects(ctx: ApiContext, call: Call) -> dict[str, Any]:
    assert call.session is not None
    fields: dict[str, Kind] = {"collection": "string", "key": "string", "user_id": "string"}
    object_ids = []
    for message in _messages(ctx, call, "object_ids", fields):
        collection, key = _named(message)
        user_id = SYSTEM_USER_ID
        if message["user_id"]:
            user_id = canonical_uuid(message["user_id"]) or SYSTEM_USER_ID
            if user_id == SYSTEM_USER_ID:  # Nakama refuses the nil UUID too
                raise _BAD_USER_ID
        object_ids.append(ObjectId(collection, key, user_id))
    found = await ctx.storage.read_objects(call.session.user_id, object_ids)
    return populated([("objects", [object_json(stored) for stored in found])])


async def delete_objects(ctx: ApiContext, call: Call) -> dict[str, Any]:
    assert call.session is not None
    user_id = call.session.user_id
    fields: dict[str, Kind] = {"collection": "string", "key": "string", "version": "string"}
    object_ids = [
        ObjectId(*_named(message), user_id, message["version"] or "")
        for message in _messages(ctx, call, "object_ids", fields)
    ]
    await ctx.storage.delete_objects(user_id, object_ids)
    return {}


async def list_objects(
    ctx: ApiContext, call: Call, collection: str, user_id: str | None = None
) -> dict[str, Any]:
    """``user_id`` comes from the path, else from the query (the path's wins)."""
    assert call.session is not None
    limit = query_int32(call, "limit")
    if limit is not None and not 1 <= limit <= 100:
        raise ApiError(Code.INVALID_ARGUMENT, "Invalid limit - limit must be between 1 and 100.")
    owner = user_id if user_id is not None else call.query.get("user_id", "")
    owner_id = None
    if owner:
        owner_id = canonical_uuid(owner)
        if owner_id is None:
            raise _BAD_USER_ID
    listed = await ctx.storage.list_objects(
        call.session.user_id, owner_id, collection, limit or 1, call.query.get("cursor", "")
    )
    return populated(
        [("objects", [object_json(o) for o in listed.objects]), ("cursor", listed.cursor)]
    )


def _rejected(error: Exception) -> ApiError:
    return ApiError(Code.INVALID_ARGUMENT, str(error))


_MALFORMED_CURSOR = ApiError(Code.INVALID_ARGUMENT, "Malformed cursor was used.")


def _listing(path: tuple[bytes, ...], **path_values: str) -> Route:
    """A listing route; only the one without the owner in its path takes it as a query."""
    by_query = b"{user_id}" not in path
    return Route(
        b"GET",
        path,
        list_objects,
        auth="bearer",
        query={"cursor": "string", "user_id": "string"} if by_query else {"cursor": "string"},
        errors={InvalidCursor: _MALFORMED_CURSOR},
        internal="Error listing storage objects.",
        hook="ListStorageObjects",
        path_values=path_values,
    )


ROUTES = [
    Route(
        b"PUT",
        (b"storage",),
        write_objects,
        auth="bearer",
        errors={WriteRejected: _rejected},
        internal="Error writing storage objects.",
        hook="WriteStorageObjects",
    ),
    Route(
        b"POST",
        (b"storage",),
        read_objects,
        auth="bearer",
        internal="Error reading storage objects.",
        hook="ReadStorageObjects",
    ),
    Route(
        b"PUT",
        (b"storage", b"delete"),
        delete_objects,
        auth="bearer",
        errors={DeleteRejected: _rejected},
        internal="Error deleting storage objects.",
        hook="DeleteStorageObjects",
    ),
    _listing((b"storage", b"{collection}")),
    # grpc-gateway matches GET /v2/storage/delete to the listing of a collection named
    # "delete" (only PUT is the batch delete).
    _listing((b"storage", b"delete"), collection="delete"),
    _listing((b"storage", b"{collection}", b"{user_id}")),
]
