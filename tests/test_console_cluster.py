"""The operator console of a cluster (``nakama_rt.console.nodes``): one node's console
shows every node's figures, sessions, matches, parties and channels, and acts on
another node's session and match. Two servers in this process, each its own node on
the real Redis."""

from __future__ import annotations

import signal
import uuid

import orjson
import pytest
import pytest_twisted
from test_cluster_delivery import settle, start_nodes

from nakama_rt.console.figures import DISCONNECT_REASON
from tests.test_console import EXAMPLES, Console, _events
from tests.wsclient import answer, authenticate, connect, has, wait_for


async def _player(port: int, name: str):
    session = await authenticate(port, f"console-cluster-{uuid.uuid4()}", username=name)
    return await connect(port, session["token"])


@pytest_twisted.async_yield_fixture
async def cluster(tmp_path, redis_url):
    nodes = await start_nodes(tmp_path, redis_url, ("a", "b"), runtime={"path": str(EXAMPLES)})
    console = Console.of(nodes[0])
    await console.login()
    yield nodes, console
    await console.listening.stopListening()
    for node in nodes:
        await node.stop()


@pytest_twisted.ensureDeferred
async def test_the_overview_shows_every_node_live(cluster) -> None:
    (a, b), console = cluster
    _, events = await _events(console)
    first = await events.next()
    assert first["node"] == "a" and first["nodes"] == ["a", "b"]
    assert [row["node"] for row in first["node_rows"]] == ["a", "b"]
    assert all(row["rss_megabytes"] > 0 for row in first["node_rows"])
    alice = await _player(a.port, "alice")
    bob = await _player(b.port, "bob")
    while True:
        event = await events.next()
        if event["sessions"] == 2:
            break
    rows = {row["node"]: row for row in event["node_rows"]}
    assert rows["a"]["sessions"] == 1 and rows["b"]["sessions"] == 1
    assert "cpu_percent" in rows["b"] and "messages_in_per_sec" in rows["b"]
    assert {(s["username"], s["node"]) for s in event["live_sessions"]} == {
        ("alice", "a"),
        ("bob", "b"),
    }
    page = await console.get("/")
    assert b'data-node="b"' in page.body and b"bob" in page.body
    events.transport.stopProducing()
    alice.sendClose()
    bob.sendClose()


@pytest_twisted.ensureDeferred
async def test_a_session_on_another_node_is_found_with_its_status_and_disconnected(
    cluster,
) -> None:
    (a, b), console = cluster
    alice = await _player(a.port, "alice")
    bob = await _player(b.port, "bob")
    await answer(alice, {"cid": "s", "status_update": {"status": "waiting"}})
    await settle()
    await answer(bob, {"cid": "f", "status_follow": {"usernames": ["alice"]}})
    await answer(bob, {"cid": "u", "status_update": {"status": "in a duel"}})
    await answer(bob, {"cid": "j", "channel_join": {"target": "lobby", "type": 1}})
    await settle()
    found = await console.get("/sessions?q=bob")
    assert found.status == 200
    body = found.body.decode()
    bob_id = next(iter(b.app.server.sessions)).id
    assert bob_id in body and "in a duel" in body and "alice (online)" in body
    assert "<td>b</td>" in body and "lobby" in body
    fields = {"session_id": bob_id, "node": "b", "csrf": console.csrf(), "back": "/sessions"}
    done = await console.post("/sessions/disconnect", fields)
    assert done.status == 303
    assert await bob.closed() == (1000, DISCONNECT_REASON)
    # A node that is not in the cluster is said to be unavailable, at once.
    elsewhere = await console.post("/sessions/disconnect", {**fields, "node": "zzz"})
    assert elsewhere.status == 503 and b"Node zzz did not answer" in elsewhere.body
    alice.sendClose()


@pytest_twisted.ensureDeferred
async def test_another_nodes_match_is_listed_filtered_and_ended(cluster) -> None:
    (a, b), console = cluster
    player = await _player(b.port, "fighter")
    created = await player.request({"cid": "1", "rpc": {"id": "create_arena", "payload": "{}"}})
    match_id = orjson.loads(created["rpc"]["payload"])["match_id"]
    assert match_id.endswith(".b")
    join = {"match_id": match_id, "metadata": {"team": "red"}}
    joined = await answer(player, {"cid": "2", "match_join": join})
    assert joined["match"]["match_id"] == match_id
    await settle()
    listed = await console.get("/matches?q=%2Blabel.mode%3Aarena")
    assert match_id.encode() in listed.body and b"fighter" in listed.body
    fields = {"match_id": match_id, "grace": "0", "csrf": console.csrf()}
    ended = await console.post("/matches/end", fields)
    assert ended.status == 303
    assert len(b.app.server.match_registry) == 0
    await wait_for(player, has("match_presence_event"))
    again = await console.post("/matches/end", fields)
    assert again.status == 404 and b"on node b" in again.body
    unknown = await console.post("/matches/end", {**fields, "match_id": f"{uuid.uuid4()}.zzz"})
    assert unknown.status == 404
    player.sendClose()


