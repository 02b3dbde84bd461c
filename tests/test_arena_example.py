"""The example modules (examples/runtime) on a real server: an authoritative match
created from an RPC, joined with metadata, its ticks, listing, signal, and a stream."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
import pytest_twisted

from tests.wsclient import answer, authenticate, connect, has, http, wait_for

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "runtime"


@pytest.fixture
def server_options() -> dict:
    return {"runtime": {"path": str(EXAMPLES)}}


async def player(port: int, name: str, fmt: str = "json"):
    session = await authenticate(port, f"arena-{uuid.uuid4()}", username=name)
    return session["token"], await connect(port, session["token"], fmt=fmt)


def match_data(op: int):
    return lambda m: m.get("match_data", {}).get("op_code") == str(op)


@pytest.mark.parametrize("fmt", ["json", "protobuf"])
@pytest_twisted.ensureDeferred
async def test_an_arena_from_an_rpc(server, fmt) -> None:
    token, red = await player(server.port, "red", fmt)
    _, blue = await player(server.port, "blue")
    created = await answer(red, {"cid": "r", "rpc": {"id": "create_arena", "payload": "{}"}})
    match_id = json.loads(created["rpc"]["payload"])["match_id"]
    assert match_id.endswith(".nakama")

    refused = await answer(blue, {"cid": "j", "match_join": {"match_id": match_id}})
    assert refused["error"] == {"code": 5, "message": "pick a team: red or blue"}
    for client, team in ((red, "red"), (blue, "blue")):
        joined = await answer(
            client, {"cid": "j", "match_join": {"match_id": match_id, "metadata": {"team": team}}}
        )
        assert joined["match"]["authoritative"] is True
        assert json.loads(joined["match"]["label"])["mode"] == "arena"

    move = base64.b64encode(b"north").decode()
    red.send({"match_data_send": {"match_id": match_id, "op_code": "1", "data": move}})
    for client in (red, blue):
        relayed, _ = await wait_for(client, match_data(1))
        assert relayed["match_data"]["data"] == move
        assert relayed["match_data"]["presence"]["username"] == "red"
    score, _ = await wait_for(blue, match_data(2), timeout=3)
    assert json.loads(base64.b64decode(score["match_data"]["data"])) == {"moves": 1, "players": 2}

    listed = await http(
        server.port, "GET", "/v2/match?query=" + quote("+label.mode:arena"), bearer=token
    )
    (found,) = listed.json()["matches"]
    assert (found["match_id"], found["size"], found["handler_name"]) == (match_id, 2, "arena")
    assert server.server.match_registry.signal(match_id, "") == '{"moves": 1}'

    blue.sendClose(1000)
    await blue.closed()
    label = json.loads(server.server.match_registry.get(match_id).label)
    assert label == {"mode": "arena", "open": True}


@pytest_twisted.ensureDeferred
async def test_stream_data_from_an_rpc(server) -> None:
    _, listener = await player(server.port, "listener")
    listener.send({"cid": "n", "rpc": {"id": "arena_news"}})
    news, _ = await wait_for(listener, has("stream_data"))  # sent during the RPC, so first
    reply, _ = await wait_for(listener, lambda m: m.get("cid") == "n")
    assert json.loads(reply["rpc"]["payload"]) == {"listeners": 1}
    assert news["stream_data"]["stream"] == {"mode": 100, "label": "news"}
    assert json.loads(news["stream_data"]["data"]) == {"hello": "listener"}
