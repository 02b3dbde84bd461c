"""End to end: the matchmaker with the official nakama-js client (node).

The scenarios are ``matchmaker`` and ``matchmaker_hook`` in
``tests/e2e/matchmaker_scenarios.mjs`` (run by ``scenarios.mjs``, see
``tests/test_e2e_nakama_js.py``), for the JSON and the protobuf adapter, each on a server
of its own whose matchmaker runs every second:

* ``matchmaker``: ``addMatchmaker``/``removeMatchmaker``; a pair with ``*`` (2..2) gets one
  token and joins the relayed match with it; four players 4..4 by
  ``+properties.region:europe`` match together while an asia player does not; a numeric
  range (``+properties.rank:>=5``) matches ranks 7 and 5, not a rank 2 player.
* ``matchmaker_hook``: the server (a copy of ``examples/runtime/arena.py`` and a module
  registering ``register_matchmaker_matched``) creates an ``arena`` match for the pair,
  who get its match id instead of a token and join it.

Every socket is gone at the end, with no ticket or presence left on the server.
"""

from __future__ import annotations

import base64
import json
import shutil
import uuid
from pathlib import Path

import pytest_twisted
from twisted.internet import reactor
from twisted.internet.task import deferLater

from tests.conftest import make_config, stop_server
from tests.test_e2e_nakama_js import (
    ADAPTERS,
    ScenarioRun,
    all_sockets_gone,
    assert_frames,
    node,  # noqa: F401  (fixture)
    run_on_own_server,
    user_id_by_http,
)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "runtime"
MATCHMAKER = {"interval_sec": 1}
HOOK_MODULE = """
def matched(ctx, logger, nk, entries):
    names = sorted(entry.presence.username for entry in entries)
    return nk.match_create("arena", {"name": "mm:" + ",".join(names)})


def init_module(ctx, logger, nk, initializer):
    initializer.register_matchmaker_matched(matched)
"""
MATCHED_KEYS_TOKEN = ["self", "ticket", "token", "users"]
MATCHED_KEYS_MATCH_ID = ["match_id", "self", "ticket", "users"]
ARENA_LABEL = json.dumps({"mode": "arena", "open": True})


async def _run(tmp_path_factory, node_path: str, adapter: str, scenario: str) -> ScenarioRun:
    tmp = tmp_path_factory.mktemp(f"{scenario}-{adapter}")
    sections: dict = {}
    if scenario == "matchmaker_hook":
        modules = tmp / "modules"
        modules.mkdir()
        shutil.copy(EXAMPLES / "arena.py", modules / "arena.py")
        (modules / "matchmaking.py").write_text(HOOK_MODULE)
        sections["runtime"] = {"path": str(modules)}
    config = make_config(tmp, matchmaker=MATCHMAKER, **sections)
    return await run_on_own_server(node_path, config, adapter, scenario)


@pytest_twisted.async_yield_fixture(scope="module", params=ADAPTERS)
async def mm_run(request, tmp_path_factory, node):  # noqa: F811
    run = await _run(tmp_path_factory, node, request.param, "matchmaker")
    try:
        yield run
    finally:
        await stop_server(run.server)


@pytest_twisted.async_yield_fixture(scope="module", params=ADAPTERS)
async def hook_run(request, tmp_path_factory, node):  # noqa: F811
    run = await _run(tmp_path_factory, node, request.param, "matchmaker_hook")
    try:
        yield run
    finally:
        await stop_server(run.server)


# --- expected values ----------------------------------------------------------------------------


def presence(user: dict, session_id: str) -> dict:
    return {
        "user_id": user["user_id"],
        "session_id": session_id,
        "username": user["username"],
        "status": None,
        "persistence": False,
    }


def mm_user(user: dict, session_id: str, strings: dict, numerics: dict) -> dict:
    return {
        "presence": presence(user, session_id),
        "party_id": None,
        "string_properties": strings,
        "numeric_properties": numerics,
    }


