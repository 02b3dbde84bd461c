"""The cursor of a storage object listing, in Nakama's own format.

Nakama's cursor is Go's ``encoding/gob`` stream of its ``storageCursor`` struct
(``Key string``, ``UserID uuid.UUID``, ``Read int32``), in unpadded base64url. The
same format here means a cursor passes between this server and Nakama, and a cursor
is refused ("Malformed cursor was used.") exactly when Go's decoder refuses it.

:func:`encode_cursor` writes the bytes a Nakama process writes (type ids 64 and 65, a
fresh encoder's). :func:`decode_cursor` reads any gob stream Go would decode into
that struct: type ids are assigned per Go process, fields are matched by name, unknown
fields are skipped (interface values excepted, which no cursor holds), zero fields
are left out. What Go would accept but no database can take (a key with a NUL or
that is not UTF-8) is refused too.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .interface import SYSTEM_USER_ID
from .social import InvalidCursor


@dataclass(frozen=True, slots=True)
class ListPosition:
    """The last object of a page, which the next page starts after."""

    key: str = ""
    user_id: str = SYSTEM_USER_ID
    read: int = 0


# Gob's building blocks ---------------------------------------------------------------------

#: Ids of gob's predefined types that a cursor uses.
_INT, _STRING = 2, 6
#: The first id of a type the stream defines (lower ones are gob's own).
_FIRST_USER_ID = 64
#: What a fresh Go encoder numbers ``storageCursor`` and ``uuid.UUID``.
_CURSOR_ID, _UUID_ID = 64, 65
_INT32 = range(-(2**31), 2**31)


def _uint(value: int) -> bytes:
    """Gob's unsigned integer: one byte under 128, else its byte count negated and
    its big-endian bytes."""
    if value < 0x80:
        return bytes((value,))
    digits = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return bytes((256 - len(digits),)) + digits


def _int(value: int) -> bytes:
    return _uint(~value << 1 | 1 if value < 0 else value << 1)


def _text(value: bytes) -> bytes:
    return _uint(len(value)) + value


def _struct(*fields: bytes | None) -> bytes:
    """A struct's fields (None: a zero value, left out) as field-number deltas, ended by 0."""
    out, last = b"", -1
    for number, encoded in enumerate(fields):
        if encoded is not None:
            out += _uint(number - last) + encoded
            last = number
    return out + b"\x00"


def _message(payload: bytes) -> bytes:
    return _uint(len(payload)) + payload


def _common(name: bytes, type_id: int) -> bytes:
    return _struct(_text(name), _int(type_id))


# The two type definitions a Go encoder sends before its first cursor: ``storageCursor``
# (wireType.StructT, field 2) and ``uuid.UUID`` (wireType.BinaryMarshalerT, field 5).
_CURSOR_FIELDS = ((b"Key", _STRING), (b"UserID", _UUID_ID), (b"Read", _INT))
_DEFINITIONS = _message(
    _int(-_CURSOR_ID)
    + _struct(
        None,
        None,
        _struct(
            _common(b"storageCursor", _CURSOR_ID),
            _uint(len(_CURSOR_FIELDS)) + b"".join(_common(n, i) for n, i in _CURSOR_FIELDS),
        ),
    )
) + _message(
    _int(-_UUID_ID) + _struct(None, None, None, None, None, _struct(_common(b"UUID", _UUID_ID)))
)


def encode_cursor(position: ListPosition) -> str:
    """The cursor Nakama would write for ``position``."""
    owner = uuid.UUID(position.user_id).bytes
    value = _struct(
        _text(position.key.encode("utf-8")) if position.key else None,
        _text(owner) if any(owner) else None,
        _int(position.read) if position.read else None,
    )
    stream = _DEFINITIONS + _message(_int(_CURSOR_ID) + value)
    return base64.urlsafe_b64encode(stream).decode("ascii").rstrip("=")


# Reading -----------------------------------------------------------------------------------


class _Bad(Exception):
    """The stream is not one Go would decode into a cursor."""


