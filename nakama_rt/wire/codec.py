"""Envelope <-> WebSocket payload bytes, byte-compatible with Nakama.

Nakama writes JSON frames with Go's ``protojson`` (``UseProtoNames``,
``UseEnumNumbers``, no ``EmitUnpopulated``), reads them with ``DiscardUnknown``
off, and uses plain protobuf on ``format=protobuf`` sockets. Clients parse those
frames by hand (nakama-js reads ``op_code`` as a string, ``data`` as base64), so
the JSON must follow Go's rules, not merely be valid proto3 JSON.

``google.protobuf.json_format`` is not used because it differs from Go where it
matters here: it writes ``1.0`` where Go writes ``1`` (matchmaker properties),
leaves map keys unsorted (Go sorts them), silently skips invalid base64, and
accepts spellings Go rejects (``"inf"``, ``"1_000"``, camel and proto names of
one field together). The small schema-driven walker below applies Go's rules
and is faster too.

Known differences from Go's protojson, all on edge cases no client produces:

* Go may add one space after each comma (it picks that per binary build, to
  stop people comparing bytes); we always write compact JSON.
* Repeated JSON object keys (and map keys) keep the last value; Go rejects them.
* A number written in fraction/exponent form (``1.0e18``) for a 64-bit integer
  field goes through a double, so it may round where Go's parse is exact.
* A Timestamp with ``nanos`` of exactly 1e9 (invalid) is refused; Go lets it by.
* Only the well-known types the schema uses (Timestamp, wrappers) are special.
"""

from __future__ import annotations

import binascii
import datetime
import enum
import functools
import math
import re
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeAlias, cast

import orjson
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor
from google.protobuf.message import DecodeError, Message

from nakama_rt.wire.close_reasons import REASON_MALFORMED_PAYLOAD, REASON_WRONG_FRAME_TYPE
from nakama_rt.wire.proto.realtime_pb2 import Envelope

if TYPE_CHECKING:
    from google.protobuf import wrappers_pb2
    from google.protobuf.timestamp_pb2 import Timestamp

    #: The well-known wrapper messages (:data:`_WRAPPERS`): one ``value`` field each.
    _Wrapper: TypeAlias = (
        wrappers_pb2.DoubleValue
        | wrappers_pb2.FloatValue
        | wrappers_pb2.Int64Value
        | wrappers_pb2.UInt64Value
        | wrappers_pb2.Int32Value
        | wrappers_pb2.UInt32Value
        | wrappers_pb2.BoolValue
        | wrappers_pb2.StringValue
        | wrappers_pb2.BytesValue
    )


class Format(enum.Enum):
    """The socket's ``format`` query parameter: JSON text or protobuf binary frames."""

    JSON = "json"
    PROTOBUF = "protobuf"

    @classmethod
    def from_query(cls, value: str) -> Format:
        """Parse ``?format=``; Nakama treats a missing value as JSON."""
        if value in ("", "json"):
            return cls.JSON
        if value == "protobuf":
            return cls.PROTOBUF
        raise ValueError(f"unknown socket format {value!r}")


class CodecError(Exception):
    """An incoming frame cannot be turned into an Envelope; the socket must close.

    ``reason`` is the close reason Nakama sends for this case.
    """

    reason = REASON_MALFORMED_PAYLOAD


class WrongFrameType(CodecError):
    """A binary frame on a JSON socket, or a text frame on a protobuf socket."""

    reason = REASON_WRONG_FRAME_TYPE


class MalformedPayload(CodecError):
    """The payload is not a valid Envelope in the socket's format."""

    reason = REASON_MALFORMED_PAYLOAD


def decode(fmt: Format, payload: bytes, is_binary: bool) -> Envelope:
    """Parse one incoming frame, or raise a :class:`CodecError` subclass."""
    if is_binary != (fmt is Format.PROTOBUF):
        raise WrongFrameType(REASON_WRONG_FRAME_TYPE)
    envelope = Envelope()
    try:
        if fmt is Format.PROTOBUF:
            envelope.ParseFromString(payload)
        else:
            _read_object(envelope, orjson.loads(payload))
    except (DecodeError, ValueError, TypeError, OverflowError) as exc:
        raise MalformedPayload(f"{REASON_MALFORMED_PAYLOAD}: {exc}") from None
    return envelope


