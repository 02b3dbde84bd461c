"""Session resume (``session.resume_grace_ms``): a socket that drops without a close frame
keeps its session for the window; a new socket with the same token takes it over and
gets what it missed, in order.

The first half drives the lifecycle and :class:`ParkedSessions` with a Clock and fakes;
the second runs a real server with real sockets that are cut by a TCP reset.
"""

from __future__ import annotations

import re
import uuid

import orjson
import pytest
import pytest_twisted
from twisted.internet import reactor, task
from twisted.internet.task import Clock

from nakama_rt.config import SessionConfig, SocketConfig
from nakama_rt.socket.lifecycle import PONG_TIMEOUT, SocketCore, SocketMachine
from nakama_rt.socket.resume import RESUME_BUFFER_FULL, ParkedSessions
from nakama_rt.wire.close_reasons import CONNECTION_DROPPED, SHUTDOWN_REASON
from nakama_rt.wire.codec import Format, OutgoingEnvelope
from nakama_rt.wire.proto import api_pb2, realtime_pb2
from tests.conftest import make_config, start_server, stop_server
from tests.helpers import make_session
from tests.test_lifecycle import FakeHooks, FakeWire
from tests.wsclient import answer, authenticate, connect, has, presence_events, wait_for

match_event = presence_events("match_presence_event")

# --- the machine, with a Clock ------------------------------------------------------------


class Node:
    """One node's parking and server hooks, and the sockets opened on it."""

    def __init__(self, grace_ms: int = 10_000, buffer: int = 4) -> None:
        self.clock = Clock()
        self.hooks = FakeHooks()
        self.accepting = True
        self.parking = ParkedSessions(
            SessionConfig(resume_grace_ms=grace_ms, resume_buffer=buffer),
            self.clock,
            self.hooks,
            lambda: self.accepting,
        )

    def socket(self, token: str = "t", fmt: Format = Format.JSON):
        """A socket opened with ``token``, resuming a parked session when there is one."""
        wire = FakeWire()
        machine = None
        parked = self.parking.take("u1", token, fmt)
        if parked is None:
            session = make_session(
                "alice",
                wire,
                user_id="u1",
                token_id=token,
                fmt=fmt,
                clock=self.clock,
                on_close=lambda reason, code: machine.close(reason, code),
            )
        else:
            session = parked
            session.attach(
                wire,
                on_close=lambda reason, code: machine.close(reason, code),
                client_ip="10.0.0.2",
                client_port="2",
            )
        core = SocketCore(
            clock=self.clock,
            config=SocketConfig(),
            session=session,
            wire=wire,
            hooks=self.hooks,
            parking=self.parking,
            resumed=parked is not None,
        )
        machine = SocketMachine(core)
        machine.opened()
        return session, wire, machine


def chat(text: str) -> OutgoingEnvelope:
    return OutgoingEnvelope(
        realtime_pb2.Envelope(channel_message=api_pb2.ChannelMessage(content=text))
    )


def contents(wire: FakeWire) -> list[str]:
    return [orjson.loads(frame)["channel_message"]["content"] for frame in wire.frames]


def test_a_dropped_socket_parks_and_a_new_one_resumes_with_the_missed_frames_in_order() -> None:
    node = Node()
    session, old_wire, old = node.socket()
    session.send(chat("before"))
    old.connection_lost(CONNECTION_DROPPED)
    assert node.hooks.closed == [] and len(node.parking) == 1
    assert not session.closed
    for text in ("one", "two", "three"):
        assert session.send(chat(text))
    assert len(old_wire.frames) == 1  # nothing more to the old connection

    resumed, new_wire, _ = node.socket()
    assert resumed is session and len(node.parking) == 0
    assert node.hooks.opened == [session]  # opened once, not again on resume
    assert contents(new_wire) == ["one", "two", "three"]
    session.send(chat("after"))
    assert contents(new_wire)[-1] == "after"
    assert session.requester.client_ip == "10.0.0.2"
    assert node.parking.counts.resumed == 1 and node.parking.counts.replayed == 3
    node.clock.advance(60)
    assert node.hooks.closed == []  # its timer was cancelled


