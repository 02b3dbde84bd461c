"""The WebSocket opening handshake of ``GET /ws``, answered as Nakama answers it.

Nakama upgrades with gorilla/websocket (any origin, no subprotocol, no compression):
a request missing the upgrade tokens, version 13 or a 16-byte key is refused
``400 Bad Request`` before anything else happens, and an accepted one gets a fixed
``101`` with only the accept key in it. Checking the request twisted.web has already
parsed, and writing those bytes here, also spares every connect a second parse of the
request by Autobahn and its general handshake machinery.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence

from twisted.web.http_headers import Headers

# RFC 6455's GUID, appended to the client's key to prove the server read it.
_ACCEPT_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

# One element of a comma-separated header value: a token (RFC 7230 ``tchar``s),
# with optional spaces or tabs around it, then a comma or the end.
_LIST_ELEMENT = re.compile(rb"[ \t]*([!#$%&'*+\-.^_`|~0-9A-Za-z]+)[ \t]*(?:,|\Z)")

#: How every refused handshake is answered (Go's ``http.StatusText(400)``).
BAD_REQUEST = "Bad Request"


def token_list_contains(values: Sequence[bytes] | None, token: bytes) -> bool:
    """Whether one of the header's ``values`` lists ``token`` (ASCII case-insensitive).

    As gorilla's ``tokenListContainsValue``: a value is read element by element and
    abandoned at the first element that is not a plain token, so ``"a, upgrade"``
    lists ``upgrade`` but ``"a;q=1, upgrade"`` does not.
    """
    for value in values or ():
        position = 0
        while (element := _LIST_ELEMENT.match(value, position)) is not None:
            if element.group(1).lower() == token:
                return True
            position = element.end()
    return False


def valid_key(key: bytes | None) -> bool:
    """A ``Sec-WebSocket-Key`` must be padded base64 of exactly 16 bytes."""
    if not key:
        return False
    try:
        return len(base64.b64decode(key, validate=True)) == 16
    except binascii.Error:
        return False


def handshake_key(headers: Headers) -> bytes | None:
    """The request's ``Sec-WebSocket-Key`` if it is a WebSocket upgrade Nakama
    accepts, else None (to be answered ``400`` with :data:`BAD_REQUEST`).

    The method is not checked here: ``/ws`` only routes ``GET``.
    """
    get = headers.getRawHeaders
    if not (
        token_list_contains(get(b"connection"), b"upgrade")
        and token_list_contains(get(b"upgrade"), b"websocket")
        and token_list_contains(get(b"sec-websocket-version"), b"13")
    ):
        return None
    keys = get(b"sec-websocket-key")
    key = keys[0] if keys else None
    return key if valid_key(key) else None


def switching_protocols(key: bytes) -> bytes:
    """The ``101`` response accepting ``key``, byte for byte as Nakama writes it."""
    accept = base64.b64encode(hashlib.sha1(key + _ACCEPT_GUID).digest())
    return (
        b"HTTP/1.1 101 Switching Protocols\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    )
