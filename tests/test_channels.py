"""Chat rooms over real sockets in both formats: join, messages, presence, bad input."""

from __future__ import annotations

import uuid

import pytest
import pytest_twisted

from tests.wsclient import answer, authenticate, connect, has, wait_for

FORMATS = ["json", "protobuf"]


async def user(port: int, name: str, fmt: str = "json"):
    session = await authenticate(port, f"chat-{uuid.uuid4()}", username=name)
    return await connect(port, session["token"], fmt=fmt)


def room_id(name: str) -> str:
    return f"2...{name}"


@pytest.mark.parametrize("fmt", FORMATS)
@pytest_twisted.ensureDeferred
async def test_join_a_room_and_see_each_other(server, fmt) -> None:
    alice = await user(server.port, "alice", fmt)
    bob = await user(server.port, "bob", "protobuf" if fmt == "json" else "json")
    joined = await alice.request({"cid": "1", "channel_join": {"target": "lobby", "type": 1}})
    channel = joined["channel"]
    assert joined["cid"] == "1"
    assert channel["id"] == room_id("lobby")
    assert channel["room_name"] == "lobby"
    assert "presences" not in channel
    assert channel["self"]["username"] == "alice"
    assert channel["self"]["persistence"] is True
    own = await alice.next()
    assert own["channel_presence_event"]["joins"][0]["username"] == "alice"

    joined = await bob.request({"cid": "2", "channel_join": {"target": "lobby", "type": 1}})
    assert [p["username"] for p in joined["channel"]["presences"]] == ["alice"]
    event = (await alice.next())["channel_presence_event"]
    assert event["channel_id"] == room_id("lobby")
    assert event["room_name"] == "lobby"
    assert event["joins"][0]["username"] == "bob"
    assert event["joins"][0]["session_id"] == joined["channel"]["self"]["session_id"]

    bob.sendClose(1000)
    await bob.closed()
    event = (await alice.next())["channel_presence_event"]
    assert event["leaves"][0]["username"] == "bob"


@pytest.mark.parametrize("fmt", FORMATS)
@pytest_twisted.ensureDeferred
async def test_messages_reach_every_member_then_the_ack(server, fmt) -> None:
    alice = await user(server.port, "alice", fmt)
    bob = await user(server.port, "bob")
    for client in (alice, bob):
        await client.request({"cid": "j", "channel_join": {"target": "lobby", "type": 1}})
    await wait_for(
        alice,
        lambda m: (
            "channel_presence_event" in m
            and m["channel_presence_event"]["joins"][0]["username"] == "bob"
        ),
    )
    content = '{"text":"hello"}'
    alice.send(
        {"cid": "m", "channel_message_send": {"channel_id": room_id("lobby"), "content": content}}
    )
    mine = (await alice.next())["channel_message"]
    ack = await alice.next()
    theirs, _ = await wait_for(bob, has("channel_message"))
    theirs = theirs["channel_message"]
    assert mine == theirs
    assert mine["content"] == content
    assert mine["username"] == "alice"
    assert mine.get("code", 0) == 0
    assert mine["persistent"] is True
    assert mine["room_name"] == "lobby"
    assert ack["cid"] == "m"
    assert ack["channel_message_ack"]["message_id"] == mine["message_id"]
    assert ack["channel_message_ack"]["create_time"] == mine["create_time"]

    edit = '{"text":"hello!"}'
    alice.send(
        {
            "cid": "u",
            "channel_message_update": {
                "channel_id": room_id("lobby"),
                "message_id": mine["message_id"],
                "content": edit,
            },
        }
    )
    updated = (await alice.next())["channel_message"]
    assert (updated["code"], updated["content"]) == (1, edit)
    assert updated["create_time"] == mine["create_time"]
    assert (await alice.next())["channel_message_ack"]["code"] == 1

    alice.send(
        {
            "cid": "r",
            "channel_message_remove": {
                "channel_id": room_id("lobby"),
                "message_id": mine["message_id"],
            },
        }
    )
    removed = (await alice.next())["channel_message"]
    assert (removed["code"], removed["content"]) == (2, "{}")
    assert (await alice.next())["channel_message_ack"]["code"] == 2


