"""Go's ``encoding/gob``, for a stream of one flat struct: the format of Nakama's cursors.

Nakama writes a listing cursor as the gob stream a fresh ``gob.Encoder`` makes of one
struct value, and reads it back with a fresh ``gob.Decoder``. A :class:`GobStruct`
describes such a struct once, then writes it byte for byte as Go does and reads any
stream Go would decode into it, so a cursor passes between this server and Nakama and
is refused exactly when Go refuses it.

Writing, as a fresh encoder: the type definitions first, then the value, its zero fields
left out. Go numbers types once per process, in the order it first meets them; written
here is what a process writes whose first gob type the struct is: the struct as type id
64, then ``uuid.UUID`` as 65 if a field has that type. Reading, as Go's decoder: type ids
are whatever the writing process assigned, fields are matched by name and their types
checked, unknown fields are skipped, absent fields are zero, anything after the value is
ignored.

Where this differs from Go: an unknown field of an interface type is refused (Go skips
it, reading type definitions from inside the value; no cursor holds one), types nested
more than 100 deep are refused (Go allows 10,000), so is a value of a recursive type
nested deeper than Python's stack (Go's grows), and a string field must hold UTF-8 (a Go
string holds any bytes, a Python ``str`` only text).
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property, partial
from typing import Any


class GobError(ValueError):
    """The stream is not one Go would decode into the struct (or a value Go cannot hold)."""


class GobKind(enum.Enum):
    """A field's Go type. The value is gob's predefined type id, or None for a
    ``BinaryMarshaler``, which the stream defines itself."""

    BOOL = 1
    INT = 2  # int, int8 ... int64 alike; GobField.bits sets the range
    STRING = 6
    UUID = None  # gofrs/uuid's UUID: 16 bytes through MarshalBinary, type name "UUID"


_ZERO: dict[GobKind, Any] = {
    GobKind.BOOL: False,
    GobKind.INT: 0,
    GobKind.STRING: "",
    GobKind.UUID: uuid.UUID(int=0),
}


@dataclass(frozen=True, slots=True)
class GobField:
    """One exported field of a struct. ``bits`` is an integer's Go size: Go's decoder
    refuses a value that does not fit (``int32``: 32)."""

    name: str
    kind: GobKind
    bits: int = 64

    def __post_init__(self) -> None:
        if not self.name[:1].isupper() or self.bits not in (8, 16, 32, 64):
            raise ValueError(f"not an exported field gob can carry: {self}")

    def check(self, value: Any) -> Any:
        """``value`` if the field can hold it; Python's types stand in for Go's."""
        kind = self.kind
        if kind is GobKind.BOOL and isinstance(value, bool):
            return value
        if kind is GobKind.INT and isinstance(value, int) and not isinstance(value, bool):
            if -(2 ** (self.bits - 1)) <= value < 2 ** (self.bits - 1):
                return value
        if kind is GobKind.STRING and isinstance(value, str):
            return value
        if kind is GobKind.UUID and isinstance(value, uuid.UUID):
            return value
        raise GobError(f"{self.name} cannot hold {value!r}")


# Gob's building blocks ---------------------------------------------------------------------

#: The first id of a type a stream defines (lower ones are gob's own).
_FIRST_USER_ID = 64
#: Gob's predefined ``interface{}``, which a skipped field may not have (module docstring).
_INTERFACE = 8
#: Gob's own structs (``CommonType``, ``fieldType``: a name and an id) that a value may
#: claim to be without defining them, as Go allows. (Its others have fields of its own
#: struct types, which Go's decoder cannot skip.)
_BUILTIN_STRUCTS = {18: ((b"Name", 6), (b"Id", 2)), 21: ((b"Name", 6), (b"Id", 2))}
_INT32 = range(-(2**31), 2**31)
#: Type nesting a skipper follows; Go's limit is 10,000, which Python's stack is not.
_MAX_DEPTH = 100


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


def _common(name: str, type_id: int) -> bytes:
    """Gob's ``CommonType`` (and ``fieldType``, the same shape): a name and a type id."""
    return _struct(_text(name.encode()), _int(type_id))