def encode(fmt: Format, envelope: Message) -> bytes:
    """Serialise for the wire; raises ValueError for values protojson refuses too.

    Any message works, which lets the HTTP API share the JSON rules.
    """
    if fmt is Format.PROTOBUF:
        return envelope.SerializeToString(deterministic=True)  # map entries sorted: stable bytes
    return orjson.dumps(_write_message(envelope))


def websocket_frame(payload: bytes, binary: bool) -> bytes:
    """The complete server-to-client WebSocket frame carrying ``payload``.

    A server frame is a final-fragment opcode byte, the length and the payload
    (RFC 6455 5.2; servers never mask), so it is built here directly rather than
    through Autobahn, whose ``PreparedMessage`` also prepares a masked client frame.
    """
    size = len(payload)
    head = b"\x82" if binary else b"\x81"
    if size < 126:
        return head + bytes((size,)) + payload
    if size < 65536:
        return head + b"\x7e" + size.to_bytes(2, "big") + payload
    return head + b"\x7f" + size.to_bytes(8, "big") + payload


class OutgoingEnvelope:
    """One server-to-client envelope, encoded and framed at most once per format.

    A broadcast wraps its envelope once and hands the same object to every
    recipient, so encoding and framing costs do not grow with the audience: every
    socket of a format is written the same bytes. The envelope must not change
    after the first :meth:`payload` or :meth:`frame` call.
    """

    __slots__ = ("envelope", "_json", "_protobuf", "_json_frame", "_protobuf_frame")

    def __init__(self, envelope: Envelope) -> None:
        self.envelope = envelope
        self._json: bytes | None = None
        self._protobuf: bytes | None = None
        self._json_frame: bytes | None = None
        self._protobuf_frame: bytes | None = None

    def payload(self, fmt: Format) -> bytes:
        if fmt is Format.JSON:
            if self._json is None:
                self._json = encode(fmt, self.envelope)
            return self._json
        if self._protobuf is None:
            self._protobuf = encode(fmt, self.envelope)
        return self._protobuf

    def message_type(self) -> str | None:
        """The Envelope's message field name (``pong``, ``channel_message``...)."""
        return self.envelope.WhichOneof("message")

    def encoded(self, fmt: Format) -> bytes | None:
        """The payload in ``fmt`` if it was written already, else None (no encoding)."""
        return self._json if fmt is Format.JSON else self._protobuf

    def frame(self, fmt: Format) -> bytes:
        """The whole WebSocket frame for a socket of format ``fmt``."""
        # Two slots and identity tests: hashing an Enum member runs Python code,
        # and this is called once per recipient.
        if fmt is Format.JSON:
            frame = self._json_frame
            if frame is None:
                frame = self._json_frame = websocket_frame(self.payload(fmt), False)
            return frame
        frame = self._protobuf_frame
        if frame is None:
            frame = self._protobuf_frame = websocket_frame(self.payload(fmt), True)
        return frame


class LazyEnvelope(OutgoingEnvelope):
    """An outgoing envelope whose bytes a subclass writes directly (overriding
    :meth:`payload` for the formats it can), its message built by :meth:`build` only
    when something reads :attr:`envelope`: a socket of the other format, an after
    hook. For the busiest broadcasts, where building the message and walking it
    costs more than writing the bytes."""

    __slots__ = ("_built",)

    #: The Envelope's message field name, known without building the message.
    MESSAGE_TYPE = ""

    def __init__(self) -> None:
        # Not OutgoingEnvelope.__init__, which needs the message now.
        self._built: Envelope | None = None
        self._json = self._protobuf = None
        self._json_frame = self._protobuf_frame = None

    def build(self) -> Envelope:
        raise NotImplementedError

    @property
    def envelope(self) -> Envelope:  # type: ignore[override]
        if self._built is None:
            self._built = self.build()
        return self._built

    def message_type(self) -> str:
        return self.MESSAGE_TYPE


