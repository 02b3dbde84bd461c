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