def _encode_value(field: GobField, value: Any) -> bytes | None:
    """A field's value as Go's encoder writes it, or None for a zero value, which it omits."""
    value = field.check(value)
    if field.kind is GobKind.BOOL:
        return b"\x01" if value else None
    if field.kind is GobKind.INT:
        return _int(value) if value else None
    if field.kind is GobKind.STRING:
        try:
            return _text(value.encode("utf-8")) if value else None
        except UnicodeEncodeError:
            raise GobError(f"{field.name} is not text") from None
    return _text(value.bytes) if value.int else None


# Reading -----------------------------------------------------------------------------------


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
            raise GobError("data shorter than its length")
        self._at += count
        return self._data[self._at - count : self._at]

    def unsigned(self) -> int:
        (first,) = self.take(1)
        if first < 0x80:
            return first
        size = 256 - first
        if size > 8:
            raise GobError("unsigned integer out of range")
        return int.from_bytes(self.take(size), "big")

    def signed(self) -> int:
        value = self.unsigned()
        return ~(value >> 1) if value & 1 else value >> 1

    def type_id(self) -> int:
        """A type id inside a type definition (Go's ``typeId`` is an int32)."""
        value = self.signed()
        if value not in _INT32:
            raise GobError("type id out of range")
        return value

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
                raise GobError("field numbers out of bounds")
            number += delta
            read(number)


#: Reads (or reads past) one value in a message: a decOp.
_Op = Callable[[_Reader], object]


def _go_int(count: int) -> int:
    """A count as Go's ``int(uint64)`` sees it: past int64, negative, so no elements."""
    return count if count < 2**63 else 0


def _repeat(reader: _Reader, count: int, read: _Op) -> None:
    """Array or slice elements: each must start before the message ends."""
    for _ in range(count):
        if not reader.left:
            raise GobError("length exceeds input size")
        read(reader)


def _read_struct(reader: _Reader, parts: tuple[_Op, ...]) -> dict[int, Any]:
    """One of gob's own structs, as {field number: value} for the fields present."""
    found: dict[int, Any] = {}

    def read(number: int) -> None:
        found[number] = parts[number](reader)

    reader.fields(len(parts), read)
    return found


def _read_common(reader: _Reader) -> dict[int, Any]:
    return _read_struct(reader, (_Reader.chunk, _Reader.type_id))


def _read_fields(reader: _Reader) -> list[tuple[bytes, int]]:
    """``structType.Field``: a slice of ``fieldType``, each a name and a type id."""
    fields: list[tuple[bytes, int]] = []

    def read(element: _Reader) -> None:
        found = _read_common(element)
        fields.append((found.get(0, b""), found.get(1, 0)))

    _repeat(reader, reader.unsigned(), read)
    return fields


#: wireType's members, in field order (ArrayT, SliceT, StructT, MapT, GobEncoderT,
#: BinaryMarshalerT, TextMarshalerT), each as its struct's field readers.
_WIRE_MEMBERS: tuple[tuple[_Op, ...], ...] = (
    (_read_common, _Reader.type_id, _Reader.signed),
    (_read_common, _Reader.type_id),
    (_read_common, _read_fields),
    (_read_common, _Reader.type_id, _Reader.type_id),
    (_read_common,),
    (_read_common,),
    (_read_common,),
)
_ARRAY, _SLICE, _STRUCT, _MAP, _GOB, _BINARY, _TEXT = range(7)


@dataclass(frozen=True, slots=True)
class _Wire:
    """A type the stream defined: the wireType members it sent (Go keeps them all, and
    each use looks at the ones it cares about)."""

    members: dict[int, dict[int, Any]]

    def part(self, member: int, number: int, zero: Any = 0) -> Any:
        return self.members[member].get(number, zero)


def _struct_reader(parts: tuple[_Op, ...]) -> _Op:
    return lambda reader: _read_struct(reader, parts)


_WIRE_TYPE = tuple(_struct_reader(member) for member in _WIRE_MEMBERS)


def _read_wire(reader: _Reader) -> _Wire:
    """A type definition message's body: wireType."""
    return _Wire(_read_struct(reader, _WIRE_TYPE))