# ------------------------------------------------------------------ shared

_F = FieldDescriptor
_TIMESTAMP = "google.protobuf.Timestamp"
_WRAPPERS = frozenset(
    f"google.protobuf.{name}Value"
    for name in ("Double", "Float", "Int64", "UInt64", "Int32", "UInt32", "Bool", "String", "Bytes")
)
_INT_RANGES = {
    _F.TYPE_INT32: (-(2**31), 2**31 - 1),
    _F.TYPE_SINT32: (-(2**31), 2**31 - 1),
    _F.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    _F.TYPE_UINT32: (0, 2**32 - 1),
    _F.TYPE_FIXED32: (0, 2**32 - 1),
    _F.TYPE_INT64: (-(2**63), 2**63 - 1),
    _F.TYPE_SINT64: (-(2**63), 2**63 - 1),
    _F.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    _F.TYPE_UINT64: (0, 2**64 - 1),
    _F.TYPE_FIXED64: (0, 2**64 - 1),
}
_INT64_TYPES = frozenset(t for t, (_, hi) in _INT_RANGES.items() if hi > 2**32)
# Timestamp limits: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
_MIN_SECONDS, _MAX_SECONDS = -62_135_596_800, 253_402_300_799
_EPOCH = datetime.datetime(1970, 1, 1)


def _is_map(fd: FieldDescriptor) -> bool:
    # Only worked out once per field (_read_plan, _field_writer); a message field always
    # has its message type.
    return (
        fd.is_repeated
        and fd.type == _F.TYPE_MESSAGE
        and cast(Descriptor, fd.message_type).GetOptions().map_entry
    )


class _Invalid(ValueError):
    pass


# --------------------------------------------------------------- decoding

# JSON's number grammar, which Go also applies to numbers quoted in strings.
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(?:\.([0-9]+))?(?:Z|([+-])([0-9]{2}):([0-9]{2}))"
)
_BASE64_PADDED = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
_BASE64_RAW = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2,3})?")
# Mapping "+/" to "!" makes a mix of both alphabets fail the patterns above.
_URL_TO_STD = str.maketrans({"-": "+", "_": "/", "+": "!", "/": "!"})
_SPECIAL_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _to_int(value: Any, lo: int, hi: int) -> int:
    kind = type(value)
    if kind is int:
        number = value
    elif kind is str and value.isdigit() and value.isascii() and (value[0] != "0" or value == "0"):
        number = int(value)  # the common quoted form ("1"); the rules below say the same
    elif kind is float and value.is_integer():
        number = int(value)
    elif kind is str and _NUMBER.fullmatch(value):
        exact = Decimal(value)
        if exact.adjusted() > 20 or exact != exact.to_integral_value():
            raise _Invalid(f"not an integer: {value!r}")
        number = int(exact)
    else:
        raise _Invalid(f"not an integer: {value!r}")
    if not lo <= number <= hi:
        raise _Invalid(f"integer out of range: {value!r}")
    return number


def _to_float(value: Any) -> float:
    kind = type(value)
    if kind is float:
        return value  # orjson never yields inf or nan
    if kind is int:
        return float(value)  # OverflowError past the double range, as Go errs
    if kind is str:
        if value in _SPECIAL_FLOATS:
            return _SPECIAL_FLOATS[value]
        if _NUMBER.fullmatch(value) and not math.isinf(number := float(value)):
            return number
    raise _Invalid(f"not a number: {value!r}")


def _to_bool(value: Any) -> bool:
    if type(value) is not bool:
        raise _Invalid(f"not a boolean: {value!r}")
    return value


def _to_str(value: Any) -> str:
    if type(value) is not str:
        raise _Invalid(f"not a string: {value!r}")
    return value


