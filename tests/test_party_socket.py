"""Parties over real sockets, both formats: create, join, requests, data, leadership, close."""

from __future__ import annotations

import base64
import uuid

import pytest
import pytest_twisted

from tests.wsclient import answer, has, player, presence_events, wait_for

FORMATS = ["json", "protobuf"]


presence_event = presence_events("party_presence_event")


def other(fmt: str) -> str:
    return "protobuf" if fmt == "json" else "json"


@pytest.mark.parametrize("fmt", FORMATS)
@pytest_twisted.ensureDeferred
async def test_open_party_join_data_handover_and_close(server, fmt) -> None:
    host = await player(server.port, "host", fmt)
    guest = await player(server.port, "guest", other(fmt))
    created = await answer(host, {"cid": "c", "party_create": {"open": True, "max_size": 3}})
    party = created["party"]
    party_id = party["party_id"]
    assert party_id.endswith(".nakama") and uuid.UUID(party_id.split(".")[0])
    assert (party["open"], party["max_size"]) == (True, 3)
    assert party["self"] == party["leader"] == party["presences"][0]
    assert party["self"]["username"] == "host"
    await wait_for(host, presence_event("joins", "host"))

    assert await answer(guest, {"cid": "j", "party_join": {"party_id": party_id}}) == {"cid": "j"}
    joined, _ = await wait_for(guest, has("party"))
    assert [p["username"] for p in joined["party"]["presences"]] == ["host", "guest"]
    assert joined["party"]["leader"] == party["self"]
    await wait_for(host, presence_event("joins", "guest"))

    data = base64.b64encode(b"\x01ready").decode()
    sent = {"cid": "d", "party_data_send": {"party_id": party_id, "op_code": "5", "data": data}}
    assert await answer(guest, sent) == {"cid": "d"}
    got, _ = await wait_for(host, has("party_data"))
    assert got["party_data"] == {
        "party_id": party_id,
        "presence": joined["party"]["self"],
        "op_code": "5",
        "data": data,
    }

    assert await answer(host, {"cid": "l", "party_leave": {"party_id": party_id}}) == {"cid": "l"}
    leader, _ = await wait_for(guest, has("party_leader"))
    assert leader["party_leader"] == {"party_id": party_id, "presence": joined["party"]["self"]}
    await wait_for(guest, presence_event("leaves", "host"))

    assert await answer(guest, {"cid": "x", "party_close": {"party_id": party_id}}) == {"cid": "x"}
    refused = await answer(host, {"cid": "r", "party_join": {"party_id": party_id}})
    assert refused["error"] == {"code": 3, "message": "Error joining party: party not found"}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest_twisted.ensureDeferred
async def test_closed_party_request_accept_and_kick(server, fmt) -> None:
    host = await player(server.port, "host", fmt)
    guest = await player(server.port, "guest", fmt)
    created = await answer(host, {"cid": "c", "party_create": {"open": False, "max_size": 2}})
    party_id = created["party"]["party_id"]

    assert await answer(guest, {"cid": "j", "party_join": {"party_id": party_id}}) == {"cid": "j"}
    request, _ = await wait_for(host, has("party_join_request"))
    presences = request["party_join_request"]["presences"]
    assert [p["username"] for p in presences] == ["guest"]
    listed = await answer(host, {"cid": "q", "party_join_request_list": {"party_id": party_id}})
    assert listed["party_join_request"] == {"party_id": party_id, "presences": presences}

    # Only the leader decides; the refusal keeps the socket.
    refused = await answer(
        guest, {"cid": "a", "party_accept": {"party_id": party_id, "presence": presences[0]}}
    )
    assert refused["error"] == {
        "code": 3,
        "message": "Error accepting party join request: party leader only",
    }
    assert await answer(guest, {"cid": "p", "ping": {}}) == {"cid": "p", "pong": {}}

    # The leader's answer comes first, then the join the accept causes (as Nakama 3.40
    # sends them: its tracker's events follow the answer).
    host.send({"cid": "a", "party_accept": {"party_id": party_id, "presence": presences[0]}})
    _, before = await wait_for(host, lambda m: m.get("cid") == "a")
    assert before == []
    event, _ = await wait_for(host, has("party_presence_event"))
    assert event == {"party_presence_event": {"party_id": party_id, "joins": presences}}
    joined, _ = await wait_for(guest, has("party"))
    assert joined["party"]["self"] == presences[0]

    third = await player(server.port, "third", other(fmt))
    full = await answer(third, {"cid": "f", "party_join": {"party_id": party_id}})
    assert full["error"] == {"code": 3, "message": "Error joining party: party full"}

    host.send({"cid": "k", "party_remove": {"party_id": party_id, "presence": presences[0]}})
    _, before = await wait_for(host, lambda m: m.get("cid") == "k")
    assert before == []
    event, _ = await wait_for(host, has("party_presence_event"))
    assert event == {"party_presence_event": {"party_id": party_id, "leaves": presences}}
    closed, _ = await wait_for(guest, has("party_close"))
    assert closed == {"party_close": {"party_id": party_id}}


