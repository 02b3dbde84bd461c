"""The leaderboards' queries and rules (Nakama's core_leaderboard.go), written once for
both backends and run on a storage worker thread; ``now`` is always the reactor's.

Each call reads the board in its own transaction, so every process of a cluster sees
a board as soon as it is created, and ranks are counted from the records themselves:
a record's rank is one more than the records of its period ranked before it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from .leaderboard_cursor import RecordPosition, decode_record_cursor, encode_record_cursor
from .leaderboards import (
    ASCENDING,
    DECREMENT,
    INCREMENT,
    OPERATOR_OVERRIDES,
    SCORE_RANGE,
    SET,
    InvalidOperator,
    Leaderboard,
    LeaderboardAuthoritative,
    LeaderboardNotFound,
    LeaderboardRecord,
    RecordList,
    ScoreOutOfRange,
    expiry_of,
)
from .social import InvalidCursor
from .sql import Dialect, Tx

_BOARD_COLUMNS = "id, authoritative, sort_order, operator, reset_schedule, metadata"
_RECORD_COLUMNS = (
    "leaderboard_id, owner_id, username, score, subscore, num_score, max_num_score, metadata"
)
_RANKING = "(score, subscore, owner_id)"


def _order(ascending: bool) -> str:
    way = "ASC" if ascending else "DESC"
    return f"ORDER BY score {way}, subscore {way}, owner_id {way}"


class LeaderboardQueries:
    """The leaderboards' queries, rendered for one dialect when the storage is built."""

    def __init__(self, d: Dialect) -> None:
        board_times = d.seconds("create_time")
        record_times = f"{d.seconds('create_time')}, {d.seconds('update_time')}, expiry_time"
        self._board = d.sql(
            f"SELECT {_BOARD_COLUMNS}, {board_times}, enable_ranks FROM leaderboard WHERE id = ?"
        )
        self._create_board = d.sql(
            "INSERT INTO leaderboard (id, authoritative, sort_order, operator, reset_schedule,"
            f" metadata, create_time, enable_ranks) VALUES (?, ?, ?, ?, ?, ?, {d.time}, ?)"
            " ON CONFLICT (id) DO NOTHING"
        )
        self._delete_board = d.sql("DELETE FROM leaderboard WHERE id = ?")
        select = f"SELECT {_RECORD_COLUMNS}, {record_times} FROM leaderboard_record"
        period = "WHERE leaderboard_id = ? AND expiry_time = ?"
        self._record = d.sql(f"{select} {period} AND owner_id = ?")
        self._record_locked = d.sql(f"{select} {period} AND owner_id = ?{d.lock}")
        self._insert_record = d.sql(
            "INSERT INTO leaderboard_record (leaderboard_id, owner_id, username, score,"
            " subscore, metadata, create_time, update_time, expiry_time)"
            f" VALUES (?, ?, ?, ?, ?, ?, {d.time}, {d.time}, ?)"
            " ON CONFLICT (owner_id, leaderboard_id, expiry_time) DO NOTHING"
        )
        self._update_record = d.sql(
            "UPDATE leaderboard_record SET score = ?, subscore = ?, num_score = num_score + 1,"
            f" metadata = ?, username = ?, update_time = {d.time} {period} AND owner_id = ?"
        )
        self._delete_record = d.sql(f"DELETE FROM leaderboard_record {period} AND owner_id = ?")
        self._count = d.sql(f"SELECT count(*) FROM leaderboard_record {period}")
        #: Records ranked before a place, by (ascending board).
        self._ahead = {
            ascending: d.sql(
                f"SELECT count(*) FROM leaderboard_record {period}"
                f" AND {_RANKING} {'<' if ascending else '>'} (?, ?, ?)"
            )
            for ascending in (True, False)
        }
        #: A page in rank order, from the top or after a place, walking up or down: by
        #: (walking ascending, from a place).
        self._page = {
            (ascending, after): d.sql(
                f"{select} {period}"
                + (f" AND {_RANKING} {'>' if ascending else '<'} (?, ?, ?)" if after else "")
                + f" {_order(ascending)} LIMIT ?"
            )
            for ascending in (True, False)
            for after in (True, False)
        }
        #: Records of listed owners; the owners' marks are added per call.
        self._owners_of = d.sql(f"{select} {period} AND owner_id IN (")
        self._d = d

    # Boards ---------------------------------------------------------------------------------

    def _get_board(self, tx: Tx, leaderboard_id: str) -> Leaderboard | None:
        row = tx.one(self._board, (leaderboard_id,))
        if row is None:
            return None
        ident, authoritative, order, operator, schedule, metadata, created, ranks = row
        return Leaderboard(
            ident,
            bool(authoritative),
            order,
            operator,
            schedule or "",
            metadata,
            int(created),
            bool(ranks),
        )

    def _board_or_fail(self, tx: Tx, leaderboard_id: str) -> Leaderboard:
        board = self._get_board(tx, leaderboard_id)
        if board is None:
            raise LeaderboardNotFound(leaderboard_id)
        return board

    def create_leaderboard(
        self, tx: Tx, board: Leaderboard, now: float
    ) -> tuple[Leaderboard, bool]:
        created = tx.run(
            self._create_board,
            (
                board.id,
                board.authoritative,
                board.sort_order,
                board.operator,
                board.reset_schedule or None,
                board.metadata,
                now,
                board.enable_ranks,
            ),
        )
        return self._board_or_fail(tx, board.id), bool(created)

    def delete_leaderboard(self, tx: Tx, leaderboard_id: str) -> bool:
        return bool(tx.run(self._delete_board, (leaderboard_id,)))

    def get_leaderboards(self, tx: Tx, leaderboard_ids: Sequence[str]) -> list[Leaderboard]:
        found = (self._get_board(tx, ident) for ident in leaderboard_ids)
        return [board for board in found if board is not None]

    # Records --------------------------------------------------------------------------------

    def write_record(
        self,
        tx: Tx,
        client: bool,
        leaderboard_id: str,
        owner_id: str,
        username: str | None,
        score: int,
        subscore: int,
        metadata: str | None,
        override: int,
        now: float,
    ) -> LeaderboardRecord:
        board = self._board_or_fail(tx, leaderboard_id)
        if board.authoritative and client:
            raise LeaderboardAuthoritative()
        operator = board.operator
        if override:
            if override not in OPERATOR_OVERRIDES:
                raise InvalidOperator(override)
            operator = OPERATOR_OVERRIDES[override]
        expiry = expiry_of(board, now)
        period = (leaderboard_id, expiry)
        stored = tx.one(self._record_locked, (*period, owner_id))
        if stored is None:
            # A decrement starts from zero; the others from the submission.
            first = (0, 0) if operator == DECREMENT else (score, subscore)
            _check_scores(*first)
            values = (leaderboard_id, owner_id, username, *first, metadata or "{}", now, now)
            if tx.run(self._insert_record, (*values, expiry)):
                return self._ranked(tx, board, _record(tx.one(self._record, (*period, owner_id))))
            stored = tx.one(self._record_locked, (*period, owner_id))  # written meanwhile
        record = _record(stored)
        merged = _merge(board.sort_order == ASCENDING, operator, record, score, subscore)
        if merged is None:
            return self._ranked(tx, board, record)
        _check_scores(*merged)
        new_metadata = record.metadata if metadata is None else metadata
        new_username = record.username if username is None else username
        tx.run(self._update_record, (*merged, new_metadata, new_username, now, *period, owner_id))
        return self._ranked(tx, board, _record(tx.one(self._record, (*period, owner_id))))

    def delete_record(
        self, tx: Tx, client: bool, leaderboard_id: str, owner_id: str, now: float
    ) -> None:
        board = self._board_or_fail(tx, leaderboard_id)
        if board.authoritative and client:
            raise LeaderboardAuthoritative()
        tx.run(self._delete_record, (leaderboard_id, expiry_of(board, now), owner_id))

    def _rank(self, tx: Tx, board: Leaderboard, record: LeaderboardRecord) -> int:
        if not board.enable_ranks:
            return 0
        place = (record.score, record.subscore, record.owner_id)
        ascending = board.sort_order == ASCENDING
        query = self._ahead[ascending]
        return int(tx.scalar(query, (board.id, record.expiry_time, *place))) + 1

    def _ranked(self, tx: Tx, board: Leaderboard, record: LeaderboardRecord) -> LeaderboardRecord:
        return replace(record, rank=self._rank(tx, board, record))

    def _rank_count(self, tx: Tx, board: Leaderboard, expiry: int) -> int:
        if not board.enable_ranks:
            return 0
        return int(tx.scalar(self._count, (board.id, expiry)))

    # Listings -------------------------------------------------------------------------------

    def list_records(
        self,
        tx: Tx,
        leaderboard_id: str,
        limit: int | None,
        cursor: str,
        owner_ids: Sequence[str],
        expiry: int,
        now: float,
    ) -> RecordList:
        board = self._board_or_fail(tx, leaderboard_id)
        return self._listed(tx, board, limit, cursor, owner_ids, expiry or expiry_of(board, now))

    def _listed(
        self,
        tx: Tx,
        board: Leaderboard,
        limit: int | None,
        cursor: str,
        owner_ids: Sequence[str],
        expiry: int,
    ) -> RecordList:
        """A page and the owners' records of ``board``'s period ending at ``expiry``."""
        page = RecordList()
        if limit is not None:
            page = self._page_of(tx, board, expiry, limit, cursor)
        owners: list[LeaderboardRecord] = []
        if owner_ids:
            params = (board.id, expiry, *owner_ids)
            query = f"{self._owners_of}{self._d.marks(len(owner_ids))})"
            rows = tx.rows(query, params)
            owners = [self._ranked(tx, board, _record(row)) for row in rows]
            owners.sort(key=_place, reverse=board.sort_order != ASCENDING)
        return replace(
            page,
            owner_records=tuple(owners),
            rank_count=self._rank_count(tx, board, expiry),
        )

    def _page_of(
        self, tx: Tx, board: Leaderboard, expiry: int, limit: int, cursor: str
    ) -> RecordList:
        """A page as Nakama pages: from a cursor's record, forwards or backwards, ranks
        counted on from the cursor's."""
        start = _start(board, expiry, cursor)
        ascending = board.sort_order == ASCENDING
        params: tuple[Any, ...] = (board.id, expiry)
        backwards = start is not None and not start.is_next
        if start is not None:
            params += (start.score, start.subscore, start.owner_id)
        walk = ascending != backwards
        rows = tx.rows(self._page[walk, start is not None], (*params, limit + 1))
        rank = start.rank if start is not None else 0
        records: list[LeaderboardRecord] = []
        following: RecordPosition | None = None
        first: RecordPosition | None = None
        for row in rows:
            record = _record(row)
            if len(records) >= limit:
                # Nakama's next page starts after the last record of this one.
                following = _position(True, records[-1], rank)
                break
            rank += -1 if backwards else 1
            records.append(replace(record, rank=rank))
            if start is not None and first is None:
                first = _position(False, records[-1], rank)
        next_at, prev_at = following, first
        if backwards:
            records.reverse()
            next_at = None if first is None else replace(first, is_next=True)
            prev_at = None if following is None else replace(following, is_next=False)
        return RecordList(
            records=tuple(records),
            next_cursor="" if next_at is None else encode_record_cursor(next_at),
            prev_cursor="" if prev_at is None else encode_record_cursor(prev_at),
        )

    def records_around(
        self,
        tx: Tx,
        leaderboard_id: str,
        owner_id: str,
        limit: int,
        cursor: str,
        expiry: int,
        now: float,
    ) -> RecordList:
        board = self._board_or_fail(tx, leaderboard_id)
        if not expiry:
            expiry = expiry_of(board, now)
        if cursor:
            return self._listed(tx, board, limit, cursor, (), expiry)
        row = tx.one(self._record, (leaderboard_id, expiry, owner_id))
        if row is None:
            return RecordList()
        own = _record(row)
        ascending = board.sort_order == ASCENDING
        params = (board.id, expiry, own.score, own.subscore, own.owner_id)
        # Those ranked just before the owner, nearest first; then those just after.
        above = [_record(r) for r in tx.rows(self._page[not ascending, True], (*params, limit + 1))]
        more_above = len(above) > limit
        above = above[:limit][::-1]
        below_limit = limit // 2
        if len(above) < below_limit:
            below_limit = limit - len(above)
        below = [
            _record(r) for r in tx.rows(self._page[ascending, True], (*params, below_limit + 1))
        ]
        more_below = len(below) > below_limit
        below = below[:below_limit]
        window = [*above, own, *below]
        start = len(window) - limit
        if start < 0 or len(above) < below_limit:
            start = 0
        if start > 0:
            more_above = True
        window = window[start : start + limit]
        if board.enable_ranks and window:
            first_rank = self._rank(tx, board, window[0])
            window = [replace(r, rank=first_rank + i) for i, r in enumerate(window)]
        return RecordList(
            records=tuple(window),
            prev_cursor=encode_record_cursor(_position(False, window[0], window[0].rank))
            if more_above
            else "",
            next_cursor=encode_record_cursor(_position(True, window[-1], window[-1].rank))
            if more_below
            else "",
            rank_count=self._rank_count(tx, board, expiry),
        )


