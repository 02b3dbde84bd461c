"""Cluster nodes as real processes (twistd nakama-rt --cluster ... --node ...): players on
two nodes share a room, and when one node is killed with SIGKILL the other tells its
players that the dead node's players left, within the node TTL; two nodes on one
machine share one SQLite file, written by both at once."""

from __future__ import annotations

import signal
import sys

import pytest_twisted
from twisted.internet import reactor
from twisted.internet.defer import gatherResults
from twisted.internet.task import deferLater

from tests.processes import Watch, child_env, free_port, serving, wait_healthy
from tests.wsclient import authenticate, connect, has, http, wait_for


def start_node(tmp_path, redis_url: str, name: str, ttl: int) -> tuple[int, Watch, object]:
    port = free_port()
    config = tmp_path / f"{name}.yml"
    config.write_text(
        f"session:\n  token_expiry_sec: 120\ncluster:\n  redis: {redis_url}\n"
        f"  node_ttl_sec: {ttl}\n"
    )
    watch = Watch()
    args = serving(
        port, "--config", str(config), "--node", name, "--data-dir", str(tmp_path / "shared")
    )
    process = reactor.spawnProcess(watch, sys.executable, args, env=child_env(), path=str(tmp_path))
    return port, watch, process


@pytest_twisted.ensureDeferred
async def test_a_node_killed_with_sigkill_leaves_its_players(tmp_path, redis_url) -> None:
    port_a, watch_a, node_a = start_node(tmp_path, redis_url, "a", ttl=2)
    await wait_healthy(port_a, watch_a)
    port_b, watch_b, node_b = start_node(tmp_path, redis_url, "b", ttl=2)
    try:
        await wait_healthy(port_b, watch_b)
        alice_session = await authenticate(port_a, "kill-test-alice", username="alice")
        bob_session = await authenticate(port_b, "kill-test-bob", username="bob")
        alice = await connect(port_a, alice_session["token"])
        bob = await connect(port_b, bob_session["token"])
        join = {"cid": "j", "channel_join": {"target": "doom", "type": 1, "persistence": False}}
        await alice.request(join)
        await wait_for(alice, has("channel_presence_event"))  # her own join
        await deferLater(reactor, 0.3, lambda: None)  # her presence reaches b
        joined = await bob.request(join)
        assert [p["username"] for p in joined["channel"]["presences"]] == ["alice"]
        event, _ = await wait_for(alice, has("channel_presence_event"))
        assert [p["username"] for p in event["channel_presence_event"]["joins"]] == ["bob"]

        node_b.signalProcess(signal.SIGKILL)
        # Within the TTL (2 s) and one check of a's node watch (a third of it).
        event, _ = await wait_for(alice, has("channel_presence_event"), timeout=5)
        assert [p["username"] for p in event["channel_presence_event"]["leaves"]] == ["bob"]
        assert await alice.request({"cid": "p", "ping": {}}) == {"cid": "p", "pong": {}}
        assert b"cluster node b is gone" in watch_a.output
    finally:
        for process in (node_a, node_b):
            if process.pid is not None:
                process.signalProcess(signal.SIGTERM)
        await watch_a.ended
        await watch_b.ended


@pytest_twisted.ensureDeferred
async def test_two_nodes_write_one_sqlite_file_at_once(tmp_path, redis_url) -> None:
    port_a, watch_a, node_a = start_node(tmp_path, redis_url, "a", ttl=10)
    port_b, watch_b, node_b = start_node(tmp_path, redis_url, "b", ttl=10)
    try:
        await wait_healthy(port_a, watch_a)
        await wait_healthy(port_b, watch_b)
        ports = [port_a, port_b] * 20
        sessions = await gatherResults(
            [
                authenticate(port, f"sqlite-shared-{n}", username=f"shared{n}")
                for n, port in enumerate(ports)
            ]
        )
        assert len({s["token"] for s in sessions}) == 40
        # Each account, made by one node, is read back through the other.
        for n, (port, session) in enumerate(zip(ports, sessions, strict=True)):
            other = port_b if port == port_a else port_a
            answer = await http(other, "GET", "/v2/account", bearer=session["token"])
            assert answer.status == 200, answer
            assert answer.json()["user"]["username"] == f"shared{n}"
    finally:
        for process in (node_a, node_b):
            process.signalProcess(signal.SIGTERM)
        assert await watch_a.ended == 0
        assert await watch_b.ended == 0
