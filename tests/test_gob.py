"""Go's encoding/gob (nakama_rt.wire.gob) and the leaderboard record cursor built on it.

Every stream's outcome here, accepted or refused, is Go's: the vectors were written by
Go's encoder (Go 1.27, a standalone program with the structs below), and each stream built
by hand was decoded by Go's decoder too, with the result written down. Where this codec
knowingly parts from Go, the test says so.
"""

from __future__ import annotations

import base64
import uuid

import pytest

from nakama_rt.storage.leaderboard_cursor import (
    RecordPosition,
    decode_record_cursor,
    encode_record_cursor,
)
from nakama_rt.storage.social import InvalidCursor
from nakama_rt.wire.gob import GobError, GobField, GobKind, GobStruct

U = uuid.UUID("6ba7b810-9dad-11d1-80b4-00c04fd430c8")
ZERO_UUID = uuid.UUID(int=0)

# type everyKind struct { On bool; Count int; Small int8; Name string; ID, Other UUID }
# (UUID: a [16]byte with MarshalBinary and UnmarshalBinary, as gofrs/uuid's).
EVERY_KIND = GobStruct(
    "everyKind",
    (
        GobField("On", GobKind.BOOL),
        GobField("Count", GobKind.INT),
        GobField("Small", GobKind.INT, bits=8),
        GobField("Name", GobKind.STRING),
        GobField("ID", GobKind.UUID),
        GobField("Other", GobKind.UUID),
    ),
)
ZERO = {"On": False, "Count": 0, "Small": 0, "Name": "", "ID": ZERO_UUID, "Other": ZERO_UUID}


