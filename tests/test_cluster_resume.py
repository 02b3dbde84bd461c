"""Session resume across the nodes of a cluster (``nakama_rt.socket.resume_remote``): a
socket that drops on one node and comes back on another resumes its session where it
lives. Two or three servers in this process, each its own node on the real Redis."""

from __future__ import annotations

import uuid

import orjson
import pytest
import pytest_twisted
from test_cluster_delivery import room, settle, start_nodes

from nakama_rt.socket.resume_remote import HOME_GONE
from tests.test_resume import _cut, _quiet, _until
from tests.wsclient import answer, authenticate, connect, has, presence_events, wait_for

GRACE_MS = 1500
match_event = presence_events("match_presence_event")
RESUME = {"session": {"resume_grace_ms": GRACE_MS, "resume_buffer": 16}}


async def _token(port: int, name: str) -> str:
    session = await authenticate(port, f"cluster-resume-{uuid.uuid4()}", username=name)
    return session["token"]


async def _resumed_elsewhere(phone, token: str, a, b):
    """Cut ``phone``'s connection to node a, then reconnect with its token to node b,
    which relays to a; once a has handed the session over."""
    _cut(phone)
    await _until(lambda: any(b.app.cluster.parked.others()))
    again = await connect(b.port, token)
    await _until(lambda: bool(a.app.resume_relay.homes))
    return again


@pytest.mark.parametrize("fmt", ["json", "protobuf"])
@pytest_twisted.ensureDeferred
async def test_a_socket_dropped_on_one_node_resumes_on_another(tmp_path, redis_url, fmt) -> None:
    a, b = await start_nodes(tmp_path, redis_url, ("a", "b"), **RESUME)
    try:
        token = await _token(a.port, "roamer")
        phone = await connect(a.port, token, fmt=fmt)
        friend = await connect(b.port, await _token(b.port, "friend"))
        joined = await answer(phone, room("plaza"))
        session_id = joined["channel"]["self"]["session_id"]
        channel_id = joined["channel"]["id"]
        await settle()
        await answer(friend, room("plaza"))
        created = await answer(friend, {"cid": "m", "match_create": {}})
        match_id = created["match"]["match_id"]
        await settle()
        await answer(phone, {"cid": "mj", "match_join": {"match_id": match_id}})
        await wait_for(friend, match_event("joins", "roamer"))
        await _quiet(friend)

        _cut(phone)
        await _until(lambda: len(a.app.parking) == 1)
        await _until(lambda: any(b.app.cluster.parked.others()))
        message = {"channel_id": channel_id, "content": '{"n": 1}'}
        sent = await answer(friend, {"cid": "c1", "channel_message_send": message})
        friend.send({"match_data_send": {"match_id": match_id, "op_code": "4", "data": "eQ=="}})
        await settle()

        # Back on the other node: the same session, what it missed, in order.
        again = await connect(b.port, token, fmt=fmt)
        first = await again.next()
        second = await again.next()
        assert first["channel_message"]["message_id"] == sent["channel_message_ack"]["message_id"]
        assert second["match_data"]["op_code"] == "4"
        rejoined = await answer(again, room("plaza"))
        assert rejoined["channel"]["self"]["session_id"] == session_id
        assert [p["username"] for p in rejoined["channel"]["presences"]] == ["friend"]
        # Its requests run on its home node; what is sent to it comes back through b.
        await answer(again, {"cid": "c2", "channel_message_send": {**message, "content": "{}"}})
        heard, _ = await wait_for(friend, has("channel_message"))
        assert heard["channel_message"]["sender_id"] == rejoined["channel"]["self"]["user_id"]
        friend.send({"match_data_send": {"match_id": match_id, "op_code": "5", "data": "eQ=="}})
        data, _ = await wait_for(again, has("match_data"))
        assert data["match_data"]["op_code"] == "5"
        assert [m for m in await _quiet(friend) if "match_presence_event" in m] == []
        assert a.app.resume_relay.homes and b.app.resume_relay.edges
        relayed = "nakama_rt_relayed_sockets"
        assert a.app.metrics_registry.get_sample_value(relayed, {"side": "home"}) == 1
        assert b.app.metrics_registry.get_sample_value(relayed, {"side": "edge"}) == 1

        # Dropped again on b: parked again on a, and past the window one leave.
        _cut(again)
        await _until(lambda: len(a.app.parking) == 1)
        assert not a.app.resume_relay.homes and not b.app.resume_relay.edges
        leave, _ = await wait_for(friend, match_event("leaves", "roamer"), timeout=5)
        assert [p["session_id"] for p in leave["match_presence_event"]["leaves"]] == [session_id]
        await settle(0.3)
        assert [m for m in await _quiet(friend) if "match_presence_event" in m] == []
        friend.sendClose()
    finally:
        await b.stop()
        await a.stop()


@pytest_twisted.ensureDeferred
async def test_a_clean_close_on_the_other_node_ends_the_session_at_once(
    tmp_path, redis_url
) -> None:
    a, b = await start_nodes(tmp_path, redis_url, ("a", "b"), **RESUME)
    try:
        token = await _token(a.port, "leaver")
        phone = await connect(a.port, token)
        friend = await connect(a.port, await _token(a.port, "stays"))
        created = await answer(friend, {"cid": "m", "match_create": {}})
        match_id = created["match"]["match_id"]
        await answer(phone, {"cid": "mj", "match_join": {"match_id": match_id}})
        await wait_for(friend, match_event("joins", "leaver"))
        again = await _resumed_elsewhere(phone, token, a, b)
        again.sendClose()
        leave, _ = await wait_for(friend, match_event("leaves", "leaver"), timeout=1)
        assert leave["match_presence_event"]["leaves"][0]["username"] == "leaver"
        assert len(a.app.parking) == 0 and not a.app.resume_relay.homes
        friend.sendClose()
    finally:
        await b.stop()
        await a.stop()


