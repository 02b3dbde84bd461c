"""The matchmaker over a cluster (issue 15): one pool of every node's tickets, one pass
per interval for the whole cluster (the lease holder's), matched players told on their
own nodes. Three nodes in this process on the real Redis, real sockets."""

from __future__ import annotations

import pytest_twisted
from test_cluster_delivery import settle, start_nodes

from tests.wsclient import has, player, wait_for

MATCHMAKER = {"interval_sec": 1}


def ticket(cid: str = "m", **fields) -> dict:
    request = {"min_count": 2, "max_count": 2, "query": "*", **fields}
    return {"cid": cid, "matchmaker_add": request}


@pytest_twisted.async_yield_fixture
async def nodes(tmp_path, redis_url):
    started = await start_nodes(tmp_path, redis_url, ("a", "b", "c"), ttl=1, matchmaker=MATCHMAKER)
    yield started
    for node in started:
        await node.stop()


def holders(nodes) -> list[str]:
    return [n.app.config.name for n in nodes if n.app.cluster.tickets.may_match()]


@pytest_twisted.ensureDeferred
async def test_players_on_different_nodes_are_matched_together_once(nodes) -> None:
    a, b, c = nodes
    alice, bob = await player(a.port, "alice"), await player(b.port, "bob", "protobuf")
    added = await alice.request(ticket(string_properties={"mode": "duel"}))
    alice_ticket = added["matchmaker_ticket"]["ticket"]
    await settle()
    # Every node holds the ticket; the player's ticket limit counts across nodes.
    for node in nodes:
        assert alice_ticket in node.app.server.matchmaker.pool.tickets
    await bob.request(ticket(query="+properties.mode:duel"))

    matched = [
        (await wait_for(client, has("matchmaker_matched"), timeout=4))[0] for client in (alice, bob)
    ]
    found = [m["matchmaker_matched"] for m in matched]
    assert found[0]["token"] == found[1]["token"] != ""
    assert sorted(u["presence"]["username"] for u in found[0]["users"]) == ["alice", "bob"]
    assert found[0]["self"]["presence"]["username"] == "alice"
    assert found[1]["self"]["presence"]["username"] == "bob"
    # One node ran the cluster's pass; the matched tickets left every node's pool.
    await settle()
    assert sum(n.app.server.matchmaker.matched_count for n in nodes) == 1
    assert len(holders(nodes)) == 1
    for node in nodes:
        assert len(node.app.server.matchmaker) == 0

    # The token joins the match from either node.
    joined = await alice.request({"cid": "j", "match_join": {"token": found[0]["token"]}})
    assert joined["match"]["self"]["username"] == "alice"


@pytest_twisted.ensureDeferred
async def test_withdrawn_and_dead_nodes_tickets_leave_the_pool(nodes) -> None:
    a, b, c = nodes
    alice, carol = await player(a.port, "alice"), await player(c.port, "carol")
    added = await alice.request(ticket(min_count=3, max_count=3))
    await carol.request(ticket(min_count=3, max_count=3))
    await settle()
    assert all(len(n.app.server.matchmaker) == 2 for n in nodes)
    removed = await alice.request(
        {"cid": "r", "matchmaker_remove": {"ticket": added["matchmaker_ticket"]["ticket"]}}
    )
    assert removed == {"cid": "r"}
    await settle()
    assert all(len(n.app.server.matchmaker) == 1 for n in nodes)
    # c dies: no heartbeat, no goodbye; its player's ticket leaves a's and b's pools.
    await c.app.timers.stopService()
    await c.app.cluster.bus.stop()
    await settle(2.5)
    assert len(a.app.server.matchmaker) == len(b.app.server.matchmaker) == 0


@pytest_twisted.ensureDeferred
async def test_when_the_lease_holder_dies_another_node_matches(nodes) -> None:
    await settle(1.2)  # a lease was taken
    (holder,) = [n for n in nodes if n.app.cluster.tickets.may_match()]
    others = [n for n in nodes if n is not holder]
    await holder.app.timers.stopService()  # its lease is no longer renewed
    await holder.app.cluster.bus.stop()
    one, two = await player(others[0].port, "one"), await player(others[1].port, "two")
    await one.request(ticket())
    await two.request(ticket())
    for client in (one, two):
        await wait_for(client, has("matchmaker_matched"), timeout=6)
    assert sum(n.app.server.matchmaker.matched_count for n in others) == 1