def _to_bytes(value: Any) -> bytes:
    """Go's rules: URL alphabet if ``-`` or ``_`` appear, padding only if len % 4 == 0."""
    text = _to_str(value)
    padded = len(text) % 4 == 0
    text = text.replace("\r", "").replace("\n", "")  # Go's decoder skips these
    if "-" in text or "_" in text:
        text = text.translate(_URL_TO_STD)
    if not (_BASE64_PADDED if padded else _BASE64_RAW).fullmatch(text):
        raise _Invalid("invalid base64")
    return binascii.a2b_base64(text + "=" * (-len(text) % 4))


def _to_enum(enum_type: EnumDescriptor, value: Any) -> int:
    if type(value) is str and value in enum_type.values_by_name:
        return enum_type.values_by_name[value].number
    return _to_int(value, -(2**31), 2**31 - 1)


@functools.cache
def _scalar_reader(fd: FieldDescriptor) -> Callable[[Any], Any]:
    if fd.type in _INT_RANGES:
        return functools.partial(_to_int, lo=_INT_RANGES[fd.type][0], hi=_INT_RANGES[fd.type][1])
    if fd.type in (_F.TYPE_DOUBLE, _F.TYPE_FLOAT):
        return _to_float
    if fd.type == _F.TYPE_ENUM:
        # An enum field always has its enum type; bound once, here.
        return functools.partial(_to_enum, cast(EnumDescriptor, fd.enum_type))
    return {_F.TYPE_BOOL: _to_bool, _F.TYPE_STRING: _to_str, _F.TYPE_BYTES: _to_bytes}[fd.type]


def _to_bool_key(key: str) -> bool:
    if key not in ("true", "false"):
        raise _Invalid(f"not a boolean map key: {key!r}")
    return key == "true"


def _map_key_reader(fd: FieldDescriptor) -> Callable[[str], Any]:
    if fd.type == _F.TYPE_STRING:
        return _to_str
    if fd.type == _F.TYPE_BOOL:
        return _to_bool_key
    return _scalar_reader(fd)  # integer keys arrive as strings, which _to_int accepts


@functools.cache
def _fields_by_name(desc: Descriptor) -> dict[str, FieldDescriptor]:
    """Both spellings Go accepts: the proto name and the lowerCamel JSON name."""
    table = {fd.json_name: fd for fd in desc.fields}
    table.update((fd.name, fd) for fd in desc.fields)
    return table


def _read_message(msg: Message, value: Any) -> None:
    """Fill ``msg`` (already marked present) from a JSON value."""
    name = msg.DESCRIPTOR.full_name
    # The descriptor's name says which well-known message ``msg`` is, which the type
    # checker cannot follow (a Message has no fields to it).
    if name == _TIMESTAMP:
        timestamp: Timestamp = msg  # type: ignore[assignment]
        timestamp.seconds, timestamp.nanos = _parse_timestamp(_to_str(value))
    elif name in _WRAPPERS:
        wrapper: _Wrapper = msg  # type: ignore[assignment]
        wrapper.value = _scalar_reader(msg.DESCRIPTOR.fields_by_name["value"])(value)
    else:
        _read_object(msg, value)


_MAP, _LIST, _MESSAGE, _SCALAR = range(4)

#: How to read one JSON key of a message: field number, attribute name, oneof name
#: (or None), kind, scalar reader (or None), and the field itself.
_Step = tuple[int, str, "str | None", int, "Callable[[Any], Any] | None", FieldDescriptor]


@functools.cache
def _read_plan(desc: Descriptor) -> dict[str, _Step]:
    """Everything :func:`_read_object` needs per JSON key, worked out once per type."""
    plan: dict[str, _Step] = {}
    for key, fd in _fields_by_name(desc).items():
        oneof = fd.containing_oneof.name if fd.containing_oneof is not None else None
        reader = None
        if _is_map(fd):
            kind = _MAP
        elif fd.is_repeated:
            kind = _LIST
        elif fd.type == _F.TYPE_MESSAGE:
            kind = _MESSAGE
        else:
            kind, reader = _SCALAR, _scalar_reader(fd)
        plan[key] = (fd.number, fd.name, oneof, kind, reader, fd)
    return plan


