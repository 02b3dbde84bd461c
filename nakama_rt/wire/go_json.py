"""Text as Go writes it, where Nakama answers in Go's words rather than through
protojson: JSON that Nakama marshals itself (an RPC's answer), and values quoted in
``strconv``'s error messages."""

from __future__ import annotations

from typing import Any

import orjson

_HTML = (
    (b"<", b"\\u003c"),
    (b">", b"\\u003e"),
    (b"&", b"\\u0026"),
    ("\u2028".encode(), b"\\u2028"),
    ("\u2029".encode(), b"\\u2029"),
)


def go_json(value: Any) -> bytes:
    """``json.Marshal``: keys sorted, HTML characters escaped."""
    data = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    for raw, escaped in _HTML:
        data = data.replace(raw, escaped)
    return data


_NAMED_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    '"': '\\"',
    "\\": "\\\\",
}


def go_quote(text: str) -> str:
    """``strconv.Quote``: ``text`` in double quotes, printable characters as they are,
    the rest escaped (as Go's error messages show a value)."""
    out = ['"']
    for char in text:
        if char in _NAMED_ESCAPES:
            out.append(_NAMED_ESCAPES[char])
        elif char.isprintable():
            out.append(char)
        elif ord(char) < 0x80:
            out.append(f"\\x{ord(char):02x}")
        elif ord(char) < 0x10000:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    out.append('"')
    return "".join(out)
