"""What the friend and group endpoints need beyond :mod:`.http`.

* Query parameters the way grpc-gateway reads them: repeated ones
  (``?ids=a&ids=b``) and ``google.protobuf.Int32Value`` ones.
* Message bodies with boolean and integer fields (``CreateGroupRequest``).
* The JSON of Nakama's ``Group`` message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from nakama_rt.storage.social import Group

from .account import timestamp
from .http import NO_BODY, ApiError, Call, Code, check_text, parse_integer, too_many_values

# Query parameters --------------------------------------------------------------------------


def _invalid_query(name: str) -> ApiError:
    return ApiError(Code.INVALID_ARGUMENT, f'Invalid value for query parameter "{name}".')


def query_list(call: Call, name: str, check_nul: bool = True) -> list[str]:
    """Every value of a repeated query parameter, in order (none with a NUL, unless
    ``check_nul`` is false: where Nakama's own rules answer it)."""
    try:
        values = [raw.decode("utf-8") for raw in call.args.get(name.encode(), [])]
    except UnicodeDecodeError:
        raise _invalid_query(name) from None
    if not check_nul:
        return values
    return [check_text(value, name, "query parameter") for value in values]


def query_one(call: Call, name: str, check_nul: bool = True) -> str | None:
    """A query parameter that takes one value, or None when absent (grpc-gateway refuses
    it repeated)."""
    values = query_list(call, name, check_nul)
    if not values:
        return None
    if len(values) != 1:
        raise too_many_values(name, values)
    return values[0]


def query_integer(call: Call, name: str, low: int, high: int) -> int | None:
    """An integer query parameter (a ``low`` to ``high - 1`` field, :func:`~.http.
    parse_integer`), or None when absent."""
    text = query_one(call, name)
    return None if text is None else parse_integer(name, text, low, high)


def query_int32(call: Call, name: str) -> int | None:
    """An ``Int32Value`` query parameter, or None when absent."""
    return query_integer(call, name, -(2**31), 2**31)


# Bodies ------------------------------------------------------------------------------------

BodyKind = Literal["string", "bool", "int32", "int64", "enum"]

#: The range of each integer kind (an enum's number is an int32).
_RANGES = {"int32": range(-(2**31), 2**31), "enum": range(-(2**31), 2**31)}
_RANGES["int64"] = range(-(2**63), 2**63)


def _typed(name: str, kind: BodyKind, value: Any) -> Any:
    if kind == "string" and isinstance(value, str):
        return check_text(value, name)
    if kind == "bool" and isinstance(value, bool):
        return value
    if kind == "enum" and isinstance(value, str) and value:
        return value  # protojson takes an enum value's name; the caller knows the names.
    if kind in _RANGES and not isinstance(value, bool):
        # protojson takes a JSON number with an integral value, or one as a string.
        number: Any = value
        if isinstance(value, str):
            try:
                number = int(value, 10)
            except ValueError:
                number = None
        elif isinstance(value, float) and value.is_integer():
            number = int(value)
        if isinstance(number, int) and number in _RANGES[kind]:
            return number
    noun = {
        "string": "a string",
        "bool": "a boolean",
        "int32": "a 32-bit integer",
        "int64": "a 64-bit integer",
        "enum": "an enum value",
    }[kind]
    raise ApiError(Code.INVALID_ARGUMENT, f'Invalid value for field "{name}": not {noun}.')


def decode_typed_body(
    call: Call, max_body_bytes: int | None, fields: Mapping[str, BodyKind]
) -> dict[str, Any]:
    """The known fields of a JSON message body (``{}`` when empty); ``null`` is absent,
    unknown fields are ignored, lowerCamelCase names are accepted."""
    data = call.json_body(max_body_bytes)
    if data is NO_BODY or data is None:
        return {}
    if not isinstance(data, dict):
        raise ApiError(Code.INVALID_ARGUMENT, "Invalid JSON request body: expected an object.")
    message: dict[str, Any] = {}
    for name, kind in fields.items():
        head, *rest = name.split("_")
        camel = head + "".join(part.capitalize() for part in rest)
        value = data.get(name, data.get(camel))
        if value is not None:
            message[name] = _typed(name, kind, value)
    return message


# Rendering ---------------------------------------------------------------------------------


def populated(fields: list[tuple[str, Any]], always: tuple[str, ...] = ()) -> dict[str, Any]:
    """Fields protojson would emit: set wrapper values (``always``) and non-defaults."""
    return {
        name: value
        for name, value in fields
        if name in always or value not in (None, "", 0, False, [])
    }


def group_json(group: Group) -> dict[str, Any]:
    """Nakama's ``Group`` message, fields in proto order; ``open`` is a BoolValue."""
    return populated(
        [
            ("id", group.id),
            ("creator_id", group.creator_id),
            ("name", group.name),
            ("description", group.description),
            ("lang_tag", group.lang_tag),
            ("metadata", group.metadata),
            ("avatar_url", group.avatar_url),
            ("open", group.open),
            ("edge_count", group.edge_count),
            ("max_count", group.max_count),
            ("create_time", timestamp(group.create_time)),
            ("update_time", timestamp(group.update_time)),
        ],
        always=("open",),
    )