def test_the_window_passing_ends_the_session_once_with_the_drop_reason() -> None:
    node = Node(grace_ms=2000)
    session, _, old = node.socket()
    old.connection_lost(CONNECTION_DROPPED)
    node.clock.advance(1.9)
    assert node.hooks.closed == []
    node.clock.advance(0.2)
    assert node.hooks.closed == [session] and node.hooks.reasons == [CONNECTION_DROPPED]
    assert session.closed and not session.send(chat("late"))
    node.clock.advance(60)
    assert len(node.hooks.closed) == 1
    _, _, _ = node.socket()  # a later socket with the token starts a new session
    assert len(node.hooks.opened) == 2 and node.parking.counts.expired == 1


def test_a_close_frame_from_the_client_ends_the_session_at_once() -> None:
    node = Node()
    session, _, machine = node.socket()
    machine.connection_lost("")  # the client's normal close
    assert node.hooks.closed == [session] and len(node.parking) == 0


def test_a_server_close_is_not_parked_but_a_missed_pong_is() -> None:
    node = Node()
    session, wire, machine = node.socket()
    session.close("session outgoing queue full")
    assert node.hooks.closed == [session]

    second, wire, machine = node.socket(token="t2")
    node.clock.advance(SocketConfig().pong_wait_ms / 1000.0 + 1)
    assert wire.closes == [(1000, PONG_TIMEOUT)]  # told why, then kept
    assert node.hooks.closed == [session] and len(node.parking) == 1
    machine.connection_lost("")
    resumed, _, _ = node.socket(token="t2")
    assert resumed is second


def test_past_the_buffer_the_session_ends_with_leaves_instead_of_a_partial_replay() -> None:
    node = Node(buffer=2)
    session, _, old = node.socket()
    old.connection_lost(CONNECTION_DROPPED)
    assert session.send(chat("1")) and session.send(chat("2"))
    assert not session.send(chat("3"))
    assert session.closed and node.hooks.closed == []  # ended on the next turn
    node.clock.advance(0)
    assert node.hooks.closed == [session] and node.hooks.reasons == [RESUME_BUFFER_FULL]
    fresh, wire, _ = node.socket()
    assert fresh is not session and wire.frames == []
    assert node.parking.counts.overflowed == 1


def test_a_socket_in_another_format_ends_the_parked_session_and_starts_anew() -> None:
    node = Node()
    session, _, old = node.socket()
    old.connection_lost(CONNECTION_DROPPED)
    fresh, _, _ = node.socket(fmt=Format.PROTOBUF)
    assert fresh is not session and node.hooks.closed == [session]


def test_closing_a_parked_session_ends_it_and_a_shutdown_parks_nothing() -> None:
    node = Node()
    session, _, old = node.socket()
    old.connection_lost(CONNECTION_DROPPED)
    session.close(SHUTDOWN_REASON)  # single_socket, a shutdown, an operator
    assert node.hooks.closed == [session] and node.hooks.reasons == [SHUTDOWN_REASON]
    node.accepting = False
    second, _, machine = node.socket(token="t3")
    machine.connection_lost(CONNECTION_DROPPED)
    assert node.hooks.closed == [session, second] and len(node.parking) == 0


def test_the_oldest_parked_session_of_a_token_is_resumed_first() -> None:
    node = Node()
    first, _, a = node.socket()
    second, _, b = node.socket()
    a.connection_lost(CONNECTION_DROPPED)
    b.connection_lost(CONNECTION_DROPPED)
    assert node.socket()[0] is first and node.socket()[0] is second


# --- a real server, real sockets cut by a TCP reset ---------------------------------------

GRACE_MS = 1500


@pytest.fixture
def server_options() -> dict:
    return {"session": {"resume_grace_ms": GRACE_MS, "resume_buffer": 8}}


async def _until(predicate, timeout: float = 5.0) -> None:
    for _ in range(int(timeout / 0.01)):
        if predicate():
            return
        await task.deferLater(reactor, 0.01, lambda: None)
    raise AssertionError("condition not reached in time")


async def _user(port: int, name: str):
    session = await authenticate(port, f"resume-{uuid.uuid4()}", username=name)
    return session["token"]