def sessions_of(matched: dict) -> dict[str, str]:
    """user id -> session id, as a matchmaker_matched lists its users."""
    return {u["presence"]["user_id"]: u["presence"]["session_id"] for u in matched["users"]}


def by_name(users: list[dict]) -> list[dict]:
    return sorted(users, key=lambda u: u["presence"]["username"])


def token_match_id(token: str) -> str:
    """The match id inside a matchmaker token (a signed JWT, claim ``mid``)."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["mid"]


def assert_group(facts: dict, matched: dict, tickets: dict, props: dict) -> str:
    """Every member of a group got the same token, its own ticket and self, and the same
    users (each with its properties); the token's relayed match id is returned."""
    users = facts["users"]
    first = matched[next(iter(matched))]
    sessions = sessions_of(first)
    expected_users = by_name(
        [mm_user(users[k], sessions[users[k]["user_id"]], *props[k]) for k in matched]
    )
    assert len(set(sessions.values())) == len(matched)
    for key, got in matched.items():
        assert got["keys"] == MATCHED_KEYS_TOKEN
        assert got["ticket"] == tickets[key]
        assert got["token"] == first["token"] and got["match_id"] is None
        assert got["self"] == mm_user(users[key], sessions[users[key]["user_id"]], *props[key])
        assert got["users"] == expected_users
    match_id = token_match_id(first["token"])
    subject, _, node_name = match_id.partition(".")
    assert node_name == "" and uuid.UUID(subject).version == 4, match_id
    return match_id


# --- matchmaker ---------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_users(mm_run) -> None:
    facts, port = mm_run.facts, mm_run.server.port
    for key in ("S", "A", "E1", "X", "R3"):
        user = facts["users"][key]
        assert user["user_id"] == await user_id_by_http(port, user["custom_id"])
    assert len({u["user_id"] for u in facts["users"].values()}) == 11


def test_add_and_remove(mm_run) -> None:
    facts = mm_run.facts
    assert uuid.UUID(facts["solo_ticket"]).version == 4
    assert facts["solo_remove_answer"] == ["cid"]  # an empty answer
    assert facts["solo_remove_again"] == {"code": 3, "message": "Matchmaker ticket not found"}
    assert facts["solo_ok_after"] is True


def test_pair_with_any_query(mm_run) -> None:
    facts = mm_run.facts
    props = {
        "A": ({"mode": "duel"}, {"skill": 10}),
        "B": ({"mode": "duel", "side": "b"}, {"skill": 12.5}),
    }
    match_id = assert_group(facts, facts["pair_matched"], facts["pair_tickets"], props)
    sessions = sessions_of(facts["pair_matched"]["A"])
    users = facts["users"]
    pa, pb = (presence(users[k], sessions[users[k]["user_id"]]) for k in "AB")

    # Both join the relayed match by token; B finds A there, A is told of B.
    joins = facts["pair_join"]
    for key, self_, others in (("A", pa, []), ("B", pb, [pa])):
        assert joins[key] == {
            "match_id": match_id,
            "authoritative": False,
            "label": None,
            "size": len(others),
            "self": self_,
            "presences": others,
        }
    event = {"match_id": match_id, "leaves": []}
    assert facts["pair_a_events"] == [{**event, "joins": [pa]}, {**event, "joins": [pb]}]
    assert facts["pair_b_events"] == [{**event, "joins": [pb]}]


def test_four_by_region_without_asia(mm_run) -> None:
    facts = mm_run.facts
    europe = ["E1", "E2", "E3", "E4"]
    props = {k: ({"region": "europe"}, {}) for k in europe}
    match_id = assert_group(facts, facts["region_matched"], facts["region_tickets"], props)
    asia = facts["users"]["X"]["user_id"]
    assert all(asia not in sessions_of(m) for m in facts["region_matched"].values())
    # Each joins by token in turn and finds those before it.
    joins = facts["region_joins"]
    sessions = sessions_of(facts["region_matched"]["E1"])
    seen = []
    for key in europe:
        me = presence(facts["users"][key], sessions[facts["users"][key]["user_id"]])
        got = joins[key]
        assert (got["match_id"], got["authoritative"], got["size"]) == (match_id, False, len(seen))
        assert got["self"] == me
        assert got["presences"] == sorted(seen, key=lambda p: p["username"])
        seen.append(me)
    # The asia ticket was never matched, and was still there to remove.
    assert facts["left_unmatched"]["X"] == []
    assert facts["unmatched_remove"]["X"] == ["cid"]


