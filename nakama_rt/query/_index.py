"""Documents as Nakama's Bluge index sees them.

Nakama walks a match label (or a matchmaker ticket's properties) with
``BlugeWalkDocument`` and adds one Bluge field per leaf value, named by the
dotted path (``label.tags.x``):

* a string that parses as a date in one of five Go layouts becomes a *datetime*
  field (int64 Unix nanoseconds); any other string a *keyword* field (one exact,
  case-sensitive term, no analysis);
* a number becomes a *numeric* field (float64);
* ``true``/``false`` become the keyword terms ``"T"``/``"F"``;
* an object is walked with its keys appended to the path, each element of an
  array is indexed under the array's own path (so fields are multi-valued), and
  ``null`` is skipped.

Numeric and datetime fields share one representation in Bluge: an int64 key
(``Float64ToInt64`` of the float, or the Unix nanoseconds) stored as 16
prefix-coded terms, one per 4-bit precision step. Range queries compare those
keys, so a numeric range on a date field compares nanoseconds against the
float's sort key, exactly as Nakama does. We keep the keys
(:attr:`Document.numbers`) and build the prefix-coded terms only when a
wildcard, regexp, fuzzy or odd-looking term query needs to look at them.
"""

from __future__ import annotations

import datetime as _dt
import functools
import math
import re
import struct
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["Document", "index_document"]

_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1
_SIGN_MASK = 0x7FFFFFFFFFFFFFFF

_pack_double = struct.Struct("<d").pack
_unpack_int64 = struct.Struct("<q").unpack


def float_key(value: float) -> int:
    """Bluge's ``numeric.Float64ToInt64``: an int64 that sorts like the float."""
    bits = _unpack_int64(_pack_double(value))[0]
    return bits ^ _SIGN_MASK if bits < 0 else bits


def wrap_int64(value: int) -> int:
    """Two's-complement wrap to int64, as Go's ``UnixNano`` overflows."""
    return ((value - _INT64_MIN) & 0xFFFFFFFFFFFFFFFF) + _INT64_MIN


@functools.lru_cache(maxsize=65536)
def encoded_terms(key: int) -> tuple[str, ...]:
    """The 16 prefix-coded terms Bluge indexes for one numeric/datetime key."""
    sortable = key - _INT64_MIN  # uint64(key) ^ 0x8000000000000000
    out = []
    for shift in range(0, 64, 4):
        bits = sortable >> shift
        n_chars = (63 - shift) // 7 + 1
        chars = [chr(0x20 + shift)]
        chars.extend(chr((bits >> (7 * (n_chars - 1 - i))) & 0x7F) for i in range(n_chars))
        out.append("".join(chars))
    return tuple(out)


_SHIFT_CHARS = frozenset(chr(0x20 + shift) for shift in range(0, 64, 4))


def could_be_encoded(term: str) -> bool:
    """Whether ``term`` has the shape of a prefix-coded numeric term."""
    if not term or term[0] not in _SHIFT_CHARS or not term.isascii():
        return False
    shift = ord(term[0]) - 0x20
    return len(term) == (63 - shift) // 7 + 2


def numeric_terms(keys: Iterable[int]) -> set[str]:
    out: set[str] = set()
    for key in keys:
        out.update(encoded_terms(key))
    return out


# --- Go time.Parse, for the layouts Nakama and Bluge use -----------------------

# Go's generic parser: 4-digit year, 2-digit month/day/minute/second, 1-2 digit
# hour ("15"), an optional fraction after the seconds with '.' or ',', and for
# the RFC 3339 layouts a zone of "Z" or ±hh:mm. ASCII digits only.
_INDEX_DATE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})"
    r"(?:([T ])([0-9]{1,2}):([0-9]{2}):([0-9]{2})(?:[.,]([0-9]+))?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})?)?"
)
_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})"
    r"(T)([0-9]{1,2}):([0-9]{2}):([0-9]{2})(?:[.,]([0-9]+))?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})"
)
_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_ZERO_TIME_NANOS = -62135596800 * 1_000_000_000  # Go's time.Time{} (year 1)


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 in the proleptic Gregorian calendar (any year)."""
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _parse_go_time(match: re.Match[str] | None) -> int | None:
    """Exact Unix nanoseconds (unbounded int) of a layout match, or None."""
    if match is None:
        return None
    year_s, month_s, day_s, sep, hour_s, minute_s, second_s, frac, zone = match.groups()
    year, month, day = int(year_s), int(month_s), int(day_s)
    if not 1 <= month <= 12:
        return None
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    if not 1 <= day <= _DAYS_IN_MONTH[month - 1] + (month == 2 and leap):
        return None
    seconds = _days_from_civil(year, month, day) * 86400
    nanos = 0
    if sep is not None:
        hour, minute, second = int(hour_s), int(minute_s), int(second_s)
        if hour > 23 or minute > 59 or second > 59:
            return None
        if sep == " " and zone is not None:
            return None  # "2006-01-02 15:04:05" has no zone
        seconds += hour * 3600 + minute * 60 + second
        if frac:
            nanos = int(frac[:9].ljust(9, "0"))
        if zone is not None and zone != "Z":
            zone_h, zone_m = int(zone[1:3]), int(zone[4:6])
            if zone_h > 24 or zone_m > 60:
                return None
            offset = zone_h * 3600 + zone_m * 60
            seconds -= offset if zone[0] == "+" else -offset
    return seconds * 1_000_000_000 + nanos


def index_date_nanos(text: str) -> int | None:
    """Nakama's ``blugeParseDateTime``: the int64 key if ``text`` is a date."""
    if len(text) < 10 or text[4] != "-" or not "0" <= text[0] <= "9":
        return None
    nanos = _parse_go_time(_INDEX_DATE.fullmatch(text))
    return None if nanos is None else wrap_int64(nanos)


