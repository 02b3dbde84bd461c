"""Players on two nodes of one cluster meet (issue 15, second part): two servers in this
process, each its own node on the real Redis and its own port, sharing one SQLite file
as workers on one machine do; real sockets in both formats."""

from __future__ import annotations

import dataclasses

import pytest
import pytest_twisted
from conftest import make_config
from redis_fixtures import delete, drop_connections, flush, publish
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.task import deferLater
from twisted.logger import formatEvent, globalLogPublisher

from nakama_rt.app import NakamaRT
from tests.wsclient import authenticate, connect, has, player, wait_for

FORMATS = ["json", "protobuf"]


class Node:
    def __init__(self, app: NakamaRT) -> None:
        self.app = app
        self.listening = reactor.listenTCP(0, app.site(), interface="127.0.0.1")
        self.port = self.listening.getHost().port

    async def stop(self) -> None:
        await self.listening.stopListening()
        await self.app.stop()


async def start_nodes(
    tmp_path,
    redis_url: str,
    names: tuple[str, ...],
    ttl: int = 10,
    cluster_keys: dict | None = None,
    **sections: dict,
):
    started = []
    for name in names:
        cluster = {"redis": redis_url, "node_ttl_sec": ttl, **(cluster_keys or {})}
        config = make_config(tmp_path, cluster=cluster, **sections)
        app = NakamaRT(dataclasses.replace(config, name=name), reactor, bcrypt_cost=4)
        await app.start()
        started.append(Node(app))
    await settle()
    return started


@pytest_twisted.async_yield_fixture
async def nodes(tmp_path, redis_url):
    started = await start_nodes(tmp_path, redis_url, ("a", "b"))
    yield started
    for node in started:
        await node.stop()


async def settle(seconds: float = 0.1) -> None:
    """Let what one node published reach the other (a Redis round trip)."""
    await deferLater(reactor, seconds, lambda: None)


def room(name: str) -> dict:
    return {"cid": "j", "channel_join": {"target": name, "type": 1, "persistence": False}}


async def alice_and_bob(nodes, fmt: str):
    """alice on the first node in ``fmt``, bob on the second in the other format."""
    a, b = nodes
    return await player(a.port, "alice", fmt), await player(b.port, "bob", other(fmt))


async def all_join(name: str, *clients) -> None:
    """Each client joins room ``name``, then what the nodes told each other arrives."""
    for client in clients:
        await client.request(room(name))
    await settle()


def joined_by(event: str, username: str):
    """A predicate: an ``event`` whose joins include ``username``."""
    return lambda m: username in [p["username"] for p in m.get(event, {}).get("joins", [])]


def other(fmt: str) -> str:
    return "protobuf" if fmt == "json" else "json"


@pytest.mark.parametrize("fmt", FORMATS)
@pytest_twisted.ensureDeferred
async def test_a_room_spans_two_nodes(nodes, fmt) -> None:
    a, b = nodes
    alice, bob = await alice_and_bob(nodes, fmt)
    await alice.request(room("lobby"))
    await settle()
    joined = await bob.request(room("lobby"))
    # bob, on b, sees alice, on a, among the room's presences...
    assert [p["username"] for p in joined["channel"]["presences"]] == ["alice"]
    # ...and alice gets bob's join, sent by b through Redis.
    await wait_for(alice, joined_by("channel_presence_event", "bob"))

    channel_id = joined["channel"]["id"]
    alice.send({"cid": "m", "channel_message_send": {"channel_id": channel_id, "content": "{}"}})
    mine, _ = await wait_for(alice, has("channel_message"))
    theirs, _ = await wait_for(bob, has("channel_message"))
    assert theirs["channel_message"] == mine["channel_message"]
    assert theirs["channel_message"]["username"] == "alice"

    bob_session = joined["channel"]["self"]["session_id"]
    assert a.app.cluster.tracker.node_of(bob_session) == "b"
    bob.sendClose(1000)
    await bob.closed()
    left, _ = await wait_for(alice, has("channel_presence_event"))
    assert [p["username"] for p in left["channel_presence_event"]["leaves"]] == ["bob"]
    await settle()
    assert a.app.cluster.tracker.node_of(bob_session) is None


