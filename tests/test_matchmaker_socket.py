"""The matchmaker over real sockets, both formats: tickets, errors, matches, runtime hook."""

from __future__ import annotations

import re
import textwrap
import uuid

import pytest
import pytest_twisted

from tests.wsclient import answer, authenticate, has, http, player, wait_for

FORMATS = ["json", "protobuf"]
#: A protojson Timestamp: RFC 3339 in UTC, 0, 3, 6 or 9 fraction digits.
STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3}|\.\d{6}|\.\d{9})?Z")

HOOK_MODULE = """
class Arena:
    def match_init(self, ctx, logger, nk, params):
        return {"players": params["players"]}, 10, "arena"

    def match_join_attempt(self, ctx, logger, nk, dispatcher, tick, state, presence, metadata):
        return state, True, ""

    def match_join(self, ctx, logger, nk, dispatcher, tick, state, presences):
        return state

    def match_leave(self, ctx, logger, nk, dispatcher, tick, state, presences):
        return state

    def match_loop(self, ctx, logger, nk, dispatcher, tick, state, messages):
        return state

    def match_terminate(self, ctx, logger, nk, dispatcher, tick, state, grace_seconds):
        return state

    def match_signal(self, ctx, logger, nk, dispatcher, tick, state, data):
        return state, data


def matched(ctx, logger, nk, entries):
    names = sorted(e.presence.username for e in entries)
    return nk.match_create("arena", {"players": names})


def init_module(ctx, logger, nk, initializer):
    initializer.register_match("arena", Arena)
    initializer.register_matchmaker_matched(matched)
"""


def with_runtime(source: str):
    """Run the test's server with ``source`` as its runtime module."""

    def mark(test):
        test.runtime_module = source
        return test

    return mark


@pytest.fixture
def server_options(request, tmp_path) -> dict:
    options: dict = {"matchmaker": {"interval_sec": 1}}
    source = getattr(request.function, "runtime_module", None)
    if source is not None:
        modules = tmp_path / "modules"
        modules.mkdir()
        (modules / "matchmaking.py").write_text(textwrap.dedent(source))
        options["runtime"] = {"path": str(modules)}
    return options


def ticket_request(cid: str, **fields) -> dict:
    request = {"min_count": 2, "max_count": 2, "query": "*"}
    request.update(fields)
    return {"cid": cid, "matchmaker_add": request}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest_twisted.ensureDeferred
async def test_add_and_remove_tickets(server, fmt) -> None:
    client = await player(server.port, "solo", fmt)
    reply = await answer(client, ticket_request("1", query="+properties.mode:nobody"))
    ticket = reply["matchmaker_ticket"]["ticket"]
    assert uuid.UUID(ticket) and reply["cid"] == "1"
    assert server.server.matchmaker.tickets_of(next(iter(server.server.sessions)).id) == [ticket]
    removal = {"cid": "2", "matchmaker_remove": {"ticket": ticket}}
    assert await answer(client, removal) == {"cid": "2"}
    again = await answer(client, {**removal, "cid": "3"})
    assert again["error"] == {"code": 3, "message": "Matchmaker ticket not found"}
    empty = await answer(client, {"cid": "4", "matchmaker_remove": {}})
    assert empty["error"] == {"code": 3, "message": "Invalid matchmaker ticket"}
    assert len(server.server.matchmaker) == 0


@pytest.mark.parametrize("fmt", FORMATS)
@pytest_twisted.ensureDeferred
async def test_add_errors(server, fmt) -> None:
    client = await player(server.port, "errors", fmt)
    cases = [
        ({"min_count": 1}, 3, "Invalid minimum count, must be >= 2"),
        ({"max_count": 1}, 3, "Invalid maximum count, must be >= minimum count"),
        ({"count_multiple": 0}, 3, "Invalid count multiple, must be >= 1"),
        ({"min_count": 3, "max_count": 6, "count_multiple": 2}, 3, "minimum count, must divide"),
        ({"max_count": 5, "count_multiple": 2}, 3, "maximum count, must divide"),
        ({"query": "+properties.a:b:c"}, 0, "Error adding to matchmaker"),
    ]
    for at, (fields, code, message) in enumerate(cases):
        reply = await answer(client, ticket_request(str(at), **fields))
        error = reply["error"]
        assert error.get("code", 0) == code and message in error["message"], fields
    for at in range(3):  # max_tickets
        reply = await answer(client, ticket_request(f"t{at}", query="+properties.x:none"))
        assert "matchmaker_ticket" in reply
    refused = await answer(client, ticket_request("t3"))
    assert refused["error"] == {"message": "Error adding to matchmaker"}  # code 0 is omitted
    client.sendClose(1000)
    await client.closed()
    assert len(server.server.matchmaker) == 0, "a closed session's tickets are gone"


