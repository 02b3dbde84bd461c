"""End to end: chat and notifications with the official nakama-js client (node).

The scenarios are in ``tests/e2e/chat_scenarios.mjs`` (run by ``scenarios.mjs``, see
``tests/test_e2e_nakama_js.py``), for the JSON and the protobuf adapter. Each asserts in
node and prints its facts, which are checked here against the server: its HTTP API (as
another client would see it) and its registries (no session or presence left over).
"""

from __future__ import annotations

import json
import uuid
from urllib.parse import quote

import pytest
import pytest_twisted

from tests.test_e2e_nakama_js import (
    ADAPTERS,
    all_sockets_gone,
    assert_frames,
    node,  # noqa: F401  (fixture)
    run_scenario,
    user_presence,
)
from tests.wsclient import authenticate, http

ROOM = "lobby"  # the driver's default room


async def token_for(port: int, custom_id: str) -> str:
    return (await authenticate(port, custom_id))["token"]


async def get_json(port: int, path: str, token: str) -> dict:
    answer = await http(port, "GET", path, bearer=token)
    assert answer.status == 200, answer
    return answer.json()


async def channel_history(port: int, token: str, channel_id: str) -> list[dict]:
    """The whole history of a channel, oldest first, as the HTTP API gives it."""
    path = f"/v2/channel/{quote(channel_id, safe='')}?limit=100&forward=true"
    return (await get_json(port, path, token)).get("messages", [])


async def notifications(port: int, token: str) -> list[dict]:
    return (await get_json(port, "/v2/notification?limit=100", token)).get("notifications", [])


async def friends(port: int, token: str) -> list[tuple[str, int]]:
    listed = (await get_json(port, "/v2/friend", token)).get("friends", [])
    return [(f["user"]["id"], f.get("state", 0)) for f in listed]


def place(room_name="", group_id="", user_id_one="", user_id_two="") -> dict:
    return {
        "room_name": room_name,
        "group_id": group_id,
        "user_id_one": user_id_one,
        "user_id_two": user_id_two,
    }