def query_date_nanos(text: str) -> int | None:
    """``time.Parse(time.RFC3339, text)`` as exact nanoseconds, or None.

    Returns the sentinel ``_ZERO_TIME_NANOS`` for Go's zero time, which Bluge's
    date range treats as "no bound".
    """
    return _parse_go_time(_RFC3339.fullmatch(text))


def is_zero_time(nanos: int) -> bool:
    return nanos == _ZERO_TIME_NANOS


def fits_int64(nanos: int) -> bool:
    return _INT64_MIN <= nanos <= _INT64_MAX


# --- documents -----------------------------------------------------------------


class Document:
    """One indexed document: what a compiled query evaluates against.

    ``terms`` maps a field path to its keyword terms (a tuple for one value,
    a frozenset for several); ``numbers`` maps a field path to the int64 keys of
    its numeric and datetime values. Build it once per label or ticket with
    :func:`index_document` and evaluate many queries against it.
    """

    __slots__ = ("numbers", "terms")

    def __init__(
        self,
        terms: dict[str, tuple[str, ...] | frozenset[str]] | None = None,
        numbers: dict[str, tuple[int, ...]] | None = None,
    ) -> None:
        self.terms = {} if terms is None else terms
        self.numbers = {} if numbers is None else numbers

    def __repr__(self) -> str:
        return f"Document(terms={self.terms!r}, numbers={self.numbers!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Document):
            return NotImplemented
        return self.terms == other.terms and self.numbers == other.numbers

    __hash__ = None  # type: ignore[assignment]


class _Builder:
    __slots__ = ("numbers", "terms")

    def __init__(self) -> None:
        self.terms: dict[str, list[str]] = {}
        self.numbers: dict[str, list[int]] = {}

    def term(self, path: str, value: str) -> None:
        self.terms.setdefault(path, []).append(value)

    def number(self, path: str, key: int) -> None:
        self.numbers.setdefault(path, []).append(key)

    def walk(self, value: Any, path: str) -> None:
        # Order matters: bool is an int subclass.
        if isinstance(value, str):
            nanos = index_date_nanos(value)
            if nanos is None:
                self.term(path, value)
            else:
                self.number(path, nanos)
        elif value is True:
            self.term(path, "T")
        elif value is False:
            self.term(path, "F")
        elif isinstance(value, float):
            self.number(path, float_key(value))
        elif isinstance(value, int):
            try:
                as_float = float(value)
            except OverflowError:
                as_float = math.inf if value > 0 else -math.inf
            self.number(path, float_key(as_float))
        elif isinstance(value, Mapping):
            prefix = path + "." if path else ""
            for key, item in value.items():
                if isinstance(key, str):  # Go walks string-keyed maps only
                    self.walk(item, prefix + key)
        elif isinstance(value, (list, tuple)):
            for item in value:
                self.walk(item, path)
        elif isinstance(value, _dt.datetime):
            if value.tzinfo is None:
                value = value.replace(tzinfo=_dt.UTC)
            delta = value - _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
            nanos = (delta.days * 86400 + delta.seconds) * 1_000_000_000
            self.number(path, wrap_int64(nanos + delta.microseconds * 1000))
        # None and anything else: not indexed, as in Go.

    def build(self) -> Document:
        terms: dict[str, tuple[str, ...] | frozenset[str]] = {}
        for path, values in self.terms.items():
            terms[path] = (values[0],) if len(values) == 1 else frozenset(values)
        numbers = {path: tuple(dict.fromkeys(keys)) for path, keys in self.numbers.items()}
        return Document(terms, numbers)


def index_document(
    value: Any,
    prefix: str = "",
    *,
    keywords: Mapping[str, str | Iterable[str]] | None = None,
    numbers: Mapping[str, float | Iterable[float]] | None = None,
) -> Document:
    """Index a JSON-like value the way Nakama feeds it to Bluge.

    ``index_document(label, "label")`` gives the fields ``label.mode``,
    ``label.tags.x`` and so on; ``index_document(props, "properties")`` does the
    same for matchmaker tickets. A mapping with dotted keys works too
    (``{"label.mode": "ranked"}``). ``keywords`` and ``numbers`` add top-level
    fields as Nakama adds them beside the label (``node``, ``label_string``,
    ``handler_name``; ``tick_rate``, ``create_time``; for tickets ``ticket``,
    ``party_id``; ``min_count``, ``max_count``, ``created_at``): keywords are
    exact terms with no date detection, numbers are numeric fields.
    """
    builder = _Builder()
    builder.walk(value, prefix)
    if keywords:
        for path, kw in keywords.items():
            for term in (kw,) if isinstance(kw, str) else kw:
                builder.term(path, term)
    if numbers:
        for path, num in numbers.items():
            for item in (num,) if isinstance(num, (int, float)) else num:
                builder.number(path, float_key(float(item)))
    return builder.build()