@pytest_twisted.ensureDeferred
async def test_parties_and_channels_of_every_node(cluster) -> None:
    (a, b), console = cluster
    host = await _player(b.port, "host")
    party = await answer(host, {"cid": "p", "party_create": {"open": True, "max_size": 4}})
    joined = await answer(host, {"cid": "j", "channel_join": {"target": "plaza", "type": 1}})
    message = {"channel_id": joined["channel"]["id"], "content": "{}"}
    await answer(host, {"cid": "m", "channel_message_send": message})
    await settle()
    parties = (await console.get("/parties")).body.decode()
    assert party["party"]["party_id"] in parties and "host" in parties and "<td>b</td>" in parties
    channels = (await console.get("/channels")).body.decode()
    assert "plaza" in channels and " s ago" in channels  # the message sent on node b
    host.sendClose()


@pytest_twisted.ensureDeferred
async def test_a_node_that_does_not_answer_is_shown_beside_the_others(tmp_path, redis_url) -> None:
    """Node b is a real process, frozen with SIGSTOP: still a member of the cluster
    (its name has not expired), it answers nothing. Node a's pages and live stream say
    so after the call timeout and still show a's own; once b runs again, it answers."""
    from test_cluster_processes import start_node

    from tests.processes import wait_healthy

    (a,) = await start_nodes(tmp_path, redis_url, ("a",))
    port_b, watch_b, process_b = start_node(tmp_path, redis_url, "b", ttl=30)
    console = Console.of(a)
    try:
        await wait_healthy(port_b, watch_b)
        await console.login()
        local = await _player(a.port, "nearby")
        remote = await _player(port_b, "faraway")
        await settle(0.3)
        both = (await console.get("/sessions?q=a")).body.decode()
        assert "nearby" in both and "faraway" in both

        process_b.signalProcess(signal.SIGSTOP)
        frozen = (await console.get("/sessions?q=a")).body.decode()
        assert "nearby" in frozen and "faraway" not in frozen
        assert "Node b: no answer" in frozen
        _, events = await _events(console)
        for _ in range(40):  # (the first event waits for b's answer to time out, 2 s)
            if events.events:
                break
            await settle(0.25)
        event = await events.next()
        rows = {row["node"]: row for row in event["node_rows"]}
        assert rows["a"]["sessions"] == 1 and "no answer" in rows["b"]["problem"]
        assert event["sessions"] == 1
        events.transport.stopProducing()

        process_b.signalProcess(signal.SIGCONT)
        await settle(0.3)
        again = (await console.get("/sessions?q=a")).body.decode()
        assert "faraway" in again and "no answer" not in again
        local.sendClose()
        remote.sendClose()
    finally:
        await console.listening.stopListening()
        if process_b.pid is not None:
            process_b.signalProcess(signal.SIGCONT)
            process_b.signalProcess(signal.SIGTERM)
        await watch_b.ended
        await a.stop()


@pytest_twisted.ensureDeferred
async def test_another_nodes_ticket_is_listed_and_removed(cluster) -> None:
    (a, b), console = cluster
    seeker = await _player(b.port, "seeker")
    add = {"query": "*", "min_count": 2, "max_count": 2, "string_properties": {"mode": "duel"}}
    added = await answer(seeker, {"cid": "t", "matchmaker_add": add})
    ticket = added["matchmaker_ticket"]["ticket"]
    await settle()
    listed = (await console.get("/tickets")).body.decode()
    assert ticket in listed and "seeker" in listed and "duel" in listed
    removed = await console.post("/tickets/remove", {"ticket": ticket, "csrf": console.csrf()})
    assert removed.status == 303
    await settle()
    assert ticket not in b.app.server.matchmaker.pool.tickets
    assert b.app.server.matchmaker.tickets_of(next(iter(b.app.server.sessions)).id) == []
    seeker.sendClose()


@pytest_twisted.ensureDeferred
async def test_a_question_a_node_does_not_know_is_refused_not_crashed(cluster) -> None:
    """Anything on the cluster's Redis can call a node's console service: an unknown
    question or a payload that is not JSON fails that call (a failed service answers
    nothing: the caller's timeout ends it), and the node goes on."""
    from twisted.logger import globalLogPublisher

    from nakama_rt.console.nodes import SERVICE
    from nakama_rt.core.remote import CallFailed

    (a, b), console = cluster
    calls = a.app.cluster.calls
    logged: list[dict] = []
    globalLogPublisher.addObserver(logged.append)
    try:
        for payload in (orjson.dumps({"q": "format_disk", "a": {}}), b"not json"):
            with pytest.raises(CallFailed):
                await calls.call("b", SERVICE, payload, timeout=0.5)
    finally:
        globalLogPublisher.removeObserver(logged.append)
    failed = [e for e in logged if e.get("log_format", "").startswith("serving {service!r}")]
    assert len(failed) == 2  # b refused both, each logged with its reason
    answered = orjson.loads(await calls.call("b", SERVICE, orjson.dumps({"q": "figures"})))
    assert answered["node"] == "b"