@pytest.mark.parametrize("fmt", FORMATS)
@pytest_twisted.ensureDeferred
async def test_a_matched_pair_joins_the_relayed_match_by_token(server, fmt) -> None:
    other_fmt = "protobuf" if fmt == "json" else "json"
    a = await player(server.port, "alice", fmt)
    b = await player(server.port, "bob", other_fmt)
    ta = (await answer(a, ticket_request("a", string_properties={"region": "eu"})))[
        "matchmaker_ticket"
    ]["ticket"]
    tb = (await answer(b, ticket_request("b", numeric_properties={"rank": 5})))[
        "matchmaker_ticket"
    ]["ticket"]
    got_a, _ = await wait_for(a, has("matchmaker_matched"), timeout=5)
    got_b, _ = await wait_for(b, has("matchmaker_matched"), timeout=5)
    ma, mb = got_a["matchmaker_matched"], got_b["matchmaker_matched"]
    assert (ma["ticket"], mb["ticket"]) == (ta, tb)
    assert ma["token"] == mb["token"] and "match_id" not in ma
    assert ma["self"]["presence"]["username"] == "alice"
    assert mb["self"]["presence"]["username"] == "bob"
    users = {u["presence"]["username"]: u for u in ma["users"]}
    assert users["alice"]["string_properties"] == {"region": "eu"}
    assert users["bob"]["numeric_properties"] == {"rank": 5}
    assert ma["users"] == mb["users"]

    joined_a = (await answer(a, {"cid": "ja", "match_join": {"token": ma["token"]}}))["match"]
    joined_b = (await answer(b, {"cid": "jb", "match_join": {"token": mb["token"]}}))["match"]
    assert joined_a["match_id"] == joined_b["match_id"]
    assert joined_a["match_id"].endswith(".")
    assert [p["username"] for p in joined_b["presences"]] == ["alice"]


@with_runtime(HOOK_MODULE)
@pytest.mark.parametrize("fmt", FORMATS)
@pytest_twisted.ensureDeferred
async def test_the_runtime_hook_sends_players_to_an_authoritative_match(server, fmt) -> None:
    players = [await player(server.port, name, fmt) for name in ("p1", "p2", "p3")]
    for at, client in enumerate(players):
        await answer(client, ticket_request(str(at), min_count=3, max_count=3))
    matched = [(await wait_for(c, has("matchmaker_matched"), timeout=5))[0] for c in players]
    match_ids = {m["matchmaker_matched"]["match_id"] for m in matched}
    assert len(match_ids) == 1 and all("token" not in m["matchmaker_matched"] for m in matched)
    match_id = match_ids.pop()
    assert match_id.endswith(".nakama")
    match = server.server.match_registry.get(match_id)
    assert match is not None and match.state == {"players": ["p1", "p2", "p3"]}
    joined = await answer(players[0], {"cid": "j", "match_join": {"match_id": match_id}})
    assert joined["match"]["match_id"] == match_id and joined["match"]["authoritative"] is True


@pytest.mark.parametrize("fmt", FORMATS)
@pytest_twisted.ensureDeferred
async def test_a_party_ticket_matches_all_its_members(server, fmt) -> None:
    host = await player(server.port, "host", fmt)
    guest = await player(server.port, "guest", fmt)
    solo = await player(server.port, "solo", fmt)
    created = await answer(host, {"cid": "c", "party_create": {"open": True, "max_size": 2}})
    party_id = created["party"]["party_id"]
    await answer(guest, {"cid": "j", "party_join": {"party_id": party_id}})
    add = {"party_id": party_id, "min_count": 3, "max_count": 3, "query": "*"}
    reply = await answer(host, {"cid": "p", "party_matchmaker_add": add})
    ticket = reply["party_matchmaker_ticket"]["ticket"]
    await answer(solo, ticket_request("s", min_count=3, max_count=3))
    got = {}
    for name, client in (("host", host), ("guest", guest), ("solo", solo)):
        got[name] = (await wait_for(client, has("matchmaker_matched"), timeout=5))[0][
            "matchmaker_matched"
        ]
    assert got["host"]["ticket"] == got["guest"]["ticket"] == ticket
    assert len({m["token"] for m in got.values()}) == 1
    parties = {u["presence"]["username"]: u.get("party_id", "") for u in got["solo"]["users"]}
    assert parties == {"host": party_id, "guest": party_id, "solo": ""}
    assert len(server.server.matchmaker) == 0


@pytest_twisted.ensureDeferred
async def test_stats_count_tickets_and_the_last_players_matched(server) -> None:
    """``GET /v2/matchmaker/stats`` as Nakama answers it: nothing to say at first, then
    the tickets waiting and the oldest one's time, then the matched players' times."""
    a, b, c = [await player(server.port, name) for name in ("alice", "bob", "carol")]
    token = (await authenticate(server.port, f"stats-{uuid.uuid4()}"))["token"]

    async def stats() -> dict:
        reply = await http(server.port, "GET", "/v2/matchmaker/stats", bearer=token)
        assert reply.status == 200
        return reply.json()

    assert await stats() == {}
    await answer(c, ticket_request("c", min_count=3, max_count=3))
    await answer(a, ticket_request("a"))
    waiting = await stats()
    assert waiting["ticket_count"] == 2 and STAMP.fullmatch(waiting["oldest_ticket_create_time"])
    await answer(b, ticket_request("b"))
    await wait_for(a, has("matchmaker_matched"), timeout=5)
    matched = await stats()
    assert matched["ticket_count"] == 1  # carol's, waiting for three
    assert matched["oldest_ticket_create_time"] == waiting["oldest_ticket_create_time"]
    completions = matched["completions"]
    assert len(completions) == 2
    for completion in completions:
        assert STAMP.fullmatch(completion["create_time"])
        assert completion["create_time"] <= completion["complete_time"]
    refused = await http(server.port, "GET", "/v2/matchmaker/stats")
    assert (refused.status, refused.json()["message"]) == (401, "Auth token required")
