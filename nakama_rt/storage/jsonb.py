"""A storage object's value as Nakama keeps it: checked, hashed and written as JSONB.

Nakama stores values in a PostgreSQL ``JSONB`` column, so a read returns the text
PostgreSQL writes back, not the text the client sent: keys sorted (shortest first,
then bytewise), a duplicate key keeping its last value, ``", "`` and ``": "`` between
items, numbers in ``numeric``'s plain notation (``1e2`` is ``100``, ``-0.0`` is
``0.0``), strings re-escaped as ``escape_json`` does. :func:`object_value` produces
that text here, so that SQLite returns what PostgreSQL does (which receives the same
text and keeps it unchanged). The version stays the md5 of the text as sent.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

#: PostgreSQL's ``numeric`` limits (``value overflows numeric format`` past them).
NUMERIC_MAX_INTEGER_DIGITS = 131072
NUMERIC_MAX_SCALE = 16383
#: The most characters a stored value may take: numbers in plain notation can make a
#: short body enormous (``1e131071`` is 131072 digits), and memory is not the client's.
MAX_VALUE_CHARS = 16 * 1024 * 1024

#: ``"`` ``\\`` ``\b`` ``\f`` ``\n`` ``\r`` ``\t`` escaped so, other controls as ``\u00xx``:
#: what PostgreSQL's ``escape_json`` does too.
_quote = json.encoder.encode_basestring


class InvalidValue(ValueError):
    """The text is not a value PostgreSQL's JSONB column would take.

    ``reason`` says why: ``not_object`` (not a JSON object: Nakama's own check),
    ``nul`` (a ``\\u0000`` escape), ``unicode`` (a lone surrogate escape),
    ``number`` (past ``numeric``'s limits) or ``too_large``.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ObjectValue:
    """A checked value: the text to store (and that reads return) and its version."""

    text: str
    version: str


def version_of(raw: str) -> str:
    """Nakama's version of a value: the md5 hex of the text as written."""
    return hashlib.md5(raw.encode("utf-8")).hexdigest()


def object_value(raw: str) -> ObjectValue:
    """``raw`` checked as Nakama and PostgreSQL check it, or :class:`InvalidValue`."""
    try:
        # Objects as their lists of pairs, duplicates kept (the writer keeps the last);
        # numbers as their text already, so that the writer only joins.
        parsed = json.loads(
            raw,
            object_pairs_hook=_Object,
            parse_float=_Fractions(),
            parse_int=_integer,
            parse_constant=_refuse,
        )
        if not isinstance(parsed, _Object):
            raise InvalidValue("not_object")
        text = _text(parsed)
    except InvalidValue:
        raise
    except (ValueError, RecursionError):  # JSONDecodeError is a ValueError
        raise InvalidValue("not_object") from None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, escaped in the JSON
        raise InvalidValue("unicode") from None
    return ObjectValue(text, version_of(raw))


def _refuse(constant: str) -> Any:
    """``NaN`` and ``Infinity`` are not JSON (Python's parser takes them)."""
    raise ValueError(constant)


class _Object(list[tuple[str, Any]]):
    """An object's pairs, told apart from an array."""


class _Number(str):
    """A number's text as ``numeric`` writes it, told apart from a string."""


def _integer(token: str) -> _Number:
    """A JSON integer is ``numeric``'s text already (no leading zero, no "+"), but -0."""
    return _Number("0" if token == "-0" else token)


class _Fractions:
    """Turns each number with a fraction or an exponent into ``numeric``'s text, within
    :data:`MAX_VALUE_CHARS` for all of one value's: plain notation can make a short
    number enormous (``1e131071``). The rest of the text grows at most twice over."""

    def __init__(self) -> None:
        self._left = MAX_VALUE_CHARS

    def __call__(self, token: str) -> _Number:
        text = _number(Decimal(token))
        self._left -= len(text)
        if self._left < 0:
            raise InvalidValue("too_large")
        return _Number(text)


def _number(value: Decimal) -> str:
    """``numeric``'s text of a JSON number: plain notation, the scale kept, no -0."""
    if value.is_zero():
        value = abs(value)
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)  # JSON has no NaN or infinity
    if -exponent > NUMERIC_MAX_SCALE or (
        not value.is_zero() and value.adjusted() >= NUMERIC_MAX_INTEGER_DIGITS
    ):
        raise InvalidValue("number")
    return format(value, "f")


def _key_order(key: str) -> tuple[int, bytes]:
    """JSONB's key order: shorter (in UTF-8 bytes) first, then bytewise."""
    try:
        encoded = key.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidValue("unicode") from None
    return len(encoded), encoded


def _string(text: str) -> str:
    """A string as ``escape_json`` writes it: Python's escapes are the same ones."""
    if "\x00" in text:
        raise InvalidValue("nul")
    return _quote(text)


_LITERALS = {True: "true", False: "false", None: "null"}


def _text(value: Any) -> str:
    """A parsed value as JSONB's text."""
    kind = type(value)
    if kind is _Number:
        return str(value)
    if kind is str:
        return _string(value)
    if kind is _Object:
        last = dict(value)  # a duplicate key keeps its last value
        pairs = (f"{_string(key)}: {_text(last[key])}" for key in sorted(last, key=_key_order))
        return "{" + ", ".join(pairs) + "}"
    if kind is list:
        return "[" + ", ".join(map(_text, value)) + "]"
    return _LITERALS[value]