@pytest_twisted.ensureDeferred
async def test_someone_elses_message_cannot_be_changed(server) -> None:
    alice = await user(server.port, "alice")
    bob = await user(server.port, "bob")
    for client in (alice, bob):
        await client.request({"cid": "j", "channel_join": {"target": "lobby", "type": 1}})
    alice.send(
        {"cid": "m", "channel_message_send": {"channel_id": room_id("lobby"), "content": "{}"}}
    )
    ack, _ = await wait_for(alice, has("channel_message_ack"))
    message_id = ack["channel_message_ack"]["message_id"]
    bob.send(
        {
            "cid": "x",
            "channel_message_update": {
                "channel_id": room_id("lobby"),
                "message_id": message_id,
                "content": "{}",
            },
        }
    )
    answer, _ = await wait_for(bob, has("error"))
    assert answer == {
        "cid": "x",
        "error": {"code": 3, "message": "Could not find message to update in channel history"},
    }
    assert await bob.request({"cid": "p", "ping": {}}) == {"cid": "p", "pong": {}}


@pytest_twisted.ensureDeferred
async def test_hidden_members_receive_messages_but_cause_no_events(server) -> None:
    alice = await user(server.port, "alice")
    ghost = await user(server.port, "ghost")
    await alice.request({"cid": "j", "channel_join": {"target": "lobby", "type": 1}})
    await alice.next()  # alice's own join
    joined = await ghost.request(
        {"cid": "g", "channel_join": {"target": "lobby", "type": 1, "hidden": True}}
    )
    assert [p["username"] for p in joined["channel"]["presences"]] == ["alice"]
    alice.send(
        {"cid": "m", "channel_message_send": {"channel_id": room_id("lobby"), "content": '{"a":1}'}}
    )
    assert "channel_message" in await alice.next(), "no presence event for the hidden member"
    heard, skipped = await wait_for(ghost, has("channel_message"))
    assert heard["channel_message"]["content"] == '{"a":1}'
    assert skipped == []


@pytest_twisted.ensureDeferred
async def test_leaving_answers_and_tells_the_others(server) -> None:
    alice = await user(server.port, "alice")
    bob = await user(server.port, "bob")
    for client in (alice, bob):
        await client.request({"cid": "j", "channel_join": {"target": "lobby", "type": 1}})
    await wait_for(
        alice,
        lambda m: (
            "channel_presence_event" in m
            and m["channel_presence_event"]["joins"][0]["username"] == "bob"
        ),
    )
    bob.send({"cid": "l", "channel_leave": {"channel_id": room_id("lobby")}})
    answer, _ = await wait_for(bob, lambda m: m.get("cid") == "l")
    assert answer == {"cid": "l"}
    event, _ = await wait_for(alice, has("channel_presence_event"))
    assert event["channel_presence_event"]["leaves"][0]["username"] == "bob"
    bob.send(
        {"cid": "m", "channel_message_send": {"channel_id": room_id("lobby"), "content": "{}"}}
    )
    answer, _ = await wait_for(bob, has("error"))
    assert answer["error"] == {"code": 3, "message": "Must join channel before sending messages"}


BAD_REQUESTS = [
    ({"channel_join": {"target": "", "type": 1}}, "Invalid channel target"),
    (
        {"channel_join": {"target": "x" * 65, "type": 1}},
        "Channel name is required and must be 1-64 chars: Invalid channel target",
    ),
    (
        {"channel_join": {"target": "bad\nname", "type": 1}},
        "Channel name must not contain control chars: Invalid channel target",
    ),
    ({"channel_join": {"target": "lobby", "type": 9}}, "Invalid channel type"),
    (
        {"channel_join": {"target": "not-a-user", "type": 2}},
        "Invalid user ID in direct message join: Invalid channel target",
    ),
    (
        {"channel_join": {"target": "not-a-group", "type": 3}},
        "Invalid group ID in group channel join: Invalid channel target",
    ),
    ({"channel_leave": {"channel_id": "9.x.y.z"}}, "Invalid channel identifier"),
    (
        {"channel_message_send": {"channel_id": "2...", "content": "{}"}},
        "Invalid channel identifier",
    ),
    (
        {"channel_message_send": {"channel_id": "2...lobby", "content": "[1,2]"}},
        "Message content must be a valid JSON object",
    ),
    (
        {"channel_message_send": {"channel_id": "2...lobby", "content": "nope"}},
        "Message content must be a valid JSON object",
    ),
    (
        {"channel_message_send": {"channel_id": "2...elsewhere", "content": "{}"}},
        "Must join channel before sending messages",
    ),
    (
        {"channel_message_update": {"channel_id": "2...lobby", "message_id": "x", "content": "{}"}},
        "Invalid message identifier",
    ),
    (
        {"channel_message_remove": {"channel_id": "2...lobby", "message_id": "x"}},
        "Invalid message identifier",
    ),
]