@pytest_twisted.ensureDeferred
async def test_disconnecting_leader_hands_over_and_last_one_out_ends_it(server) -> None:
    host = await player(server.port, "host")
    guest = await player(server.port, "guest", "protobuf")
    party_id = (await answer(host, {"cid": "c", "party_create": {"open": True, "max_size": 4}}))[
        "party"
    ]["party_id"]
    await answer(guest, {"cid": "j", "party_join": {"party_id": party_id}})
    joined, _ = await wait_for(guest, has("party"))
    host.sendClose(1000)
    await host.closed()
    leader, _ = await wait_for(guest, has("party_leader"))
    assert leader["party_leader"]["presence"] == joined["party"]["self"]
    await wait_for(guest, presence_event("leaves", "host"))
    parties = server.server.parties
    assert len(parties) == 1
    guest.sendClose(1000)
    await guest.closed()
    assert len(parties) == 0


@pytest.mark.parametrize("fmt", FORMATS)
@pytest_twisted.ensureDeferred
async def test_party_matchmaking_tickets_reach_every_member(server, fmt) -> None:
    matchmaker = server.server.matchmaker
    host = await player(server.port, "host", fmt)
    guest = await player(server.port, "guest", other(fmt))
    party_id = (await answer(host, {"cid": "c", "party_create": {"open": True, "max_size": 4}}))[
        "party"
    ]["party_id"]
    await answer(guest, {"cid": "j", "party_join": {"party_id": party_id}})
    await wait_for(host, presence_event("joins", "guest"))
    add = {
        "cid": "m",
        "party_matchmaker_add": {
            "party_id": party_id,
            "min_count": 2,
            "max_count": 4,
            "count_multiple": 2,
            "string_properties": {"region": "eu"},
            "numeric_properties": {"rank": 3},
        },
    }
    answered = await answer(host, add)
    ticket = {"party_id": party_id, "ticket": answered["party_matchmaker_ticket"]["ticket"]}
    assert answered == {"cid": "m", "party_matchmaker_ticket": ticket}
    got, _ = await wait_for(guest, has("party_matchmaker_ticket"))
    assert got == {"party_matchmaker_ticket": ticket}
    held = matchmaker.pool.tickets[ticket["ticket"]]
    counts = (held.min_count, held.max_count, held.count_multiple, held.query.text)
    assert (held.party_id, counts) == (party_id, (2, 4, 2, "*"))
    assert [e.presence.username for e in held.entries] == ["host", "guest"]
    properties = [(e.string_properties, e.numeric_properties) for e in held.entries]
    assert properties == [({"region": "eu"}, {"rank": 3.0})] * 2
    remove = {"cid": "r", "party_matchmaker_remove": {"party_id": party_id, "ticket": "nope"}}
    refused = await answer(host, remove)
    assert refused["error"] == {
        "code": 3,
        "message": "Error closing party: matchmaker ticket not found",
    }
