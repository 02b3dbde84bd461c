"""``GET /v2/match`` over a real server: authoritative and relayed, labels, queries, sizes."""

from __future__ import annotations

import uuid
from urllib.parse import quote

import orjson
import pytest_twisted

from tests.wsclient import authenticate, connect, http, wait_for


class Labelled:
    """A handler whose label comes from its params; it accepts everyone."""

    def match_init(self, ctx, logger, nk, params):
        return {}, 5, orjson.dumps(params).decode()

    def match_join_attempt(self, ctx, logger, nk, dispatcher, tick, state, presence, metadata):
        return state, True

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


async def listing(port: int, token: str, **query) -> tuple[int, dict]:
    text = "&".join(f"{k}={quote(str(v))}" for k, v in query.items())
    answer = await http(port, "GET", f"/v2/match?{text}", bearer=token)
    return answer.status, answer.json()


@pytest_twisted.ensureDeferred
async def test_listing_filters_like_nakama(server) -> None:
    registry = server.server.match_registry
    registry.handlers = {"labelled": Labelled}
    ranked = registry.create("labelled", {"mode": "ranked", "level": 7})
    casual = registry.create("labelled", {"mode": "casual", "level": 2})
    session = await authenticate(server.port, f"list-{uuid.uuid4()}", username="lister")
    token = session["token"]
    client = await connect(server.port, token)
    client.send({"cid": "c", "match_create": {}})
    relayed = (await wait_for(client, lambda m: m.get("cid") == "c"))[0]["match"]["match_id"]
    client.send({"cid": "j", "match_join": {"match_id": ranked}})
    await wait_for(client, lambda m: m.get("cid") == "j")

    status, everything = await listing(server.port, token, limit=10)
    assert status == 200
    ids = [m["match_id"] for m in everything["matches"]]
    assert ids == [casual, ranked, relayed], "authoritative newest first, then relayed"
    first = everything["matches"][1]
    assert first["authoritative"] is True
    assert first["tick_rate"] == 5
    assert first["handler_name"] == "labelled"
    assert orjson.loads(first["label"]) == {"mode": "ranked", "level": 7}
    assert first["size"] == 1

    _, only_relayed = await listing(server.port, token, authoritative="false")
    assert [m["match_id"] for m in only_relayed["matches"]] == [relayed]
    _, by_query = await listing(server.port, token, query="+label.mode:ranked +label.level:>=5")
    assert [m["match_id"] for m in by_query["matches"]] == [ranked]
    _, by_label = await listing(
        server.port, token, label=orjson.dumps({"mode": "casual", "level": 2}).decode()
    )
    assert [m["match_id"] for m in by_label["matches"]] == [casual]
    _, sized = await listing(server.port, token, authoritative="true", min_size=1)
    assert [m["match_id"] for m in sized["matches"]] == [ranked]
    _, limited = await listing(server.port, token, limit=1)
    assert len(limited["matches"]) == 1


@pytest_twisted.ensureDeferred
async def test_listing_refuses_bad_filters(server) -> None:
    session = await authenticate(server.port, f"list-{uuid.uuid4()}")
    token = session["token"]
    for query, status, message in [
        ({"limit": 0}, 400, "Invalid limit - limit must be between 1 and 100."),
        (
            {"authoritative": "false", "label": "x"},
            400,
            "Label filtering is not supported for non-authoritative matches.",
        ),
        (
            {"authoritative": "false", "query": "*"},
            400,
            "Query filtering is not supported for non-authoritative matches.",
        ),
        ({"min_size": -1}, 400, "Minimum size must be 0 or above."),
        (
            {"min_size": 3, "max_size": 2},
            400,
            "Maximum size must be greater than or equal to minimum size when both are specified.",
        ),
        ({"query": "label.x:>"}, 500, "Error listing matches."),
    ]:
        got, body = await listing(server.port, token, **query)
        assert (got, body["message"]) == (status, message), query


@pytest_twisted.ensureDeferred
async def test_a_label_or_query_never_lists_relayed_matches(server) -> None:
    """Nakama's ListMatches (server/match_registry.go) allows relayed matches only in
    its branch without a label or query filter, and only when ``authoritative`` is not
    true: a relayed match has no label, so a label or query (even an empty one, which
    matches every authoritative match) leaves all of them out, whatever
    ``authoritative`` says. Authoritative matches come first, and ``limit`` counts
    both kinds together."""
    registry = server.server.match_registry
    registry.handlers = {"labelled": Labelled}
    ranked = registry.create("labelled", {"mode": "ranked"})
    ranked_label = orjson.dumps({"mode": "ranked"}).decode()
    host_session = await authenticate(server.port, f"list-{uuid.uuid4()}")
    token = host_session["token"]
    host = await connect(server.port, token)
    guest = await connect(
        server.port, (await authenticate(server.port, str(uuid.uuid4())))["token"]
    )
    relayed = []
    for cid in ("a", "b"):
        host.send({"cid": cid, "match_create": {}})
        reply, _ = await wait_for(host, lambda m, cid=cid: m.get("cid") == cid)
        relayed.append(reply["match"]["match_id"])
    guest.send({"cid": "j", "match_join": {"match_id": relayed[1]}})
    await wait_for(guest, lambda m: m.get("cid") == "j")

    async def ids(**query) -> list[str]:
        status, body = await listing(server.port, token, **query)
        assert status == 200, body
        return [m["match_id"] for m in body.get("matches", [])]

    assert await ids() == [ranked, *relayed]
    assert await ids(label=ranked_label) == [ranked]
    assert await ids(label="") == [], "relayed matches have no label, not an empty one"
    assert await ids(query="+label.mode:ranked") == [ranked]
    assert await ids(query="") == [ranked], "an empty query matches every authoritative one"
    assert await ids(query="+label.mode:casual") == []
    assert await ids(min_size=2) == [relayed[1]]
    assert await ids(min_size=2, label=ranked_label) == []
    assert await ids(authoritative="false") == relayed
    assert await ids(authoritative="true") == [ranked]
    limited = await ids(limit=2)
    assert limited[0] == ranked and limited[1] in relayed and len(limited) == 2

    # nk.match_list is the same listing, without the HTTP API's refusals.
    nk = server.server.runtime.nk

    def nk_ids(*args, **kwargs) -> list[str]:
        return [m.match_id for m in nk.match_list(*args, **kwargs)]

    assert nk_ids(10, None) == [ranked, *relayed]
    assert nk_ids(10, None, ranked_label) == [ranked]
    assert nk_ids(10, None, query="+label.mode:ranked") == [ranked]
    assert nk_ids(10, None, min_size=2) == [relayed[1]]
    assert nk_ids(10, False) == relayed
    assert nk_ids(10) == [ranked], "authoritative=True by default"
    assert nk_ids(0, None) == [], "Nakama's registry lists nothing for a limit of 0"
    assert nk_ids(10, False, ranked_label) == [], "not an error, unlike GET /v2/match"
    assert nk_ids(10, False, query="*") == []
    assert nk_ids(2, None) == [ranked, limited[1]]
