"""Streams as runtime code uses them, seen by real sockets in both formats."""

from __future__ import annotations

import uuid

import pytest
import pytest_twisted

from nakama_rt.realtime.stream import StreamError, StreamRef
from tests.wsclient import authenticate, connect, has, wait_for

REF = StreamRef(mode=42, subject=str(uuid.uuid4()), label="lounge")


async def member(server, name: str, fmt: str):
    session = await authenticate(server.port, f"stream-{uuid.uuid4()}", username=name)
    client = await connect(server.port, session["token"], fmt=fmt)
    (live,) = [s for s in server.server.sessions if s.username == name]
    return client, live


@pytest_twisted.ensureDeferred
async def test_join_send_list_leave_and_close(server) -> None:
    streams = server.server.streams
    alice, alice_session = await member(server, "alice", "json")
    bob, bob_session = await member(server, "bob", "protobuf")
    assert streams.user_join(REF, alice_session.user_id, alice_session.id, status="here")
    assert not streams.user_join(REF, alice_session.user_id, alice_session.id)
    streams.user_join(REF, bob_session.user_id, bob_session.id, hidden=True)
    event, _ = await wait_for(alice, has("stream_presence_event"))
    assert event["stream_presence_event"]["stream"] == {
        "mode": 42,
        "subject": REF.subject,
        "label": "lounge",
    }
    assert event["stream_presence_event"]["joins"][0]["status"] == "here"
    assert streams.count(REF) == 2
    assert [p.user_id for p in streams.user_list(REF, False, True)] == [alice_session.user_id]
    assert streams.user_get(REF, bob_session.user_id, bob_session.id).hidden is True

    streams.send(REF, '{"hello":1}')
    for client in (alice, bob):
        data, _ = await wait_for(client, has("stream_data"))
        assert data["stream_data"]["data"] == '{"hello":1}'
        assert data["stream_data"]["stream"]["label"] == "lounge"
    streams.send(REF, "only bob", presences=streams.user_list(REF, True, False))
    data, _ = await wait_for(bob, has("stream_data"))
    assert data["stream_data"]["data"] == "only bob"

    streams.user_leave(REF, alice_session.user_id, alice_session.id)
    event, _ = await wait_for(bob, has("stream_presence_event"))  # those still there hear it
    assert event["stream_presence_event"]["leaves"][0]["user_id"] == alice_session.user_id
    streams.close(REF)
    assert streams.count(REF) == 0
    assert not [
        m for m in alice.received.pending if m.get("stream_data", {}).get("data") == "only bob"
    ]


@pytest_twisted.ensureDeferred
async def test_a_closed_socket_leaves_its_streams(server) -> None:
    streams = server.server.streams
    alice, alice_session = await member(server, "alice", "json")
    bob, bob_session = await member(server, "bob", "json")
    streams.user_join(REF, alice_session.user_id, alice_session.id)
    streams.user_join(REF, bob_session.user_id, bob_session.id)
    bob.sendClose(1000)
    await bob.closed()
    event, _ = await wait_for(
        alice, lambda m: m.get("stream_presence_event", {}).get("leaves") is not None
    )
    assert event["stream_presence_event"]["leaves"][0]["user_id"] == bob_session.user_id
    assert streams.count(REF) == 1


def test_bad_stream_arguments_say_which(server) -> None:
    streams = server.server.streams
    for call, message in [
        (lambda: streams.count(StreamRef(5, subject="nope")), "stream subject must be a valid"),
        (lambda: streams.count(StreamRef(5, subcontext="x")), "stream subcontext must be a valid"),
        (lambda: streams.count(StreamRef(300)), "stream mode must be between 0 and 255"),
        (lambda: streams.user_join(REF, "x", str(uuid.uuid4())), "expects valid user id"),
        (lambda: streams.user_join(REF, str(uuid.uuid4()), "x"), "expects valid session id"),
        (lambda: streams.user_join(REF, str(uuid.uuid4()), str(uuid.uuid4())), "session not found"),
    ]:
        with pytest.raises(StreamError, match=message):
            call()