def _read_object(msg: Message, obj: Any) -> None:
    if type(obj) is not dict:
        raise _Invalid(f"{msg.DESCRIPTOR.full_name}: expected a JSON object")
    plan = _read_plan(msg.DESCRIPTOR)
    seen: set[int] = set()
    oneofs: set[str] = set()
    for key, value in obj.items():
        step = plan.get(key)
        if step is None:
            raise _Invalid(f"{msg.DESCRIPTOR.full_name}: unknown field {key!r}")
        number, name, oneof, kind, reader, fd = step
        if number in seen:
            raise _Invalid(f"{msg.DESCRIPTOR.full_name}: duplicate field {key!r}")
        seen.add(number)
        if value is None:  # null means "not set", as in Go
            continue
        if oneof is not None:
            if oneof in oneofs:
                raise _Invalid(f"oneof {oneof!r} set twice")
            oneofs.add(oneof)
        if kind == _SCALAR:
            setattr(msg, name, reader(value))  # type: ignore[misc]
        elif kind == _MESSAGE:
            sub = getattr(msg, name)
            sub.SetInParent()  # present even when empty: {"pong":{}}
            _read_message(sub, value)
        elif kind == _MAP:
            _read_map(getattr(msg, name), fd, value)
        else:
            _read_list(getattr(msg, name), fd, value)


def _read_list(container: Any, fd: FieldDescriptor, value: Any) -> None:
    if type(value) is not list:
        raise _Invalid(f"{fd.full_name}: expected a JSON array")
    if fd.type == _F.TYPE_MESSAGE:
        for item in value:
            _read_message(container.add(), item)
    else:
        read = _scalar_reader(fd)
        container.extend([read(item) for item in value])


def _read_map(container: Any, fd: FieldDescriptor, value: Any) -> None:
    if type(value) is not dict:
        raise _Invalid(f"{fd.full_name}: expected a JSON object")
    # A map field's message type is its entry message (key, value), never None.
    key_fd, value_fd = fd.message_type.fields  # type: ignore[union-attr]
    read_key = _map_key_reader(key_fd)
    if value_fd.type == _F.TYPE_MESSAGE:
        for key, item in value.items():
            _read_message(container[read_key(key)], item)
    else:
        read = _scalar_reader(value_fd)
        for key, item in value.items():
            container[read_key(key)] = read(item)


def _parse_timestamp(text: str) -> tuple[int, int]:
    """RFC 3339 as Go's ``time.Parse`` takes it: upper-case T and Z, any offset."""
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise _Invalid(f"bad timestamp {text!r}")
    year, month, day, hour, minute, second = (int(g) for g in match.group(1, 2, 3, 4, 5, 6))
    fraction, sign, off_hours, off_minutes = match.group(7, 8, 9, 10)
    if fraction is not None and len(fraction) > 9:
        raise _Invalid(f"bad timestamp {text!r}")
    offset = 0
    if sign is not None:
        if int(off_hours) > 23 or int(off_minutes) > 59:
            raise _Invalid(f"bad timestamp {text!r}")
        offset = (int(off_hours) * 60 + int(off_minutes)) * 60 * (-1 if sign == "-" else 1)
    # datetime() validates month, day, hour, minute and second (no leap second, as Go).
    moment = datetime.datetime(year, month, day, hour, minute, second)
    seconds = (moment - _EPOCH) // datetime.timedelta(seconds=1) - offset
    if not _MIN_SECONDS <= seconds <= _MAX_SECONDS:
        raise _Invalid(f"timestamp out of range {text!r}")
    return seconds, int((fraction or "0").ljust(9, "0"))


# --------------------------------------------------------------- encoding