def unpadded(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# Made by Go's encoder (gob.NewEncoder(&buf).Encode(v), in unpadded base64url here).
GO_STREAMS = [
    (
        {
            "On": True,
            "Count": -300,
            "Small": -128,
            "Name": "név",
            "ID": U,
            "Other": uuid.UUID(int=1),
        },
        "TX8DAQEJZXZlcnlLaW5kAf-AAAEGAQJPbgECAAEFQ291bnQBBAABBVNtYWxsAQQAAQROYW1lAQwAAQJJRAH_ggAB"
        "BU90aGVyAf-CAAAAEP-BBgEBBFVVSUQB_4IAAAA2_4ABAQH-AlcB__8BBG7DqXYBEGunuBCdrRHRgLQAwE_UMMgB"
        "EAAAAAAAAAAAAAAAAAAAAAEA",
    ),
    (
        {},
        "TX8DAQEJZXZlcnlLaW5kAf-AAAEGAQJPbgECAAEFQ291bnQBBAABBVNtYWxsAQQAAQROYW1lAQwAAQJJRAH_ggAB"
        "BU90aGVyAf-CAAAAEP-BBgEBBFVVSUQB_4IAAAAD_4AA",
    ),
    (
        {"Small": 127, "Count": 1 << 40},
        "TX8DAQEJZXZlcnlLaW5kAf-AAAEGAQJPbgECAAEFQ291bnQBBAABBVNtYWxsAQQAAQROYW1lAQwAAQJJRAH_ggAB"
        "BU90aGVyAf-CAAAAEP-BBgEBBFVVSUQB_4IAAAAO_4AC-gIAAAAAAAH__gA",
    ),
]


@pytest.mark.parametrize("values, stream", GO_STREAMS)
def test_a_struct_is_written_and_read_as_go_does(values, stream):
    assert EVERY_KIND.encode(values) == unpadded(stream)
    assert EVERY_KIND.decode(unpadded(stream)) == ZERO | values


@pytest.mark.parametrize(
    "values",
    [
        {"Small": 128},
        {"Small": -129},
        {"Count": 2**63},
        {"Count": True},
        {"On": 1},
        {"Name": b"bytes"},
        {"Name": "\ud800"},
        {"ID": str(U)},
        {"Missing": 1},
    ],
)
def test_what_the_struct_cannot_hold_is_not_written(values):
    with pytest.raises(GobError):
        EVERY_KIND.encode(values)


def test_a_struct_must_be_one_go_can_declare():
    with pytest.raises(ValueError):
        GobField("unexported", GobKind.INT)
    with pytest.raises(ValueError):
        GobField("Odd", GobKind.INT, bits=12)
    with pytest.raises(ValueError):
        GobStruct("twice", (GobField("A", GobKind.INT), GobField("A", GobKind.BOOL)))


# Streams by hand -----------------------------------------------------------------------------


def uint(value: int) -> bytes:
    if value < 0x80:
        return bytes((value,))
    digits = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return bytes((256 - len(digits),)) + digits


def sint(value: int) -> bytes:
    return uint(~value << 1 | 1 if value < 0 else value << 1)


def text(value: bytes) -> bytes:
    return uint(len(value)) + value


def struct(*fields: bytes | None) -> bytes:
    out, last = b"", -1
    for number, field in enumerate(fields):
        if field is not None:
            out += uint(number - last) + field
            last = number
    return out + b"\x00"


def message(type_id: int, body: bytes) -> bytes:
    payload = sint(type_id) + body
    return uint(len(payload)) + payload


def common(name: str, type_id: int) -> bytes:
    return struct(text(name.encode()), sint(type_id))


def define(type_id: int, member: int, body: bytes) -> bytes:
    """A type definition: wireType with one member (0 array ... 5 BinaryMarshaler)."""
    members: list[bytes | None] = [None] * 7
    members[member] = body
    return message(-type_id, struct(*members))


def define_struct(type_id: int, name: str, fields: list[tuple[str, int]]) -> bytes:
    listed = uint(len(fields)) + b"".join(common(n, t) for n, t in fields) if fields else None
    return define(type_id, 2, struct(common(name, type_id), listed))


UUID_TYPE = define(65, 5, struct(common("UUID", 65)))
EVERY = define_struct(
    64,
    "everyKind",
    [("On", 1), ("Count", 2), ("Small", 2), ("Name", 6), ("ID", 65), ("Other", 65)],
)
NAMED = struct(None, None, None, text(b"n"))  # everyKind's Name
NAME_FIRST = struct(text(b"n"))  # a struct's first field

# Decoded by Go's decoder into everyKind, each as shown.
ACCEPTED = [
    # Type ids other than a fresh encoder's, types in another order, fields in another order.
    (
        define_struct(70, "reordered", [("Name", 6), ("ID", 71), ("On", 1)])
        + define(71, 5, struct(common("Id", 71)))
        + message(70, struct(text(b"x"), text(U.bytes), uint(1))),
        {"Name": "x", "ID": U, "On": True},
    ),
    # Fields the struct lacks, of every composite kind, skipped; one type refers to itself.
    (
        define_struct(66, "Node", [("Name", 6), ("Kids", 67)])
        + define(67, 1, struct(common("[]Node", 67), sint(66)))
        + define(68, 0, struct(common("[2]int", 68), sint(2), sint(2)))
        + define(69, 3, struct(common("map[string]int", 69), sint(6), sint(2)))
        + define(70, 5, struct(common("Time", 70)))
        + define_struct(64, "wide", [("Tree", 66), ("Arr", 68), ("Name", 6), ("M", 69), ("T", 70)])
        + message(
            64,
            struct(
                struct(text(b"r"), uint(1) + struct(text(b"c"))),
                uint(2) + sint(1) + sint(2),
                text(b"n"),
                uint(1) + text(b"k") + sint(3),
                text(b"0123"),
            ),
        ),
        {"Name": "n"},
    ),
    # A slice whose count is past int64: Go's int makes it negative, so no elements.
    (
        define(66, 1, struct(common("[]int", 66), sint(2)))
        + define_struct(64, "s", [("A", 66), ("Name", 6)])
        + message(64, struct(uint(2**63), text(b"n"))),
        {"Name": "n"},
    ),
    # A definition never used, even an empty one; anything after the value.
    (message(-90, b"\x00") + EVERY + UUID_TYPE + message(64, NAMED) + b"\xff\xff", {"Name": "n"}),
    # A UUID type that is a struct too: what counts is that it is a BinaryMarshaler.
    (
        EVERY
        + message(-65, struct(None, None, struct(common("U", 65)), None, None, struct()))
        + message(64, struct(None, None, None, None, text(U.bytes))),
        {"ID": U},
    ),
    # Gob's own CommonType (type id 18, never defined): its Name read, its Id skipped.
    (message(18, struct(text(b"x"), sint(5))), {"Name": "x"}),
    # A struct with no fields, and one with a terminator missing at the message's end.
    (define_struct(64, "empty", []) + message(64, b"\x00"), {}),
    (EVERY + UUID_TYPE + message(64, struct(uint(1))[:-1]), {"On": True}),
    # A message type id is an int32 in Go: higher bits are dropped.
    (EVERY + UUID_TYPE + message(2**32 + 64, NAMED), {"Name": "n"}),
    # Integers with more bytes than needed, and a bool other than 1.
    (EVERY + UUID_TYPE + message(64, b"\x01\xfe\x00\x05\x00"), {"On": True}),
]


@pytest.mark.parametrize("stream, values", ACCEPTED)
def test_any_stream_go_decodes_is_read(stream, values):
    assert EVERY_KIND.decode(stream) == ZERO | values


# Refused by Go's decoder, except where said.
REFUSED = [
    b"",
    EVERY + UUID_TYPE,  # no value
    EVERY + EVERY + UUID_TYPE + message(64, NAMED),  # a type defined twice
    message(-63, b"\x00") + EVERY + UUID_TYPE + message(64, NAMED),  # a predefined id
    message(-(2**31), b"\x00") + EVERY + UUID_TYPE + message(64, NAMED),  # negated, still < 64
    EVERY  # data after a definition
    + message(-65, struct(None, None, None, None, None, struct(common("UUID", 65))) + b"\x00")
    + message(64, NAMED),
    b"\x00" + EVERY + UUID_TYPE + message(64, NAMED),  # an empty message
    message(6, text(b"just a string")),  # not a struct
    message(64, NAMED),  # an undefined type
    message(-70, b"\x00") + message(70, NAMED),  # defined, but as nothing
    message(16, b"\x00"),  # gob's own wireType: its fields' types are not defined here
    define_struct(64, "other", [("X", 2)]) + message(64, struct(sint(1))),  # no field matches
    define_struct(64, "e", [("On", 2)]) + message(64, b"\x00"),  # a bool sent as an int
    define_struct(64, "e", [("Name", 5)]) + message(64, b"\x00"),  # a string sent as []byte
    define_struct(64, "e", [("ID", 5)]) + message(64, b"\x00"),  # a UUID sent as []byte
    EVERY + define(65, 6, struct(common("UUID", 65))) + message(64, NAMED),  # TextMarshaler
    EVERY + UUID_TYPE + message(64, struct(None, None, sint(128))),  # int8 overflow
    EVERY + UUID_TYPE + message(64, struct(None, None, None, None, text(bytes(15)))),
    EVERY + UUID_TYPE + message(64, b"\x02\xf7" + bytes(9) + b"\x00"),  # a 9-byte integer
    EVERY + UUID_TYPE + message(64, uint(7) + b"\x01\x00"),  # past the last field
    EVERY + UUID_TYPE + message(64, b"\x04\x03ab"),  # a string cut short
    define_struct(64, "e", [("Name", 6), ("X", 99)]) + message(64, NAME_FIRST),  # X's type?
    define_struct(64, "e", [("Name", 6), ("", 2)]) + message(64, NAME_FIRST),  # a nameless field
    define_struct(64, "e", [("Name", 6), ("X", 2**31)]) + message(64, NAME_FIRST),  # id > int32
    define(66, 0, struct(common("[2]int", 66), sint(2), sint(2)))  # an array's length wrong
    + define_struct(64, "e", [("A", 66), ("Name", 6)])
    + message(64, struct(uint(3) + sint(1) + sint(2) + sint(3), text(b"n"))),
    # Go takes these two: a string that is not UTF-8 (a Python str is text), and a field of
    # an interface type, which Go skips by reading type definitions from inside the value.
    EVERY + UUID_TYPE + message(64, struct(None, None, None, text(b"\xff"))),
    define_struct(64, "e", [("Name", 6), ("Any", 8)]) + message(64, NAME_FIRST),
]


@pytest.mark.parametrize("stream", REFUSED)
def test_what_go_would_refuse_is_refused(stream):
    with pytest.raises(GobError):
        EVERY_KIND.decode(stream)


def test_a_stream_cut_anywhere_is_refused():
    stream = unpadded(GO_STREAMS[0][1])
    for length in range(len(stream)):
        with pytest.raises(GobError):
            EVERY_KIND.decode(stream[:length])


def test_values_nested_past_the_stack_are_refused_not_crashed():
    # type S []S, as an unknown field, nested 100,000 deep (Go would read it).
    depth = 100_000
    stream = (
        define(66, 1, struct(common("S", 66), sint(66)))
        + define_struct(64, "e", [("S", 66), ("Name", 6)])
        + message(64, b"\x01" + b"\x01" * depth + b"\x00" + b"\x00")
    )
    with pytest.raises(GobError):
        EVERY_KIND.decode(stream)


# The leaderboard record cursor ---------------------------------------------------------------

# Made by Go's encoder and base64.URLEncoding, as Nakama's LeaderboardRecordsList does.
GO_RECORD_CURSORS = [
    (
        RecordPosition(True, "weekly", 1700006400, 1500, 7, str(U), 3),
        "_4B_AwEBG2xlYWRlcmJvYXJkUmVjb3JkTGlzdEN1cnNvcgH_gAABBwEGSXNOZXh0AQIAAQ1MZWFkZXJib2FyZElk"
        "AQwAAQpFeHBpcnlUaW1lAQQAAQVTY29yZQEEAAEIU3Vic2NvcmUBBAABB093bmVySWQBDAABBFJhbmsBBAAAAEH_"
        "gAEBAQZ3ZWVrbHkB_MqoFAAB_gu4AQ4BJDZiYTdiODEwLTlkYWQtMTFkMS04MGI0LTAwYzA0ZmQ0MzBjOAEGAA==",
    ),
    (
        RecordPosition(False, "", 0, 0, 0, "", 0),
        "_4B_AwEBG2xlYWRlcmJvYXJkUmVjb3JkTGlzdEN1cnNvcgH_gAABBwEGSXNOZXh0AQIAAQ1MZWFkZXJib2FyZElk"
        "AQwAAQpFeHBpcnlUaW1lAQQAAQVTY29yZQEEAAEIU3Vic2NvcmUBBAABB093bmVySWQBDAABBFJhbmsBBAAAAAP_"
        "gAA=",
    ),
    (
        RecordPosition(False, "b", 0, -42, -(2**63), "o", 2**63 - 1),
        "_4B_AwEBG2xlYWRlcmJvYXJkUmVjb3JkTGlzdEN1cnNvcgH_gAABBwEGSXNOZXh0AQIAAQ1MZWFkZXJib2FyZElk"
        "AQwAAQpFeHBpcnlUaW1lAQQAAQVTY29yZQEEAAEIU3Vic2NvcmUBBAABB093bmVySWQBDAABBFJhbmsBBAAAAB__"
        "gAIBYgJTAfj__________wEBbwH4__________4A",
    ),
    (
        RecordPosition(False, "ü€", 0, 1, 0, "", 1),
        "_4B_AwEBG2xlYWRlcmJvYXJkUmVjb3JkTGlzdEN1cnNvcgH_gAABBwEGSXNOZXh0AQIAAQ1MZWFkZXJib2FyZElk"
        "AQwAAQpFeHBpcnlUaW1lAQQAAQVTY29yZQEEAAEIU3Vic2NvcmUBBAABB093bmVySWQBDAABBFJhbmsBBAAAAA7_"
        "gAIFw7zigqwCAgMCAA==",
    ),
]


@pytest.mark.parametrize("position, cursor", GO_RECORD_CURSORS)
def test_record_cursors_are_written_as_go_writes_them(position, cursor):
    assert encode_record_cursor(position) == cursor
    assert decode_record_cursor(cursor) == position


@pytest.mark.parametrize(
    "cursor, position",
    [
        # From a Go process that had numbered storageCursor first (type ids from 66 on).
        (
            "_4H_gwMBARtsZWFkZXJib2FyZFJlY29yZExpc3RDdXJzb3IB_4QAAQcBBklzTmV4dAECAAENTGVhZGVyYm9h"
            "cmRJZAEMAAEKRXhwaXJ5VGltZQEEAAEFU2NvcmUBBAABCFN1YnNjb3JlAQQAAQdPd25lcklkAQwAAQRSYW5r"
            "AQQAAAAX_4QBAQEHc2hpZnRlZAEBAQoCAW8BBAA=",
            RecordPosition(True, "shifted", -1, 5, 0, "o", 2),
        ),
        # Another struct, Lead, with a field more (Other []string): skipped.
        (
            "df-DAwEBBExlYWQB_4QAAQgBBklzTmV4dAECAAENTGVhZGVyYm9hcmRJZAEMAAEKRXhwaXJ5VGltZQEEAAEF"
            "U2NvcmUBBAABCFN1YnNjb3JlAQQAAQdPd25lcklkAQwAAQRSYW5rAQQAAQVPdGhlcgH_hgAAABb_hQIBAQhb"
            "XXN0cmluZwH_hgABDAAAJP-EAQEBBWJvYXJkAfzKp-IAAQkBDgEFb3duZXIBBgECAXgAAA==",
            RecordPosition(True, "board", 1700000000, -5, 7, "owner", 3),
        ),
    ],
)
def test_any_record_cursor_go_would_decode_is_read(cursor, position):
    assert decode_record_cursor(cursor) == position


POSITION, CURSOR = GO_RECORD_CURSORS[3]  # ends "AA==": a last quantum of one byte
POSITION_2, CURSOR_2 = GO_RECORD_CURSORS[1]  # ends "AA=": of two


@pytest.mark.parametrize(
    "cursor, position",
    [
        (CURSOR[:20] + "\r\n" + CURSOR[20:], POSITION),
        ("\n" + CURSOR + "\r\n", POSITION),
        (CURSOR[:-1] + "\r\n=", POSITION),  # between the two padding characters
        (CURSOR[:-2] + "\n==\r\n", POSITION),
        # Bits past the data need not be zero (URLEncoding is not Strict()).
        (CURSOR[:-3] + "B==", POSITION),
        (CURSOR_2[:-2] + "B=", POSITION_2),
    ],
)
def test_go_skips_line_breaks_and_ignores_trailing_bits(cursor, position):
    assert decode_record_cursor(cursor) == position


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "\n",
        CURSOR[:-2],  # unpadded
        CURSOR[:-1],  # padded short
        CURSOR + "=",
        CURSOR + "AAAA",  # data after the padding
        CURSOR[:-2] + "=\n",
        CURSOR[:8] + "=" + CURSOR[9:],
        CURSOR.replace("_", "/"),  # the standard alphabet
        CURSOR[:8] + "+" + CURSOR[9:],
        CURSOR + " ",
        CURSOR[:-4],  # whole quanta, but the gob stream cut short
        # Another struct whose fields have other types (IsNext int, Rank string).
        "K_-HAwEBCVdyb25nTGVhZAH_iAABAgEGSXNOZXh0AQQAAQRSYW5rAQwAAAAI_4gBBgEBcgA=",
        # Nakama's storage cursor: no field in common.
        "N38DAQENc3RvcmFnZUN1cnNvcgH_gAABAwEDS2V5AQwAAQZVc2VySUQB_4IAAQRSZWFkAQQAAAAQ_4EGAQEE"
        "VVVJRAH_ggAAAAb_gAEBawA=",
    ],
)
def test_a_record_cursor_go_would_refuse_is_refused(cursor):
    with pytest.raises(InvalidCursor):
        decode_record_cursor(cursor)


@pytest.mark.parametrize(
    "position",
    [
        RecordPosition(False, "board\x00", 0, 1, 0, "o", 1),
        RecordPosition(False, "board", 0, 1, 0, "\x00", 1),
    ],
)
def test_a_record_cursor_with_a_nul_is_refused(position):
    # Go would read these; no database compares with a NUL.
    with pytest.raises(InvalidCursor):
        decode_record_cursor(encode_record_cursor(position))


def test_a_record_cursor_that_is_not_utf8_is_refused():
    # Go would read it (a Go string holds any bytes); "ü" with its second byte gone.
    position = RecordPosition(False, "ü", 0, 1, 0, "", 1)
    stream = base64.urlsafe_b64decode(encode_record_cursor(position))
    broken = stream.replace(b"\x02\xc3\xbc", b"\x02\xc3\x41")
    assert broken != stream
    with pytest.raises(InvalidCursor):
        decode_record_cursor(base64.urlsafe_b64encode(broken).decode())