@pytest_twisted.ensureDeferred
async def test_a_cluster_without_a_publish_gap_delivers_in_order(tmp_path, redis_url) -> None:
    """``cluster.publish_gap_ms: 0`` reaches each node's bus (what a bus then does with
    it is tested with a Clock in test_cluster_router.py), and messages across nodes
    arrive, in order."""
    nodes = await start_nodes(tmp_path, redis_url, ("a", "b"), cluster_keys={"publish_gap_ms": 0})
    try:
        a, b = nodes
        assert (a.app.cluster.bus.gap, b.app.cluster.bus.gap) == (0, 0)
        alice, bob = await alice_and_bob(nodes, "json")
        await all_join("lobby", alice, bob)
        for n in range(3):
            send = {"channel_id": "2...lobby", "content": f'{{"n":{n}}}'}
            alice.send({"cid": f"m{n}", "channel_message_send": send})
        for n in range(3):
            message, _ = await wait_for(bob, has("channel_message"))
            assert message["channel_message"]["content"] == f'{{"n":{n}}}'
    finally:
        for node in nodes:
            await node.stop()


@pytest_twisted.ensureDeferred
async def test_a_room_on_one_node_costs_no_redis_traffic(nodes) -> None:
    a, b = nodes
    alice = await player(a.port, "alice")
    carol = await player(a.port, "carol")
    await all_join("local", alice, carol)
    bus = a.app.cluster.bus
    before = bus.sent_messages
    channel_id = "2...local"
    for n in range(5):
        send = {"channel_id": channel_id, "content": "{}"}
        alice.send({"cid": f"m{n}", "channel_message_send": send})
    for _ in range(5):
        await wait_for(carol, has("channel_message"))
    assert bus.sent_messages == before


@pytest_twisted.ensureDeferred
async def test_a_node_that_joins_late_learns_the_presences(tmp_path, redis_url, nodes) -> None:
    a, _ = nodes
    alice = await player(a.port, "alice")
    await alice.request(room("early"))
    config = make_config(tmp_path, cluster={"redis": redis_url})
    late = NakamaRT(dataclasses.replace(config, name="c"), reactor, bcrypt_cost=4)
    await late.start()
    node = Node(late)
    try:
        await settle(0.3)
        dave = await player(node.port, "dave")
        joined = await dave.request(room("early"))
        assert [p["username"] for p in joined["channel"]["presences"]] == ["alice"]
    finally:
        await node.stop()
    await settle()
    assert "c" not in a.app.cluster.tracker.nodes()  # its sessions closed, and a was told


@pytest.mark.parametrize("fmt", FORMATS)
@pytest_twisted.ensureDeferred
async def test_a_relayed_match_spans_two_nodes(nodes, fmt) -> None:
    alice, bob = await alice_and_bob(nodes, fmt)
    created = await alice.request({"cid": "c", "match_create": {}})
    match_id = created["match"]["match_id"]
    await settle()
    joined = await bob.request({"cid": "j", "match_join": {"match_id": match_id}})
    assert [p["username"] for p in joined["match"]["presences"]] == ["alice"]
    await wait_for(alice, joined_by("match_presence_event", "bob"))
    await settle()
    alice.send({"match_data_send": {"match_id": match_id, "op_code": 7, "data": "aGk="}})
    data, _ = await wait_for(bob, has("match_data"))
    assert data["match_data"]["op_code"] == "7"
    assert data["match_data"]["presence"]["username"] == "alice"
    bob.send({"match_data_send": {"match_id": match_id, "op_code": 8, "data": "eW8="}})
    data, _ = await wait_for(alice, has("match_data"))
    assert (data["match_data"]["op_code"], data["match_data"]["presence"]["username"]) == (
        "8",
        "bob",
    )


@pytest_twisted.ensureDeferred
async def test_status_follows_span_two_nodes(nodes) -> None:
    a, b = nodes
    alice = await player(a.port, "alice")
    session = await authenticate(b.port, "custom-bob-cluster", username="bob")
    bob = await connect(b.port, session["token"], status=True)
    await settle()
    followed = await alice.request({"cid": "f", "status_follow": {"usernames": ["bob"]}})
    assert [p["username"] for p in followed["status"]["presences"]] == ["bob"]
    bob.send({"cid": "u", "status_update": {"status": "away"}})
    event, _ = await wait_for(alice, has("status_presence_event"))
    assert [p.get("status") for p in event["status_presence_event"]["joins"]] == ["away"]
    bob.sendClose(1000)
    await bob.closed()
    event, _ = await wait_for(
        alice,
        lambda m: (
            "leaves" in m.get("status_presence_event", {})
            and "joins" not in m.get("status_presence_event", {})
        ),
    )
    assert [p["username"] for p in event["status_presence_event"]["leaves"]] == ["bob"]


