"""Nodes join a cluster on the real Redis (issue 15, first part): each takes its name,
sees the others, renews its name while it lives, gives it up when it stops, drops out
when it dies without a word, and takes its name back after Redis lost it."""

from __future__ import annotations

import dataclasses

import pytest
import pytest_twisted
from conftest import make_config
from redis_fixtures import flush, set_value
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.task import deferLater
from twisted.logger import LogLevel, formatEvent, globalLogPublisher

from nakama_rt.app import NakamaRT
from nakama_rt.cluster.bus import PROTOCOL
from nakama_rt.cluster.nodes import (
    NodeNameTaken,
    NodeWatch,
    ProtocolMismatch,
    holder_pid,
    holder_protocol,
)
from nakama_rt.service import database_failure


def node(tmp_path, url: str, name: str, ttl: int = 10) -> NakamaRT:
    config = make_config(tmp_path / name, cluster={"redis": url, "node_ttl_sec": ttl})
    return NakamaRT(dataclasses.replace(config, name=name), reactor, bcrypt_cost=4)


def live(app: NakamaRT) -> Deferred:
    assert app.membership is not None
    return Deferred.fromCoroutine(app.membership.live_nodes())


@pytest_twisted.ensureDeferred
async def test_nodes_see_each_other_and_a_stopped_node_leaves(tmp_path, redis_url) -> None:
    a, b = node(tmp_path, redis_url, "a"), node(tmp_path, redis_url, "b")
    await a.start()
    await b.start()
    try:
        assert await live(a) == ["a", "b"]
        assert await live(b) == ["a", "b"]
    finally:
        await b.stop()
    assert await live(a) == ["a"]
    await a.stop()


@pytest_twisted.ensureDeferred
async def test_a_name_already_live_is_refused(tmp_path, redis_url) -> None:
    first, second = node(tmp_path, redis_url, "same"), node(tmp_path / "2", redis_url, "same")
    await first.start()
    try:
        with pytest.raises(NodeNameTaken, match="node name 'same' is already live"):
            await second.open()
        assert second.redis is None  # its connection was closed
        assert await live(first) == ["same"]
    finally:
        await second.storage.stop()
        await first.stop()


@pytest_twisted.ensureDeferred
async def test_a_node_that_dies_drops_out_within_its_ttl(tmp_path, redis_url) -> None:
    watcher, doomed = node(tmp_path, redis_url, "watcher"), node(tmp_path, redis_url, "doomed", 1)
    await watcher.start()
    await doomed.start()
    try:
        assert await live(watcher) == ["doomed", "watcher"]
        # Killed: no more heartbeats, and no goodbye.
        await doomed.timers.stopService()
        await deferLater(reactor, 0.5, lambda: None)
        assert await live(watcher) == ["doomed", "watcher"]  # within its TTL
        await deferLater(reactor, 0.8, lambda: None)
        assert await live(watcher) == ["watcher"]
    finally:
        await Deferred.fromCoroutine(doomed.cluster.bus.stop())
        await doomed.redis.disconnect()
        await doomed.storage.stop()
        await watcher.stop()


@pytest_twisted.ensureDeferred
async def test_heartbeats_take_the_name_back_after_redis_lost_it(tmp_path, redis_url) -> None:
    a = node(tmp_path, redis_url, "a")
    await a.start()
    try:
        flush(redis_url)  # Redis restarted: it keeps nothing
        assert await live(a) == []
        assert a.membership is not None
        await a.membership.renew()
        assert await live(a) == ["a"]
    finally:
        await a.stop()


@pytest_twisted.ensureDeferred
async def test_a_node_on_sqlite_says_other_machines_need_postgresql(tmp_path, redis_url) -> None:
    said: list[str] = []

    def observe(event: dict) -> None:
        if event.get("log_level") == LogLevel.warn:
            said.append(formatEvent(event))

    globalLogPublisher.addObserver(observe)
    a = node(tmp_path, redis_url, "a")
    try:
        await a.start()
    finally:
        globalLogPublisher.removeObserver(observe)
    await a.stop()
    assert [line for line in said if "cluster with the embedded SQLite" in line] == [
        "cluster with the embedded SQLite database: only nodes on this machine, with the "
        "same --data-dir, share it; nodes on other machines need PostgreSQL "
        "(--database postgresql://...)"
    ]


@pytest_twisted.ensureDeferred
async def test_a_node_will_not_join_live_nodes_of_another_protocol(tmp_path, redis_url) -> None:
    old, new = node(tmp_path, redis_url, "old"), node(tmp_path / "2", redis_url, "new")
    await old.start()
    try:
        await deferLater(reactor, 0.2, lambda: None)  # past its first heartbeat
        # "old" as a node from before nodes said their protocol holds its key.
        set_value(redis_url, "nakama-rt:node:old", "0e0c-uuid pid 4242")
        with pytest.raises(ProtocolMismatch) as refused:
            await new.open()
        assert str(refused.value) == (
            f"node 'new' speaks cluster protocol {PROTOCOL}, but live nodes speak another: "
            "old (1); every node of a cluster must run the same nakama-rt (stop the others "
            "first, or join another cluster)"
        )
        # twistd says it as it is, not as a database failure.
        assert database_failure(new.config, refused.value) == str(refused.value)
        assert new.redis is None
        assert await live(old) == ["old"]  # the name it took is given back
    finally:
        await new.storage.stop()
        await old.stop()


@pytest_twisted.ensureDeferred
async def test_a_live_node_of_another_protocol_is_logged_once(tmp_path, redis_url) -> None:
    a, b = node(tmp_path, redis_url, "a"), node(tmp_path, redis_url, "b")
    await a.start()
    await b.start()
    events: list[dict] = []
    globalLogPublisher.addObserver(events.append)
    try:
        await deferLater(reactor, 0.2, lambda: None)  # past their first heartbeats
        # b was replaced by a node of a version that joins without asking.
        set_value(redis_url, "nakama-rt:node:b", f"0e0c-uuid protocol {PROTOCOL + 1} pid 1")
        died: list[str] = []
        watch = NodeWatch(a.membership, lambda: {"b"}, died.append, reactor)
        for _ in range(2):
            await watch._check()
    finally:
        globalLogPublisher.removeObserver(events.append)
        await b.stop()
        await a.stop()
    errors = [formatEvent(e) for e in events if e["log_level"] == LogLevel.error]
    assert errors == [
        f"cluster node b speaks protocol {PROTOCOL + 1}, this one {PROTOCOL}: neither can "
        "read what the other sends (run one nakama-rt version across the cluster)"
    ]
    assert died == []  # it is live: not dead


def test_a_node_key_says_its_protocol_and_process() -> None:
    assert holder_protocol(b"uuid protocol 7 pid 12") == 7
    assert holder_pid(b"uuid protocol 7 pid 12") == 12
    assert holder_protocol(b"uuid pid 12") == 1  # before nodes said
    assert holder_protocol(b"uuid protocol x pid 12") == 1