class _Decoding:
    """One stream read as Go's decoder reads it into ``target``: type definitions, then
    the value."""

    def __init__(self, target: GobStruct, data: bytes) -> None:
        self._target = target
        self._messages = _Reader(data)
        self._types: dict[int, _Wire] = {}
        self._skips: dict[int, _Op] = {}

    def value(self) -> dict[str, Any]:
        while True:
            message = _Reader(self._messages.take(self._messages.unsigned()))
            # Go reads a message's type id into an int32, dropping higher bits.
            type_id = (message.signed() + 2**31) % 2**32 - 2**31
            if type_id >= 0:
                return self._struct(type_id, message)
            if not _FIRST_USER_ID <= -type_id < 2**31 or -type_id in self._types:
                raise GobError("duplicate type received")
            self._types[-type_id] = _read_wire(message)
            if message.left:
                raise GobError("extra data in buffer")

    def _struct(self, type_id: int, reader: _Reader) -> dict[str, Any]:
        """The value: the struct's fields by name, each checked, the others skipped."""
        wire_fields: tuple[tuple[bytes, int], ...] | list[tuple[bytes, int]]
        if type_id in _BUILTIN_STRUCTS:
            wire_fields, defined = _BUILTIN_STRUCTS[type_id], False
        else:
            wire = self._types.get(type_id)
            if wire is None or _STRUCT not in wire.members:
                raise GobError("the value is not a struct")
            wire_fields, defined = wire.part(_STRUCT, 1, []), True
        local = {f.name.encode(): f for f in self._target.fields}
        readers: list[tuple[str | None, _Op]] = []
        for name, field_type in wire_fields:
            if not name:
                raise GobError("empty field name")
            field = local.get(name)
            if field is None:
                readers.append((None, self._skipper(field_type, 0)))
            elif self._compatible(field, field_type):
                readers.append((field.name, partial(_read_value, field)))
            else:
                raise GobError(f"wrong type for field {field.name}")
        # Go's check, which gob's own structs escape.
        if defined and wire_fields and local and all(n is None for n, _ in readers):
            raise GobError("no fields matched")
        values = {f.name: _ZERO[f.kind] for f in self._target.fields}

        def read(number: int) -> None:
            name, read_value = readers[number]
            value = read_value(reader)
            if name is not None:
                values[name] = value

        reader.fields(len(readers), read)
        return values

    def _compatible(self, field: GobField, type_id: int) -> bool:
        """Go's check of a local field's type against the stream's (compatibleType)."""
        if field.kind is GobKind.UUID:
            wire = self._types.get(type_id)
            return wire is not None and {_GOB, _BINARY, _TEXT} & wire.members.keys() == {_BINARY}
        return type_id == field.kind.value

    def _skipper(self, type_id: int, depth: int) -> _Op:
        """How to read past a value of a field the struct does not have (decIgnoreOpFor).
        A composite type is noted before its parts are, so a type may refer to itself."""
        if type_id in _PRIMITIVE_SKIPS:
            return _PRIMITIVE_SKIPS[type_id]
        if type_id in self._skips:
            return self._skips[type_id]
        if depth > _MAX_DEPTH:
            raise GobError("types nested too deep")
        if type_id == _INTERFACE:
            raise GobError("an interface field, not supported")  # (module docstring)
        wire = self._types.get(type_id)
        if wire is None:
            raise GobError("undefined type")
        compiled: list[_Op] = []
        self._skips[type_id] = lambda r: compiled[0](r)
        compiled.append(self._compile_skip(wire, depth + 1))
        return compiled[0]

    def _compile_skip(self, wire: _Wire, depth: int) -> _Op:
        members = wire.members
        if _ARRAY in members:
            element, length = self._skipper(wire.part(_ARRAY, 1), depth), wire.part(_ARRAY, 2)

            def skip_array(reader: _Reader) -> None:
                if reader.unsigned() != length % 2**64:
                    raise GobError("length mismatch in array")
                _repeat(reader, length, element)

            return skip_array
        if _MAP in members:
            key = self._skipper(wire.part(_MAP, 1), depth)
            value = self._skipper(wire.part(_MAP, 2), depth)

            def skip_map(reader: _Reader) -> None:
                for _ in range(_go_int(reader.unsigned())):
                    left = reader.left
                    key(reader)
                    value(reader)
                    if reader.left == left:
                        # Empty structs at the message's end, and so are the entries
                        # left: Go reads them all, to no effect.
                        return

            return skip_map
        if _SLICE in members:
            element = self._skipper(wire.part(_SLICE, 1), depth)
            return lambda r: _repeat(r, _go_int(r.unsigned()), element)
        if _STRUCT in members:
            fields: list[tuple[bytes, int]] = wire.part(_STRUCT, 1, [])
            if not all(name for name, _ in fields):
                raise GobError("empty field name")
            skips = [self._skipper(t, depth) for _, t in fields]
            return lambda r: r.fields(len(skips), lambda n: skips[n](r))
        if members.keys() & {_GOB, _BINARY, _TEXT}:
            return _Reader.chunk
        raise GobError("a type with no definition")


