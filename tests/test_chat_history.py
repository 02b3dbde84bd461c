"""Chat through the whole server: DMs, group channels, history paging, notifications."""

from __future__ import annotations

import uuid
from urllib.parse import quote

import pytest_twisted

from nakama_rt.core.notifications import NewNotification
from nakama_rt.realtime.chat.group_chat import group_stream
from tests.wsclient import authenticate, connect, has, http, wait_for


class Player:
    def __init__(self, session: dict, name: str) -> None:
        self.token = session["token"]
        self.name = name
        self.id = ""
        self.socket = None


async def player(port: int, name: str, fmt: str = "json") -> Player:
    session = await authenticate(port, f"hist-{uuid.uuid4()}", username=name)
    p = Player(session, name)
    p.id = (await http(port, "GET", "/v2/account", bearer=p.token)).json()["user"]["id"]
    p.socket = await connect(port, p.token, fmt=fmt)
    return p


async def history(port: int, who: Player, channel: str, **query) -> tuple[int, dict]:
    params = "&".join(f"{k}={quote(str(v))}" for k, v in query.items())
    answer = await http(port, "GET", f"/v2/channel/{quote(channel)}?{params}", bearer=who.token)
    return answer.status, answer.json()


async def send(who: Player, channel: str, content: str, cid: str = "s") -> dict:
    who.socket.send(
        {"cid": cid, "channel_message_send": {"channel_id": channel, "content": content}}
    )
    ack, _ = await wait_for(who.socket, lambda m: m.get("cid") == cid)
    return ack["channel_message_ack"]


async def join(who: Player, target: str, kind: int, **extra) -> dict:
    who.socket.send({"cid": "j", "channel_join": {"target": target, "type": kind, **extra}})
    answer, _ = await wait_for(who.socket, lambda m: m.get("cid") == "j")
    return answer


@pytest_twisted.ensureDeferred
async def test_history_pages_forward_and_back_with_stable_cursors(server) -> None:
    alice = await player(server.port, "alice")
    channel = (await join(alice, "lobby", 1))["channel"]["id"]
    for n in range(5):
        await send(alice, channel, f'{{"n":{n}}}')
    status, page = await history(server.port, alice, channel, limit=2, forward="true")
    assert status == 200
    assert [m["content"] for m in page["messages"]] == ['{"n":0}', '{"n":1}']
    assert page["messages"][0]["room_name"] == "lobby"
    assert page["messages"][0]["persistent"] is True
    for n in range(5, 7):  # new messages while paging
        await send(alice, channel, f'{{"n":{n}}}')
    status, page2 = await history(server.port, alice, channel, limit=3, cursor=page["next_cursor"])
    assert [m["content"] for m in page2["messages"]] == ['{"n":2}', '{"n":3}', '{"n":4}']
    status, back = await history(server.port, alice, channel, limit=3, cursor=page2["prev_cursor"])
    assert [m["content"] for m in back["messages"]] == ['{"n":0}', '{"n":1}']
    status, newest = await history(server.port, alice, channel, limit=2, forward="false")
    assert [m["content"] for m in newest["messages"]] == ['{"n":6}', '{"n":5}']
    status, older = await history(
        server.port, alice, channel, limit=10, forward="false", cursor=newest["next_cursor"]
    )
    assert [m["content"] for m in older["messages"]] == [f'{{"n":{n}}}' for n in range(4, -1, -1)]
    assert "next_cursor" not in older


@pytest_twisted.ensureDeferred
async def test_history_refuses_bad_requests(server) -> None:
    alice = await player(server.port, "alice")
    bob = await player(server.port, "bob")
    dm = f"4.{min(alice.id, bob.id)}.{max(alice.id, bob.id)}."
    outsider = await player(server.port, "carol")
    cases = [
        ("2...lobby", {"limit": 0}, "Invalid limit - limit must be between 1 and 100."),
        ("2...lobby", {"limit": 101}, "Invalid limit - limit must be between 1 and 100."),
        ("9.x.y.z", {}, "Invalid channel ID."),
        ("2...lobby", {"cursor": "garbage"}, "Cursor is invalid or expired."),
        (dm, {}, "Channel not found."),
        (f"3.{uuid.uuid4()}..", {}, "Group not found."),
    ]
    for channel, query, message in cases:
        status, body = await history(server.port, outsider, channel, **query)
        assert (status, body["message"], body["code"]) == (400, message, 3), channel


