"""End to end: the Python runtime (examples/runtime) with the official nakama-js client.

The scenarios are ``runtime_rpc`` and ``runtime_arena`` in
``tests/e2e/runtime_scenarios.mjs`` (run by ``scenarios.mjs``, see
``tests/test_e2e_nakama_js.py``), for the JSON and the protobuf adapter. The server loads
``examples/runtime`` (``echo.py``: ``echo``, ``whoami``; ``arena.py``: ``create_arena``,
the ``arena`` match handler, ``arena_news``) with the runtime env ``GREETING=ahoy``. A
reference Nakama has no Python runtime, so the expected values follow Nakama's rules
(``pipeline_rpc.go``, ``api_rpc.go``, ``pipeline_match.go``, the tracker) rather than a
recorded run; the HTTP error bodies are byte for byte the reference Nakama's.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import pytest_twisted

from nakama_rt.config import Config
from tests.test_e2e_nakama_js import (
    ADAPTERS,
    all_sockets_gone,
    assert_frames,
    node,  # noqa: F401  (fixture)
    run_scenario,
    user_id_by_http,
    user_presence,
)
from tests.wsclient import authenticate, http

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "runtime"
HTTP_KEY = "defaulthttpkey"
ARENA_LABEL = {"mode": "arena", "open": True}
NEWS_STREAM = {"mode": 100, "subject": "", "subcontext": "", "label": "news"}


@pytest.fixture
def server_options() -> dict:
    return {"runtime": {"path": str(EXAMPLES), "env": {"GREETING": "ahoy"}}}


def nakama_error(message: str, code: int) -> dict:
    return {"error": message, "message": message, "code": code}


# --- runtime_rpc --------------------------------------------------------------------------


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest_twisted.ensureDeferred
async def test_rpcs_over_socket_and_http(server, node, adapter) -> None:  # noqa: F811
    facts = await run_scenario(node, server.port, adapter, "runtime_rpc")
    user = facts["user"]
    assert user["user_id"] == await user_id_by_http(server.port, user["custom_id"])

    # Over HTTP with the session (no socket yet): the async whoami reads the database and
    # ctx.env. The HTTP answer has no id (Nakama writes {"payload": ...} only).
    assert facts["whoami_http"] == {
        "id": None,
        "payload": {"user": user["username"], "online": False, "greeting": "ahoy"},
    }
    # Server to server. nakama-js 2.8's rpcHttpKey is a GET with ?payload=...; Nakama's
    # RpcFuncHttp reads a payload from a POST body only, so echo gets and answers "" and
    # nakama-js gives no payload. whoami shows the call has no user.
    assert facts["echo_http_key"] == {"id": None, "payload": None}
    assert facts["whoami_http_key"] == {"id": None, "payload": {"user": None, "greeting": "ahoy"}}
    assert facts["wrong_http_key"] == {"status": 401, "body": nakama_error("HTTP key invalid", 16)}
    assert facts["unknown_http"] == {
        "status": 404,
        "body": nakama_error("RPC function not found", 5),
    }

    # Over the socket: the answer carries the id; an unknown id is RUNTIME_FUNCTION_NOT_FOUND
    # (6) and the socket stays usable.
    assert facts["echo_socket"] == {"id": "echo", "payload": "hi"}
    assert facts["unknown_socket"] == {"code": 6, "message": "RPC function not found"}
    assert facts["pong_after_unknown"] is True
    assert facts["echo_after_unknown"] == {"id": "echo", "payload": "still here"}
    assert facts["open_after_unknown"] is True
    assert facts["close"]["was_clean"] is True
    assert_frames(facts, adapter)
    # nakama-js's heartbeat ping on connect, echo, the unknown id, ping, echo: one answer
    # each and nothing else (an error sent twice, or without its cid, would show here).
    (tap,) = facts["frames"]
    assert (tap["sent"], tap["received"]) == (5, 5)

    await all_sockets_gone(server)
    assert len(server.server.tracker) == 0, "presences left on the server"


@pytest_twisted.ensureDeferred
async def test_rpc_payload_server_to_server_is_a_post_body(server) -> None:
    """What nakama-js's rpcHttpKey cannot show: a server-to-server payload is a POST body
    (a JSON string); a GET's ``payload`` query parameter is not the payload."""
    posted = await http(server.port, "POST", f"/v2/rpc/echo?http_key={HTTP_KEY}", body="hi")
    assert (posted.status, posted.json()) == (200, {"payload": "hi"})
    got = await http(server.port, "GET", f"/v2/rpc/echo?http_key={HTTP_KEY}&payload=%22hi%22")
    assert (got.status, got.json()) == (200, {"payload": ""})


# --- runtime_arena ------------------------------------------------------------------------


def match(match_id: str, size: int, self: dict, presences=()) -> dict:
    return {
        "match_id": match_id,
        "authoritative": True,
        "label": ARENA_LABEL,
        "size": size,
        "self": self,
        "presences": sorted(presences, key=lambda p: p["session_id"]),
    }


def label_parsed(match: dict) -> dict:
    """The label is JSON text written by the module; compared as a value."""
    return {**match, "label": json.loads(match["label"])}


