"""Graceful shutdown of a server with players: matches get ``match_terminate``,
followers see everyone leave, every socket closes with 1001, nothing new gets in."""

from __future__ import annotations

import base64
import dataclasses
import json
import uuid
from pathlib import Path

import pytest_twisted
from twisted.internet import reactor
from twisted.internet.error import ConnectionRefusedError

from tests.conftest import make_config, start_server
from tests.wsclient import authenticate, connect, http, wait_for

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "runtime"
OP_SCORE = 2


async def _player(port: int, name: str, **options):
    session = await authenticate(port, f"shutdown-{uuid.uuid4()}", username=name)
    return await connect(port, session["token"], **options)


async def _answer(client, message: dict) -> dict:
    client.send(message)
    reply, _ = await wait_for(client, lambda m: m.get("cid") == message["cid"])
    return reply


def _drain(client) -> list[dict]:
    messages = list(client.received.pending)
    client.received.pending.clear()
    return messages


@pytest_twisted.ensureDeferred
async def test_stop_terminates_matches_tells_followers_and_closes_going_away(tmp_path) -> None:
    config = dataclasses.replace(
        make_config(tmp_path, runtime={"path": str(EXAMPLES)}), shutdown_grace_sec=3
    )
    running = await start_server(config)
    port = running.port
    red = await _player(port, "red", status=True)
    blue = await _player(port, "blue", status=True, fmt="protobuf")
    watcher = await _player(port, "watcher")
    created = await _answer(red, {"cid": "r", "rpc": {"id": "create_arena", "payload": "{}"}})
    match_id = json.loads(created["rpc"]["payload"])["match_id"]
    for client, team in ((red, "red"), (blue, "blue")):
        joined = await _answer(
            client, {"cid": "j", "match_join": {"match_id": match_id, "metadata": {"team": team}}}
        )
        assert joined["match"]["match_id"] == match_id
    followed = await _answer(watcher, {"cid": "f", "status_follow": {"usernames": ["red", "blue"]}})
    assert len(followed["status"]["presences"]) == 2
    move = base64.b64encode(b"north").decode()
    red.send({"match_data_send": {"match_id": match_id, "op_code": "1", "data": move}})
    await wait_for(blue, lambda m: m.get("match_data", {}).get("op_code") == "1")
    for client in (red, blue, watcher):
        _drain(client)

    started = reactor.seconds()
    await running.listening.stopListening()
    await running.app.stop()
    elapsed = reactor.seconds() - started
    # The arena keeps its state from match_terminate (it does not end itself), so it
    # runs out the whole grace period; then the sockets close at once.
    assert config.shutdown_grace_sec <= elapsed < config.shutdown_grace_sec + 1

    for client in (red, blue):
        finals = [
            json.loads(base64.b64decode(m["match_data"]["data"]))
            for m in _drain(client)
            if m.get("match_data", {}).get("op_code") == str(OP_SCORE)
        ]
        assert {"final": 1} in finals, finals
    leaves = {
        presence["username"]
        for message in _drain(watcher)
        for presence in message.get("status_presence_event", {}).get("leaves", [])
    }
    assert leaves == {"red", "blue"}
    for client in (red, blue, watcher):
        code, _ = await client.closed()
        assert code == 1001
    assert len(running.app.server.sessions) == 0
    assert len(running.app.server.match_registry) == 0
    try:
        await http(port, "GET", "/healthcheck")
    except ConnectionRefusedError:
        pass
    else:
        raise AssertionError("the stopped server still accepted a connection")