@pytest_twisted.ensureDeferred
async def test_a_socket_whose_session_expired_meanwhile_starts_anew(tmp_path, redis_url) -> None:
    a, b = await start_nodes(tmp_path, redis_url, ("a", "b"), **RESUME)
    try:
        token = await _token(a.port, "late")
        phone = await connect(a.port, token)
        first = await answer(phone, room("hall"))
        _cut(phone)
        await _until(lambda: any(b.app.cluster.parked.others()))
        # a no longer has it when b asks (taken by a socket on a itself).
        back_on_a = await connect(a.port, token)
        assert len(a.app.parking) == 0
        fresh = await connect(b.port, token)
        joined = await answer(fresh, room("hall"))
        fresh_id = joined["channel"]["self"]["session_id"]
        assert fresh_id != first["channel"]["self"]["session_id"]
        # A session of b now: dropped, b keeps it, and b resumes it.
        _cut(fresh)
        await _until(lambda: len(b.app.parking) == 1)
        again = await connect(b.port, token)
        rejoined = await answer(again, room("hall"))
        assert rejoined["channel"]["self"]["session_id"] == fresh_id
        for client in (back_on_a, again):
            client.sendClose()
    finally:
        await b.stop()
        await a.stop()


@pytest_twisted.ensureDeferred
async def test_the_home_closing_the_session_closes_the_socket_with_its_reason(
    tmp_path, redis_url
) -> None:
    a, b = await start_nodes(tmp_path, redis_url, ("a", "b"), **RESUME)
    try:
        token = await _token(a.port, "closed")
        phone = await connect(a.port, token)
        await answer(phone, room("yard"))
        again = await _resumed_elsewhere(phone, token, a, b)
        a.app.server.shutdown()  # closes every session of a, this one too
        code, reason = await again.closed()
        assert (code, reason) == (1001, "server shutting down")
    finally:
        await b.stop()
        await a.stop()


@pytest_twisted.ensureDeferred
async def test_a_relayed_socket_closes_when_its_home_node_dies(tmp_path, redis_url) -> None:
    a, b = await start_nodes(tmp_path, redis_url, ("a", "b"), ttl=1, **RESUME)
    try:
        token = await _token(a.port, "orphan")
        phone = await connect(a.port, token)
        await answer(phone, room("dock"))
        again = await _resumed_elsewhere(phone, token, a, b)
        # a dies: no heartbeat, no goodbye.
        await a.app.timers.stopService()
        await a.app.cluster.bus.stop()
        code, reason = await again.closed(timeout=6)
        assert (code, reason) == (1001, HOME_GONE)
    finally:
        await b.stop()
        await a.stop()


@pytest_twisted.ensureDeferred
async def test_re_joins_forwarded_to_the_match_and_partys_node_answer_as_fresh(
    tmp_path, redis_url
) -> None:
    """A session resumed on node a re-joins an authoritative match and a party that
    live on node b: b answers as to a fresh join (the others, not the session itself),
    the handler sees no second attempt, and nobody sees a join."""
    from tests.test_resume import RECORDING_MATCH

    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "counted.py").write_text(RECORDING_MATCH)
    a, b = await start_nodes(
        tmp_path, redis_url, ("a", "b"), runtime={"path": str(modules)}, **RESUME
    )
    try:
        host = await connect(b.port, await _token(b.port, "host"))
        created = await answer(host, {"cid": "1", "rpc": {"id": "counted"}})
        match_id = created["rpc"]["payload"]
        assert match_id.endswith(".b")
        await answer(host, {"cid": "2", "match_join": {"match_id": match_id}})
        party = await answer(host, {"cid": "3", "party_create": {"open": True, "max_size": 2}})
        party_id = party["party"]["party_id"]
        token = await _token(a.port, "runner")
        phone = await connect(a.port, token)
        first = await answer(phone, {"cid": "4", "match_join": {"match_id": match_id}})
        assert {p["username"] for p in first["match"]["presences"]} == {"host"}
        await answer(phone, {"cid": "5", "party_join": {"party_id": party_id}})
        await wait_for(phone, has("party"))
        await settle(0.3)
        await _quiet(host)

        _cut(phone)
        await _until(lambda: len(a.app.parking) == 1)
        again = await connect(a.port, token)
        await _until(lambda: len(a.app.parking) == 0)
        rejoined = await answer(again, {"cid": "6", "match_join": {"match_id": match_id}})
        assert rejoined["match"]["self"] == first["match"]["self"]
        assert [p["username"] for p in rejoined["match"]["presences"]] == ["host"]
        await answer(again, {"cid": "7", "party_join": {"party_id": party_id}})
        welcomed, _ = await wait_for(again, has("party"))
        assert {p["username"] for p in welcomed["party"]["presences"]} == {"host", "runner"}
        seen = await answer(host, {"cid": "8", "rpc": {"id": "seen", "payload": match_id}})
        once = [["attempt", "host"], ["join", "host"], ["attempt", "runner"], ["join", "runner"]]
        assert orjson.loads(seen["rpc"]["payload"]) == once  # no second attempt or join
        events = [
            m
            for m in await _quiet(host)
            if set(m) & {"match_presence_event", "party_presence_event"}
        ]
        assert events == []
        # b holds nothing for the session once it answered.
        assert len(b.app.server.held) == 0
        again.sendClose()
        host.sendClose()
    finally:
        for node in (a, b):
            await node.stop()
