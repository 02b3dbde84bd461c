"""Authoritative matches and parties live on one node, their members on any (issue 15):
two nodes in this process on the real Redis, real sockets in both formats. The match's
handler and the party's rules run where they live; requests from players on the other
node are handled there and answered here."""

from __future__ import annotations

from urllib.parse import quote

import pytest
import pytest_twisted
from redis_fixtures import drop_connections
from test_cluster_delivery import joined_by, other, settle, start_nodes
from test_match_list import listing

from nakama_rt.core.refs import StreamRef
from nakama_rt.core.tracker import PresenceStream, StreamMode
from nakama_rt.realtime.match.authoritative import MatchError
from nakama_rt.realtime.stream import StreamError
from tests.wsclient import authenticate, has, http, player, wait_for

FORMATS = ["json", "protobuf"]


class Game:
    """Accepts who knows the password; echoes data back as op 100+ from the loop."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def match_init(self, ctx, logger, nk, params):
        return {"end": False}, 10, '{"mode":"duel"}'

    def match_join_attempt(self, ctx, logger, nk, dispatcher, tick, state, presence, metadata):
        self.calls.append(("attempt", presence.username, presence.session_id))
        if metadata.get("password") != "open sesame":
            return state, False, "wrong password"
        return state, True

    def match_join(self, ctx, logger, nk, dispatcher, tick, state, presences):
        self.calls.append(("join", sorted(p.username for p in presences)))
        return state

    def match_leave(self, ctx, logger, nk, dispatcher, tick, state, presences):
        self.calls.append(("leave", sorted(p.username for p in presences)))
        return state

    def match_loop(self, ctx, logger, nk, dispatcher, tick, state, messages):
        for m in messages:
            self.calls.append(("data", m.username, m.session_id, m.data))
            dispatcher.broadcast_message(m.op_code + 100, m.data, sender=m)
            if m.data == b"kick me":
                dispatcher.match_kick([m])
        return None if state["end"] else state

    def match_terminate(self, ctx, logger, nk, dispatcher, tick, state, grace_seconds):
        return state

    def match_signal(self, ctx, logger, nk, dispatcher, tick, state, data):
        return state, data


@pytest_twisted.async_yield_fixture
async def nodes(tmp_path, redis_url):
    started = await start_nodes(tmp_path, redis_url, ("a", "b"), ttl=1)
    yield started
    for node in started:
        await node.stop()


def host_match(node) -> tuple[str, Game]:
    """A match of :class:`Game` on ``node``; its id and its handler."""
    game = Game()
    registry = node.app.server.match_registry
    registry.handlers = {"game": lambda: game}
    return registry.create("game", {}), game


def join(match_id: str, password: str = "open sesame") -> dict:
    return {"cid": "j", "match_join": {"match_id": match_id, "metadata": {"password": password}}}


def usernames(presences: list[dict]) -> list[str]:
    return sorted(p["username"] for p in presences)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest_twisted.ensureDeferred
async def test_an_authoritative_match_plays_with_a_player_on_another_node(nodes, fmt) -> None:
    a, b = nodes
    match_id, game = host_match(b)
    alice = await player(a.port, "alice", fmt)
    bob = await player(b.port, "bob", other(fmt))
    await settle()

    refused = await alice.request(join(match_id, "guess"))
    assert refused["error"]["code"] == 5
    assert refused["error"]["message"] == "wrong password"
    assert refused["cid"] == "j"

    joined = await bob.request(join(match_id))
    assert "presences" not in joined["match"]  # nobody else yet
    joined = await alice.request(join(match_id))
    match = joined["match"]
    assert (match["match_id"], match["authoritative"], match["label"]) == (
        match_id,
        True,
        '{"mode":"duel"}',
    )
    assert usernames(match["presences"]) == ["bob"]
    await wait_for(bob, joined_by("match_presence_event", "alice"))
    assert ("join", ["alice"]) in game.calls

    alice.send({"match_data_send": {"match_id": match_id, "op_code": 7, "data": "aGk="}})
    for client in (alice, bob):
        data, _ = await wait_for(client, has("match_data"))
        assert (data["match_data"]["op_code"], data["match_data"]["data"]) == ("107", "aGk=")
        assert data["match_data"]["presence"]["username"] == "alice"
    alice_session = next(c[2] for c in game.calls if c[:2] == ("attempt", "alice"))
    assert ("data", "alice", alice_session, b"hi") in game.calls

    left = await alice.request({"cid": "l", "match_leave": {"match_id": match_id}})
    assert left == {"cid": "l"}
    event, _ = await wait_for(bob, has("match_presence_event"))
    assert usernames(event["match_presence_event"]["leaves"]) == ["alice"]
    await settle()
    assert ("leave", ["alice"]) in game.calls


@pytest_twisted.ensureDeferred
async def test_a_match_ending_or_kicking_reaches_players_on_another_node(nodes) -> None:
    a, b = nodes
    match_id, game = host_match(b)
    alice, carol = await player(a.port, "alice"), await player(a.port, "carol", "protobuf")
    await settle()
    await alice.request(join(match_id))
    await carol.request(join(match_id))
    await wait_for(alice, has("match_presence_event"))

    # The handler kicks carol: she is untracked on her node, and everyone hears.
    carol.send({"match_data_send": {"match_id": match_id, "op_code": 1, "data": "a2ljayBtZQ=="}})
    event, _ = await wait_for(alice, lambda m: "leaves" in m.get("match_presence_event", {}))
    assert usernames(event["match_presence_event"]["leaves"]) == ["carol"]
    await settle()
    stream = b.app.server.match_registry.get(match_id).stream
    assert [p.meta.username for p in a.app.server.tracker.list_by_stream(stream)] == ["alice"]

    # The match ends: alice is told everyone left, and is off the stream on her node.
    b.app.server.match_registry.get(match_id).state["end"] = True
    event, _ = await wait_for(alice, lambda m: "leaves" in m.get("match_presence_event", {}))
    assert usernames(event["match_presence_event"]["leaves"]) == ["alice"]
    await settle()
    assert a.app.server.tracker.list_by_stream(stream) == []


@pytest_twisted.ensureDeferred
async def test_the_matches_and_parties_of_a_node_that_dies_end(nodes) -> None:
    a, b = nodes
    match_id, _ = host_match(b)
    bob = await player(b.port, "bob")
    created = await bob.request({"cid": "p", "party_create": {"open": True, "max_size": 4}})
    party_id = created["party"]["party_id"]
    await bob.request(join(match_id))
    alice = await player(a.port, "alice", "protobuf")
    await settle()
    await alice.request(join(match_id))
    await wait_for(alice, joined_by("match_presence_event", "alice"))
    alice.send({"cid": "pj", "party_join": {"party_id": party_id}})
    await wait_for(alice, has("party"))
    # b dies: no heartbeat, no goodbye, and nothing more it says is heard.
    await b.app.timers.stopService()
    await b.app.cluster.bus.stop()
    ended: dict[str, dict] = {}
    while len(ended) < 2:
        message = await alice.next(timeout=4)
        for key in ("party_close", "match_presence_event"):
            if key in message:
                ended[key] = message[key]
    assert ended["party_close"]["party_id"] == party_id
    assert usernames(ended["match_presence_event"]["leaves"]) == ["alice", "bob"]
    await settle()
    home_modes = (StreamMode.MATCH_AUTHORITATIVE, StreamMode.PARTY)
    assert [s for s in a.app.server.tracker.local.presences() if s.stream.mode in home_modes] == []


@pytest.mark.parametrize("fmt", FORMATS)
@pytest_twisted.ensureDeferred
async def test_a_party_spans_two_nodes(nodes, fmt) -> None:
    a, b = nodes
    alice = await player(a.port, "alice", fmt)
    bob = await player(b.port, "bob", other(fmt))
    created = await alice.request({"cid": "p", "party_create": {"open": False, "max_size": 4}})
    party_id = created["party"]["party_id"]
    assert party_id.endswith(".a")
    await settle()

    # bob asks to join; alice (leader, on the party's node) is asked and accepts.
    assert await bob.request({"cid": "j", "party_join": {"party_id": party_id}}) == {"cid": "j"}
    asked, _ = await wait_for(alice, has("party_join_request"))
    (request,) = asked["party_join_request"]["presences"]
    assert request["username"] == "bob"
    listed = await bob.request({"cid": "l", "party_join_request_list": {"party_id": party_id}})
    assert listed["error"]["message"] == "Error listing party join requests: party leader only"
    accepted = await alice.request(
        {"cid": "a", "party_accept": {"party_id": party_id, "presence": request}}
    )
    assert accepted == {"cid": "a"}
    party, _ = await wait_for(bob, has("party"))
    assert usernames(party["party"]["presences"]) == ["alice", "bob"]
    assert party["party"]["leader"]["username"] == "alice"
    event, _ = await wait_for(alice, has("party_presence_event"))
    assert usernames(event["party_presence_event"]["joins"]) == ["bob"]

    # Data both ways; bob's request is handled on a and answered on b.
    bob.send({"cid": "d", "party_data_send": {"party_id": party_id, "op_code": 3, "data": "eW8="}})
    data, _ = await wait_for(alice, has("party_data"))
    assert (data["party_data"]["presence"]["username"], data["party_data"]["data"]) == (
        "bob",
        "eW8=",
    )
    assert (await wait_for(bob, lambda m: m.get("cid") == "d"))[0] == {"cid": "d"}

    # alice hands over to bob, who closes the party from the other node.
    bob_presence = party["party"]["self"]
    alice.send({"cid": "pr", "party_promote": {"party_id": party_id, "presence": bob_presence}})
    assert (await wait_for(alice, lambda m: m.get("cid") == "pr"))[0] == {"cid": "pr"}
    leader, _ = await wait_for(bob, has("party_leader"))
    assert leader["party_leader"]["presence"]["username"] == "bob"
    bob.send({"cid": "c", "party_close": {"party_id": party_id}})
    assert (await wait_for(bob, lambda m: m.get("cid") == "c"))[0] == {"cid": "c"}
    closed, _ = await wait_for(alice, has("party_close"))
    assert closed["party_close"]["party_id"] == party_id
    await settle()
    for node in nodes:
        assert node.app.server.tracker.count_by_stream(_party_stream(party_id)) == 0


def _party_stream(party_id: str) -> PresenceStream:
    subject, _, node = party_id.partition(".")
    return PresenceStream(StreamMode.PARTY, subject, label=node)


@pytest_twisted.ensureDeferred
async def test_an_open_party_joins_and_kicks_across_nodes(nodes) -> None:
    a, b = nodes
    alice = await player(a.port, "alice")
    bob = await player(b.port, "bob", "protobuf")
    created = await alice.request({"cid": "p", "party_create": {"open": True, "max_size": 2}})
    party_id = created["party"]["party_id"]
    await settle()
    assert await bob.request({"cid": "j", "party_join": {"party_id": party_id}}) == {"cid": "j"}
    party, _ = await wait_for(bob, has("party"))
    bob_presence = party["party"]["self"]
    await wait_for(alice, joined_by("party_presence_event", "bob"))
    # Full now: carol, on b too, is refused by the party's node in its words.
    carol = await player(b.port, "carol")
    await settle()
    refused = await carol.request({"cid": "j", "party_join": {"party_id": party_id}})
    assert refused["error"]["message"] == "Error joining party: party full"
    # alice kicks bob: his node untracks him, and he is told.
    removed = await alice.request(
        {"cid": "r", "party_remove": {"party_id": party_id, "presence": bob_presence}}
    )
    assert removed == {"cid": "r"}
    closed, _ = await wait_for(bob, has("party_close"))
    assert closed["party_close"]["party_id"] == party_id
    await settle()
    assert b.app.server.tracker.local.count_by_stream(_party_stream(party_id)) == 0
    alice_session = created["party"]["self"]["session_id"]
    assert list(a.app.server.parties.get(party_id).members) == [alice_session]


@pytest_twisted.ensureDeferred
async def test_requests_for_a_node_that_is_not_there_are_not_found(nodes) -> None:
    a, _ = nodes
    alice = await player(a.port, "alice")
    missing_match = "5a1c6f2e-1111-4222-8333-944445555666.nowhere"
    refused = await alice.request(join(missing_match))
    assert (refused["error"]["code"], refused["error"]["message"]) == (4, "Match not found")
    refused = await alice.request({"cid": "j", "party_join": {"party_id": missing_match}})
    assert refused["error"]["message"] == "Error joining party: party not found"
    # Data for it is dropped without a word; the socket goes on.
    alice.send({"match_data_send": {"match_id": missing_match, "op_code": 1, "data": ""}})
    assert await alice.request({"cid": "p", "ping": {}}) == {"cid": "p", "pong": {}}


@pytest_twisted.ensureDeferred
async def test_every_node_lists_gets_and_signals_every_match(tmp_path, redis_url, nodes) -> None:
    a, b = nodes
    match_id, _ = host_match(b)
    alice = await player(a.port, "alice")
    await settle()
    await alice.request(join(match_id))
    await settle()
    session = await authenticate(a.port, "custom-lister-cluster", username="lister")
    status, listed = await listing(a.port, session["token"], limit=10, query="+label.mode:duel")
    assert status == 200
    (match,) = listed["matches"]
    assert (match["match_id"], match["size"], match["label"], match["tick_rate"]) == (
        match_id,
        1,
        '{"mode":"duel"}',
        10,
    )
    assert a.app.server.match_registry.describe(match_id).handler_name == "game"

    # Its label changes on b: a lists it anew.
    b.app.server.match_registry.get(match_id).set_label('{"mode":"ranked"}')
    await settle()
    status, listed = await listing(a.port, session["token"], limit=10, label='{"mode":"ranked"}')
    assert [m["match_id"] for m in listed["matches"]] == [match_id]

    # nk.match_signal from a reaches the handler on b, and comes back.
    signalled = await a.app.server.match_registry.signal_anywhere(match_id, "hello")
    assert signalled == "hello"
    with pytest.raises(MatchError, match="match not found"):
        await a.app.server.match_registry.signal_anywhere(match_id[:-1] + "nowhere", "")

    # A node that joins late learns it; once it ends, no node lists it.
    (c,) = await start_nodes(tmp_path, redis_url, ("c",), ttl=1)
    try:
        assert [m.match_id for m in c.app.server.match_registry.listed()] == [match_id]
        b.app.server.match_registry.get(match_id).stop("test")
        await settle()
        for node in (a, c):
            assert node.app.server.match_registry.listed() == []
            assert node.app.server.match_registry.describe(match_id) is None
    finally:
        await c.stop()


@pytest_twisted.ensureDeferred
async def test_runtime_streams_reach_sessions_on_any_node(nodes) -> None:
    """nk.stream_user_join / stream_send / stream_close from one node, for a session
    connected to another."""
    a, b = nodes
    alice = await player(b.port, "alice", "protobuf")
    await settle()
    (session,) = list(b.app.server.sessions)
    ref = StreamRef(mode=10, subject="", label="arena")
    streams = a.app.server.streams
    assert streams.user_join(ref, session.user_id, session.id) is True
    await settle()
    assert [p.meta.username for p in streams.user_list(ref)] == ["alice"]
    assert b.app.server.tracker.local.count_by_stream(PresenceStream(10, label="arena")) == 1
    streams.send(ref, "hello")
    data, _ = await wait_for(alice, has("stream_data"))
    assert data["stream_data"]["data"] == "hello"
    streams.close(ref)
    await settle()
    assert streams.count(ref) == 0 == b.app.server.streams.count(ref)
    with pytest.raises(StreamError, match="session not found"):
        streams.user_join(ref, session.user_id, "8f0a2bd6-5d49-4e0c-8d4e-6bbd2c0d2a11")


@pytest_twisted.ensureDeferred
async def test_a_node_that_stops_cleanly_is_forgotten_at_once(tmp_path, redis_url) -> None:
    """Its goodbye, not its name's expiry (30 s here), tells the others: a request for
    its party is refused at once, not after the 5 s a call waits."""
    a, b = await start_nodes(tmp_path, redis_url, ("a", "b"), ttl=30)
    try:
        alice, bob = await player(a.port, "alice"), await player(b.port, "bob")
        created = await alice.request({"cid": "p", "party_create": {"open": True, "max_size": 2}})
        await a.stop()
        await settle()
        assert b.app.cluster.known_nodes() == set()
        refused = await bob.request(
            {"cid": "j", "party_join": {"party_id": created["party"]["party_id"]}}, timeout=1
        )
        assert refused["error"]["message"] == "Error joining party: party not found"
    finally:
        await b.stop()


@pytest_twisted.ensureDeferred
async def test_while_redis_is_away_a_request_for_another_node_never_hangs(
    tmp_path, redis_url
) -> None:
    """Redis restarts: a request for a party on the other node is answered within the
    call's 5 s (a clear error when its PUBLISH found Redis away, or when the other node
    was not listening again yet; else the answer), players of one node go on meeting,
    and once Redis is back the request works."""
    a, b = await start_nodes(tmp_path, redis_url, ("a", "b"), ttl=30)
    try:
        alice, bob = await player(a.port, "alice"), await player(b.port, "bob")
        created = await alice.request({"cid": "p", "party_create": {"open": True, "max_size": 4}})
        join = {"cid": "j", "party_join": {"party_id": created["party"]["party_id"]}}
        assert drop_connections(redis_url) >= 4
        answer = await bob.request(join, timeout=6)
        if "error" in answer:
            assert answer["error"].get("code", 0) == 0  # RUNTIME_EXCEPTION (0: left out)
            assert answer["error"]["message"].startswith("node a did not answer: ")
        else:
            assert answer == {"cid": "j"}
        carol = await player(a.port, "carol")  # alice's node goes on alone
        assert await carol.request(join) == {"cid": "j"}
        await settle(3.0)  # the connections come back within a second; the nodes resync
        if "error" in answer:
            assert await bob.request(join) == {"cid": "j"}
        party, _ = await wait_for(bob, has("party"))
        assert {"alice", "bob"} <= set(usernames(party["party"]["presences"]))
        members = a.app.server.parties.get(created["party"]["party_id"]).members
        assert sorted(m.username for m in members.values()) == ["alice", "bob", "carol"]
    finally:
        await b.stop()
        await a.stop()


@pytest_twisted.ensureDeferred
async def test_closing_a_party_from_another_node_sends_what_nakama_sends(nodes) -> None:
    """bob, on b, closes alice's party (on a): he gets party_close then his answer, and
    no presence event of everyone leaving (as on one node, and in Nakama)."""
    a, b = nodes
    alice, bob = await player(a.port, "alice"), await player(b.port, "bob")
    created = await alice.request({"cid": "p", "party_create": {"open": True, "max_size": 2}})
    party_id = created["party"]["party_id"]
    await settle()
    assert await bob.request({"cid": "j", "party_join": {"party_id": party_id}}) == {"cid": "j"}
    party, _ = await wait_for(bob, has("party"))
    alice.send(
        {"cid": "pr", "party_promote": {"party_id": party_id, "presence": party["party"]["self"]}}
    )
    await wait_for(bob, has("party_leader"))
    await settle()
    while bob.received.pending:
        await bob.next()
    bob.send({"cid": "c", "party_close": {"party_id": party_id}})
    closed = await bob.next()
    answer = await bob.next()
    assert ("party_close" in closed, answer) == (True, {"cid": "c"})
    await settle()
    assert not bob.received.pending  # nothing after: no leave event of the party


@pytest_twisted.ensureDeferred
async def test_every_node_lists_every_nodes_parties(tmp_path, redis_url, nodes) -> None:
    """``GET /v2/party`` on either node lists a party of the other; a relabelled party
    is listed anew, a closed one no more, and a node that joins late learns them."""
    a, b = nodes
    alice = await player(b.port, "alice")
    create = {"open": True, "max_size": 3, "label": '{"mode":"cluster"}'}
    created = await alice.request({"cid": "p", "party_create": create})
    party_id = created["party"]["party_id"]
    await settle()
    session = await authenticate(a.port, "custom-party-lister", username="plister")

    async def parties(port: int, query: str) -> dict:
        answer = await http(port, "GET", f"/v2/party?query={quote(query)}", bearer=session["token"])
        assert answer.status == 200
        return answer.json()

    listed = {"party_id": party_id, "open": True, "max_size": 3, "label": '{"mode":"cluster"}'}
    assert await parties(a.port, "+label.mode:cluster") == {"parties": [listed]}
    update = {"party_id": party_id, "label": '{"mode":"moved"}', "open": False}
    alice.send({"cid": "u", "party_update": update})
    await wait_for(alice, lambda m: m.get("cid") == "u")
    await settle()
    moved = {"party_id": party_id, "max_size": 3, "label": '{"mode":"moved"}'}
    assert await parties(a.port, "+label.mode:moved") == {"parties": [moved]}
    (c,) = await start_nodes(tmp_path, redis_url, ("c",), ttl=1)
    try:
        await settle()
        assert [p.party_id for p in c.app.server.parties.listed()] == [party_id]
        alice.send({"cid": "x", "party_close": {"party_id": party_id}})
        await wait_for(alice, lambda m: m.get("cid") == "x")
        await settle()
        assert await parties(a.port, "") == {}
        assert c.app.server.parties.listed() == []
    finally:
        await c.stop()


@pytest_twisted.ensureDeferred
async def test_single_party_leaves_a_party_on_another_node(tmp_path, redis_url) -> None:
    """session.single_party across nodes: carol (on b) is in a party of b, then joins one
    of a; a's node untracks her from b's party through b, whose host sees her leave."""
    session = {"single_socket": True, "single_party": True}
    a, b = await start_nodes(tmp_path, redis_url, ("a", "b"), ttl=1, session=session)
    try:
        host_b, host_a = await player(b.port, "hostb"), await player(a.port, "hosta")
        carol = await player(b.port, "carol")
        parties = []
        for host in (host_b, host_a):
            create = {"open": True, "max_size": 4}
            created = await host.request({"cid": "p", "party_create": create})
            parties.append(created["party"]["party_id"])
        on_b, on_a = parties
        await settle()
        for party_id in (on_b, on_a):
            carol.send({"cid": "j", "party_join": {"party_id": party_id}})
            await wait_for(carol, lambda m: m.get("cid") == "j")
            await settle(0.3)
        left, _ = await wait_for(
            host_b,
            lambda m: m.get("party_presence_event", {}).get("leaves") is not None,
        )
        assert [p["username"] for p in left["party_presence_event"]["leaves"]] == ["carol"]
        assert left["party_presence_event"]["party_id"] == on_b
        members_b = b.app.server.parties.get(on_b).members
        members_a = a.app.server.parties.get(on_a).members
        assert sorted(m.username for m in members_b.values()) == ["hostb"]
        assert sorted(m.username for m in members_a.values()) == ["carol", "hosta"]
    finally:
        await b.stop()
        await a.stop()