@pytest_twisted.ensureDeferred
async def test_a_non_persistent_member_sends_without_history(server) -> None:
    alice = await player(server.port, "alice")
    channel = (await join(alice, "quiet", 1, persistence=False))["channel"]["id"]
    ack = await send(alice, channel, '{"secret":1}')
    assert ack["persistent"] is False
    status, page = await history(server.port, alice, channel, limit=10)
    assert (status, page.get("messages")) == (200, None)


@pytest_twisted.ensureDeferred
async def test_direct_messages_invite_notify_and_respect_blocks(server) -> None:
    alice = await player(server.port, "alice")
    bob = await player(server.port, "bob", "protobuf")
    joined = await join(alice, bob.id, 2)
    channel = joined["channel"]
    one, two = sorted((alice.id, bob.id))
    assert channel["id"] == f"4.{one}.{two}."
    assert (channel["user_id_one"], channel["user_id_two"]) == (one, two)
    invite, _ = await wait_for(bob.socket, has("notifications"))
    (note,) = invite["notifications"]["notifications"]
    assert (note["code"], note["subject"], note["sender_id"]) == (
        -1,
        "alice wants to chat",
        alice.id,
    )
    listed = (await http(server.port, "GET", "/v2/notification?limit=10", bearer=bob.token)).json()
    assert [n["id"] for n in listed["notifications"]] == [note["id"]]

    assert (await join(bob, alice.id, 2))["channel"]["id"] == channel["id"]
    await send(bob, channel["id"], '{"hi":"alice"}')
    heard, _ = await wait_for(alice.socket, has("channel_message"))
    assert heard["channel_message"]["user_id_one"] == one
    status, page = await history(server.port, alice, channel["id"], limit=5)
    assert [m["content"] for m in page["messages"]] == ['{"hi":"alice"}']

    blocked = await http(server.port, "POST", f"/v2/friend/block?ids={alice.id}", bearer=bob.token)
    assert blocked.status == 200
    carol = await player(server.port, "carol")
    refused = await join(carol, str(uuid.uuid4()), 2)
    assert refused["error"] == {"code": 3, "message": "User ID not found: Invalid channel target"}
    alice2 = await player(server.port, "alice2")
    assert "channel" in await join(alice2, bob.id, 2)
    refused = await join(alice, bob.id, 2)
    assert refused["error"]["message"] == "User ID not found: Invalid channel target"


@pytest_twisted.ensureDeferred
async def test_group_channels_need_membership(server) -> None:
    alice = await player(server.port, "alice")
    bob = await player(server.port, "bob")
    created = await http(
        server.port, "POST", "/v2/group", bearer=alice.token, body={"name": "guild", "open": True}
    )
    assert created.status == 200, created
    group_id = created.json()["id"]
    assert "channel" in await join(alice, group_id, 3)
    refused = await join(bob, group_id, 3)
    assert refused["error"] == {"code": 3, "message": "Group not found: Invalid channel target"}
    joined = await http(server.port, "POST", f"/v2/group/{group_id}/join", bearer=bob.token)
    assert joined.status == 200, joined
    channel = (await join(bob, group_id, 3))["channel"]
    assert channel["id"] == f"3.{group_id}.."
    assert channel["group_id"] == group_id
    await send(bob, channel["id"], '{"gg":1}')
    status, page = await history(server.port, alice, channel["id"], limit=5)
    assert [m["group_id"] for m in page["messages"]] == [group_id, group_id]
    assert [m.get("code", 0) for m in page["messages"]] == [3, 0]  # bob's join, then his chat