@pytest_twisted.ensureDeferred
async def test_the_presences_of_a_node_that_dies_leave(tmp_path, redis_url) -> None:
    survivor, doomed = await start_nodes(tmp_path, redis_url, ("a", "b"), ttl=1)
    try:
        alice = await player(survivor.port, "alice")
        bob = await player(doomed.port, "bob")
        await alice.request(room("lobby"))
        await settle()
        await bob.request(room("lobby"))
        await wait_for(alice, joined_by("channel_presence_event", "bob"))
        # b dies: no heartbeat, no goodbye, and nothing more it says is heard.
        await doomed.app.timers.stopService()
        await doomed.app.cluster.bus.stop()
        event, _ = await wait_for(alice, has("channel_presence_event"), timeout=4)
        assert [p["username"] for p in event["channel_presence_event"]["leaves"]] == ["bob"]
        assert survivor.app.cluster.tracker.nodes() == set()
    finally:
        await doomed.stop()
        await survivor.stop()


@pytest_twisted.ensureDeferred
async def test_a_node_started_again_under_its_name_clears_its_predecessor(
    tmp_path, redis_url
) -> None:
    # A long TTL: the others learn of the death from the new node's hello, not the watch.
    survivor, doomed = await start_nodes(tmp_path, redis_url, ("a", "b"), ttl=30)
    reborn = None
    try:
        alice = await player(survivor.port, "alice")
        bob = await player(doomed.port, "bob")
        await all_join("lobby", alice, bob)
        await wait_for(alice, joined_by("channel_presence_event", "bob"))
        await doomed.app.timers.stopService()
        await doomed.app.cluster.bus.stop()
        delete(redis_url, "nakama-rt:node:b")  # its name is free, as a takeover makes it
        (reborn,) = await start_nodes(tmp_path, redis_url, ("b",), ttl=30)
        event, _ = await wait_for(alice, has("channel_presence_event"), timeout=2)
        assert [p["username"] for p in event["channel_presence_event"]["leaves"]] == ["bob"]
        carol = await player(reborn.port, "carol")
        joined = await carol.request(room("lobby"))
        assert [p["username"] for p in joined["channel"]["presences"]] == ["alice"]
    finally:
        for node in (reborn, doomed, survivor):
            if node is not None:
                await node.stop()


@pytest_twisted.ensureDeferred
async def test_the_cluster_converges_after_redis_restarts(tmp_path, redis_url) -> None:
    a, b = await start_nodes(tmp_path, redis_url, ("a", "b"), ttl=1)
    try:
        alice = await player(a.port, "alice")
        await alice.request(room("lobby"))
        await settle()
        # Redis restarts: every connection drops, and it keeps nothing.
        assert drop_connections(redis_url) >= 4  # each node's publisher and subscriber
        flush(redis_url)
        await settle(3.0)  # the connections come back within a second
        assert await Deferred.fromCoroutine(a.app.membership.live_nodes()) == ["a", "b"]
        carol = await player(b.port, "carol")
        joined = await carol.request(room("lobby"))
        assert [p["username"] for p in joined["channel"]["presences"]] == ["alice"]
        await wait_for(alice, joined_by("channel_presence_event", "carol"))
        channel_id = joined["channel"]["id"]
        carol.send(
            {"cid": "m", "channel_message_send": {"channel_id": channel_id, "content": "{}"}}
        )
        theirs, _ = await wait_for(alice, has("channel_message"))
        assert theirs["channel_message"]["username"] == "carol"
    finally:
        await b.stop()
        await a.stop()


@pytest_twisted.ensureDeferred
async def test_single_socket_closes_the_older_socket_on_another_node(tmp_path, redis_url) -> None:
    a, b = await start_nodes(tmp_path, redis_url, ("a", "b"), session={"single_socket": True})
    try:
        session = await authenticate(a.port, "custom-single-cluster", username="solo")
        older = await connect(a.port, session["token"])
        await settle()
        newer = await connect(b.port, session["token"], fmt="protobuf")
        notice = await older.next()
        (note,) = notice["notifications"]["notifications"]
        assert (note["code"], note["subject"]) == (-7, "single_socket")
        assert await older.closed() == (1000, "server-side session disconnect")
        assert await newer.request({"cid": "1", "ping": {}}) == {"cid": "1", "pong": {}}
        assert [s.username for s in b.app.server.sessions] == ["solo"]
    finally:
        await b.stop()
        await a.stop()


