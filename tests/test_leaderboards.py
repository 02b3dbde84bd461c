"""Leaderboards in the storage and through ``nk.leaderboard_*``, on both backends: the
operators, ranks, pages and cursors, records around an owner, reset periods, and
records surviving a restart. Rules are Nakama's core_leaderboard.go."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime

import pytest
import pytest_twisted
from storage_fixtures import clock_and_storage
from twisted.internet.defer import succeed

from nakama_rt.runtime import NakamaModule
from nakama_rt.storage import open_storage
from nakama_rt.storage.leaderboards import (
    LeaderboardAuthoritative,
    LeaderboardNotFound,
    ScoreOutOfRange,
    reset_schedule,
)
from nakama_rt.storage.social import InvalidCursor

#: A Sunday, 12:00 UTC.
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC).timestamp()
clock, storage = clock_and_storage(NOW)


class NoNotifications:
    def send(self, notifications):
        return succeed(None)


@pytest.fixture
def nk(storage):
    return NakamaModule(storage, NoNotifications())


def owners(count: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(count)]


def expected_order(scores: dict[str, tuple[int, int]], ascending: bool) -> list[str]:
    """Owners in rank order, as Nakama ranks them: score, subscore, owner id."""
    ranked = sorted(scores, key=lambda o: (*scores[o], uuid.UUID(o).bytes))
    return ranked if ascending else ranked[::-1]


# Boards ------------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_create_is_idempotent_and_delete_takes_the_records(nk, storage):
    await nk.leaderboard_create("lb", False, "asc", "set", "", {"b": 1, "a": [1]})
    await nk.leaderboard_create("lb", True, "desc", "best", "0 0 * * *", {})
    (board,) = await nk.leaderboards_get_id(["lb", "missing", "lb"])
    assert (board.id, board.authoritative, board.sort_order, board.operator) == ("lb", False, 0, 1)
    assert board.reset_schedule == "" and board.create_time == int(NOW)
    assert board.metadata == '{"a": [1], "b": 1}'  # as PostgreSQL's JSONB writes it
    (owner,) = owners(1)
    await nk.leaderboard_record_write("lb", owner, "ann", 5)
    await nk.leaderboard_delete("lb")
    await nk.leaderboard_delete("lb")  # deleting what is not there: no error
    assert await nk.leaderboards_get_id(["lb"]) == []
    with pytest.raises(LeaderboardNotFound):
        await storage.list_leaderboard_records("lb", 10, "", [], 0)
    await nk.leaderboard_create("lb")
    records, *_ = await nk.leaderboard_records_list("lb", limit=10)
    assert records == []  # the old board's records went with it


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"id": ""}, "expects a leaderboard ID string"),
        ({"id": "x", "sort_order": "up"}, "expects sort order to be 'asc' or 'desc'"),
        ({"id": "x", "operator": "max"}, "expects operator to be 'best', 'set', 'incr' or 'decr'"),
        ({"id": "x", "reset_schedule": "every day"}, "valid CRON expression"),
        ({"id": "x", "reset_schedule": "61 * * * *"}, "valid CRON expression"),
        ({"id": "x", "metadata": "[1]"}, "metadata cannot be stored"),
    ],
)
def test_create_refuses_bad_settings_before_any_query(nk, kwargs, message):
    with pytest.raises(ValueError, match=message):
        nk.leaderboard_create(**kwargs)


OWNER = "6f6f1f2c-0000-4000-8000-000000000001"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda nk: nk.leaderboard_record_write("lb", "not-a-uuid"), "owner ID"),
        (lambda nk: nk.leaderboard_record_write("lb", OWNER, 7), "username to be a string"),
        (lambda nk: nk.leaderboard_record_write("lb", OWNER, "", 1.5), "score to be an integer"),
        (lambda nk: nk.leaderboard_record_write("lb", OWNER, "", 1, -1), "subscore to be >= 0"),
        (lambda nk: nk.leaderboard_record_write("lb", OWNER, "", 1, 0, "[1]"), "metadata"),
        (lambda nk: nk.leaderboard_record_write("x" * 129, OWNER), "at most 128"),
        (lambda nk: nk.leaderboard_record_delete("lb", ""), "owner ID"),
        (lambda nk: nk.leaderboard_records_list("lb", limit=10_001), "limit to be 0-10000"),
        (lambda nk: nk.leaderboard_records_list("lb", expiry=-1), "expiry to equal or greater"),
        (lambda nk: nk.leaderboard_records_list("lb", ["nope"]), "owner ID"),
        (lambda nk: nk.leaderboard_records_haystack("lb", OWNER, 0), "limit must be 1-100"),
        (lambda nk: nk.leaderboard_records_haystack("lb", OWNER, 101), "limit must be 1-100"),
    ],
)
def test_record_calls_refuse_bad_arguments_before_any_query(nk, call, message):
    with pytest.raises(ValueError, match=message):
        call(nk)


def test_schedules_read_as_nakama_reads_them():
    sunday_noon = NOW
    assert reset_schedule("0 0 * * 1").next_reset(sunday_noon) == int(
        datetime(2026, 12, 7, tzinfo=UTC).timestamp()
    )
    assert reset_schedule("@daily").previous_reset(sunday_noon) == int(
        datetime(2026, 12, 6, tzinfo=UTC).timestamp()
    )
    # Six fields: the sixth is a year (croniter alone would read seconds there).
    assert reset_schedule("0 0 1 1 * 2028").next_reset(sunday_noon) == int(
        datetime(2028, 1, 1, tzinfo=UTC).timestamp()
    )
    # Seven: seconds first, then a year.
    assert reset_schedule("30 0 0 * * * *").next_reset(sunday_noon) == int(
        datetime(2026, 12, 7, 0, 0, 30, tzinfo=UTC).timestamp()
    )
    assert reset_schedule("0 0 1 1 * 2020").next_reset(sunday_noon) == 0  # no more resets


# Operators ---------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_best_keeps_the_better_score_and_subscore_each(nk, clock):
    await nk.leaderboard_create("best", sort_order="desc", operator="best")
    (owner,) = owners(1)
    first = await nk.leaderboard_record_write("best", owner, "ann", 10, 5, {"try": 1})
    assert (first.score, first.subscore, first.num_score, first.rank) == (10, 5, 1, 1)
    assert (first.username, first.max_num_score, first.expiry_time) == ("ann", 1_000_000, 0)
    clock.advance(60)
    worse = await nk.leaderboard_record_write("best", owner, "", 9, 5, {"try": 2})
    assert worse == first  # nothing better: the record as it was, count and times too
    clock.advance(60)
    mixed = await nk.leaderboard_record_write("best", owner, "", 8, 7)
    assert (mixed.score, mixed.subscore, mixed.num_score) == (10, 7, 2)
    assert mixed.metadata == first.metadata and mixed.username == "ann"
    assert mixed.update_time == int(NOW) + 120 and mixed.create_time == int(NOW)
    await nk.leaderboard_create("low", sort_order="asc", operator="best")
    await nk.leaderboard_record_write("low", owner, "", 10, 10)
    low = await nk.leaderboard_record_write("low", owner, "", 12, 3)
    assert (low.score, low.subscore) == (10, 3)


@pytest_twisted.ensureDeferred
async def test_set_increment_and_decrement(nk):
    (owner,) = owners(1)
    await nk.leaderboard_create("set", operator="set")
    await nk.leaderboard_record_write("set", owner, "", 10, 1)
    assert (await nk.leaderboard_record_write("set", owner, "", 3, 0)).score == 3
    same = await nk.leaderboard_record_write("set", owner, "", 3, 0)
    assert same.num_score == 2  # the same values again change nothing
    await nk.leaderboard_create("incr", operator="incr")
    await nk.leaderboard_record_write("incr", owner, "", 10, 1)
    record = await nk.leaderboard_record_write("incr", owner, "", 5, 2)
    assert (record.score, record.subscore, record.num_score) == (15, 3, 2)
    assert (await nk.leaderboard_record_write("incr", owner, "", 0, 0)).num_score == 2
    await nk.leaderboard_create("decr", operator="decr")
    first = await nk.leaderboard_record_write("decr", owner, "", 7, 7)
    assert (first.score, first.subscore) == (0, 0)  # a decrement starts from zero
    await nk.leaderboard_record_write("decr", owner, "", 5, 0, override_operator=2)  # set
    record = await nk.leaderboard_record_write("decr", owner, "", 8, 0)
    assert (record.score, record.num_score) == (0, 3)  # never below zero


@pytest_twisted.ensureDeferred
async def test_an_override_operator_applies_to_one_write(nk):
    (owner,) = owners(1)
    await nk.leaderboard_create("o", operator="best")
    await nk.leaderboard_record_write("o", owner, "", 10)
    assert (await nk.leaderboard_record_write("o", owner, "", 4, override_operator=3)).score == 14
    assert (await nk.leaderboard_record_write("o", owner, "", 1, override_operator=4)).score == 13
    assert (await nk.leaderboard_record_write("o", owner, "", 2, override_operator=2)).score == 2
    assert (await nk.leaderboard_record_write("o", owner, "", 1)).score == 2
    with pytest.raises(ValueError, match="invalid operator"):
        nk.leaderboard_record_write("o", owner, "", 1, override_operator=7)


@pytest_twisted.ensureDeferred
async def test_scores_out_of_range_are_refused_on_both_backends(nk, storage):
    (owner,) = owners(1)
    await nk.leaderboard_create("r", operator="incr")
    with pytest.raises(ValueError, match="score to be >= 0"):
        nk.leaderboard_record_write("r", owner, "", -1)
    await nk.leaderboard_record_write("r", owner, "", 2**63 - 1)
    with pytest.raises(ScoreOutOfRange):
        await nk.leaderboard_record_write("r", owner, "", 1)
    with pytest.raises(ScoreOutOfRange):  # a client's negative first score
        await storage.write_leaderboard_record(owner, "r", owners(1)[0], None, -5, 0, None)
    (record,), *_ = await nk.leaderboard_records_list("r", limit=5)
    assert record.score == 2**63 - 1


@pytest_twisted.ensureDeferred
async def test_only_the_server_changes_an_authoritative_board(nk, storage):
    player, other = owners(2)
    await nk.leaderboard_create("auth", authoritative=True)
    with pytest.raises(LeaderboardAuthoritative):
        await storage.write_leaderboard_record(player, "auth", player, "p", 1, 0, None)
    record = await nk.leaderboard_record_write("auth", player, "p", 1)
    with pytest.raises(LeaderboardAuthoritative):
        await storage.delete_leaderboard_record(player, "auth", player)
    await nk.leaderboard_record_delete("auth", player)
    await nk.leaderboard_record_delete("auth", other)  # nothing there: no error
    assert record.rank == 1
    with pytest.raises(LeaderboardNotFound):
        await storage.write_leaderboard_record(player, "nope", player, "p", 1, 0, None)


# Ranks and pages ---------------------------------------------------------------------------


async def fill(nk, board: str, count: int, ascending: bool, seed: int) -> dict:
    """``count`` owners with scores that tie often; their scores."""
    await nk.leaderboard_create(board, sort_order="asc" if ascending else "desc", operator="set")
    chance = random.Random(seed)
    scores = {o: (chance.randrange(4), chance.randrange(3)) for o in owners(count)}
    for owner, (score, subscore) in scores.items():
        await nk.leaderboard_record_write(board, owner, "", score, subscore)
    return scores


@pytest.mark.parametrize("ascending", [True, False])
@pytest_twisted.ensureDeferred
async def test_pages_forwards_and_backwards_with_ranks(nk, storage, ascending):
    scores = await fill(nk, "pages", 23, ascending, seed=7)
    order = expected_order(scores, ascending)
    pages, cursor = [], ""
    while True:
        page = await storage.list_leaderboard_records("pages", 5, cursor, [], 0)
        pages.append(page)
        assert page.rank_count == 23
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    listed = [r for page in pages for r in page.records]
    assert [r.owner_id for r in listed] == order
    assert [r.rank for r in listed] == list(range(1, 24))
    assert pages[0].prev_cursor == "" and all(p.prev_cursor for p in pages[1:])
    # Back from the last page: each previous page is the page that was read before it.
    cursor = pages[-1].prev_cursor
    for expected in reversed(pages[:-1]):
        page = await storage.list_leaderboard_records("pages", 5, cursor, [], 0)
        assert page.records == expected.records
        cursor = page.prev_cursor
    assert cursor == ""
    # A write's rank is its place in the same order.
    owner = order[7]
    rank = (await nk.leaderboard_record_write("pages", owner, "", *scores[owner])).rank
    assert rank == 8


@pytest_twisted.ensureDeferred
async def test_owner_records_come_ranked_in_board_order(nk):
    scores = await fill(nk, "own", 12, False, seed=3)
    order = expected_order(scores, False)
    wanted = [order[9], order[2], order[5], str(uuid.uuid4())]
    records, owner_records, next_cursor, _ = await nk.leaderboard_records_list(
        "own", wanted, limit=0
    )
    assert records == [] and next_cursor == ""
    assert [(r.owner_id, r.rank) for r in owner_records] == [
        (order[2], 3),
        (order[5], 6),
        (order[9], 10),
    ]


@pytest_twisted.ensureDeferred
async def test_cursors_of_another_board_or_malformed_are_refused(nk, storage):
    await fill(nk, "a", 4, False, seed=1)
    await fill(nk, "b", 4, False, seed=2)
    page = await storage.list_leaderboard_records("a", 1, "", [], 0)
    for cursor in (page.next_cursor, "not-a-cursor", page.next_cursor[:-4]):
        with pytest.raises(InvalidCursor):
            await storage.list_leaderboard_records("b" if cursor == page.next_cursor else "a",
                                                   1, cursor, [], 0)  # fmt: skip


@pytest_twisted.ensureDeferred
async def test_ranks_disabled_report_none(nk, storage):
    await nk.leaderboard_create("quiet", enable_ranks=False)
    a, b = owners(2)
    assert (await nk.leaderboard_record_write("quiet", a, "", 5)).rank == 0
    await nk.leaderboard_record_write("quiet", b, "", 7)
    page = await storage.list_leaderboard_records("quiet", 10, "", [a], 0)
    assert [r.rank for r in page.records] == [1, 2]  # a page's own counting stays
    assert page.owner_records[0].rank == 0 and page.rank_count == 0


@pytest.mark.parametrize("limit", [1, 2, 5, 10])
@pytest.mark.parametrize("ascending", [True, False])
@pytest_twisted.ensureDeferred
async def test_records_around_an_owner(nk, storage, ascending, limit):
    scores = await fill(nk, "near", 15, ascending, seed=limit)
    order = expected_order(scores, ascending)
    for index in (0, 1, 7, 13, 14):
        owner = order[index]
        page = await nk.leaderboard_records_haystack("near", owner, limit)
        ids = [r.owner_id for r in page.records]
        assert owner in ids and len(ids) == min(limit, 15)
        start = order.index(ids[0])
        assert ids == order[start : start + len(ids)]
        assert [r.rank for r in page.records] == list(range(start + 1, start + 1 + len(ids)))
        assert page.rank_count == 15
        assert bool(page.prev_cursor) == (start > 0)
    nobody = await nk.leaderboard_records_haystack("near", str(uuid.uuid4()), limit)
    assert nobody.records == ()


# Periods and restarts ----------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_a_reset_starts_a_new_period(nk, storage, clock):
    player, other = owners(2)
    await nk.leaderboard_create("daily", operator="incr", reset_schedule="0 0 * * *")
    first = await nk.leaderboard_record_write("daily", player, "", 5)
    midnight = int(datetime(2026, 12, 7, tzinfo=UTC).timestamp())
    assert first.expiry_time == midnight
    clock.advance(13 * 3600)  # 01:00 the next day
    again = await nk.leaderboard_record_write("daily", player, "", 2)
    assert (again.score, again.num_score, again.expiry_time) == (2, 1, midnight + 86400)
    await nk.leaderboard_record_write("daily", other, "", 1)
    now_page = await storage.list_leaderboard_records("daily", 10, "", [], 0)
    assert [(r.owner_id, r.score) for r in now_page.records] == [(player, 2), (other, 1)]
    old = await storage.list_leaderboard_records("daily", 10, "", [], midnight)
    assert [(r.owner_id, r.score, r.rank) for r in old.records] == [(player, 5, 1)]
    await nk.leaderboard_record_delete("daily", player)  # the current period's only
    old = await storage.list_leaderboard_records("daily", 10, "", [], midnight)
    assert len(old.records) == 1


@pytest_twisted.ensureDeferred
async def test_records_survive_a_restart(nk, storage, clock):
    a, b = owners(2)
    await nk.leaderboard_create("kept", metadata={"season": 1})
    await nk.leaderboard_record_write("kept", a, "ann", 3, 1, {"x": 1})
    await nk.leaderboard_record_write("kept", b, "bob", 9)
    # A new storage on the same database: what a restarted process opens.
    reopened = open_storage(storage.address, clock)
    await reopened.start()
    try:
        page = await reopened.list_leaderboard_records("kept", 10, "", [], 0)
        assert [(r.owner_id, r.username, r.score, r.rank) for r in page.records] == [
            (b, "bob", 9, 1),
            (a, "ann", 3, 2),
        ]
        assert page.records[1].metadata == '{"x": 1}'
        (board,) = await reopened.get_leaderboards(["kept"])
        assert board.metadata == '{"season": 1}'
    finally:
        await reopened.stop()
