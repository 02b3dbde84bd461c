"""Leaderboards on the wire (``/v2/leaderboard``), on our server and, when configured, on
real Nakama.

Boards are made with two RPCs of a runtime module, ``lb_create`` and ``lb_write``
(``tests/leaderboard_modules``: ``leaderboards.py`` for ours, ``leaderboards.lua`` for
the reference). To run the cases on a reference Nakama too, copy ``leaderboards.lua``
into its ``data/modules`` directory, start it, and set
``NAKAMA_RT_REFERENCE=127.0.0.1:17350``. Every expectation here was observed on a
reference Nakama 3.40 (PostgreSQL); cursors are decoded with our decoder and compared
with where they should point, on both servers.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
import pytest_twisted

from nakama_rt.storage.leaderboard_cursor import (
    RecordPosition,
    decode_record_cursor,
    encode_record_cursor,
)
from nakama_rt.storage.leaderboards import reset_schedule
from tests.targets import bearer, call, cases_on_targets, expect, new_user, on_targets

MODULES = Path(__file__).parent / "leaderboard_modules"
SECONDS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@pytest.fixture
def server_options() -> dict:
    return {"runtime": {"path": str(MODULES)}}


async def rpc(target, user, name: str, **payload) -> None:
    answer = await call(target, "POST", f"/v2/rpc/{name}", orjson.dumps(payload).decode(),
                        bearer(user))  # fmt: skip
    assert answer.status == 200, answer.body


async def new_board(target, user, **settings) -> str:
    board = f"lb{uuid.uuid4().hex[:10]}"
    await rpc(target, user, "lb_create", id=board, **settings)
    return board


async def submit(target, user, board: str, record: dict | bytes):
    return await call(target, "POST", f"/v2/leaderboard/{board}", record, bearer(user))


async def listing(target, user, board: str, query: str = ""):
    return await call(target, "GET", f"/v2/leaderboard/{board}{query}", None, bearer(user))


def without_times(record: dict) -> dict:
    for name in ("create_time", "update_time"):
        assert SECONDS.match(record.pop(name)), record
    return record


def cursor(board: str, record: dict, is_next: bool) -> RecordPosition:
    """Where Nakama's cursor for a page that starts after or before ``record`` points.
    (Go numbers gob types per process, so the bytes vary with what the process encoded
    before; a cursor is compared by what it decodes to.)"""
    return RecordPosition(is_next, board, 0, int(record.get("score", 0)),
                          int(record.get("subscore", 0)), record["owner_id"],
                          int(record.get("rank", 0)))  # fmt: skip


def at(text: str) -> RecordPosition:
    return decode_record_cursor(text)


@on_targets()
@pytest_twisted.ensureDeferred
async def test_write_then_list_with_cursors_both_ways(target):
    ann, bob, cat = [await new_user(target, p) for p in ("a", "b", "c")]
    board = await new_board(target, ann)
    record = {"score": "10", "subscore": 2, "metadata": '{"b":1,"a":2}'}
    written = await submit(target, ann, board, record)
    assert written.status == 200, written.body
    assert without_times(written.json()) == {
        "leaderboard_id": board, "owner_id": ann.user_id, "username": ann.username,
        "score": "10", "subscore": "2", "num_score": 1, "metadata": '{"a": 2, "b": 1}',
        "rank": "1", "max_num_score": 1000000,
    }  # fmt: skip
    assert (await submit(target, bob, board, {"score": 30})).json()["rank"] == "1"
    third = (await submit(target, cat, board, {"score": "20"})).json()
    assert (third["rank"], third["metadata"], "subscore" in third) == ("2", "{}", False)
    first = (await listing(target, ann, board, "?limit=1")).json()
    (top,) = first["records"]
    assert (top["owner_id"], top["rank"], first["rank_count"]) == (bob.user_id, "1", "3")
    assert at(first["next_cursor"]) == cursor(board, top, True) and "prev_cursor" not in first
    second = (await listing(target, ann, board, f"?limit=1&cursor={first['next_cursor']}")).json()
    (middle,) = second["records"]
    assert (middle["owner_id"], middle["rank"]) == (cat.user_id, "2")
    assert at(second["next_cursor"]) == cursor(board, middle, True)
    assert at(second["prev_cursor"]) == cursor(board, middle, False)
    # A cursor our encoder writes is one the server takes (Nakama's own gob decoder too).
    ours = encode_record_cursor(cursor(board, top, True))
    assert (await listing(target, ann, board, f"?limit=1&cursor={ours}")).json() == second
    back = (await listing(target, ann, board, f"?limit=1&cursor={second['prev_cursor']}")).json()
    assert back["records"] == first["records"]
    assert at(back["next_cursor"]) == cursor(board, top, True) and "prev_cursor" not in back
    query = f"?owner_ids={ann.user_id}&owner_ids={cat.user_id}"
    owners = (await listing(target, ann, board, query)).json()
    assert "records" not in owners and owners["rank_count"] == "3"
    assert [(r["owner_id"], r["rank"]) for r in owners["owner_records"]] == [
        (cat.user_id, "2"), (ann.user_id, "3")]  # fmt: skip


@on_targets()
@pytest_twisted.ensureDeferred
async def test_operators_and_an_unchanged_record(target):
    ann = await new_user(target)
    board = await new_board(target, ann, operator="best", sort="asc")
    first = (await submit(target, ann, board, {"score": 50, "subscore": 5})).json()
    worse = (await submit(target, ann, board, {"score": 60, "subscore": 9})).json()
    assert worse == first  # not better on an ascending board: the record as it was
    mixed = (await submit(target, ann, board, {"score": 70, "subscore": 1})).json()
    assert (mixed["score"], mixed["subscore"], mixed["num_score"]) == ("50", "1", 2)
    incr = (await submit(target, ann, board, {"score": 5, "operator": "INCREMENT"})).json()
    assert (incr["score"], incr["num_score"]) == ("55", 3)
    decr = (await submit(target, ann, board, {"score": 100, "operator": 4})).json()
    assert ("score" in decr, decr["subscore"]) == (False, "1")  # clamped at zero


@on_targets()
@pytest_twisted.ensureDeferred
async def test_records_around_an_owner(target):
    users = [await new_user(target, f"n{i}") for i in range(6)]
    board = await new_board(target, users[0])
    for points, user in enumerate(users):
        await submit(target, user, board, {"score": points * 10})
    # Ranked 6 (score 50) down to 1 (score 0): users[2] is ranked 4th.
    around = await call(target, "GET", f"/v2/leaderboard/{board}/owner/{users[2].user_id}?limit=3",
                        None, bearer(users[0]))  # fmt: skip
    page = around.json()
    assert [(r["owner_id"], r["rank"]) for r in page["records"]] == [
        (users[3].user_id, "3"), (users[2].user_id, "4"), (users[1].user_id, "5")]  # fmt: skip
    assert page["rank_count"] == "6"
    assert at(page["prev_cursor"]) == cursor(board, page["records"][0], False)
    assert at(page["next_cursor"]) == cursor(board, page["records"][-1], True)
    stranger = await new_user(target)
    none = await call(target, "GET", f"/v2/leaderboard/{board}/owner/{stranger.user_id}",
                      None, bearer(stranger))  # fmt: skip
    assert none.status == 200 and none.body == b"{}"


@on_targets()
@pytest_twisted.ensureDeferred
async def test_a_board_that_resets_stamps_the_period_end(target):
    ann = await new_user(target)
    board = await new_board(target, ann, reset="0 0 * * *")
    record = (await submit(target, ann, board, {"score": 1})).json()
    now = datetime.now(tz=UTC).timestamp()
    midnight = reset_schedule("0 0 * * *").next_reset(now)
    expiry = datetime.fromtimestamp(midnight, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert record["expiry_time"] == expiry
    page = (await listing(target, ann, board, f"?limit=5&expiry={midnight}")).json()
    assert [r["owner_id"] for r in page["records"]] == [ann.user_id]
    past = (await listing(target, ann, board, f"?limit=5&expiry={midnight - 86400}")).json()
    assert past == {}


@on_targets()
@pytest_twisted.ensureDeferred
async def test_only_the_server_writes_to_an_authoritative_board(target):
    ann = await new_user(target)
    board = await new_board(target, ann, authoritative=True)
    expect(await submit(target, ann, board, {"score": 1}), 403, 7,
           "Leaderboard only allows authoritative score submissions.")  # fmt: skip
    expect(await call(target, "DELETE", f"/v2/leaderboard/{board}", None, bearer(ann)), 403, 7,
           "Leaderboard only allows authoritative score deletions.")  # fmt: skip
    await rpc(target, ann, "lb_write", id=board, owner_id=ann.user_id, username="x", score=4)
    (record,) = (await listing(target, ann, board, "?limit=10")).json()["records"]
    assert (record["username"], record["score"]) == ("x", "4")


@on_targets()
@pytest_twisted.ensureDeferred
async def test_delete_takes_only_the_callers_record(target):
    ann, bob = await new_user(target), await new_user(target)
    board = await new_board(target, ann)
    await submit(target, ann, board, {"score": 1})
    await submit(target, bob, board, {"score": 2})
    expect(await call(target, "DELETE", f"/v2/leaderboard/{board}", None, bearer(ann)), 200,
           None, None)  # fmt: skip
    page = (await listing(target, ann, board, "?limit=10")).json()
    assert [r["owner_id"] for r in page["records"]] == [bob.user_id]


NO_BOARD = "no-such-board"
OWNER = "6f6f1f2c-0000-4000-8000-000000000001"

# label, method, path (on a board that does not exist), body, status, code, message
ERRORS = [
    ("write to a missing board", "POST", f"/v2/leaderboard/{NO_BOARD}", {"score": 1}, 404, 5,
     "Leaderboard not found."),
    ("an empty body writes a zero", "POST", f"/v2/leaderboard/{NO_BOARD}", b"", 404, 5,
     "Leaderboard not found."),
    ("a null body", "POST", f"/v2/leaderboard/{NO_BOARD}", b"null", 400, 3,
     "proto: syntax error (line 1:1): unexpected token null"),
    ("metadata not an object", "POST", f"/v2/leaderboard/{NO_BOARD}", {"metadata": "[1]"}, 400,
     3, "Metadata value must be JSON, if provided."),
    ("metadata not JSON", "POST", f"/v2/leaderboard/{NO_BOARD}", {"metadata": "x"}, 400, 3,
     "Metadata value must be JSON, if provided."),
    ("a score that is not a number", "POST", f"/v2/leaderboard/{NO_BOARD}", {"score": "x"},
     400, 3, None),
    ("an unknown operator name", "POST", f"/v2/leaderboard/{NO_BOARD}", {"operator": "MAX"},
     404, 5, "Leaderboard not found."),
    ("delete from a missing board", "DELETE", f"/v2/leaderboard/{NO_BOARD}", None, 404, 5,
     "Leaderboard not found."),
    ("list a missing board", "GET", f"/v2/leaderboard/{NO_BOARD}", None, 404, 5,
     "Leaderboard not found."),
    ("limit 0", "GET", f"/v2/leaderboard/{NO_BOARD}?limit=0", None, 400, 3,
     "Invalid limit - limit must be between 1 and 1000."),
    ("limit 1001", "GET", f"/v2/leaderboard/{NO_BOARD}?limit=1001", None, 400, 3,
     "Invalid limit - limit must be between 1 and 1000."),
    ("limit not a number", "GET", f"/v2/leaderboard/{NO_BOARD}?limit=x", None, 400, 3,
     'parsing field "limit": strconv.ParseInt: parsing "x": invalid syntax'),
    ("an owner id that is no UUID", "GET", f"/v2/leaderboard/{NO_BOARD}?owner_ids=x", None, 400,
     3, "One or more owner IDs are invalid."),
    ("expiry not a number", "GET", f"/v2/leaderboard/{NO_BOARD}?expiry=soon", None, 400, 3,
     'parsing field "expiry": strconv.ParseInt: parsing "soon": invalid syntax'),
    ("a malformed cursor on a missing board", "GET", f"/v2/leaderboard/{NO_BOARD}?cursor=x",
     None, 404, 5, "Leaderboard not found."),
    ("around: limit 101", "GET", f"/v2/leaderboard/{NO_BOARD}/owner/{OWNER}?limit=101", None,
     400, 3, "Invalid limit - limit must be between 1 and 100."),
    ("around: a negative limit", "GET", f"/v2/leaderboard/{NO_BOARD}/owner/{OWNER}?limit=-1",
     None, 400, 3, 'parsing field "limit": strconv.ParseUint: parsing "-1": invalid syntax'),
    ("around: a signed limit (ParseUint takes no sign)", "GET",
     f"/v2/leaderboard/{NO_BOARD}/owner/{OWNER}?limit=%2B5", None, 400, 3,
     'parsing field "limit": strconv.ParseUint: parsing "+5": invalid syntax'),
    ("a signed expiry", "GET", f"/v2/leaderboard/{NO_BOARD}?expiry=%2B5", None, 404, 5,
     "Leaderboard not found."),
    ("a repeated cursor", "GET", f"/v2/leaderboard/{NO_BOARD}?cursor=a&cursor=b", None, 400, 3,
     'too many values for field "cursor": a, b'),
    ("around: an owner that is no UUID", "GET", f"/v2/leaderboard/{NO_BOARD}/owner/x", None, 400,
     3, "Invalid owner ID provided."),
    ("around: a missing board", "GET", f"/v2/leaderboard/{NO_BOARD}/owner/{OWNER}", None, 404, 5,
     "Leaderboard not found."),
]  # fmt: skip


@cases_on_targets("label, method, path, body, status, code, message", ERRORS)
@pytest_twisted.ensureDeferred
async def test_bad_requests_are_answered_as_nakama_words_them(target, label, method, path, body,
                                                              status, code, message):  # fmt: skip
    user = await new_user(target)
    expect(await call(target, method, path, body, bearer(user)), status, code, message)


@on_targets()
@pytest_twisted.ensureDeferred
async def test_failures_on_a_board_that_exists(target):
    ann = await new_user(target)
    board = await new_board(target, ann, operator="incr")
    expect(await submit(target, ann, board, {"score": -1}), 500, 13,
           "Error writing score to leaderboard.")  # fmt: skip
    await submit(target, ann, board, {"score": str(2**63 - 1)})
    expect(await submit(target, ann, board, {"score": 1}), 500, 13,
           "Error writing score to leaderboard.")  # fmt: skip
    expect(await listing(target, ann, board, "?cursor=nonsense"), 400, 3,
           "Cursor is invalid or expired.")  # fmt: skip
    other = await new_board(target, ann)
    await submit(target, ann, other, {"score": 1})
    await submit(target, await new_user(target), other, {"score": 2})
    foreign = (await listing(target, ann, other, "?limit=1")).json()["next_cursor"]
    expect(await listing(target, ann, board, f"?cursor={foreign}"), 400, 3,
           "Cursor is invalid or expired.")  # fmt: skip
    around = f"/v2/leaderboard/{board}/owner/{ann.user_id}?cursor={foreign}"
    expect(await call(target, "GET", around, None, bearer(ann)), 500, 13,
           "Error querying records from leaderboard.")  # fmt: skip
