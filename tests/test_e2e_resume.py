"""End to end: session resume with the official nakama-js client (node).

The scenarios are ``resume_match`` and ``resume_party`` in
``tests/e2e/resume_scenarios.mjs`` (see its header), for the JSON and the protobuf
adapter, on a server with ``session.resume_grace_ms``. A socket's TCP connection is
reset mid-match (no close frame) and the client reconnects with nakama-js's own
``socket.connect`` within the window; the node side checks what each socket sees, and
the tests here check its facts against the server.
"""

from __future__ import annotations

import pytest
import pytest_twisted

from tests.conftest import make_config, stop_server
from tests.test_cluster_delivery import start_nodes
from tests.test_e2e_nakama_js import (
    ADAPTERS,
    node,  # noqa: F401  (fixture)
    run_on_own_server,
    run_scenario,
)

GRACE_MS = 1500


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest_twisted.ensureDeferred
async def test_a_reset_socket_keeps_its_seat_and_gets_what_it_missed(
    tmp_path,
    node,  # noqa: F811
    adapter,
) -> None:
    config = make_config(tmp_path, session={"resume_grace_ms": GRACE_MS})
    run = await run_on_own_server(node, config, adapter, "resume_match")
    try:
        facts = run.facts
        assert facts["dropped"]["code"] == 1006  # nakama-js saw the connection go
        kinds = [event["kind"] for event in facts["replayed"]]
        assert kinds == ["channel_message", "match_data"] * 3
        assert [e["content"] for e in facts["replayed"][::2]] == [{"n": n} for n in range(3)]
        assert facts["after_replay"] == [] and facts["b_saw_while_resuming"] == []
        assert facts["rejoin"]["match_size"] == 1
        assert sorted(leave["kind"] for leave in facts["leaves"]) == [
            "channel_presence",
            "match_presence",
        ]
        parking = run.server.app.parking
        assert parking is not None
        # One resume, then the second drop expired: each event once.
        counts = parking.counts
        assert (counts.parked, counts.resumed, counts.expired) == (2, 1, 1)
        assert counts.replayed == 6
    finally:
        await stop_server(run.server)


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest_twisted.ensureDeferred
async def test_a_matchmaking_party_member_resumes_and_the_match_forms(
    tmp_path,
    node,  # noqa: F811
    adapter,
) -> None:
    config = make_config(
        tmp_path, session={"resume_grace_ms": GRACE_MS}, matchmaker={"interval_sec": 1}
    )
    run = await run_on_own_server(node, config, adapter, "resume_party")
    try:
        facts = run.facts
        assert facts["l_saw"] == []
        if adapter == "json":
            assert facts["rejoined"]["self"] != facts["rejoined"]["leader"]
        assert len({m["match"] for m in facts["matched"].values()}) == 1
        assert facts["m_left"]["leaves"] and facts["m_left"]["after"] == []
        counts = run.server.app.parking.counts
        assert (counts.parked, counts.resumed, counts.expired) == (2, 1, 1)
    finally:
        await stop_server(run.server)


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest_twisted.ensureDeferred
async def test_a_socket_reset_on_one_node_resumes_through_another(
    tmp_path,
    redis_url,
    node,  # noqa: F811
    adapter,
) -> None:
    """The same scenario on two nodes of a cluster: A comes back through the other node
    (``nakama_rt.socket.resume_remote``), which relays to its session's node."""
    a, b = await start_nodes(tmp_path, redis_url, ("a", "b"), session={"resume_grace_ms": GRACE_MS})
    try:
        facts = await run_scenario(
            node, a.port, adapter, "resume_match", "--other-port", str(b.port)
        )
        assert facts["other_node"] is True
        assert [event["kind"] for event in facts["replayed"]] == [
            "channel_message",
            "match_data",
        ] * 3
        counts = a.app.parking.counts
        assert (counts.parked, counts.resumed, counts.expired) == (2, 1, 1)
        assert not a.app.resume_relay.homes and not b.app.resume_relay.edges
    finally:
        await b.stop()
        await a.stop()