class _Reader:
    """Gob's integers, byte strings and structs from one message."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._at = 0

    @property
    def left(self) -> int:
        return len(self._data) - self._at

    def take(self, count: int) -> bytes:
        if count > self.left:
            raise _Bad("data shorter than its length")
        self._at += count
        return self._data[self._at - count : self._at]

    def unsigned(self) -> int:
        (first,) = self.take(1)
        if first < 0x80:
            return first
        size = 256 - first
        if size > 8:
            raise _Bad("unsigned integer out of range")
        return int.from_bytes(self.take(size), "big")

    def signed(self) -> int:
        value = self.unsigned()
        return ~(value >> 1) if value & 1 else value >> 1

    def chunk(self) -> bytes:
        return self.take(self.unsigned())

    def fields(self, count: int, read: Callable[[int], object]) -> None:
        """A struct of ``count`` fields, each handed to ``read`` by number; it ends at a
        zero delta or with the message."""
        number = -1
        while self.left:
            delta = self.unsigned()
            if delta == 0:
                return
            if number + delta >= count:
                raise _Bad("field numbers out of bounds")
            number += delta
            read(number)


@dataclass
class _Type:
    """A type the stream defined: its kind (wireType's member set) and what it refers to."""

    kind: str
    fields: list[tuple[str, int]] = field(default_factory=list)
    element: int = 0
    key: int = 0
    length: int = 0


#: wireType's members, in field order, and ``_Type.kind`` of each.
_KINDS = ("array", "slice", "struct", "map", "gob", "binary", "text")


def _read_type(reader: _Reader) -> _Type:
    """One wireType (a type definition message's body)."""
    found: list[_Type] = []

    def member(number: int) -> None:
        kind = _KINDS[number]
        defined = _Type(kind)
        parts = {"array": 3, "slice": 2, "struct": 2, "map": 3}.get(kind, 1)

        def part(index: int) -> None:
            if index == 0:
                reader.fields(2, lambda n: reader.chunk() if n == 0 else reader.signed())
            elif kind == "struct":
                defined.fields = []
                _repeat(
                    reader, reader.unsigned(), lambda: defined.fields.append(_read_field(reader))
                )
            elif kind == "map" and index == 1:
                defined.key = reader.signed()
            elif kind == "array" and index == 2:
                defined.length = reader.signed()
            else:
                defined.element = reader.signed()

        reader.fields(parts, part)
        found.append(defined)

    reader.fields(len(_KINDS), member)
    if not found:
        raise _Bad("empty type definition")
    return found[0]


def _read_field(reader: _Reader) -> tuple[str, int]:
    name, type_id = b"", 0

    def part(number: int) -> None:
        nonlocal name, type_id
        if number == 0:
            name = reader.chunk()
        else:
            type_id = reader.signed()

    reader.fields(2, part)
    return name.decode("utf-8", "replace"), type_id


class _Stream:
    """One gob stream: its type definitions, then one value, read as Go reads them."""

    def __init__(self, data: bytes) -> None:
        self._messages = _Reader(data)
        self._types: dict[int, _Type] = {}

    def value(self) -> ListPosition:
        while True:
            message = _Reader(self._messages.take(self._messages.unsigned()))
            type_id = message.signed()
            if type_id >= 0:
                return self._cursor(type_id, message)
            if -type_id < _FIRST_USER_ID or -type_id in self._types:
                raise _Bad("duplicate type received")
            self._types[-type_id] = _read_type(message)
            if message.left:
                raise _Bad("extra data in buffer")

    def _cursor(self, type_id: int, reader: _Reader) -> ListPosition:
        wire = self._types.get(type_id)
        if wire is None or wire.kind != "struct":
            raise _Bad("not a struct")
        readers: list[Callable[[_Reader], Any]] = []
        matched = 0
        for name, field_type in wire.fields:
            if not name:
                raise _Bad("empty field name")
            expected = {"Key": _STRING, "Read": _INT}.get(name)
            if name == "UserID":
                uuid_type = self._types.get(field_type)
                if uuid_type is None or uuid_type.kind != "binary":
                    raise _Bad("wrong type for UserID")
            elif expected is not None and field_type != expected:
                raise _Bad(f"wrong type for {name}")
            if name in ("Key", "UserID", "Read"):
                matched += 1
                readers.append(_Reader.chunk if name != "Read" else _Reader.signed)
            else:
                readers.append(self._skipper(field_type, 0))
        if wire.fields and not matched:
            raise _Bad("no fields matched")
        values: dict[str, Any] = {}

        def read(number: int) -> None:
            values[wire.fields[number][0]] = readers[number](reader)

        reader.fields(len(wire.fields), read)
        return _position(values)

    def _skipper(self, type_id: int, depth: int) -> Callable[[_Reader], Any]:
        """How to read past a value of a field the cursor does not have."""
        if depth > 100:
            raise _Bad("nesting too deep")
        if type_id in (1, 2, 3, 4):  # bool, int, uint, float: one unsigned integer each
            return _Reader.unsigned
        if type_id in (5, 6):  # []byte, string
            return _Reader.chunk
        if type_id == 7:  # complex: two floats
            return lambda r: (r.unsigned(), r.unsigned())
        wire = self._types.get(type_id)
        if wire is None:
            raise _Bad("undefined type")  # or an interface, which no cursor holds
        if wire.kind in ("gob", "binary", "text"):
            return _Reader.chunk
        if wire.kind == "struct":
            skips = [self._skipper(t, depth + 1) for _, t in wire.fields]
            return lambda r: r.fields(len(skips), lambda n: skips[n](r))
        element = self._skipper(wire.element, depth + 1)
        if wire.kind == "map":
            key = self._skipper(wire.key, depth + 1)
            return lambda r: _repeat(r, r.unsigned(), lambda: (key(r), element(r)))
        if wire.kind == "array":
            return lambda r: _repeat(r, _length(r, wire.length), lambda: element(r))
        return lambda r: _repeat(r, r.unsigned(), lambda: element(r))


def _length(reader: _Reader, expected: int) -> int:
    count = reader.unsigned()
    if count != expected:
        raise _Bad("length mismatch in array")
    return count


def _repeat(reader: _Reader, count: int, read: Callable[[], Any]) -> None:
    for _ in range(count):
        if not reader.left:
            raise _Bad("length exceeds input size")
        read()


def _position(values: dict[str, Any]) -> ListPosition:
    try:
        key = values.get("Key", b"").decode("utf-8")
    except UnicodeDecodeError:
        raise _Bad("key is not UTF-8") from None
    owner = values.get("UserID", bytes(16))
    read = values.get("Read", 0)
    if "\x00" in key or len(owner) != 16 or read not in _INT32:
        raise _Bad("value out of range")
    return ListPosition(key, str(uuid.UUID(bytes=owner)), read)


_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")


def decode_cursor(cursor: str) -> ListPosition:
    """The position a cursor holds, or :class:`~.social.InvalidCursor`."""
    # Go's base64 skips line breaks; the unpadded alphabet has no "=".
    text = cursor.replace("\r", "").replace("\n", "")
    if not _BASE64URL.fullmatch(text):
        raise InvalidCursor(cursor)
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        return _Stream(data).value()
    except (binascii.Error, _Bad, ValueError):
        raise InvalidCursor(cursor) from None
