"""End to end across two nodes of a cluster with the official nakama-js client (node):
user A's client talks to one node, user B's to the other, on the real Redis, in both
adapters. The scenarios are in ``tests/e2e/cluster_scenarios.mjs``; they assert in node
and print their facts, checked here too."""

from __future__ import annotations

import pytest
import pytest_twisted

from tests.test_cluster_delivery import (
    nodes,  # noqa: F401  (fixture: nodes a and b)
    start_nodes,
)
from tests.test_cluster_homes import host_match
from tests.test_e2e_nakama_js import (
    ADAPTERS,
    node,  # noqa: F401  (fixture)
    run_scenario,
)


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest_twisted.ensureDeferred
async def test_a_room_across_two_nodes(node, nodes, adapter) -> None:  # noqa: F811
    a, b = nodes
    facts = await run_scenario(node, a.port, adapter, "cluster_chat", "--other-port", str(b.port))
    user_a, user_b = facts["b_got"]["username"], facts["a_got"]["username"]
    assert facts["b_sees"] == [user_a]  # B's channel, on b, lists A, on a
    assert facts["a_sees_join"] == facts["a_sees_leave"] == [user_b]
    assert facts["b_got"]["content"] == {"text": "from A"}
    assert facts["a_got"]["content"] == {"text": "from B"}


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest_twisted.ensureDeferred
async def test_a_relayed_match_across_two_nodes(node, nodes, adapter) -> None:  # noqa: F811
    a, b = nodes
    facts = await run_scenario(node, a.port, adapter, "cluster_match", "--other-port", str(b.port))
    assert (facts["b_got"]["op_code"], facts["a_got"]["op_code"]) == (7, 8)
    assert facts["b_sees"] == [facts["b_got"]["sender"]]
    assert facts["a_sees_join"] == [facts["a_got"]["sender"]]


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest_twisted.ensureDeferred
async def test_an_authoritative_match_across_two_nodes(node, nodes, adapter) -> None:  # noqa: F811
    a, b = nodes
    match_id, game = host_match(b)
    facts = await run_scenario(
        node,
        a.port,
        adapter,
        "cluster_authoritative",
        "--other-port",
        str(b.port),
        "--match-id",
        match_id,
    )
    assert facts["a_refused"] == {"code": 5, "message": "wrong password"}
    assert facts["a_match"]["authoritative"] is True
    assert facts["echo_of_a"][0] == 107 and facts["echo_of_b"][0] == 108
    # The handler on b saw both players, and A leave.
    assert [c[0] for c in game.calls if c[0] in ("join", "leave")][-1] == "leave"


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest_twisted.ensureDeferred
async def test_a_party_across_two_nodes(node, nodes, adapter) -> None:  # noqa: F811
    a, b = nodes
    facts = await run_scenario(node, a.port, adapter, "cluster_party", "--other-port", str(b.port))
    assert facts["a_got"][0] == 3 and facts["b_got"][0] == 4
    assert facts["leader"] == facts["b_joined"][0]
    assert facts["a_closed"] is True


@pytest_twisted.async_yield_fixture
async def matchmaking(tmp_path, redis_url):
    """Two nodes whose one matchmaker runs every second."""
    started = await start_nodes(tmp_path, redis_url, ("a", "b"), matchmaker={"interval_sec": 1})
    yield started
    for started_node in started:
        await started_node.stop()


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest_twisted.ensureDeferred
async def test_the_matchmaker_across_two_nodes(node, matchmaking, adapter) -> None:  # noqa: F811
    a, b = matchmaking
    facts = await run_scenario(
        node, a.port, adapter, "cluster_matchmaker", "--other-port", str(b.port)
    )
    assert facts["same_token"] is True and facts["same_match"] is True
    assert facts["tickets"] == [True, True]
    assert sum(n.app.server.matchmaker.matched_count for n in matchmaking) == 1


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest_twisted.ensureDeferred
async def test_status_party_and_room_across_three_nodes(
    node,  # noqa: F811
    tmp_path,
    redis_url,
    adapter,
) -> None:
    a, b, c = started = await start_nodes(tmp_path, redis_url, ("a", "b", "c"))
    try:
        facts = await run_scenario(
            node,
            a.port,
            adapter,
            "cluster_three",
            "--other-port",
            str(b.port),
            "--third-port",
            str(c.port),
        )
    finally:
        for started_node in started:
            await started_node.stop()
    assert facts["status_seen"] == ["B", "C"]
    assert facts["party_data"] == [["A", 5, True], ["B", 5, True]]
    assert facts["room"] == [["A", True, "from C"], ["B", True, "from C"]]