def _cut(client) -> None:
    """A TCP reset, no close frame: what a phone losing its network looks like."""
    client.transport.abortConnection()


async def _quiet(client, seconds: float = 0.3) -> list[dict]:
    await task.deferLater(reactor, seconds, lambda: None)
    messages = list(client.received.pending)
    client.received.pending.clear()
    return messages


@pytest_twisted.ensureDeferred
@pytest.mark.parametrize("fmt", ["json", "protobuf"])
async def test_a_reset_socket_resumes_its_seat_and_gets_what_it_missed(server, fmt) -> None:
    port, parking = server.port, server.app.parking
    room = {"target": f"room-{uuid.uuid4().hex[:8]}", "type": 1}
    token = await _user(port, "phone")
    phone = await connect(port, token, fmt=fmt)
    friend = await connect(port, await _user(port, "friend"))
    joined = await answer(phone, {"cid": "1", "channel_join": room})
    channel_id = joined["channel"]["id"]
    session_id = joined["channel"]["self"]["session_id"]
    await answer(friend, {"cid": "2", "channel_join": room})
    match = await answer(friend, {"cid": "3", "match_create": {}})
    match_id = match["match"]["match_id"]
    await answer(phone, {"cid": "4", "match_join": {"match_id": match_id}})
    await _quiet(friend)

    _cut(phone)
    await _until(lambda: len(parking) == 1)
    sent = []
    for n in range(3):
        reply = await answer(
            friend,
            {
                "cid": f"m{n}",
                "channel_message_send": {"channel_id": channel_id, "content": f'{{"n":{n}}}'},
            },
        )
        sent.append(reply["channel_message_ack"]["message_id"])
        friend.send({"match_data_send": {"match_id": match_id, "op_code": "7", "data": "aGk="}})

    again = await connect(port, token, fmt=fmt)
    received = []
    while len(received) < 6:
        received.append(await again.next())
    kinds = [next(k for k in m if k != "cid") for m in received]
    assert kinds == ["channel_message", "match_data"] * 3
    assert [m["channel_message"]["message_id"] for m in received[::2]] == sent
    assert all(m["match_data"]["presence"]["username"] == "friend" for m in received[1::2])
    assert await _quiet(again) == []  # none twice

    # Re-joining answers as a fresh join would, with the same session, and nobody
    # sees a presence event for it.
    rejoined = await answer(again, {"cid": "5", "channel_join": room})
    assert rejoined["channel"]["self"]["session_id"] == session_id
    assert [p["username"] for p in rejoined["channel"]["presences"]] == ["friend"]
    remade = await answer(again, {"cid": "6", "match_join": {"match_id": match_id}})
    assert remade["match"]["self"]["session_id"] == session_id
    assert [p["username"] for p in remade["match"]["presences"]] == ["friend"]
    # A second join of the same is answered as Nakama answers a member's join.
    twice = await answer(again, {"cid": "7", "match_join": {"match_id": match_id}})
    assert {p["username"] for p in twice["match"]["presences"]} == {"friend", "phone"}
    await task.deferLater(reactor, GRACE_MS / 1000.0 + 0.3, lambda: None)
    seen = await _quiet(friend, 0)
    assert not [m for m in seen if "channel_presence_event" in m or "match_presence_event" in m]
    assert parking.counts.resumed == 1 and parking.counts.expired == 0
    for client in (again, friend):
        client.sendClose()