@pytest.mark.parametrize("request_body, message", BAD_REQUESTS)
@pytest_twisted.ensureDeferred
async def test_bad_requests_answer_bad_input_and_keep_the_socket(
    server, request_body, message
) -> None:
    bystander = await user(server.port, "bystander")
    await bystander.request({"cid": "j", "channel_join": {"target": "lobby", "type": 1}})
    await bystander.next()
    client = await user(server.port, "offender")
    await client.request({"cid": "j", "channel_join": {"target": "lobby", "type": 1}})
    client.send({"cid": "bad", **request_body})
    answer, _ = await wait_for(client, has("error"))
    assert answer == {"cid": "bad", "error": {"code": 3, "message": message}}
    assert await client.request({"cid": "p", "ping": {}}) == {"cid": "p", "pong": {}}
    bystander.send(
        {"cid": "ok", "channel_message_send": {"channel_id": room_id("lobby"), "content": "{}"}}
    )
    ack, _ = await wait_for(bystander, has("channel_message_ack"))
    assert ack["cid"] == "ok"


@pytest_twisted.ensureDeferred
async def test_many_members_sending_at_once_lose_and_duplicate_nothing(server) -> None:
    members = [await user(server.port, f"m{n}", FORMATS[n % 2]) for n in range(8)]
    for client in members:
        await client.request({"cid": "j", "channel_join": {"target": "busy", "type": 1}})
    per_member = 15
    for n in range(per_member):
        for index, client in enumerate(members):
            client.send(
                {
                    "cid": f"{index}-{n}",
                    "channel_message_send": {
                        "channel_id": room_id("busy"),
                        "content": f'{{"from":{index},"n":{n}}}',
                    },
                }
            )
    expected = {f'{{"from":{i},"n":{n}}}' for i in range(len(members)) for n in range(per_member)}
    for client in members:
        seen: list[str] = []
        while len(seen) < len(expected):
            message = await client.next(10)
            if "channel_message" in message:
                seen.append(message["channel_message"]["content"])
        assert len(seen) == len(set(seen)) == len(expected)
        assert set(seen) == expected


@pytest_twisted.ensureDeferred
async def test_game_code_posts_to_a_channel_with_nk(server) -> None:
    alice = await user(server.port, "alice")
    await alice.request({"cid": "j", "channel_join": {"target": "lobby", "type": 1}})
    nk = server.server.runtime.nk
    ack = await nk.channel_message_send(room_id("lobby"), {"event": "boss"}, "", "server", True)
    assert (ack.channel_id, ack.username, ack.persistent.value) == (
        room_id("lobby"),
        "server",
        True,
    )
    heard, _ = await wait_for(alice, has("channel_message"))
    assert heard["channel_message"]["content"] == '{"event":"boss"}'
    assert heard["channel_message"]["message_id"] == ack.message_id
    with pytest.raises(ValueError):
        nk.channel_message_send("nope", {}, "", "server")


@pytest_twisted.ensureDeferred
async def test_last_message_times_are_kept_only_for_channels_with_members(server) -> None:
    """The console's "last message" times: dropped when a channel empties, and, past
    the bound, for channels nobody is in (game code posting to them); the bound then
    grows with what is kept, so the sweep does not run on every message."""
    from nakama_rt.realtime.chat import channel as chat

    channels = server.app.server.channels
    alice = await user(server.port, "alice")
    await answer(alice, {"cid": "j", "channel_join": {"target": "kept", "type": 1}})
    send = {"channel_id": room_id("kept"), "content": "{}"}
    await answer(alice, {"cid": "m", "channel_message_send": send})
    kept = next(s for s in channels.last_message_at if s.label == "kept")
    for n in range(chat._ACTIVITY_LIMIT - 1):
        channels.post(room_id(f"nobody{n}"), "{}", "", "system", False)
    assert len(channels.last_message_at) == chat._ACTIVITY_LIMIT  # at the bound
    channels.post(room_id("one-more"), "{}", "", "system", False)  # past it: swept
    assert list(channels.last_message_at) == [kept]
    assert channels._activity_limit == chat._ACTIVITY_LIMIT
    await answer(alice, {"cid": "l", "channel_leave": {"channel_id": room_id("kept")}})
    assert channels.last_message_at == {}  # emptied: forgotten