def test_numeric_range(mm_run) -> None:
    facts = mm_run.facts
    props = {"R1": ({}, {"rank": 7}), "R2": ({}, {"rank": 5})}
    tickets = facts["rank_tickets"]
    assert_group(facts, facts["rank_matched"], tickets, props)
    low = facts["users"]["R3"]["user_id"]
    assert all(low not in sessions_of(m) for m in facts["rank_matched"].values())
    assert facts["left_unmatched"]["R3"] == []
    assert facts["unmatched_remove"]["R3"] == ["cid"]
    # Three groups, three matches.
    tokens = {
        facts["pair_matched"]["A"]["token"],
        facts["region_matched"]["E1"]["token"],
        facts["rank_matched"]["R1"]["token"],
    }
    assert len(tokens) == 3


@pytest_twisted.ensureDeferred
async def test_nothing_left(mm_run) -> None:
    facts, server = mm_run.facts, mm_run.server
    # No socket got a second matchmaker_matched, nor one it should not have.
    assert all(items == [] for items in facts["left_unmatched"].values())
    assert all(close["was_clean"] is True for close in facts["closes"].values())
    assert_frames(facts, mm_run.adapter)
    await all_sockets_gone(server)
    assert len(server.server.matchmaker) == 0, "tickets left on the server"
    assert len(server.server.tracker) == 0, "presences left on the server"


# --- matchmaker_hook --------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_hook_gives_a_match_id(hook_run) -> None:
    facts, server = hook_run.facts, hook_run.server
    users = facts["users"]
    h1, h2 = facts["matched"]["H1"], facts["matched"]["H2"]
    sessions = sessions_of(h1)
    me = {k: mm_user(users[k], sessions[users[k]["user_id"]], {"mode": "arena"}, {}) for k in users}
    match_id = h1["match_id"]
    subject, _, node_name = match_id.partition(".")
    assert node_name == "nakama" and uuid.UUID(subject).version == 4, match_id
    for key, got in facts["matched"].items():
        assert got["keys"] == MATCHED_KEYS_MATCH_ID
        assert got["ticket"] == facts["tickets"][key]
        assert got["match_id"] == match_id and got["token"] is None
        assert got["self"] == me[key]
        assert got["users"] == by_name(list(me.values()))
    assert h2["users"] == h1["users"]

    # Both join the arena with a team; H1 is told of H2.
    p1, p2 = (m["presence"] for m in (me["H1"], me["H2"]))
    for key, self_, others in (("H1", p1, []), ("H2", p2, [p1])):
        assert facts["joins"][key] == {
            "match_id": match_id,
            "authoritative": True,
            "label": ARENA_LABEL,
            "size": len(others),
            "self": self_,
            "presences": others,
        }
    event = {"match_id": match_id, "leaves": []}
    assert facts["h1_events"] == [{**event, "joins": [p1]}, {**event, "joins": [p2]}]
    assert facts["left_unmatched"] == {"H1": [], "H2": []}

    # The hook's match_create got the matched users; both left when their sockets went.
    match = server.server.match_registry.get(match_id)
    names = sorted(users[k]["username"] for k in users)
    assert match is not None and match.state["name"] == "mm:" + ",".join(names)
    assert all(close["was_clean"] is True for close in facts["closes"].values())
    assert_frames(facts, hook_run.adapter)
    await all_sockets_gone(server)
    assert len(server.server.matchmaker) == 0, "tickets left on the server"
    for _ in range(40):  # the match hears of the leaves on its next ticks
        if not match.state["players"]:
            break
        await deferLater(reactor, 0.05, lambda: None)
    assert match.state["players"] == {}