@pytest_twisted.ensureDeferred
async def test_past_the_window_everyone_sees_exactly_one_leave(server) -> None:
    port, parking = server.port, server.app.parking
    phone = await connect(port, await _user(port, "gone"))
    friend = await connect(port, await _user(port, "stays"))
    match = await answer(friend, {"cid": "1", "match_create": {}})
    match_id = match["match"]["match_id"]
    await answer(phone, {"cid": "2", "match_join": {"match_id": match_id}})
    await wait_for(friend, match_event("joins", "gone"))
    _cut(phone)
    await _until(lambda: len(parking) == 1)
    metrics = server.app.metrics_registry
    assert metrics.get_sample_value("nakama_rt_parked_sessions") == 1
    assert await _quiet(friend, GRACE_MS / 1000.0 - 0.5) == []
    leave, _ = await wait_for(friend, has("match_presence_event"), timeout=3)
    assert [p["username"] for p in leave["match_presence_event"]["leaves"]] == ["gone"]
    assert await _quiet(friend, 0.5) == []
    assert parking.counts.expired == 1
    events = "nakama_rt_session_resume_events_total"
    assert metrics.get_sample_value(events, {"event": "parked"}) == 1
    assert metrics.get_sample_value(events, {"event": "expired"}) == 1
    assert metrics.get_sample_value(events, {"event": "resumed"}) == 0
    assert metrics.get_sample_value("nakama_rt_parked_sessions") == 0
    friend.sendClose()


@pytest_twisted.ensureDeferred
async def test_a_close_frame_leaves_at_once_even_with_resume_on(server) -> None:
    port, parking = server.port, server.app.parking
    phone = await connect(port, await _user(port, "polite"))
    friend = await connect(port, await _user(port, "watcher"))
    match = await answer(friend, {"cid": "1", "match_create": {}})
    await answer(phone, {"cid": "2", "match_join": {"match_id": match["match"]["match_id"]}})
    await wait_for(friend, match_event("joins", "polite"))
    phone.sendClose()
    leave, _ = await wait_for(friend, has("match_presence_event"), timeout=1)
    assert leave["match_presence_event"]["leaves"][0]["username"] == "polite"
    assert len(parking) == 0
    friend.sendClose()


@pytest_twisted.ensureDeferred
async def test_a_matchmaker_ticket_survives_the_window_and_its_match_is_replayed(
    tmp_path,
) -> None:
    config = make_config(
        tmp_path, session={"resume_grace_ms": 10_000}, matchmaker={"interval_sec": 1}
    )
    running = await start_server(config)
    try:
        port, parking = running.port, running.app.parking
        token = await _user(port, "seeker")
        phone = await connect(port, token)
        other = await connect(port, await _user(port, "rival"))
        query = {"query": "*", "min_count": 2, "max_count": 2}
        ticket = await answer(phone, {"cid": "1", "matchmaker_add": query})
        _cut(phone)
        await _until(lambda: len(parking) == 1)
        await answer(other, {"cid": "2", "matchmaker_add": query})
        await wait_for(other, has("matchmaker_matched"), timeout=5)
        again = await connect(port, token)
        replayed, _ = await wait_for(again, has("matchmaker_matched"))
        matched = replayed["matchmaker_matched"]
        assert matched["ticket"] == ticket["matchmaker_ticket"]["ticket"]
        assert {u["presence"]["username"] for u in matched["users"]} == {"seeker", "rival"}
        for client in (again, other):
            client.sendClose()
    finally:
        await stop_server(running)


@pytest_twisted.ensureDeferred
async def test_resume_is_off_by_default(tmp_path) -> None:
    running = await start_server(make_config(tmp_path))
    try:
        assert running.app.parking is None
        port = running.port
        phone = await connect(port, await _user(port, "plain"))
        friend = await connect(port, await _user(port, "sees"))
        match = await answer(friend, {"cid": "1", "match_create": {}})
        await answer(phone, {"cid": "2", "match_join": {"match_id": match["match"]["match_id"]}})
        await wait_for(friend, match_event("joins", "plain"))
        _cut(phone)
        leave, _ = await wait_for(friend, has("match_presence_event"), timeout=2)
        assert leave["match_presence_event"]["leaves"][0]["username"] == "plain"
        friend.sendClose()
    finally:
        await stop_server(running)


@pytest_twisted.ensureDeferred
async def test_a_shutdown_ends_parked_sessions_with_their_leaves(tmp_path) -> None:
    config = make_config(tmp_path, session={"resume_grace_ms": 60_000})
    running = await start_server(config)
    port, parking = running.port, running.app.parking
    phone = await connect(port, await _user(port, "parked"))
    friend = await connect(port, await _user(port, "last"))
    match = await answer(friend, {"cid": "1", "match_create": {}})
    await answer(phone, {"cid": "2", "match_join": {"match_id": match["match"]["match_id"]}})
    await wait_for(friend, match_event("joins", "parked"))
    _cut(phone)
    await _until(lambda: len(parking) == 1)
    await running.listening.stopListening()
    await running.app.stop()
    assert len(parking) == 0 and parking.counts.closed == 1
    assert len(running.app.server.sessions) == 0