async def assert_nothing_left(server) -> None:
    await all_sockets_gone(server)
    assert len(server.server.tracker) == 0, "presences left on the server"


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest_twisted.ensureDeferred
async def test_chat_room(server, node, adapter) -> None:  # noqa: F811
    facts = await run_scenario(node, server.port, adapter, "chat_room")
    port = server.port
    a, b = facts["a"], facts["b"]
    a_token = await token_for(port, a["custom_id"])
    b_token = await token_for(port, b["custom_id"])
    account = await get_json(port, "/v2/account", a_token)
    assert account["user"]["id"] == a["user_id"]
    assert (await get_json(port, "/v2/account", b_token))["user"]["id"] == b["user_id"]
    assert a["session_id"] != b["session_id"]

    channel_id = f"2...{ROOM}"
    where = place(room_name=ROOM)
    a_presence, b_presence = user_presence(a, persistence=True), user_presence(b, persistence=True)

    def event(joins=(), leaves=()) -> dict:
        return {"channel_id": channel_id, **where, "joins": list(joins), "leaves": list(leaves)}

    assert facts["room"] == ROOM
    assert facts["a_channel"] == {
        "id": channel_id,
        **where,
        "self": a_presence,
        "presences": [],
    }
    assert facts["b_channel"] == {
        "id": channel_id,
        **where,
        "self": b_presence,
        "presences": [a_presence],
    }
    assert facts["a_own_join"] == event(joins=[a_presence])
    assert facts["b_own_join"] == event(joins=[b_presence])
    assert facts["a_sees_b_join"] == event(joins=[b_presence])
    assert facts["a_sees_b_leave"] == event(leaves=[b_presence])
    assert facts["a_sees_b_rejoin"] == event(joins=[b_presence])
    assert facts["a_sees_b_disconnect"] == event(leaves=[b_presence])

    # The ack and the delivered copy of the first message, then its edit and a removal.
    ack1, message1 = facts["ack1"], facts["message1"]
    assert ack1["code"] == 0 and ack1["persistent"] is True
    assert ack1["create_time"] == ack1["update_time"] == message1["create_time"]
    assert message1["message_id"] == ack1["message_id"]
    assert message1["sender_id"] == a["user_id"] and message1["username"] == a["username"]
    assert message1["content"] == {"n": 1, "text": "hello"}
    assert facts["update_ack"]["code"] == 1 and facts["update"]["code"] == 1
    assert facts["update"]["create_time"] == ack1["create_time"]
    assert facts["update"]["update_time"] >= ack1["update_time"]
    removed = facts["message_ids"][2]
    assert facts["remove_ack"]["code"] == 2 and facts["remove_ack"]["message_id"] == removed
    assert facts["removal"]["code"] == 2 and facts["removal"]["content"] == {}
    assert facts["b_updates_a"] == {
        "code": 3,
        "message": "Could not find message to update in channel history",
    }
    assert facts["b_removes_a"] == {
        "code": 3,
        "message": "Could not find message to remove in channel history",
    }

    # Bad input: the request fails (code 3, BAD_INPUT) and the socket is not closed.
    not_object = {"code": 3, "message": "Message content must be a valid JSON object"}
    not_joined = {"code": 3, "message": "Must join channel before sending messages"}
    assert facts["bad_input"] == {
        "string_content": not_object,
        "array_content": not_object,
        "not_joined": not_joined,
    }
    assert facts["b_writes_after_leave"] == not_joined

    # History: the removed message is gone, the edited one kept (code 0, new content).
    m1, m2, _, m4, m5 = facts["message_ids"]
    assert [m["message_id"] for m in facts["history"]] == [m1, m2, m4, m5]
    assert [m["code"] for m in facts["history"]] == [0, 0, 0, 0]
    assert facts["history"][0]["content"] == {"n": 1, "text": "hello, edited"}
    assert facts["history"][0]["update_time"] == facts["update"]["update_time"]
    assert [m["sender_id"] for m in facts["history"]] == [
        a["user_id"],
        b["user_id"],
        b["user_id"],
        a["user_id"],
    ]

    def pages(ids, next_cursor, prev_cursor) -> dict:
        return {
            "ids": ids,
            "next_cursor": next_cursor,
            "prev_cursor": prev_cursor,
            "cacheable_cursor": True,
        }

    assert facts["pages"] == {
        "forward1": pages([m1, m2, m4], True, False),
        "forward2": pages([m5], False, True),
        "forward_back": pages([m1, m2, m4], True, False),
        "backward1": pages([m5, m4, m2], True, False),
        "backward2": pages([m1], False, True),
        "backward_back": pages([m5, m4, m2], True, False),
        "after_last": pages([m5], False, True),
    }

    # The same history for another client of the HTTP API (B's).
    kept = await channel_history(port, b_token, channel_id)
    assert [m["message_id"] for m in kept] == [m1, m2, m4, m5]
    assert [json.loads(m["content"]) for m in kept] == [m["content"] for m in facts["history"]]
    assert {m["channel_id"] for m in kept} == {channel_id}
    assert {m["room_name"] for m in kept} == {ROOM}

    for closed in (facts["b_close"], facts["a_close"]):
        assert closed["was_clean"] is True
    assert [tap["query"]["status"] for tap in facts["frames"]] == ["false", "false"]
    assert_frames(facts, adapter)
    await assert_nothing_left(server)


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest_twisted.ensureDeferred
async def test_chat_dm_group_notifications_friends(server, node, adapter) -> None:  # noqa: F811
    facts = await run_scenario(node, server.port, adapter, "chat_dm_group")
    port = server.port
    a, b = facts["a"], facts["b"]
    a_token = await token_for(port, a["custom_id"])
    b_token = await token_for(port, b["custom_id"])
    assert (await get_json(port, "/v2/account", a_token))["user"]["id"] == a["user_id"]
    assert (await get_json(port, "/v2/account", b_token))["user"]["id"] == b["user_id"]
    a_presence, b_presence = user_presence(a, persistence=True), user_presence(b, persistence=True)

    # The DM: one channel id for both, "4.<smaller user id>.<larger user id>."
    one, two = sorted((a["user_id"], b["user_id"]))
    dm_id = f"4.{one}.{two}."
    dm_place = place(user_id_one=one, user_id_two=two)
    assert facts["a_dm"] == {"id": dm_id, **dm_place, "self": a_presence, "presences": []}
    assert facts["b_dm"] == {"id": dm_id, **dm_place, "self": b_presence, "presences": [a_presence]}
    assert facts["a_sees_b_dm_join"] == {
        "channel_id": dm_id,
        **dm_place,
        "joins": [b_presence],
        "leaves": [],
    }
    invite = facts["dm_invite"]
    assert invite == {
        "id": invite["id"],
        "subject": f"{a['username']} wants to chat",
        "content": {"username": a["username"]},
        "code": -1,
        "sender_id": a["user_id"],
        "persistent": True,
        "create_time": invite["create_time"],
    }
    uuid.UUID(invite["id"])
    assert invite["create_time"] % 1000 == 0
    assert [n["id"] for n in facts["b_notifications"]["notifications"]] == [invite["id"]]
    assert facts["b_notifications"]["cacheable_cursor"] is True
    assert [m["content"] for m in facts["dm_messages"]] == [{"text": "hi B"}, {"text": "hi A"}]
    assert facts["dm_history"] == facts["dm_messages"]
    kept_dm = await channel_history(port, a_token, dm_id)
    assert [m["message_id"] for m in kept_dm] == [m["message_id"] for m in facts["dm_messages"]]
    assert {(m["user_id_one"], m["user_id_two"]) for m in kept_dm} == {(one, two)}

    # The group: B could not use its channel before joining; its join left a message.
    group = facts["group"]
    group_id = group["id"]
    group_channel = f"3.{group_id}.."
    group_place = place(group_id=group_id)
    assert group["creator_id"] == a["user_id"] and group["open"] is True
    assert facts["a_group_channel"] == {
        "id": group_channel,
        **group_place,
        "self": a_presence,
        "presences": [],
    }
    assert facts["b_joins_group_channel_early"] == {
        "code": 3,
        "message": "Group not found: Invalid channel target",
    }
    join_message = facts["group_join_message"]
    assert join_message["code"] == 3
    assert (join_message["sender_id"], join_message["username"]) == (b["user_id"], b["username"])
    assert join_message["channel_id"] == group_channel and join_message["group_id"] == group_id
    assert [m["message_id"] for m in facts["group_history_after_join"]] == [
        join_message["message_id"]
    ]
    assert facts["b_group_channel"] == {
        "id": group_channel,
        **group_place,
        "self": b_presence,
        "presences": [a_presence],
    }
    assert facts["group_message"]["content"] == {"text": "hello group"}
    assert facts["group_message"]["sender_id"] == b["user_id"]
    history_ids = [join_message["message_id"], facts["group_ack"]["message_id"]]
    assert [m["message_id"] for m in facts["group_history"]] == history_ids
    kept_group = await channel_history(port, b_token, group_channel)
    assert [(m["message_id"], m.get("code", 0)) for m in kept_group] == list(
        zip(history_ids, [3, 0], strict=True)
    )
    members = await get_json(port, f"/v2/group/{group_id}/user", a_token)
    assert sorted((m["user"]["id"], m.get("state", 0)) for m in members["group_users"]) == sorted(
        [(a["user_id"], 0), (b["user_id"], 2)]
    )

    # Notifications: B's DM request is deleted; friend request (-2) and accept (-3).
    assert facts["b_notifications_after_delete"] == []
    request, accept = facts["friend_request"], facts["friend_accept"]
    assert (request["code"], request["sender_id"]) == (-2, b["user_id"])
    assert request["subject"] == f"{b['username']} wants to add you as a friend"
    assert (accept["code"], accept["sender_id"]) == (-3, a["user_id"])
    assert accept["subject"] == f"{a['username']} accepted your friend request"
    assert [n["id"] for n in facts["b_notifications_since_cursor"]] == [accept["id"]]
    assert [n["id"] for n in facts["a_notifications"]] == [request["id"]]
    b_kept = await notifications(port, b_token)
    assert [(n["id"], n["code"]) for n in b_kept] == [(accept["id"], -3)]
    a_kept = await notifications(port, a_token)
    assert [(n["id"], n["code"]) for n in a_kept] == [(request["id"], -2)]
    assert json.loads(a_kept[0]["content"]) == {"username": b["username"]}

    # Friends: pending (A invited: 2, B invite sent: 1), then mutual (0).
    assert facts["friends_pending"] == {
        "a": [{"user_id": b["user_id"], "username": b["username"], "state": 2}],
        "b": [{"user_id": a["user_id"], "username": a["username"], "state": 1}],
    }
    assert facts["friends"] == {
        "a": [{"user_id": b["user_id"], "username": b["username"], "state": 0}],
        "b": [{"user_id": a["user_id"], "username": a["username"], "state": 0}],
    }
    assert await friends(port, a_token) == [(b["user_id"], 0)]
    assert await friends(port, b_token) == [(a["user_id"], 0)]

    # B's socket going away takes it out of both channels A shares with it.
    assert facts["a_sees_b_disconnect"] == [
        {"channel_id": group_channel, **group_place, "joins": [], "leaves": [b_presence]},
        {"channel_id": dm_id, **dm_place, "joins": [], "leaves": [b_presence]},
    ]
    for closed in (facts["b_close"], facts["a_close"]):
        assert closed["was_clean"] is True
    assert_frames(facts, adapter)
    await assert_nothing_left(server)


# Nakama's JoinGroup stores the join message (code 3) with whole-second times
# (time.Unix(CreateTime.Seconds, 0)) while the live copy is exact.
@pytest_twisted.ensureDeferred
async def test_group_join_message_history_times_are_whole_seconds(server) -> None:
    port = server.port
    a_token = await token_for(port, f"e2e-{uuid.uuid4()}")
    b_token = await token_for(port, f"e2e-{uuid.uuid4()}")
    created = await http(
        port,
        "POST",
        "/v2/group",
        body={"name": f"g{uuid.uuid4().hex[:12]}", "open": True},
        bearer=a_token,
    )
    assert created.status == 200, created
    group_id = created.json()["id"]
    joined = await http(port, "POST", f"/v2/group/{group_id}/join", body={}, bearer=b_token)
    assert joined.status == 200, joined
    [join_message] = await channel_history(port, a_token, f"3.{group_id}..")
    assert join_message.get("code") == 3
    for field in ("create_time", "update_time"):
        assert "." not in join_message[field], join_message
