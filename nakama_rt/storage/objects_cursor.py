"""The cursor of a storage object listing, in Nakama's own format.

Nakama's cursor is Go's ``encoding/gob`` stream of its ``storageCursor`` struct
(``Key string``, ``UserID uuid.UUID``, ``Read int32``), in unpadded base64url. The
same format here means a cursor passes between this server and Nakama, and a cursor
is refused ("Malformed cursor was used.") exactly when Go's decoder refuses it
(:mod:`nakama_rt.wire.gob` says how, and where it cannot).

:func:`encode_cursor` writes the bytes a Nakama process writes (type ids 64 and 65, a
fresh encoder's). :func:`decode_cursor` reads any gob stream Go would decode into that
struct. What Go would accept but no database can take (a key with a NUL or that is not
UTF-8) is refused too.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from dataclasses import dataclass

from ..wire.gob import GobError, GobField, GobKind, GobStruct
from .interface import SYSTEM_USER_ID
from .social import InvalidCursor


@dataclass(frozen=True, slots=True)
class ListPosition:
    """The last object of a page, which the next page starts after."""

    key: str = ""
    user_id: str = SYSTEM_USER_ID
    read: int = 0


_STORAGE_CURSOR = GobStruct(
    "storageCursor",
    (
        GobField("Key", GobKind.STRING),
        GobField("UserID", GobKind.UUID),
        GobField("Read", GobKind.INT, bits=32),
    ),
)


def encode_cursor(position: ListPosition) -> str:
    """The cursor Nakama would write for ``position``."""
    stream = _STORAGE_CURSOR.encode(
        {"Key": position.key, "UserID": uuid.UUID(position.user_id), "Read": position.read}
    )
    return base64.urlsafe_b64encode(stream).decode("ascii").rstrip("=")


_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")


def decode_cursor(cursor: str) -> ListPosition:
    """The position a cursor holds, or :class:`~.social.InvalidCursor`."""
    # Go's base64 skips line breaks; the unpadded alphabet has no "=".
    text = cursor.replace("\r", "").replace("\n", "")
    if not _BASE64URL.fullmatch(text):
        raise InvalidCursor(cursor)
    try:
        values = _STORAGE_CURSOR.decode(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, GobError):
        raise InvalidCursor(cursor) from None
    if "\x00" in values["Key"]:
        raise InvalidCursor(cursor)
    return ListPosition(values["Key"], str(values["UserID"]), values["Read"])
