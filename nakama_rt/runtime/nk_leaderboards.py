"""What ``nk.leaderboard_*`` take, checked with the messages of Nakama's runtime, and
what they need of the storage. The runtime acts as the server: it writes to and
deletes from authoritative boards too."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import orjson
from twisted.internet.defer import Deferred

from nakama_rt.storage.jsonb import InvalidValue, object_value
from nakama_rt.storage.leaderboards import (
    ASCENDING,
    BEST,
    DECREMENT,
    DESCENDING,
    INCREMENT,
    MAX_ID_CHARS,
    OPERATOR_OVERRIDES,
    SCORE_RANGE,
    SET,
    InvalidSchedule,
    Leaderboard,
    LeaderboardRecord,
    RecordList,
    reset_schedule,
)
from nakama_rt.wire.ids import canonical_uuid

SORT_ORDERS = {"asc": ASCENDING, "ascending": ASCENDING, "desc": DESCENDING}
SORT_ORDERS["descending"] = DESCENDING
OPERATORS = {"best": BEST, "set": SET, "incr": INCREMENT, "increment": INCREMENT}
OPERATORS |= {"decr": DECREMENT, "decrement": DECREMENT}


@runtime_checkable
class LeaderboardStore(Protocol):
    """What ``nk.leaderboard_*`` need of the storage (the server's leaderboards)."""

    def create_leaderboard(
        self,
        leaderboard_id: str,
        authoritative: bool,
        sort_order: int,
        operator: int,
        reset_schedule: str,
        metadata: str,
        enable_ranks: bool,
    ) -> Deferred[tuple[Leaderboard, bool]]: ...

    def delete_leaderboard(self, leaderboard_id: str) -> Deferred[bool]: ...

    def get_leaderboards(self, leaderboard_ids: Sequence[str]) -> Deferred[list[Leaderboard]]: ...

    def write_leaderboard_record(
        self,
        caller_id: str | None,
        leaderboard_id: str,
        owner_id: str,
        username: str | None,
        score: int,
        subscore: int,
        metadata: str | None,
        override: int = 0,
    ) -> Deferred[LeaderboardRecord]: ...

    def delete_leaderboard_record(
        self, caller_id: str | None, leaderboard_id: str, owner_id: str
    ) -> Deferred[None]: ...

    def list_leaderboard_records(
        self,
        leaderboard_id: str,
        limit: int | None,
        cursor: str,
        owner_ids: Sequence[str],
        expiry: int,
    ) -> Deferred[RecordList]: ...

    def leaderboard_records_around(
        self, leaderboard_id: str, owner_id: str, limit: int, cursor: str, expiry: int
    ) -> Deferred[RecordList]: ...


def board_id(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("expects a leaderboard ID string")
    if len(value) > MAX_ID_CHARS:
        raise ValueError(f"expects a leaderboard ID of at most {MAX_ID_CHARS} characters")
    return value


def owner_id(value: Any) -> str:
    canonical = canonical_uuid(value) if isinstance(value, str) else None
    if canonical is None:
        raise ValueError("expects owner ID to be a valid identifier")
    return canonical


def _integer(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"expects {what} to be an integer")
    return value


def metadata_text(value: Any, default: str | None) -> str | None:
    """A mapping's JSON (``default`` for None), or the JSON text of an object, in the
    text PostgreSQL's JSONB would give back."""
    if value is None:
        return default
    if isinstance(value, Mapping):
        try:
            value = orjson.dumps(value).decode()
        except TypeError as error:
            raise ValueError(f"error encoding metadata: {error}") from None
    if not isinstance(value, str):
        raise ValueError("expects metadata to be a mapping or JSON object text")
    try:
        return object_value(value).text  # as PostgreSQL's JSONB keeps it, on both backends
    except InvalidValue as invalid:
        raise ValueError(f"metadata cannot be stored ({invalid.reason})") from None


def created(
    authoritative: Any, sort_order: Any, operator: Any, schedule: Any, enable_ranks: Any
) -> tuple[bool, int, int, str, bool]:
    """``nk.leaderboard_create``'s settings, checked as Nakama checks them."""
    if sort_order not in SORT_ORDERS:
        raise ValueError("expects sort order to be 'asc' or 'desc'")
    if operator not in OPERATORS:
        raise ValueError("expects operator to be 'best', 'set', 'incr' or 'decr'")
    schedule = schedule or ""
    if not isinstance(schedule, str):
        raise ValueError("expects reset schedule to be a valid CRON expression")
    if schedule:
        try:
            reset_schedule(schedule)
        except InvalidSchedule:
            raise ValueError("expects reset schedule to be a valid CRON expression") from None
    return (
        bool(authoritative),
        SORT_ORDERS[sort_order],
        OPERATORS[operator],
        schedule,
        bool(enable_ranks),
    )


def scores(score: Any, subscore: Any) -> tuple[int, int]:
    score, subscore = _integer(score, "score"), _integer(subscore, "subscore")
    if score < 0:
        raise ValueError("expects score to be >= 0")
    if subscore < 0:
        raise ValueError("expects subscore to be >= 0")
    if score not in SCORE_RANGE or subscore not in SCORE_RANGE:
        raise ValueError("expects score and subscore to fit in 64 bits")
    return score, subscore


def override(value: Any) -> int:
    """An override operator: None or 0 (the board's own), 1 best, 2 set, 3 incr, 4 decr."""
    if value is None:
        return 0
    if _integer(value, "override operator") and value not in OPERATOR_OVERRIDES:
        raise ValueError("invalid operator")
    return value


def records_limit(limit: Any) -> int | None:
    """``nk.leaderboard_records_list``'s limit: 0 lists no page (owners only)."""
    limit = _integer(limit, "limit")
    if not 0 <= limit <= 10_000:
        raise ValueError("expects limit to be 0-10000")
    return limit or None


def around_limit(limit: Any) -> int:
    limit = _integer(limit, "limit")
    if not 1 <= limit <= 100:
        raise ValueError("limit must be 1-100")
    return limit


def expiry(value: Any) -> int:
    value = _integer(value, "expiry")
    if value < 0:
        raise ValueError("expects expiry to equal or greater than 0")
    return value