@pytest_twisted.ensureDeferred
async def test_the_metrics_show_the_cluster(nodes) -> None:
    a, b = nodes
    await all_join("metered", await player(a.port, "alice"), await player(b.port, "bob"))
    scraped = {
        sample.name: sample.value
        for family in a.app.metrics_registry.collect()
        for sample in family.samples
    }
    assert scraped["nakama_rt_cluster_nodes_with_presences"] == 1  # b
    # bob's hidden notifications presence and his room presence
    assert scraped["nakama_rt_cluster_remote_presences"] == 2
    assert scraped["nakama_rt_presences"] == 2  # alice's, on a
    sent, published = (
        scraped["nakama_rt_cluster_messages_sent_total"],
        scraped["nakama_rt_cluster_publishes_total"],
    )
    assert 0 < published <= sent


@pytest_twisted.ensureDeferred
async def test_what_is_not_a_cluster_message_is_dropped(nodes, redis_url) -> None:
    """Anyone with access to the Redis can publish on the nodes' channels."""
    a, b = nodes
    said: list[str] = []

    def observe(event: dict) -> None:
        said.append(formatEvent(event))

    globalLogPublisher.addObserver(observe)
    try:
        for garbage in ("junk", "\x00\x00\x00\x40short", "\x00\x00\x00\x05Pb\x00[["):
            publish(redis_url, a.app.cluster.bus.channel("a").decode(), garbage)
        await settle()
    finally:
        globalLogPublisher.removeObserver(observe)
    channel = a.app.cluster.bus.channel("a")
    assert said.count(f"dropped a malformed cluster message on {channel!r}") == 2
    assert "cluster message from b failed" in said  # a P from "b" that is not JSON
    alice = await player(a.port, "alice")
    bob = await player(b.port, "bob")
    await all_join("after-garbage", alice, bob)
    message = {"channel_id": "2...after-garbage", "content": "{}"}
    bob.send({"cid": "m", "channel_message_send": message})
    theirs, _ = await wait_for(alice, has("channel_message"))
    assert theirs["channel_message"]["username"] == "bob"


@pytest_twisted.ensureDeferred
async def test_clusters_on_two_databases_of_one_redis_do_not_hear_each_other(
    tmp_path, redis_url
) -> None:
    other_url = redis_url.rsplit("/", 1)[0] + "/14"
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    flush(other_url)
    (a,) = await start_nodes(tmp_path / "one", redis_url, ("a",))
    (b,) = await start_nodes(tmp_path / "two", other_url, ("b",))
    try:
        alice, bob = await player(a.port, "alice"), await player(b.port, "bob")
        await all_join("lobby", alice, bob)
        assert a.app.cluster.known_nodes() == set() == b.app.cluster.known_nodes()
        assert a.app.cluster.tracker.remote_count == 0
    finally:
        await b.stop()
        await a.stop()
        flush(other_url)


@pytest_twisted.ensureDeferred
async def test_eight_nodes_show_every_client_the_same_presences(tmp_path, redis_url) -> None:
    """16 players on 8 nodes join one room at once: each one's view (its join reply,
    then the events) ends up the same set, though the joins race across nodes."""
    names = tuple(f"n{i}" for i in range(8))
    started = await start_nodes(tmp_path, redis_url, names)
    try:
        clients = [await player(started[i % 8].port, f"p{i}") for i in range(16)]
        views: list[set[str]] = []
        replies = [c.request(room("crowd")) for c in clients]  # all at once
        for reply in replies:
            joined = await reply
            views.append({p["username"] for p in joined["channel"].get("presences", [])})
        await settle(0.5)
        for client, view in zip(clients, views, strict=True):
            while client.received.pending:
                message = await client.next()
                event = message.get("channel_presence_event", {})
                view |= {p["username"] for p in event.get("joins", [])}
                view -= {p["username"] for p in event.get("leaves", [])}
        everyone = {f"p{i}" for i in range(16)}
        assert all(view == everyone for view in views), [sorted(everyone - v) for v in views]
    finally:
        for node in started:
            await node.stop()