@pytest_twisted.ensureDeferred
async def test_notifications_live_listed_paged_and_deleted(server) -> None:
    alice = await player(server.port, "alice")
    notifier = server.server.notifier
    # one at a time: a batch shares one create time and then orders by id, as in Nakama
    for n in range(3):
        await notifier.send([NewNotification(alice.id, f"note {n}", {"n": n}, 100 + n)])
    await notifier.send([NewNotification(alice.id, "fleeting", {}, 7, persistent=False)])
    live = []
    while len(live) < 4:
        message, _ = await wait_for(alice.socket, has("notifications"))
        live += message["notifications"]["notifications"]
    assert [n["subject"] for n in live] == ["note 0", "note 1", "note 2", "fleeting"]
    assert live[3].get("persistent") is None
    first = (await http(server.port, "GET", "/v2/notification?limit=2", bearer=alice.token)).json()
    assert [n["subject"] for n in first["notifications"]] == ["note 0", "note 1"]
    assert first["notifications"][0]["content"] == '{"n":0}'
    cursor = quote(first["cacheable_cursor"])
    rest = (
        await http(
            server.port,
            "GET",
            f"/v2/notification?limit=5&cacheable_cursor={cursor}",
            bearer=alice.token,
        )
    ).json()
    assert [n["subject"] for n in rest["notifications"]] == ["note 2"]
    ids = "&".join(f"ids={n['id']}" for n in first["notifications"])
    deleted = await http(server.port, "DELETE", f"/v2/notification?{ids}", bearer=alice.token)
    assert (deleted.status, deleted.json()) == (200, {})
    left = (await http(server.port, "GET", "/v2/notification?limit=5", bearer=alice.token)).json()
    assert [n["subject"] for n in left["notifications"]] == ["note 2"]
    bad = await http(server.port, "GET", "/v2/notification?limit=500", bearer=alice.token)
    assert (bad.status, bad.json()["message"]) == (
        400,
        "Invalid limit - limit must be between 1 and 100.",
    )


@pytest_twisted.ensureDeferred
async def test_membership_changes_write_group_messages_and_end_channel_places(server) -> None:
    alice = await player(server.port, "alice")
    bob = await player(server.port, "bob")
    created = await http(
        server.port, "POST", "/v2/group", bearer=alice.token, body={"name": "crew", "open": True}
    )
    group_id = created.json()["id"]
    channel = (await join(alice, group_id, 3))["channel"]["id"]
    await http(server.port, "POST", f"/v2/group/{group_id}/join", bearer=bob.token)
    joined, _ = await wait_for(alice.socket, has("channel_message"))
    assert (joined["channel_message"]["code"], joined["channel_message"]["username"]) == (3, "bob")
    await join(bob, group_id, 3)
    await http(
        server.port, "POST", f"/v2/group/{group_id}/promote?user_ids={bob.id}", bearer=alice.token
    )
    promoted, _ = await wait_for(alice.socket, has("channel_message"))
    assert promoted["channel_message"]["code"] == 7
    await http(
        server.port, "POST", f"/v2/group/{group_id}/demote?user_ids={bob.id}", bearer=alice.token
    )
    assert (await wait_for(alice.socket, has("channel_message")))[0]["channel_message"]["code"] == 9
    kicked = await http(
        server.port, "POST", f"/v2/group/{group_id}/kick?user_ids={bob.id}", bearer=alice.token
    )
    assert kicked.status == 200, kicked
    message, _ = await wait_for(alice.socket, has("channel_message"))
    assert (message["channel_message"]["code"], message["channel_message"]["username"]) == (
        6,
        "bob",
    )
    left, _ = await wait_for(alice.socket, has("channel_presence_event"))
    assert left["channel_presence_event"]["leaves"][0]["username"] == "bob"
    bob.socket.send({"cid": "x", "channel_message_send": {"channel_id": channel, "content": "{}"}})
    refused, _ = await wait_for(bob.socket, has("error"))
    assert refused["error"]["message"] == "Must join channel before sending messages"
    status, page = await history(server.port, alice, channel, limit=10)
    # whole-second times as Nakama keeps them: within one second the order is by id
    assert sorted(m["code"] for m in page["messages"]) == [3, 6, 7, 9]
    await http(server.port, "DELETE", f"/v2/group/{group_id}", bearer=alice.token)
    assert server.server.tracker.count_by_stream(group_stream(group_id)) == 0
