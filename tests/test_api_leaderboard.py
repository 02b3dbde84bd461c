"""``/v2/leaderboard`` over HTTP on both backends: a player's writes, pages, records
around an owner and deletes, with boards the server made (what the conformance cases
check against a reference Nakama, there on SQLite only)."""

from __future__ import annotations

import pytest
import pytest_twisted
from test_social_api import Social, social  # noqa: F401 (social: a fixture)


async def board(social: Social, name: str, **settings) -> str:  # noqa: F811
    storage = social.server.context.storage
    options = {"authoritative": False, "sort_order": 1, "operator": 0, "reset_schedule": ""}
    options |= settings
    await storage.create_leaderboard(name, **options, metadata="{}", enable_ranks=True)
    return name


@pytest_twisted.ensureDeferred
async def test_players_write_list_page_and_delete(social: Social):  # noqa: F811
    ann, bob, cat = [await social.player(n) for n in ("ann", "bob", "cat")]
    lb = await board(social, "weekly", reset_schedule="0 0 * * 1")
    first = await social.ok(
        "POST", f"/v2/leaderboard/{lb}", ann, {"score": "7", "metadata": '{"k":1}'}
    )
    assert (first["score"], first["rank"], first["metadata"], first["username"]) == (
        "7", "1", '{"k": 1}', "ann")  # fmt: skip
    assert first["expiry_time"].endswith("T00:00:00Z")
    await social.ok("POST", f"/v2/leaderboard/{lb}", bob, {"score": 9, "subscore": 1})
    await social.ok("POST", f"/v2/leaderboard/{lb}", cat, {"score": 9})
    page = await social.ok("GET", f"/v2/leaderboard/{lb}?limit=2", ann)
    assert [(r["username"], r["rank"]) for r in page["records"]] == [("bob", "1"), ("cat", "2")]
    assert page["rank_count"] == "3" and "prev_cursor" not in page
    rest = await social.ok("GET", f"/v2/leaderboard/{lb}?limit=2&cursor={page['next_cursor']}", ann)
    assert [(r["username"], r["rank"]) for r in rest["records"]] == [("ann", "3")]
    back = await social.ok("GET", f"/v2/leaderboard/{lb}?limit=2&cursor={rest['prev_cursor']}", ann)
    assert back["records"] == page["records"]
    near = await social.ok("GET", f"/v2/leaderboard/{lb}/owner/{cat.id}?limit=1", bob)
    assert [r["username"] for r in near["records"]] == ["cat"]
    assert await social.ok("DELETE", f"/v2/leaderboard/{lb}", cat) == {}
    mine = await social.ok("GET", f"/v2/leaderboard/{lb}?owner_ids={ann.id}", bob)
    assert [(r["username"], r["rank"]) for r in mine["owner_records"]] == [("ann", "2")]


@pytest.mark.parametrize(
    ("body", "status"),
    [({"score": -1}, 500), ({"score": "x"}, 400), ({"metadata": "[]"}, 400), (b"null", 400)],
)
@pytest_twisted.ensureDeferred
async def test_bad_writes_on_a_board_that_exists(social: Social, body, status):  # noqa: F811
    ann = await social.player("ann")
    lb = await board(social, "b")
    reply = await social.call("POST", f"/v2/leaderboard/{lb}", ann, body)
    assert reply.status == status, reply.body
    assert await social.ok("GET", f"/v2/leaderboard/{lb}?limit=5", ann) == {}