def event(match_id: str, joins=(), leaves=()) -> dict:
    return {"match_id": match_id, "joins": list(joins), "leaves": list(leaves)}


def move(match_id: str, text: str, sender: dict) -> dict:
    return {
        "match_id": match_id,
        "op_code": 1,
        "text": text,
        "presence": sender,
        "reliable": True,
    }


def news(username: str) -> dict:
    return {"stream": NEWS_STREAM, "sender": None, "data": {"hello": username}, "reliable": True}


def news_parsed(item: dict) -> dict:
    return {**item, "data": json.loads(item["data"])}


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest_twisted.ensureDeferred
async def test_arena_match_and_news_stream(server, node, adapter) -> None:  # noqa: F811
    facts = await run_scenario(node, server.port, adapter, "runtime_arena")
    port = server.port
    a, b = facts["a"], facts["b"]
    for user in (a, b):
        assert user["user_id"] == await user_id_by_http(port, user["custom_id"])
    pa, pb = user_presence(a), user_presence(b)

    # create_arena answers {"match_id": "<uuid4>.<node>"}: an authoritative match id.
    mid = facts["match_id"]
    assert facts["create_arena"]["id"] == "create_arena"
    assert json.loads(facts["create_arena"]["payload"]) == {"match_id": mid}
    match_uuid, node_name = mid.split(".")
    assert (uuid.UUID(match_uuid).version, node_name) == (4, Config().name)

    # match_join_attempt refuses a join without metadata: MATCH_JOIN_REJECTED (5) with the
    # handler's reason; the socket stays usable.
    assert facts["join_without_team"] == {"code": 5, "message": "pick a team: red or blue"}
    assert facts["b_pong_after_refusal"] is True

    # Joins with a team: authoritative, the label, the others already there (not self).
    assert label_parsed(facts["a_joined"]) == match(mid, 0, pa)
    assert label_parsed(facts["b_joined"]) == match(mid, 1, pb, [pa])
    assert facts["a_events_until_b_join"] == [event(mid, joins=[pa]), event(mid, joins=[pb])]
    assert facts["b_events_until_b_join"] == [event(mid, joins=[pb])]

    # The loop rebroadcasts A's move to everyone, A included, with A as sender.
    assert facts["move"] == {"a": move(mid, "north", pa), "b": move(mid, "north", pa)}
    # The score line (a deferred broadcast, no sender) counts the move within the second;
    # any earlier one (sent before the move was processed) counts none.
    for name in ("a_scores", "b_scores"):
        scores = facts[name]
        assert scores[-1]["score"] == {"moves": 1, "players": 2}, scores
        assert all(s["score"]["moves"] == 0 for s in scores[:-1]), scores
        assert all(
            (s["match_id"], s["presence"], s["reliable"]) == (mid, None, True) for s in scores
        ), scores

    # listMatches with a label query finds it (and only it), with the handler's name.
    assert [label_parsed(m) for m in facts["listed"]] == [
        {
            "match_id": mid,
            "authoritative": True,
            "label": ARENA_LABEL,
            "size": 2,
            "tick_rate": 5,
            "handler_name": "arena",
        }
    ]
    assert facts["listed_nothing"] == []

    # B leaves: A is told; A's next move reaches A only, and B gets no more score lines.
    assert facts["a_events_until_b_leave"] == [event(mid, leaves=[pb])]
    assert facts["move_after_leave"] == move(mid, "east", pa)
    assert facts["b_scores_after_leave"] == []

    # arena_news: the caller's socket joins the stream and gets the hello before the RPC
    # answer; B's call makes two listeners and both get B's hello.
    assert facts["a_news_before_answer"] == 1
    assert facts["b_news_before_answer"] == 1
    assert facts["a_news_reply"]["id"] == "arena_news"
    assert json.loads(facts["a_news_reply"]["payload"]) == {"listeners": 1}
    assert json.loads(facts["b_news_reply"]["payload"]) == {"listeners": 2}
    assert [news_parsed(n) for n in facts["a_news"]] == [news(a["username"]), news(b["username"])]
    assert [news_parsed(n) for n in facts["b_news"]] == [news(b["username"])]

    # Nothing else arrived.
    empty = {"moves": [], "other_data": [], "events": [], "news": []}
    assert facts["leftover"] == {"A": empty, "B": empty}
    for closed in (facts["b_close"], facts["a_close"]):
        assert closed["was_clean"] is True
    assert_frames(facts, adapter)

    await all_sockets_gone(server)
    assert len(server.server.tracker) == 0, "presences left on the server"
    # The match runs on, empty (the handler never ends it), having counted both moves.
    registry = server.server.match_registry
    assert json.loads(registry.get(mid).label) == ARENA_LABEL
    assert registry.signal(mid, "") == '{"moves": 2}'
    token = (await authenticate(port, f"e2e-{uuid.uuid4()}"))["token"]
    listed = await http(port, "GET", "/v2/match?limit=10&authoritative=true", bearer=token)
    assert [(m["match_id"], m.get("size", 0)) for m in listed.json()["matches"]] == [(mid, 0)]
