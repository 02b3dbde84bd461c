"""Relayed multiplayer over real sockets, both formats: create, join, data, leave."""

from __future__ import annotations

import base64
import uuid
import warnings

import jwt
import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.task import deferLater

from tests.wsclient import answer, has, player, presence_events, wait_for

FORMATS = ["json", "protobuf"]


presence_event = presence_events("match_presence_event")


def matchmaker_token(match: str, key: str) -> str:
    """A token like the matchmaker's: the match id in ``mid``, signed with the session key."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Nakama's default keys are short
        return jwt.encode(
            {"mid": match, "exp": int(reactor.seconds()) + 60}, key, algorithm="HS256"
        )


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.parametrize("fmt", FORMATS)
@pytest_twisted.ensureDeferred
async def test_create_join_relay_and_leave(server, fmt) -> None:
    host = await player(server.port, "host", fmt)
    guest = await player(server.port, "guest", "protobuf" if fmt == "json" else "json")
    created = (await answer(host, {"cid": "c", "match_create": {}}))["match"]
    match_id = created["match_id"]
    assert match_id.endswith(".") and uuid.UUID(match_id[:-1])
    assert created.get("authoritative", False) is False
    assert created["size"] == 1
    assert created["self"]["username"] == "host"
    assert "presences" not in created

    joined = (await answer(guest, {"cid": "j", "match_join": {"match_id": match_id}}))["match"]
    assert joined["match_id"] == match_id
    assert joined["size"] == 1
    assert [p["username"] for p in joined["presences"]] == ["host"]
    event, skipped = await wait_for(host, presence_event("joins", "guest"))
    assert event["match_presence_event"]["match_id"] == match_id
    assert skipped == [{"match_presence_event": {"match_id": match_id, "joins": [created["self"]]}}]

    guest.send(
        {
            "match_data_send": {
                "match_id": match_id,
                "op_code": "7",
                "data": b64(b"\x00\x01move"),
                "reliable": True,
            }
        }
    )
    data, _ = await wait_for(host, has("match_data"))
    data = data["match_data"]
    assert (data["op_code"], data["data"], data["presence"]["username"]) == (
        "7",
        b64(b"\x00\x01move"),
        "guest",
    )
    assert data["reliable"] is True

    assert await answer(guest, {"cid": "l", "match_leave": {"match_id": match_id}}) == {"cid": "l"}
    event, _ = await wait_for(host, presence_event("leaves", "guest"))
    assert event["match_presence_event"]["leaves"][0]["user_id"] == joined["self"]["user_id"]


@pytest_twisted.ensureDeferred
async def test_data_to_listed_presences_only_and_never_back_to_the_sender(server) -> None:
    a, b, c = [await player(server.port, n) for n in ("a", "b", "c")]
    match_id = (await answer(a, {"cid": "c", "match_create": {}}))["match"]["match_id"]
    b_self = (await answer(b, {"cid": "j", "match_join": {"match_id": match_id}}))["match"]["self"]
    await answer(c, {"cid": "j", "match_join": {"match_id": match_id}})
    a.send(
        {
            "match_data_send": {
                "match_id": match_id,
                "op_code": "1",
                "data": b64(b"to b"),
                "presences": [b_self],
            }
        }
    )
    a.send({"match_data_send": {"match_id": match_id, "op_code": "2", "data": b64(b"all")}})
    got_b = [m for m in [(await wait_for(b, has("match_data")))[0] for _ in range(2)]]
    assert [m["match_data"]["op_code"] for m in got_b] == ["1", "2"]
    got_c, _ = await wait_for(c, has("match_data"))
    assert got_c["match_data"]["op_code"] == "2", "c was not listed for the first message"
    assert await answer(a, {"cid": "p", "ping": {}}) == {"cid": "p", "pong": {}}
    assert not [m for m in a.received.pending if "match_data" in m], "no echo to the sender"


@pytest_twisted.ensureDeferred
async def test_named_matches_share_an_id_and_report_their_size(server) -> None:
    a = await player(server.port, "a")
    b = await player(server.port, "b")
    first = (await answer(a, {"cid": "1", "match_create": {"name": "arena"}}))["match"]
    second = (await answer(b, {"cid": "2", "match_create": {"name": "arena"}}))["match"]
    expected = f"{uuid.uuid5(uuid.NAMESPACE_DNS, 'arena')}."
    assert first["match_id"] == second["match_id"] == expected
    assert (first["size"], second["size"]) == (1, 2)
    assert [p["username"] for p in second["presences"]] == ["a"]


@pytest_twisted.ensureDeferred
async def test_an_empty_match_ends_and_disconnects_leave(server) -> None:
    a = await player(server.port, "a")
    b = await player(server.port, "b")
    match_id = (await answer(a, {"cid": "c", "match_create": {}}))["match"]["match_id"]
    await answer(b, {"cid": "j", "match_join": {"match_id": match_id}})
    b.sendClose(1000)
    await b.closed()
    await wait_for(a, presence_event("leaves", "b"))
    await answer(a, {"cid": "l", "match_leave": {"match_id": match_id}})
    c = await player(server.port, "c")
    refused = await answer(c, {"cid": "j", "match_join": {"match_id": match_id}})
    assert refused["error"] == {"code": 4, "message": "Match not found"}


@pytest_twisted.ensureDeferred
async def test_a_matchmaker_token_joins_even_an_empty_relayed_match(server) -> None:
    a = await player(server.port, "a")
    match = f"{uuid.uuid4()}."
    token = jwt.encode(
        {"mid": match, "exp": int(reactor.seconds()) + 60},
        "defaultencryptionkey",
        algorithm="HS256",
    )
    joined = (await answer(a, {"cid": "t", "match_join": {"token": token}}))["match"]
    assert (joined["match_id"], joined.get("size", 0)) == (match, 0)
    forged = matchmaker_token(match, "not-the-server-key")
    refused = await answer(a, {"cid": "f", "match_join": {"token": forged}})
    assert refused["error"] == {"code": 3, "message": "Invalid match token"}


BAD = [
    ({"match_join": {"match_id": "nonsense"}}, 3, "Invalid match ID"),
    ({"match_join": {"match_id": "not-a-uuid."}}, 3, "Invalid match ID"),
    ({"match_join": {}}, 3, "No match ID or token found"),
    ({"match_join": {"match_id": f"{uuid.uuid4()}."}}, 4, "Match not found"),
    ({"match_join": {"match_id": f"{uuid.uuid4()}.somenode"}}, 4, "Match not found"),
    ({"match_join": {"token": "x.y.z"}}, 3, "Invalid match token"),
    ({"match_leave": {"match_id": "nope"}}, 3, "Invalid match ID"),
]


@pytest.mark.parametrize("request_body, code, message", BAD)
@pytest_twisted.ensureDeferred
async def test_bad_match_requests_answer_errors_and_keep_the_socket(
    server, request_body, code, message
) -> None:
    client = await player(server.port, "bad")
    reply = await answer(client, {"cid": "x", **request_body})
    assert reply == {"cid": "x", "error": {"code": code, "message": message}}
    assert await answer(client, {"cid": "p", "ping": {}}) == {"cid": "p", "pong": {}}


@pytest_twisted.ensureDeferred
async def test_data_for_a_bad_match_id_errors_without_cid_and_outsiders_are_ignored(server) -> None:
    a = await player(server.port, "a")
    outsider = await player(server.port, "outsider")
    a.send({"cid": "d", "match_data_send": {"match_id": "bad", "op_code": "1"}})
    error, _ = await wait_for(a, has("error"))
    assert error == {"error": {"code": 3, "message": "Invalid match ID"}}
    match_id = (await answer(a, {"cid": "c", "match_create": {}}))["match"]["match_id"]
    outsider.send({"match_data_send": {"match_id": match_id, "op_code": "1"}})
    await deferLater(reactor, 0.2, lambda: None)
    assert not [m for m in a.received.pending if "match_data" in m]
