"""``/v2/friend`` and ``/v2/group`` over a real listening Site, on both storage backends."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest_twisted
from storage_fixtures import ShiftedReactor, start_test_storage
from test_api import BASE_CONFIG, MAX_BODY, Server, basic, claims, error
from twisted.internet import reactor
from twisted.internet.defer import Deferred, fail, succeed
from twisted.web.resource import Resource
from twisted.web.server import Site

from nakama_rt.api import ApiContext, Code, body_limited_request_factory, build_api
from nakama_rt.auth.session_cache import SessionCache


class FakeNotifier:
    """Records what the API sends; ``broken`` makes sending fail."""

    def __init__(self) -> None:
        self.sent: list[Any] = []
        self.broken = False

    def send(self, notifications) -> Deferred:
        if self.broken:
            return fail(RuntimeError("notifier down"))
        self.sent.extend(notifications)
        return succeed(None)

    def take(self) -> list[tuple[str, int, str, Any, str]]:
        taken = [(n.user_id, n.code, n.subject, n.content, n.sender_id) for n in self.sent]
        assert all(n.persistent for n in self.sent)
        self.sent.clear()
        return taken


@dataclass
class Player:
    id: str
    name: str
    auth: str


@dataclass
class Social:
    server: Server
    notifier: FakeNotifier
    online: set[str] = field(default_factory=set)
    _count: int = 0

    async def player(self, name: str) -> Player:
        body = await self.server.session("custom", {"id": f"custom-{name}"}, f"?username={name}")
        return Player(claims(body["token"])["uid"], name, "Bearer " + body["token"])

    async def call(self, method: str, path: str, who: Player, body: Any = None) -> Any:
        return await self.server.call(method, path, body, auth=who.auth)

    async def ok(self, method: str, path: str, who: Player, body: Any = None) -> Any:
        reply = await self.call(method, path, who, body)
        assert reply.status == 200, reply.body
        return reply.body

    async def refused(
        self, method: str, path: str, who: Player, status: int, code: Code, message: str
    ) -> None:
        reply = await self.call(method, path, who)
        assert (reply.status, reply.body) == (status, error(code, message)), path


@pytest_twisted.async_yield_fixture
async def social(storage_kind, tmp_path):
    clock = ShiftedReactor()
    opened = await start_test_storage(storage_kind, tmp_path, clock)
    notifier = FakeNotifier()
    online: set[str] = set()
    context = ApiContext(
        reactor=clock,
        config=BASE_CONFIG,
        storage=opened.storage,
        session_cache=SessionCache(BASE_CONFIG.session, clock),
        bcrypt_cost=4,
        is_online=online.__contains__,
        notifier=notifier,
    )
    root = Resource()
    root.putChild(b"v2", build_api(context))
    site = Site(root, requestFactory=body_limited_request_factory(MAX_BODY))
    port = reactor.listenTCP(0, site, interface="127.0.0.1")
    server = Server(f"http://127.0.0.1:{port.getHost().port}", context, clock)
    yield Social(server, notifier, online)
    await port.stopListening()
    await opened.close()


BAD = Code.INVALID_ARGUMENT


# Friends -----------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_friend_request_accept_list_and_delete(social):
    alice, bob = await social.player("alice"), await social.player("bob")
    social.online.add(alice.id)
    assert (
        await social.ok("POST", f"/v2/friend?ids={bob.id}&metadata=%7B%22x%22%3A1%7D", alice) == {}
    )
    assert social.notifier.take() == [
        (bob.id, -2, "alice wants to add you as a friend", {"username": "alice"}, alice.id)
    ]
    listed = await social.ok("GET", "/v2/friend", bob)
    (friend,) = listed["friends"]
    assert set(friend) == {"user", "state", "update_time", "metadata"} and "cursor" not in listed
    assert (friend["state"], friend["metadata"]) == (2, "{}")
    user = friend["user"]
    assert (user["id"], user["username"], user["online"]) == (alice.id, "alice", True)
    assert "edge_count" not in user and {"create_time", "update_time"} <= set(user)

    assert await social.ok("POST", "/v2/friend?usernames=alice", bob) == {}
    assert social.notifier.take() == [
        (alice.id, -3, "bob accepted your friend request", {"username": "bob"}, bob.id)
    ]
    (friend,) = (await social.ok("GET", "/v2/friend?state=0", alice))["friends"]
    assert (friend["user"]["id"], friend["state"]) == (bob.id, 0)
    assert friend["user"].get("online") is None
    assert friend["metadata"].replace(" ", "") == '{"x":1}'
    assert await social.ok("GET", "/v2/friend?state=1", alice) == {}

    # A repeated request does nothing and tells nobody.
    assert await social.ok("POST", f"/v2/friend?ids={bob.id}", alice) == {}
    assert social.notifier.take() == []

    assert await social.ok("DELETE", "/v2/friend?usernames=bob&usernames=nobody", alice) == {}
    assert social.notifier.take() == [
        (bob.id, -9, "alice removed you as a friend", {"username": "alice"}, alice.id)
    ]
    assert await social.ok("GET", "/v2/friend", bob) == {}


@pytest_twisted.ensureDeferred
async def test_friend_paging(social):
    me = await social.player("me")
    others = [await social.player(f"p{i}") for i in range(3)]
    await social.ok("POST", "/v2/friend?" + "&".join(f"ids={p.id}" for p in others), me)
    first = await social.ok("GET", "/v2/friend?limit=2", me)
    assert [f["user"]["username"] for f in first["friends"]] == ["p0", "p1"]
    second = await social.ok("GET", f"/v2/friend?limit=2&cursor={first['cursor']}", me)
    assert [f["user"]["username"] for f in second["friends"]] == ["p2"]
    assert "cursor" not in second
    await social.refused(
        "GET", f"/v2/friend?state=0&cursor={first['cursor']}", me, 400, BAD, "Cursor is invalid."
    )


@pytest_twisted.ensureDeferred
async def test_friend_bad_input(social):
    alice = await social.player("alice")
    nil = "00000000-0000-0000-0000-000000000000"
    for method, self_error in (
        ("POST", "Cannot add self as friend."),
        ("DELETE", "Cannot delete self."),
    ):
        await social.refused(method, f"/v2/friend?ids={alice.id}", alice, 400, BAD, self_error)
        await social.refused(method, "/v2/friend?usernames=alice", alice, 400, BAD, self_error)
        for bad in ("nope", nil):
            await social.refused(
                method, f"/v2/friend?ids={bad}", alice, 400, BAD, f"Invalid user ID '{bad}'."
            )
        await social.refused(
            method, "/v2/friend?usernames=", alice, 400, BAD, "Username must not be empty."
        )
    path = "/v2/friend/block"
    await social.refused("POST", f"{path}?ids={alice.id}", alice, 400, BAD, "Cannot block self.")
    nobody = "No valid ID or username was provided."
    await social.refused("POST", "/v2/friend?usernames=ghost", alice, 400, BAD, nobody)
    await social.refused("POST", f"{path}?usernames=ghost", alice, 400, BAD, nobody)
    assert await social.ok("DELETE", "/v2/friend?usernames=ghost", alice) == {}
    for method, bare in (("POST", "/v2/friend"), ("DELETE", "/v2/friend"), ("POST", path)):
        assert await social.ok(method, bare, alice) == {}
    # Unknown user ids are accepted and ignored, as in Nakama.
    assert await social.ok("POST", f"/v2/friend?ids={uuid.uuid4()}", alice) == {}
    assert social.notifier.take() == []
    bob = await social.player("bob")
    # Nakama's database refuses metadata that is not JSON (a 500 there): a 400 here.
    await social.refused(
        "POST",
        f"/v2/friend?ids={bob.id}&metadata=nope",
        alice,
        400,
        BAD,
        'Invalid value for query parameter "metadata": not JSON.',
    )

    limit = "Invalid limit - limit must be between 1 and 1000."
    for query in ("limit=0", "limit=1001"):
        await social.refused("GET", f"/v2/friend?{query}", alice, 400, BAD, limit)
    state = "Invalid state - state must be between 0 and 3."
    await social.refused("GET", "/v2/friend?state=4", alice, 400, BAD, state)
    await social.refused("GET", "/v2/friend?state=-1", alice, 400, BAD, state)
    await social.refused(
        "GET",
        "/v2/friend?limit=x",
        alice,
        400,
        BAD,
        'parsing field "limit": strconv.ParseInt: parsing "x": invalid syntax',
    )
    await social.refused("GET", "/v2/friend?cursor=%21", alice, 400, BAD, "Cursor is invalid.")
    reply = await social.server.call("GET", "/v2/friend")
    assert (reply.status, reply.body) == (401, error(Code.UNAUTHENTICATED, "Auth token required"))


@pytest_twisted.ensureDeferred
async def test_block(social):
    alice, bob = await social.player("alice"), await social.player("bob")
    await social.ok("POST", "/v2/friend?usernames=bob", alice)
    social.notifier.take()
    assert await social.ok("POST", "/v2/friend/block?usernames=alice", bob) == {}
    assert await social.ok("GET", "/v2/friend", alice) == {}
    (blocked,) = (await social.ok("GET", "/v2/friend?state=3", bob))["friends"]
    assert (blocked["user"]["id"], blocked["state"]) == (alice.id, 3)
    # A blocked user's request goes nowhere, silently.
    assert await social.ok("POST", f"/v2/friend?ids={bob.id}", alice) == {}
    assert social.notifier.take() == []
    assert await social.server.context.storage.friend_state(bob.id, alice.id) == 3


@pytest_twisted.ensureDeferred
async def test_notifier_failure_does_not_fail_the_request(social):
    alice, bob = await social.player("alice"), await social.player("bob")
    social.notifier.broken = True
    assert await social.ok("POST", f"/v2/friend?ids={bob.id}", alice) == {}
    assert await social.server.context.storage.friend_state(alice.id, bob.id) == 1


# Groups ------------------------------------------------------------------------------------


async def create(social: Social, who: Player, **body: Any) -> dict[str, Any]:
    return await social.ok("POST", "/v2/group", who, body)


@pytest_twisted.ensureDeferred
async def test_create_group(social):
    alice = await social.player("alice")
    group = await create(social, alice, name="Knights", description="Ni", max_count=5)
    assert set(group) == {
        "id",
        "creator_id",
        "name",
        "description",
        "lang_tag",
        "metadata",
        "open",
        "edge_count",
        "max_count",
        "create_time",
        "update_time",
    }
    assert (group["creator_id"], group["name"], group["description"]) == (alice.id, "Knights", "Ni")
    assert (group["lang_tag"], group["metadata"], group["open"]) == ("en", "{}", False)
    assert (group["edge_count"], group["max_count"]) == (1, 5)
    public = await create(social, alice, name="Open", open=True, maxCount="7", lang_tag="fr")
    assert (public["open"], public["max_count"], public["lang_tag"]) == (True, 7, "fr")
    assert (await create(social, alice, name="Default"))["max_count"] == 100

    for body, status, code, message in (
        ({}, 400, BAD, "Group name must be set."),
        ({"name": ""}, 400, BAD, "Group name must be set."),
        ({"name": "X", "max_count": -1}, 400, BAD, "Group max count must be >= 1 when set."),
        ({"name": "Knights"}, 409, Code.ALREADY_EXISTS, "Group name is in use."),
        ({"name": "X", "open": "yes"}, 400, BAD, 'Invalid value for field "open": not a boolean.'),
        (
            {"name": "X", "max_count": 1.5},
            400,
            BAD,
            'Invalid value for field "max_count": not a 32-bit integer.',
        ),
        ({"name": 5}, 400, BAD, 'Invalid value for field "name": not a string.'),
        ([1], 400, BAD, "Invalid JSON request body: expected an object."),
    ):
        reply = await social.call("POST", "/v2/group", alice, body)
        assert (reply.status, reply.body) == (status, error(code, message)), body


@pytest_twisted.ensureDeferred
async def test_update_and_delete_group(social):
    alice, bob = await social.player("alice"), await social.player("bob")
    group = await create(social, alice, name="G", description="d")
    await create(social, alice, name="Taken")
    path = f"/v2/group/{group['id']}"
    assert await social.ok("PUT", path, alice, {"name": "H", "description": "", "open": True}) == {}
    (listed,) = (await social.ok("GET", "/v2/group?name=h", alice))["groups"]
    assert (listed["name"], listed["open"], listed.get("description")) == ("H", True, None)

    for who, body, status, message in (
        (bob, {"name": "X"}, 404, "Group not found or you're not allowed to update."),
        (alice, {"name": ""}, 400, "Group name cannot be empty."),
        (alice, {"lang_tag": ""}, 400, "Group language cannot be empty."),
        (alice, {}, 400, "Specify at least one field to update."),
        (alice, {"name": "Taken"}, 400, "Group name is in use."),
    ):
        reply = await social.call("PUT", path, who, body)
        code = Code.NOT_FOUND if status == 404 else BAD
        assert (reply.status, reply.body) == (status, error(code, message)), body
    reply = await social.call("PUT", "/v2/group/nope", alice, {"name": "X"})
    assert (reply.status, reply.body) == (400, error(BAD, "Group ID must be a valid ID."))

    denied = "Group not found or you're not allowed to delete."
    await social.refused("DELETE", path, bob, 400, BAD, denied)
    await social.refused("DELETE", f"/v2/group/{uuid.uuid4()}", alice, 400, BAD, denied)
    await social.refused(
        "DELETE", "/v2/group/nope", alice, 400, BAD, "Group ID must be a valid ID."
    )
    assert await social.ok("DELETE", path, alice) == {}
    assert await social.ok("GET", "/v2/group?name=h", alice) == {}


@pytest_twisted.ensureDeferred
async def test_join_and_leave(social):
    alice, bob, carol = [await social.player(n) for n in ("alice", "bob", "carol")]
    public = await create(social, alice, name="Public", open=True, max_count=2)
    private = await create(social, alice, name="Private")
    assert await social.ok("POST", f"/v2/group/{public['id']}/join", bob) == {}
    # Nakama checks for room before membership: a member of a full group is refused too.
    await social.refused("POST", f"/v2/group/{public['id']}/join", bob, 400, BAD, "Group is full.")
    await social.refused(
        "POST", f"/v2/group/{public['id']}/join", carol, 400, BAD, "Group is full."
    )
    await social.refused(
        "POST", f"/v2/group/{uuid.uuid4()}/join", bob, 404, Code.NOT_FOUND, "Group not found."
    )
    await social.refused("POST", "/v2/group/x/join", bob, 400, BAD, "Group ID must be a valid ID.")

    await social.ok("POST", f"/v2/group/{private['id']}/add?user_ids={bob.id}", alice)
    await social.ok("POST", f"/v2/group/{private['id']}/promote?user_ids={bob.id}", alice)
    social.notifier.take()
    assert await social.ok("POST", f"/v2/group/{private['id']}/join", carol) == {}
    content = {"group_id": private["id"], "username": "carol"}
    subject = "User carol wants to join your group"
    assert social.notifier.take() == [
        (alice.id, -5, subject, content, carol.id),
        (bob.id, -5, subject, content, carol.id),
    ]
    assert await social.ok("POST", f"/v2/group/{private['id']}/join", carol) == {}
    assert social.notifier.take() == []

    last = "Cannot leave group when you are the last superadmin."
    await social.refused("POST", f"/v2/group/{public['id']}/leave", alice, 400, BAD, last)
    assert await social.ok("POST", f"/v2/group/{public['id']}/leave", bob) == {}
    assert await social.ok("POST", f"/v2/group/{public['id']}/leave", bob) == {}
    assert await social.ok("POST", f"/v2/group/{public['id']}/leave", alice) == {}
    assert await social.server.context.storage.get_group(public["id"]) is None


@pytest_twisted.ensureDeferred
async def test_add_kick_promote_demote_ban(social):
    alice, bob, carol, dave = [await social.player(n) for n in ("alice", "bob", "carol", "dave")]
    group = await create(social, alice, name="Guild", max_count=3)
    base = f"/v2/group/{group['id']}"
    denied = (404, Code.NOT_FOUND, "Group not found or permission denied.")
    for action in ("add", "kick", "ban", "promote", "demote"):
        await social.refused("POST", f"{base}/{action}?user_ids={bob.id}", bob, *denied)
        await social.refused(
            "POST", f"/v2/group/{uuid.uuid4()}/{action}?user_ids={bob.id}", alice, *denied
        )
        await social.refused(
            "POST", f"{base}/{action}?user_ids=zzz", alice, 400, BAD, "User ID must be a valid ID."
        )
        await social.refused(
            "POST",
            f"/v2/group/x/{action}?user_ids={bob.id}",
            alice,
            400,
            BAD,
            "Group ID must be a valid ID.",
        )
    for action in ("add", "kick", "ban", "promote"):
        assert await social.ok("POST", f"{base}/{action}", alice) == {}
    await social.refused("POST", f"{base}/demote", alice, 400, BAD, "User IDs must be set.")
    await social.refused(
        "POST",
        f"{base}/add?user_ids={uuid.uuid4()}",
        alice,
        400,
        BAD,
        "One or more users not found.",
    )

    assert await social.ok("POST", f"{base}/add?user_ids={bob.id}&user_ids={carol.id}", alice) == {}
    content = {"group_id": group["id"], "name": "Guild"}
    assert social.notifier.take() == [
        (bob.id, -4, "You've been added to group Guild", content, alice.id),
        (carol.id, -4, "You've been added to group Guild", content, alice.id),
    ]
    await social.refused(
        "POST", f"{base}/add?user_ids={dave.id}", alice, 400, BAD, "Group is full."
    )
    await social.refused("POST", f"{base}/add?user_ids={dave.id}", bob, *denied)

    assert await social.ok("POST", f"{base}/promote?user_ids={bob.id}", alice) == {}
    assert await social.ok("POST", f"{base}/kick?user_ids={carol.id}", bob) == {}
    assert await social.ok("POST", f"{base}/ban?user_ids={alice.id}", bob) == {}  # Outranked.
    assert await social.ok("POST", f"{base}/demote?user_ids={bob.id}", alice) == {}
    await social.ok("POST", f"{base}/add?user_ids={carol.id}", alice)
    assert await social.ok("POST", f"{base}/ban?user_ids={carol.id}", alice) == {}
    members = (await social.ok("GET", f"{base}/user", alice))["group_users"]
    assert [(m["user"]["username"], m["state"]) for m in members] == [("alice", 0), ("bob", 2)]
    banned = (await social.ok("GET", f"{base}/user?state=4", alice))["group_users"]
    assert [(m["user"]["username"], m["state"]) for m in banned] == [("carol", 4)]


@pytest_twisted.ensureDeferred
async def test_list_group_users_and_user_groups(social):
    alice, bob = await social.player("alice"), await social.player("bob")
    social.online.add(bob.id)
    group = await create(social, alice, name="G", open=True)
    await social.ok("POST", f"/v2/group/{group['id']}/join", bob)
    await social.ok("POST", f"/v2/friend?ids={bob.id}", alice)

    page = await social.ok("GET", f"/v2/group/{group['id']}/user?limit=1", bob)
    (first,) = page["group_users"]
    assert (first["user"]["username"], first["state"], first["user"]["edge_count"]) == (
        "alice",
        0,
        1,
    )
    assert "online" not in first["user"]
    rest = await social.ok("GET", f"/v2/group/{group['id']}/user?cursor={page['cursor']}", bob)
    (second,) = rest["group_users"]
    assert (second["user"]["id"], second["state"], second["user"]["online"]) == (bob.id, 2, True)
    assert "cursor" not in rest

    listed = await social.ok("GET", f"/v2/user/{bob.id}/group", alice)
    (entry,) = listed["user_groups"]
    assert entry["state"] == 2 and entry["group"]["id"] == group["id"]
    assert entry["group"]["edge_count"] == 2
    assert await social.ok("GET", f"/v2/user/{bob.id}/group?state=0", alice) == {}

    for path in (f"/v2/group/{group['id']}/user", f"/v2/user/{bob.id}/group"):
        await social.refused(
            "GET",
            f"{path}?limit=101",
            bob,
            400,
            BAD,
            "Invalid limit - limit must be between 1 and 100.",
        )
        await social.refused(
            "GET",
            f"{path}?state=5",
            bob,
            400,
            BAD,
            "Invalid state - state must be between 0 and 4.",
        )
        await social.refused("GET", f"{path}?cursor=x", bob, 400, BAD, "Cursor is invalid.")
    await social.refused("GET", "/v2/group/x/user", bob, 400, BAD, "Group ID must be a valid ID.")
    # Nakama's own message for a malformed user id here.
    await social.refused("GET", "/v2/user/x/group", bob, 400, BAD, "Group ID must be a valid ID.")


@pytest_twisted.ensureDeferred
async def test_list_groups(social):
    alice = await social.player("alice")
    for name in ("Alpha", "Alpine", "Beta"):
        await create(social, alice, name=name, open=name != "Beta")
    first = await social.ok("GET", "/v2/group?name=alp%25", alice)
    assert [g["name"] for g in first["groups"]] == ["Alpha"]  # Nakama's default limit: 1.
    rest = await social.ok("GET", f"/v2/group?name=alp%25&limit=10&cursor={first['cursor']}", alice)
    assert [g["name"] for g in rest["groups"]] == ["Alpine"] and "cursor" not in rest
    closed = await social.ok("GET", "/v2/group?open=false&limit=10", alice)
    assert [g["name"] for g in closed["groups"]] == ["Beta"]
    assert len((await social.ok("GET", "/v2/group?members=1&limit=100", alice))["groups"]) == 3

    combined = "name filter cannot be combined with any other filter"
    await social.refused("GET", "/v2/group?name=a&open=true", alice, 400, BAD, combined)
    await social.refused("GET", "/v2/group?name=a&members=3", alice, 400, BAD, combined)
    await social.refused(
        "GET",
        "/v2/group?limit=0",
        alice,
        400,
        BAD,
        "Invalid limit - limit must be between 1 and 100.",
    )
    await social.refused("GET", "/v2/group?cursor=x", alice, 400, BAD, "Malformed cursor was used.")
    await social.refused(
        "GET",
        "/v2/group?open=maybe",
        alice,
        400,
        BAD,
        'parsing field "open": strconv.ParseBool: parsing "maybe": invalid syntax',
    )


@pytest_twisted.ensureDeferred
async def test_routing(social):
    alice = await social.player("alice")
    group_id = (await create(social, alice, name="G"))["id"]
    not_allowed = (501, Code.UNIMPLEMENTED, "Method Not Allowed")
    await social.refused("GET", f"/v2/group/{group_id}/join", alice, *not_allowed)
    await social.refused("GET", f"/v2/group/{group_id}", alice, *not_allowed)
    await social.refused("GET", "/v2/friend/block", alice, *not_allowed)
    await social.refused(
        "POST", f"/v2/group/{group_id}/nothing", alice, 404, Code.NOT_FOUND, "Not Found"
    )
    await social.refused("POST", "/v2/group//join", alice, 404, Code.NOT_FOUND, "Not Found")
    reply = await social.server.call("POST", f"/v2/group/{group_id}/join", auth=basic())
    assert (reply.status, reply.body) == (401, error(Code.UNAUTHENTICATED, "Auth token invalid"))
