"""The cursor of a leaderboard record listing, in Nakama's own format.

Nakama's cursor is Go's ``encoding/gob`` stream, from a fresh encoder, of its
``leaderboardRecordListCursor`` struct (server/core_leaderboard.go), in padded base64url
(``base64.URLEncoding``). The same format here means a cursor passes between this server
and Nakama, and is refused exactly when Nakama refuses it (:mod:`nakama_rt.wire.gob` says
how, and where it cannot), and also when a string in it holds a NUL or is not UTF-8, which
no database takes.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from ..wire.gob import GobError, GobField, GobKind, GobStruct
from .social import InvalidCursor


@dataclass(frozen=True, slots=True)
class RecordPosition:
    """A record at the edge of a page, which the next (``is_next``) or previous page
    starts after."""

    is_next: bool
    leaderboard_id: str
    expiry_time: int
    score: int
    subscore: int
    owner_id: str
    rank: int


#: The Go struct's fields, in its order, beside RecordPosition's.
_FIELDS = (
    ("IsNext", GobKind.BOOL, "is_next"),
    ("LeaderboardId", GobKind.STRING, "leaderboard_id"),
    ("ExpiryTime", GobKind.INT, "expiry_time"),
    ("Score", GobKind.INT, "score"),
    ("Subscore", GobKind.INT, "subscore"),
    ("OwnerId", GobKind.STRING, "owner_id"),
    ("Rank", GobKind.INT, "rank"),
)
_RECORD_CURSOR = GobStruct(
    "leaderboardRecordListCursor", tuple(GobField(name, kind) for name, kind, _ in _FIELDS)
)


def encode_record_cursor(position: RecordPosition) -> str:
    """The cursor Nakama would write for ``position``."""
    stream = _RECORD_CURSOR.encode(
        {name: getattr(position, attribute) for name, _, attribute in _FIELDS}
    )
    return base64.urlsafe_b64encode(stream).decode("ascii")


#: What ``base64.URLEncoding.DecodeString`` takes (once line breaks, which it skips, are
#: gone): whole quanta, the last one perhaps padded.
_BASE64URL = re.compile(r"(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-]{2}==|[A-Za-z0-9_-]{3}=)?")


def decode_record_cursor(cursor: str) -> RecordPosition:
    """The position a cursor holds, or :class:`~.social.InvalidCursor`."""
    text = cursor.replace("\r", "").replace("\n", "")
    if not _BASE64URL.fullmatch(text):
        raise InvalidCursor(cursor)
    try:
        values = _RECORD_CURSOR.decode(base64.urlsafe_b64decode(text))
    except (binascii.Error, GobError):
        raise InvalidCursor(cursor) from None
    if "\x00" in values["LeaderboardId"] or "\x00" in values["OwnerId"]:
        raise InvalidCursor(cursor)
    return RecordPosition(**{attribute: values[name] for name, _, attribute in _FIELDS})