def _format_double(value: float) -> Any:
    """Go's protojson float text: shortest digits, exponent only below 1e-6 or from 1e21."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    text = repr(value)  # shortest round-trip digits, like Go's strconv
    magnitude = abs(value)
    if magnitude != 0 and (magnitude < 1e-6 or magnitude >= 1e21):
        text = text.replace("e-0", "e-")  # Go trims one zero: 1e-07 -> 1e-7
    else:
        if "e" in text:
            text = format(Decimal(text), "f")
        text = text.removesuffix(".0")
    return orjson.Fragment(text)


def _format_timestamp(ts: Timestamp) -> str:
    """RFC 3339 in UTC with 0, 3, 6 or 9 fractional digits, as Go writes it."""
    seconds, nanos = ts.seconds, ts.nanos
    if not _MIN_SECONDS <= seconds <= _MAX_SECONDS or not 0 <= nanos < 1_000_000_000:
        raise ValueError(f"timestamp out of range: {seconds}s {nanos}ns")
    text = (_EPOCH + datetime.timedelta(seconds=seconds)).isoformat()
    if nanos == 0:
        return text + "Z"
    if nanos % 1_000_000 == 0:
        return f"{text}.{nanos // 1_000_000:03d}Z"
    if nanos % 1_000 == 0:
        return f"{text}.{nanos // 1_000:06d}Z"
    return f"{text}.{nanos:09d}Z"


def _format_bytes(value: bytes) -> str:
    return binascii.b2a_base64(value, newline=False).decode("ascii")


def _write_wrapper(msg: _Wrapper) -> Any:
    write = _scalar_writer(msg.DESCRIPTOR.fields_by_name["value"])
    return msg.value if write is None else write(msg.value)


def _write_any_message(msg: Message) -> Any:
    name = msg.DESCRIPTOR.full_name
    # The descriptor's name says which well-known message ``msg`` is (see _read_message).
    if name == _TIMESTAMP:
        return _format_timestamp(msg)  # type: ignore[arg-type]
    if name in _WRAPPERS:
        return _write_wrapper(msg)  # type: ignore[arg-type]
    return _write_message(msg)


@functools.cache
def _scalar_writer(fd: FieldDescriptor) -> Callable[[Any], Any] | None:
    """How a single value of ``fd`` becomes JSON; None when it is already right."""
    if fd.type == _F.TYPE_MESSAGE:
        return _write_any_message
    if fd.type in _INT64_TYPES:
        return str  # 64-bit integers are quoted
    if fd.type in (_F.TYPE_DOUBLE, _F.TYPE_FLOAT):
        return _format_double  # float32 is not in the schema; it would print as double
    if fd.type == _F.TYPE_BYTES:
        return _format_bytes
    return None  # int32, uint32, bool, string, enum (as its number)


_MAP_KEY_TEXT = {True: "true", False: "false"}


@functools.cache
def _field_writer(fd: FieldDescriptor) -> Callable[[Any], Any] | None:
    if _is_map(fd):
        key_fd, value_fd = cast(Descriptor, fd.message_type).fields  # a map's entry message
        write = _scalar_writer(value_fd)
        key_text = str if key_fd.type != _F.TYPE_BOOL else _MAP_KEY_TEXT.__getitem__

        def write_map(mapping: Any) -> dict[str, Any]:
            # Go orders map keys; Python keys sort the same way (code points, numbers).
            if write is None:
                return {key_text(k): mapping[k] for k in sorted(mapping)}
            return {key_text(k): write(mapping[k]) for k in sorted(mapping)}

        return write_map
    write = _scalar_writer(fd)
    if fd.is_repeated:
        if write is None:
            return list
        return lambda items: [write(item) for item in items]
    return write


def _write_message(msg: Message) -> dict[str, Any]:
    # ListFields yields populated fields by number; the schema declares fields in
    # number order, which is the order Go writes them in.
    out: dict[str, Any] = {}
    for fd, value in msg.ListFields():
        write = _field_writer(fd)
        out[fd.name] = value if write is None else write(value)
    return out