RECORDING_MATCH = '''
import json


class Counted:
    """Records every join attempt, join and leave; match_signal reports them."""

    def match_init(self, ctx, logger, nk, params):
        return {"seen": []}, 10, ""

    def match_join_attempt(self, ctx, logger, nk, dispatcher, tick, state, presence, metadata):
        state["seen"].append(["attempt", presence.username])
        return state, True, ""

    def match_join(self, ctx, logger, nk, dispatcher, tick, state, presences):
        state["seen"] += [["join", p.username] for p in presences]
        return state

    def match_leave(self, ctx, logger, nk, dispatcher, tick, state, presences):
        state["seen"] += [["leave", p.username] for p in presences]
        return state

    def match_loop(self, ctx, logger, nk, dispatcher, tick, state, messages):
        for m in messages:
            dispatcher.broadcast_message(m.op_code, m.data, sender=m)
        return state

    def match_terminate(self, ctx, logger, nk, dispatcher, tick, state, grace_seconds):
        return state

    def match_signal(self, ctx, logger, nk, dispatcher, tick, state, data):
        return state, json.dumps(state["seen"])


def rpc_counted(ctx, logger, nk, payload):
    return nk.match_create("counted", {})


def rpc_seen(ctx, logger, nk, payload):
    return nk.match_signal(payload, "")


def init_module(ctx, logger, nk, initializer):
    initializer.register_match("counted", Counted)
    initializer.register_rpc("counted", rpc_counted)
    initializer.register_rpc("seen", rpc_seen)
'''


@pytest_twisted.ensureDeferred
async def test_an_authoritative_match_keeps_the_seat_and_hears_one_leave_past_the_window(
    tmp_path,
) -> None:
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "counted.py").write_text(RECORDING_MATCH)
    config = make_config(
        tmp_path, session={"resume_grace_ms": GRACE_MS}, runtime={"path": str(modules)}
    )
    running = await start_server(config)
    try:
        port, parking = running.port, running.app.parking
        token = await _user(port, "runner")
        phone = await connect(port, token)
        host = await connect(port, await _user(port, "host"))
        created = await answer(host, {"cid": "1", "rpc": {"id": "counted"}})
        match_id = created["rpc"]["payload"]
        await answer(host, {"cid": "2", "match_join": {"match_id": match_id}})
        first = await answer(phone, {"cid": "3", "match_join": {"match_id": match_id}})
        _cut(phone)
        await _until(lambda: len(parking) == 1)
        host.send({"match_data_send": {"match_id": match_id, "op_code": "3", "data": "eA=="}})
        again = await connect(port, token)
        data, _ = await wait_for(again, has("match_data"))
        assert data["match_data"]["presence"]["username"] == "host"
        rejoined = await answer(again, {"cid": "4", "match_join": {"match_id": match_id}})
        assert rejoined["match"]["self"] == first["match"]["self"]
        assert [p["username"] for p in rejoined["match"]["presences"]] == ["host"]
        seen = await answer(host, {"cid": "5", "rpc": {"id": "seen", "payload": match_id}})
        once = [["attempt", "host"], ["join", "host"], ["attempt", "runner"], ["join", "runner"]]
        assert orjson.loads(seen["rpc"]["payload"]) == once  # no second attempt or join

        _cut(again)
        leave, _ = await wait_for(host, match_event("leaves", "runner"), timeout=5)
        assert await _quiet(host, 0.3) == []
        seen = await answer(host, {"cid": "6", "rpc": {"id": "seen", "payload": match_id}})
        assert orjson.loads(seen["rpc"]["payload"]) == [*once, ["leave", "runner"]]
        host.sendClose()
    finally:
        await stop_server(running)