# Rules -------------------------------------------------------------------------------------


def _merge(
    ascending: bool, operator: int, record: LeaderboardRecord, score: int, subscore: int
) -> tuple[int, int] | None:
    """The score and subscore a submission leaves, or None when it changes nothing (the
    record then stays as it is, its count and update time included), as Nakama's upsert."""
    old = (record.score, record.subscore)
    if operator == INCREMENT:
        return None if score == 0 and subscore == 0 else (old[0] + score, old[1] + subscore)
    if operator == DECREMENT:
        if score == 0 and subscore == 0:
            return None
        return max(old[0] - score, 0), max(old[1] - subscore, 0)
    if operator == SET:
        return None if old == (score, subscore) else (score, subscore)
    # Best (and, as in Nakama, anything else): score and subscore each keep their better
    # value, as Nakama's LEAST/GREATEST do.
    if ascending:
        if not (old[0] > score or old[1] > subscore):
            return None
        return min(old[0], score), min(old[1], subscore)
    if not (old[0] < score or old[1] < subscore):
        return None
    return max(old[0], score), max(old[1], subscore)


def _check_scores(score: int, subscore: int) -> None:
    if score not in SCORE_RANGE or subscore not in SCORE_RANGE:
        raise ScoreOutOfRange()


def _start(board: Leaderboard, expiry: int, cursor: str) -> RecordPosition | None:
    """Where a page starts: nowhere (the top), or a cursor of this board and period."""
    if not cursor:
        return None
    position = decode_record_cursor(cursor)
    if position.leaderboard_id != board.id or position.expiry_time != expiry:
        raise InvalidCursor(cursor)
    return position


def _position(is_next: bool, record: LeaderboardRecord, rank: int) -> RecordPosition:
    return RecordPosition(
        is_next,
        record.leaderboard_id,
        record.expiry_time,
        record.score,
        record.subscore,
        record.owner_id,
        rank,
    )


def _place(record: LeaderboardRecord) -> tuple[int, int, str]:
    return record.score, record.subscore, record.owner_id


def _record(row: Sequence[Any] | None) -> LeaderboardRecord:
    if row is None:
        raise RuntimeError("a leaderboard record vanished inside its transaction")
    board, owner, username, score, subscore, count, most, metadata, created, updated, expiry = row
    return LeaderboardRecord(
        board,
        str(owner),
        username,
        int(score),
        int(subscore),
        int(count),
        int(most),
        metadata,
        int(created),
        int(updated),
        int(expiry),
    )
