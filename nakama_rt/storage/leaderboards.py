"""Leaderboards: boards, their records, ranks and reset schedules, as Nakama keeps them.

A board sorts its records ascending or descending by score, then subscore, then owner
id, and merges a new submission into an owner's record with its operator (best, set,
increment, decrement), which a submission may override. A board with a reset schedule
(a CRON expression) keeps each period's records apart: a record's ``expiry_time`` is
the end of the period it was written in, and reads look at the current period unless
asked for another expiry. Records of a period that is over stay in the database.

Ranks are counted in the database, not kept in a process's memory as Nakama's rank
cache keeps them, so that every process of a cluster sees the same ranks; a board
created with ranks disabled reports none, as in Nakama.

``caller_id`` None means the server acts (Nakama's nil user id): only the server
writes to or deletes from an authoritative board.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from croniter import CroniterBadDateError, CroniterError, croniter
from twisted.internet.defer import Deferred
from zope.interface import Interface

from .interface import StorageError

#: Sort orders (Nakama's ``sort_order`` column).
ASCENDING, DESCENDING = 0, 1
#: Operators (Nakama's ``operator`` column).
BEST, SET, INCREMENT, DECREMENT = 0, 1, 2, 3
#: The API's ``Operator`` enum (0 keeps the board's own) to the column's values.
OPERATOR_OVERRIDES = {1: BEST, 2: SET, 3: INCREMENT, 4: DECREMENT}
#: The most characters a board id holds (Nakama's ``VARCHAR(128)``).
MAX_ID_CHARS = 128
#: Nakama's ``max_num_score`` default, which every leaderboard record carries.
MAX_NUM_SCORE = 1_000_000
#: The range of a score or subscore (PostgreSQL's BIGINT, at least 0).
SCORE_RANGE = range(0, 2**63)


class LeaderboardError(StorageError):
    """Base of the leaderboard refusals."""


class LeaderboardNotFound(LeaderboardError):
    def __init__(self, leaderboard_id: str = "") -> None:
        super().__init__(f"leaderboard not found: {leaderboard_id!r}")


class LeaderboardAuthoritative(LeaderboardError):
    """A client wrote to or deleted from a board only the server may change."""

    def __init__(self) -> None:
        super().__init__("leaderboard only allows authoritative submissions")


class InvalidOperator(LeaderboardError):
    def __init__(self, operator: int) -> None:
        super().__init__(f"invalid operator {operator}")


class ScoreOutOfRange(LeaderboardError):
    """The score a write would store is negative or past BIGINT: PostgreSQL refuses it
    (Nakama answers a failed write); SQLite is held to the same rule."""

    def __init__(self) -> None:
        super().__init__("a score or subscore would be out of range")


@dataclass(frozen=True, slots=True)
class Leaderboard:
    """One board. ``metadata`` is JSON object text; times are UNIX seconds."""

    id: str
    authoritative: bool
    sort_order: int
    operator: int
    reset_schedule: str
    metadata: str
    create_time: int
    enable_ranks: bool = True


@dataclass(frozen=True, slots=True)
class LeaderboardRecord:
    """One owner's record of one period; ``expiry_time`` 0 for a board that never resets;
    ``rank`` 0 where ranks are not known (disabled)."""

    leaderboard_id: str
    owner_id: str
    username: str | None
    score: int
    subscore: int
    num_score: int
    max_num_score: int
    metadata: str
    create_time: int
    update_time: int
    expiry_time: int
    rank: int = 0


@dataclass(frozen=True, slots=True)
class RecordList:
    """A page of records, the records of owners asked for, and the period's record count
    (0 where ranks are disabled)."""

    records: tuple[LeaderboardRecord, ...] = ()
    owner_records: tuple[LeaderboardRecord, ...] = ()
    next_cursor: str = ""
    prev_cursor: str = ""
    rank_count: int = 0


# Reset schedules ---------------------------------------------------------------------------

#: Nakama's cron aliases (its cronexpr's): a schedule may be written as one.
_ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@hourly": "0 * * * *",
}


class InvalidSchedule(ValueError):
    """Not a CRON expression Nakama would take."""


@dataclass(frozen=True, slots=True)
class ResetSchedule:
    """A board's reset schedule, as Nakama's cronexpr reads one: five fields (minute to
    day of week), six (a year after them) or seven (seconds first, a year last); fields
    past the seventh are ignored. croniter does the arithmetic."""

    expression: str
    #: What croniter is given, and whether its first field is seconds.
    _cron: str
    _seconds_first: bool

    def next_reset(self, now: float) -> int:
        """The first reset after ``now``: when records written now expire (0 if none)."""
        try:
            return int(self._iterator(now).get_next(float))
        except CroniterBadDateError:
            return 0

    def previous_reset(self, now: float) -> int:
        """The last reset before ``now`` (0 if none)."""
        try:
            return int(self._iterator(now).get_prev(float))
        except CroniterBadDateError:
            return 0

    def _iterator(self, now: float) -> croniter:
        start = datetime.fromtimestamp(now, tz=UTC)
        return croniter(self._cron, start, second_at_beginning=self._seconds_first)


@lru_cache(maxsize=256)
def reset_schedule(expression: str) -> ResetSchedule:
    """The schedule ``expression`` writes, or :class:`InvalidSchedule`."""
    fields = _ALIASES.get(expression.strip(), expression).split()
    if len(fields) < 5:
        raise InvalidSchedule(f"missing field(s) in {expression!r}")
    fields = fields[:7]
    if len(fields) == 6:
        fields.insert(0, "0")  # Nakama's sixth field is a year; croniter's would be seconds.
    cron, seconds_first = " ".join(fields), len(fields) == 7
    try:
        croniter(cron, datetime(2000, 1, 1, tzinfo=UTC), second_at_beginning=seconds_first)
    except (CroniterError, ValueError, KeyError) as error:
        raise InvalidSchedule(f"{expression!r}: {error}") from None
    return ResetSchedule(expression, cron, seconds_first)


def expiry_of(board: Leaderboard, now: float) -> int:
    """When records written to ``board`` now expire: its next reset, 0 if it never resets."""
    if not board.reset_schedule:
        return 0
    return reset_schedule(board.reset_schedule).next_reset(now)


# The interface -----------------------------------------------------------------------------


class ILeaderboardStorage(Interface):
    """Nakama's leaderboards. Ids of owners are canonical UUIDs (callers check them);
    every method returns a Deferred."""

    def create_leaderboard(
        leaderboard_id: str,
        authoritative: bool,
        sort_order: int,
        operator: int,
        reset_schedule: str,
        metadata: str,
        enable_ranks: bool,
    ) -> Deferred[tuple[Leaderboard, bool]]:
        """Create a board unless one has the id; the board that exists afterwards and
        whether this call created it. ``reset_schedule`` must parse
        (:func:`reset_schedule`); ``metadata`` is JSON object text."""

    def delete_leaderboard(leaderboard_id: str) -> Deferred[bool]:
        """Delete a board and all its records; whether there was one."""

    def get_leaderboards(leaderboard_ids: Sequence[str]) -> Deferred[list[Leaderboard]]:
        """The boards that exist, in the order asked for (each once)."""

    def write_leaderboard_record(
        caller_id: str | None,
        leaderboard_id: str,
        owner_id: str,
        username: str | None,
        score: int,
        subscore: int,
        metadata: str | None,
        override: int = 0,
    ) -> Deferred[LeaderboardRecord]:
        """Merge a submission into the owner's record of the current period with the
        board's operator, or ``override`` (the API's ``Operator``: 0 keeps the board's).
        :class:`LeaderboardNotFound`, :class:`LeaderboardAuthoritative` (a client on an
        authoritative board), :class:`InvalidOperator`, :class:`ScoreOutOfRange`. A
        submission that changes nothing (not better under "best") leaves the record as it
        is, times and count included. ``metadata`` None keeps the stored metadata."""

    def delete_leaderboard_record(
        caller_id: str | None, leaderboard_id: str, owner_id: str
    ) -> Deferred[None]:
        """Delete the owner's record of the current period, if any (errors as writing)."""

    def list_leaderboard_records(
        leaderboard_id: str,
        limit: int | None,
        cursor: str,
        owner_ids: Sequence[str],
        expiry: int,
    ) -> Deferred[RecordList]:
        """A page of ``limit`` records in rank order from ``cursor`` (no page when
        ``limit`` is None), with the records of ``owner_ids``, of the period that ends at
        ``expiry`` (0: the current one). :class:`~.social.InvalidCursor` for a cursor of
        another board or period or that is malformed."""

    def leaderboard_records_around(
        leaderboard_id: str, owner_id: str, limit: int, cursor: str, expiry: int
    ) -> Deferred[RecordList]:
        """``limit`` records around the owner's (none if it has none); with a cursor, the
        page it points at, as :meth:`list_leaderboard_records`."""