@pytest_twisted.ensureDeferred
async def test_a_matchmaking_party_keeps_its_member_and_ticket_over_a_drop(tmp_path) -> None:
    config = make_config(
        tmp_path, session={"resume_grace_ms": 10_000}, matchmaker={"interval_sec": 1}
    )
    running = await start_server(config)
    try:
        port, parking = running.port, running.app.parking
        leader = await connect(port, await _user(port, "leader"))
        token = await _user(port, "member")
        member = await connect(port, token)
        created = await answer(leader, {"cid": "1", "party_create": {"open": True, "max_size": 2}})
        party_id = created["party"]["party_id"]
        await answer(member, {"cid": "2", "party_join": {"party_id": party_id}})
        await wait_for(member, has("party"))
        await wait_for(leader, has("party_presence_event"))
        _cut(member)
        await _until(lambda: len(parking) == 1)
        query = {"party_id": party_id, "query": "*", "min_count": 3, "max_count": 3}
        ticket = await answer(leader, {"cid": "3", "party_matchmaker_add": query})
        assert ticket["party_matchmaker_ticket"]["ticket"]
        again = await connect(port, token)
        told, _ = await wait_for(again, has("party_matchmaker_ticket"))  # replayed
        assert (
            told["party_matchmaker_ticket"]["ticket"] == ticket["party_matchmaker_ticket"]["ticket"]
        )
        await answer(again, {"cid": "4", "party_join": {"party_id": party_id}})
        party, _ = await wait_for(again, has("party"))
        assert {p["username"] for p in party["party"]["presences"]} == {"leader", "member"}
        assert party["party"]["leader"]["username"] == "leader"
        assert [m for m in await _quiet(leader, 0.3) if "party_presence_event" in m] == []

        # The party's ticket is still in the pool: a third player completes the match.
        solo = await connect(port, await _user(port, "solo"))
        await answer(
            solo, {"cid": "5", "matchmaker_add": {"query": "*", "min_count": 3, "max_count": 3}}
        )
        for client in (leader, again, solo):
            matched, _ = await wait_for(client, has("matchmaker_matched"), timeout=5)
            names = {u["presence"]["username"] for u in matched["matchmaker_matched"]["users"]}
            assert names == {"leader", "member", "solo"}
        for client in (leader, again, solo):
            client.sendClose()
    finally:
        await stop_server(running)


def test_resume_is_configured_by_option_or_file_and_refuses_bad_values(tmp_path) -> None:
    from nakama_rt.config import ConfigError, config_from_mapping
    from nakama_rt.tap import Options

    options = Options()
    options.parseOptions(["--resume-grace-ms", "30000", "--resume-buffer", "64"])
    session = options["nakama_config"].session
    assert (session.resume_grace_ms, session.resume_buffer) == (30000, 64)
    assert config_from_mapping({}).session.resume_grace_ms == 0  # off: Nakama's behaviour
    for values, message in (
        ({"resume_grace_ms": -1}, "session.resume_grace_ms must be 0 (off) or more"),
        ({"resume_buffer": 0}, "session.resume_buffer must be greater than 0"),
    ):
        with pytest.raises(ConfigError, match=re.escape(message)):
            config_from_mapping({"session": values}).validate()


def test_a_relayed_socket_whose_home_refuses_goes_on_as_a_session_of_its_own() -> None:
    from twisted.internet.defer import succeed

    from nakama_rt.core.refs import ParkedRef
    from nakama_rt.socket.resume_remote import EdgeLink

    class Relay:
        forgotten: list = []

        def attach(self, link):
            return succeed(False)  # the home no longer has it

        def forget(self, link):
            self.forgotten.append(link)

    node = Node()
    hooks = FakeHooks()
    hooks.counts = None
    session = make_session("alice", FakeWire(), user_id="u1", token_id="t", clock=node.clock)
    link = EdgeLink(Relay(), ParkedRef("s-elsewhere", "b", "t", "u1", "json"), session, hooks)
    assert not link.resumable(session)  # while the home is asked: the home parks it
    link.session_opened(session)
    assert link.state == "local" and hooks.opened == [session]
    assert link.resumable(session)  # a session of this node now: parked here on a drop
    assert link.process(session, realtime_pb2.Envelope(cid="1")) is True
    assert hooks.seen == ["1"]