#: Skipping gob's predefined types: bool, int, uint and float are one unsigned integer,
#: []byte and string a length and bytes, complex two floats.
_PRIMITIVE_SKIPS: dict[int, _Op] = {
    1: _Reader.unsigned,
    2: _Reader.unsigned,
    3: _Reader.unsigned,
    4: _Reader.unsigned,
    5: _Reader.chunk,
    6: _Reader.chunk,
    7: lambda r: (r.unsigned(), r.unsigned()),
}


def _read_value(field: GobField, reader: _Reader) -> Any:
    """A matched field's value, checked as Go's decoder checks it."""
    if field.kind is GobKind.BOOL:
        return reader.unsigned() != 0
    if field.kind is GobKind.INT:
        value = reader.signed()
        if not -(2 ** (field.bits - 1)) <= value < 2 ** (field.bits - 1):
            raise GobError(f"value out of range for {field.name}")
        return value
    data = reader.chunk()
    if field.kind is GobKind.STRING:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise GobError(f"{field.name} is not UTF-8") from None
    if len(data) != 16:  # gofrs/uuid's UnmarshalBinary
        raise GobError(f"{field.name} is not 16 bytes")
    return uuid.UUID(bytes=data)


# The struct --------------------------------------------------------------------------------


@dataclass(frozen=True)
class GobStruct:
    """A Go struct of the fields gob can carry here, by its Go type name."""

    name: str
    fields: tuple[GobField, ...]

    def __post_init__(self) -> None:
        if len({f.name for f in self.fields}) != len(self.fields):
            raise ValueError(f"{self.name}: field names repeat")

    @cached_property
    def _definitions(self) -> bytes:
        """The type definitions a fresh encoder sends first: the struct (wireType's
        StructT, field 2), then uuid.UUID (BinaryMarshalerT, field 5) if a field has it."""
        struct_id, uuid_id = _FIRST_USER_ID, _FIRST_USER_ID + 1
        ids = {kind: kind.value for kind in GobKind} | {GobKind.UUID: uuid_id}
        fields = b"".join(_common(f.name, ids[f.kind]) for f in self.fields)
        struct_type = _struct(
            _common(self.name, struct_id), _uint(len(self.fields)) + fields if fields else None
        )
        out = _message(_int(-struct_id) + _struct(None, None, struct_type))
        if any(f.kind is GobKind.UUID for f in self.fields):
            uuid_type = _struct(_common("UUID", uuid_id))
            out += _message(_int(-uuid_id) + _struct(None, None, None, None, None, uuid_type))
        return out

    def encode(self, values: Mapping[str, Any]) -> bytes:
        """The stream a fresh Go encoder writes for the struct holding ``values`` (a field
        not named is zero)."""
        unknown = values.keys() - {f.name for f in self.fields}
        if unknown:
            raise GobError(f"{self.name} has no field {sorted(unknown)[0]}")
        value = _struct(*(_encode_value(f, values.get(f.name, _ZERO[f.kind])) for f in self.fields))
        return self._definitions + _message(_int(_FIRST_USER_ID) + value)

    def decode(self, data: bytes) -> dict[str, Any]:
        """Every field's value (zero where the stream has none) from a stream Go would
        decode into the struct, else :class:`GobError`."""
        try:
            return _Decoding(self, data).value()
        except RecursionError:  # a recursive type's value nested deeper than our stack
            raise GobError("values nested too deep") from None
