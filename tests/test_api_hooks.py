"""Before and after hooks on the HTTP API calls (Nakama's ``RegisterBeforeWriteStorageObjects``...),
over a real listening Site, on both storage backends."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
import pytest_twisted
from storage_fixtures import ShiftedReactor, start_test_storage
from test_api import BASE_CONFIG, MAX_BODY, Server, basic, claims, error, read_response
from test_social_api import Player
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.logger import LogLevel, formatEvent, globalLogPublisher
from twisted.web.client import Agent
from twisted.web.resource import Resource
from twisted.web.server import Site

from nakama_rt.api import ApiContext, Code, body_limited_request_factory, build_api
from nakama_rt.api.hooks import METHODS, ApiHooks
from nakama_rt.api.http import NO_BODY, Call, JsonResource, Route
from nakama_rt.api.social_http import query_list
from nakama_rt.auth.session_cache import SessionCache
from nakama_rt.runtime import ExecutionMode, Initializer, NakamaError, Runtime
from nakama_rt.runtime.initializer import API_HOOKS

NK = object()  # what hooks get as ``nk``


@dataclass
class Hooked:
    """A listening API whose runtime's initializer takes hooks while it runs."""

    server: Server
    init: Initializer
    runtime: Runtime
    #: Every hook call: (name, kind, ctx, args after nk).
    calls: list[tuple[str, str, Any, tuple[Any, ...]]] = field(default_factory=list)
    _count: int = 0

    async def player(self, name: str) -> Player:
        body = await self.server.session("custom", {"id": f"custom-{name}"}, f"?username={name}")
        return Player(claims(body["token"])["uid"], name, "Bearer " + body["token"])

    async def call(self, method: str, path: str, who: Player | None, body: Any = None):
        return await self.server.call(method, path, body, auth=who.auth if who else basic())

    def before(self, name: str, change: Any = None) -> None:
        """A before hook on ``name`` that records its call and returns ``change(in_)``
        (the request unchanged when ``change`` is None)."""

        def hook(ctx, logger, nk, in_):
            assert nk is NK
            self.calls.append((name, "before", ctx, (orjson.loads(orjson.dumps(in_)),)))
            return in_ if change is None else change(in_)

        self.init.register_before_api(name, hook)

    def after(self, name: str, fail: bool = False) -> None:
        def hook(ctx, logger, nk, out, in_):
            self.calls.append((name, "after", ctx, (out, in_)))
            if fail:
                raise RuntimeError("after hook broke")

        self.init.register_after_api(name, hook)

    def seen(self, kind: str) -> list[tuple[str, Any, tuple[Any, ...]]]:
        return [(name, ctx, args) for name, k, ctx, args in self.calls if k == kind]


@pytest_twisted.async_yield_fixture
async def hooked(storage_kind, tmp_path):
    clock = ShiftedReactor()
    opened = await start_test_storage(storage_kind, tmp_path, clock)
    context = ApiContext(
        reactor=clock,
        config=BASE_CONFIG,
        storage=opened.storage,
        session_cache=SessionCache(BASE_CONFIG.session, clock),
        bcrypt_cost=4,
        list_matches=lambda match_filter: [],
        list_parties=lambda limit, open, query, cursor: ([], ""),
        matchmaker_stats=lambda: SimpleNamespace(
            ticket_count=0, oldest_ticket_create_time=None, completions=()
        ),
    )
    init = Initializer()
    runtime = Runtime(initializer=init, nk=NK)
    root = Resource()
    root.putChild(b"v2", build_api(context, runtime))
    site = Site(root, requestFactory=body_limited_request_factory(MAX_BODY))
    port = reactor.listenTCP(0, site, interface="127.0.0.1")
    server = Server(f"http://127.0.0.1:{port.getHost().port}", context, clock)
    yield Hooked(server, init, runtime)
    await port.stopListening()
    await opened.close()


@pytest.fixture
def logged():
    """twisted.logger events of nakama_rt while the test runs."""
    events: list[dict[str, Any]] = []
    globalLogPublisher.addObserver(events.append)
    yield events
    globalLogPublisher.removeObserver(events.append)


def lines(events: list[dict[str, Any]], level: LogLevel) -> list[str]:
    return [
        formatEvent(event)
        for event in events
        if event["log_level"] == level and event.get("log_namespace", "").startswith("nakama_rt")
    ]


async def turn() -> None:
    """Let the reactor run what the last answer left for later (after hooks)."""
    done: Deferred[None] = Deferred()
    reactor.callLater(0.01, done.callback, None)
    await done


OBJ = {"collection": "c", "key": "k", "value": '{"v": 1}'}
DISABLED = (404, error(Code.NOT_FOUND, "Requested resource was not found."))


# Changing the request ----------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_a_before_hook_rewrites_a_storage_write(hooked):
    alice = await hooked.player("alice")

    def more(in_):
        (obj,) = in_["objects"]
        obj["value"] = '{"v": 2}'
        obj["permission_read"] = 2
        return in_

    hooked.before("WriteStorageObjects", more)
    reply = await hooked.call(
        "PUT", "/v2/storage", alice, {"objects": [{**OBJ, "permissionRead": 1}]}
    )
    assert reply.status == 200, reply.body
    # The hook got the message as protojson: proto field names, the wrapper as a number.
    ((name, ctx, (in_,)),) = hooked.seen("before")
    assert name == "WriteStorageObjects"
    assert in_ == {"objects": [{**OBJ, "permission_read": 1}]}
    assert ctx.execution_mode == ExecutionMode.BEFORE
    assert (ctx.user_id, ctx.username) == (alice.id, "alice")
    read = await hooked.call(
        "POST", "/v2/storage", alice, {"object_ids": [{**OBJ, "user_id": alice.id}]}
    )
    (stored,) = read.body["objects"]
    assert (orjson.loads(stored["value"]), stored["permission_read"]) == ({"v": 2}, 2)


@pytest_twisted.ensureDeferred
async def test_a_before_hook_rewrites_an_account_update(hooked):
    alice = await hooked.player("alice")
    hooked.before("update_account", lambda in_: {**in_, "display_name": "Queen Alice"})
    reply = await hooked.call("PUT", "/v2/account", alice, {"displayName": "alice"})
    assert (reply.status, reply.body) == (200, {})
    assert hooked.seen("before")[0][2] == ({"display_name": "alice"},)
    account = await hooked.call("GET", "/v2/account", alice)
    assert account.body["user"]["display_name"] == "Queen Alice"


@pytest_twisted.ensureDeferred
async def test_what_the_hook_returns_is_checked_as_a_clients_request(hooked):
    alice = await hooked.player("alice")
    # Query fields: typed as the message has them; the handler checks the rewritten ones.
    hooked.before("ListFriends", lambda in_: {**in_, "limit": 0})
    reply = await hooked.call("GET", "/v2/friend?limit=5&cursor=", alice)
    assert hooked.seen("before")[0][2] == ({"limit": 5},)
    assert (reply.status, reply.body) == (
        400,
        error(Code.INVALID_ARGUMENT, "Invalid limit - limit must be between 1 and 1000."),
    )
    hooked.before("UpdateAccount", lambda in_: {})
    reply = await hooked.call("PUT", "/v2/account", alice, {"display_name": "a"})
    assert (reply.status, reply.body) == (400, error(Code.INVALID_ARGUMENT, "No fields to update."))


@pytest_twisted.ensureDeferred
async def test_path_and_repeated_query_fields(hooked):
    alice, bob = await hooked.player("alice"), await hooked.player("bob")
    group = await hooked.call("POST", "/v2/group", alice, {"name": "g", "open": True})
    group_id = group.body["id"]
    # The path's group id: the hook sends the call to another group.
    hooked.before("JoinGroup", lambda in_: {"group_id": group_id})
    reply = await hooked.call("POST", f"/v2/group/{uuid.uuid4()}/join", bob)
    assert (reply.status, reply.body) == (200, {})
    users = await hooked.call("GET", f"/v2/group/{group_id}/user", alice)
    assert {m["user"]["username"] for m in users.body["group_users"]} == {"alice", "bob"}
    # Repeated query fields are lists; an emptied list leaves nobody to add.
    hooked.before("AddFriends", lambda in_: {**in_, "usernames": []})
    reply = await hooked.call("POST", "/v2/friend?usernames=bob&usernames=carol", alice)
    assert (reply.status, reply.body) == (200, {})
    assert hooked.seen("before")[-1][2] == ({"usernames": ["bob", "carol"]},)
    assert "friends" not in (await hooked.call("GET", "/v2/friend", alice)).body
    # GET /v2/storage/delete lists the collection named "delete", which a hook may change.
    hooked.before("ListStorageObjects", lambda in_: {**in_, "collection": "c", "limit": 2})
    await hooked.call("PUT", "/v2/storage", alice, {"objects": [OBJ]})
    listed = await hooked.call("GET", f"/v2/storage/delete?user_id={alice.id}", alice)
    assert hooked.seen("before")[-1][2] == ({"collection": "delete", "user_id": alice.id},)
    assert [o["key"] for o in listed.body["objects"]] == ["k"]


@pytest_twisted.ensureDeferred
async def test_json_type_errors_are_answered_before_the_hook(hooked):
    alice = await hooked.player("alice")
    hooked.before("WriteStorageObjects")
    hooked.before("ListFriends")
    reply = await hooked.call("PUT", "/v2/storage", alice, {"objects": 5})
    assert (reply.status, reply.body) == (
        400,
        error(Code.INVALID_ARGUMENT, 'Invalid value for field "objects": not an array of objects.'),
    )
    reply = await hooked.call("GET", "/v2/friend?limit=ten", alice)
    assert (reply.status, reply.body) == (
        400,
        error(
            Code.INVALID_ARGUMENT,
            'parsing field "limit": strconv.ParseInt: parsing "ten": invalid syntax',
        ),
    )
    assert hooked.calls == []


# Refusing the request ----------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_none_disables_the_call(hooked):
    alice = await hooked.player("alice")
    hooked.before("WriteStorageObjects", lambda in_: None)
    hooked.after("WriteStorageObjects")
    reply = await hooked.call("PUT", "/v2/storage", alice, {"objects": [OBJ]})
    assert (reply.status, reply.body) == DISABLED
    await turn()
    assert hooked.seen("after") == []
    listed = await hooked.call("GET", f"/v2/storage/c/{alice.id}", alice)
    assert listed.body == {}


@pytest_twisted.ensureDeferred
async def test_errors_from_a_before_hook(hooked, logged):
    alice = await hooked.player("alice")
    raised: list[Exception] = []

    def refuse(ctx, logger, nk, in_):
        raise raised[-1]

    hooked.init.register_before_join_group(refuse)
    answers = []
    for exception in (
        NakamaError("Members only.", 7),
        NakamaError("Bad code.", 99),
        ValueError("plain error"),
    ):
        raised.append(exception)
        reply = await hooked.call("POST", f"/v2/group/{uuid.uuid4()}/join", alice)
        answers.append((reply.status, reply.body))
    assert answers == [
        (403, error(Code.PERMISSION_DENIED, "Members only.")),
        (500, error(Code.INTERNAL, "Bad code.")),
        # Nakama's rule for an error without a code: 13, with its message.
        (500, error(Code.INTERNAL, "plain error")),
    ]
    # The unexpected one is logged with its traceback.
    failures = [e for e in logged if e.get("log_failure") is not None]
    assert [f["log_failure"].type for f in failures] == [ValueError]


@pytest_twisted.ensureDeferred
async def test_what_is_not_a_request_is_a_logged_500(hooked, logged):
    alice = await hooked.player("alice")
    hooked.before("ListFriends", lambda in_: ["not", "a", "dict"])
    hooked.before("AddFriends", lambda in_: {"ids": "not-a-list"})
    internal = (500, error(Code.INTERNAL, "Internal Server Error"))
    reply = await hooked.call("GET", "/v2/friend", alice)
    assert (reply.status, reply.body) == internal
    reply = await hooked.call("POST", f"/v2/friend?ids={uuid.uuid4()}", alice)
    assert (reply.status, reply.body) == internal
    failures = [formatEvent(e) for e in logged if e.get("log_failure") is not None]
    assert failures == ["before hook of ListFriends failed"]
    assert "must return the request (a dict) or None, not list" in str(
        [e["log_failure"].value for e in logged if e.get("log_failure") is not None]
    )
    assert lines(logged, LogLevel.error)[-1] == (
        'before hook of AddFriends returned an invalid request: Invalid value for field "ids":'
        " not an array of strings."
    )


# After hooks -------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_an_after_hook_sees_the_answer_and_the_request(hooked):
    alice = await hooked.player("alice")
    hooked.before("WriteStorageObjects", lambda in_: {"objects": [{**OBJ, "key": "other"}]})
    hooked.after("WriteStorageObjects")
    hooked.after("UpdateAccount")
    reply = await hooked.call("PUT", "/v2/storage", alice, {"objects": [OBJ]})
    await turn()
    ((name, ctx, (out, in_)),) = hooked.seen("after")
    assert name == "WriteStorageObjects" and out == reply.body
    assert in_ == {"objects": [{**OBJ, "key": "other"}]}  # the request as served
    assert (ctx.execution_mode, ctx.user_id, ctx.username) == (
        ExecutionMode.AFTER,
        alice.id,
        "alice",
    )
    # One trace id per request (a UUID, as Nakama's), the same before and after.
    ((_, before_ctx, _),) = hooked.seen("before")
    assert ctx.trace_id == before_ctx.trace_id == str(uuid.UUID(ctx.trace_id))
    # Nakama answers UpdateAccount with Empty: no ``out``.
    await hooked.call("PUT", "/v2/account", alice, {"location": "Paris"})
    await turn()
    assert hooked.seen("after")[-1][2] == (None, {"location": "Paris"})


@pytest_twisted.ensureDeferred
async def test_the_after_hook_neither_delays_nor_fails_the_answer(hooked, logged):
    alice = await hooked.player("alice")
    never: Deferred[None] = Deferred()
    hooked.init.register_after_get_account(lambda ctx, logger, nk, out, in_: never)
    reply = await hooked.call("GET", "/v2/account", alice)
    assert reply.status == 200 and reply.body["user"]["username"] == "alice"
    hooked.after("ListFriends", fail=True)
    reply = await hooked.call("GET", "/v2/friend", alice)
    assert (reply.status, reply.body) == (200, {})
    await turn()
    failures = [formatEvent(e) for e in logged if e.get("log_failure") is not None]
    assert failures == ["after hook of ListFriends failed"]
    never.callback(None)


@pytest_twisted.ensureDeferred
async def test_async_hooks(hooked):
    alice = await hooked.player("alice")

    async def before(ctx, logger, nk, in_):
        later: Deferred[str] = Deferred()
        reactor.callLater(0, later.callback, "Async Alice")
        return {**in_, "display_name": await later}

    seen = []

    async def after(ctx, logger, nk, out, in_):
        seen.append(in_)

    hooked.init.register_before_api("UpdateAccount", before)
    hooked.init.register_after_api("UpdateAccount", after)
    reply = await hooked.call("PUT", "/v2/account", alice, {"display_name": "alice"})
    assert (reply.status, reply.body) == (200, {})
    await turn()
    assert seen == [{"display_name": "Async Alice"}]
    account = await hooked.call("GET", "/v2/account", alice)
    assert account.body["user"]["display_name"] == "Async Alice"


# Context -----------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_authenticate_hooks_see_no_user_before_and_the_new_session_after(hooked):
    hooked.before("AuthenticateCustom", lambda in_: {**in_, "username": "renamed"})
    hooked.after("AuthenticateCustom")
    reply = await hooked.server.authenticate(
        "custom", {"id": "custom-hooked", "vars": {"k": "v"}}, "?username=given&create=true"
    )
    assert reply.status == 200
    await turn()
    ((_, before, (in_,)),) = hooked.seen("before")
    assert in_ == {
        "account": {"id": "custom-hooked", "vars": {"k": "v"}},
        "create": True,
        "username": "given",
    }
    assert (before.user_id, before.username, before.vars, before.expiry) == (None, None, {}, None)
    assert before.client_ip == "127.0.0.1" and before.client_port
    assert dict(before.headers) == {} and before.session_id is None
    token = claims(reply.body["token"])
    assert token["usn"] == "renamed"
    ((_, after, (out, served)),) = hooked.seen("after")
    assert out == reply.body and served["username"] == "renamed"
    assert (after.user_id, after.username, dict(after.vars), after.expiry) == (
        token["uid"],
        "renamed",
        {"k": "v"},
        token["exp"],
    )


@pytest_twisted.ensureDeferred
async def test_an_empty_request_gives_none_and_only_an_error_counts(hooked):
    alice = await hooked.player("alice")
    hooked.before("GetAccount", lambda in_: None)  # no request to disable: ignored
    hooked.after("GetAccount")
    reply = await hooked.call("GET", "/v2/account", alice)
    assert reply.status == 200
    await turn()
    assert hooked.seen("before")[0][2] == (None,)
    ((_, ctx, (out, in_)),) = hooked.seen("after")
    assert (out, in_) == (reply.body, None)
    assert ctx.vars == {} and ctx.expiry == claims(alice.auth[7:])["exp"]

    def refuse(ctx, logger, nk, in_):
        raise NakamaError("Stats are private.", 7)

    hooked.init.register_before_get_matchmaker_stats(refuse)
    reply = await hooked.call("GET", "/v2/matchmaker/stats", alice)
    assert (reply.status, reply.body) == (403, error(Code.PERMISSION_DENIED, "Stats are private."))


# Registration ------------------------------------------------------------------------------


def test_registration_by_name_and_nakamas_spellings():
    init = Initializer()

    def fn(*args):
        return None

    init.register_before_api("WriteStorageObjects", fn)
    init.register_after_api("write_storage_objects", fn)
    init.register_before_list_leaderboard_records_around_owner(fn)
    init.register_after_authenticate_device(fn)
    assert set(init.before_api) == {"WriteStorageObjects", "ListLeaderboardRecordsAroundOwner"}
    assert set(init.after_api) == {"WriteStorageObjects", "AuthenticateDevice"}
    with pytest.raises(ValueError, match="already registered"):
        init.register_before_write_storage_objects(fn)
    with pytest.raises(ValueError, match="already registered"):
        init.register_after_api("WriteStorageObjects", fn)
    with pytest.raises(ValueError, match=r"'WriteStorage' is not an API call .*one of: AddFriends"):
        init.register_before_api("WriteStorage", fn)
    with pytest.raises(ValueError, match="not an API call"):
        init.register_after_api("RpcFunc", fn)
    with pytest.raises(TypeError, match="must be callable"):
        init.register_before_api("ReadStorageObjects", "fn")
    with pytest.raises(AttributeError):
        init.register_before_write_storage(fn)
    with pytest.raises(AttributeError):
        init.register_during_write_storage_objects(fn)
    assert not hasattr(init, "register_before_nothing")
    # The socket messages' hooks keep their own names.
    init.register_before_rt("channel_join", fn)
    assert set(init.before_rt) == {"channel_join"}


@pytest_twisted.ensureDeferred
async def test_every_route_names_a_known_call(hooked):
    api = hooked.server  # built by the fixture: build_api checked every route's name
    assert api is not None
    assert set(METHODS) == API_HOOKS
    from nakama_rt import api as api_package

    routes = [
        route
        for module in (
            "account",
            "authenticate",
            "chat",
            "friends",
            "groups",
            "link",
            "match",
            "matchmaker",
            "party",
            "session_tokens",
            "storage",
            "users",
        )
        for route in getattr(api_package, module).ROUTES
    ]
    assert all(route.hook in API_HOOKS for route in routes)
    leaderboards = {
        "WriteLeaderboardRecord",
        "DeleteLeaderboardRecord",
        "ListLeaderboardRecords",
        "ListLeaderboardRecordsAroundOwner",
    }
    assert API_HOOKS - {route.hook for route in routes} == leaderboards
    bad = Route(b"GET", (b"x",), lambda *args: None, auth="none", hook="Nothing")
    with pytest.raises(ValueError, match="names 'Nothing'"):
        ApiHooks(hooked.server.context, hooked.runtime).check([bad])
    wrong_path = Route(b"GET", (b"x", b"{who}"), lambda *args: None, auth="none", hook="GetUsers")
    with pytest.raises(ValueError, match="GetUsers has no field 'who'"):
        ApiHooks(hooked.server.context, hooked.runtime).check([wrong_path])


# A route with no hook ----------------------------------------------------------------------


async def raw(server: Server, method: str, path: str, auth: str, body: Any = None):
    """The whole answer: status, headers and body bytes."""
    from io import BytesIO

    from twisted.web.client import FileBodyProducer
    from twisted.web.http_headers import Headers

    sent = Headers({"authorization": [auth]})
    producer = None
    if body is not None:
        data = body if isinstance(body, bytes) else orjson.dumps(body)
        producer = FileBodyProducer(BytesIO(data))
    response = await Agent(reactor).request(
        method.encode(), (server.url + path).encode(), sent, producer
    )
    headers = sorted(
        (name, values)
        for name, values in response.headers.getAllRawHeaders()
        if name.lower() != b"date"
    )
    return response.code, headers, await read_response(response)


@pytest_twisted.ensureDeferred
async def test_hooks_that_change_nothing_change_no_answer(hooked):
    alice = await hooked.player("alice")
    group_id, missing = str(uuid.uuid4()), str(uuid.uuid4())
    me = alice.id
    requests: list[tuple[str, str, Any, Any]] = [
        ("PUT", "/v2/account", alice, {"display_name": "x", "timezone": ""}),
        ("GET", "/v2/account", alice, None),
        ("PUT", "/v2/account", alice, {}),
        ("PUT", "/v2/account", alice, b""),
        ("PUT", "/v2/account", alice, {"username": ""}),
        ("PUT", "/v2/account", alice, {"display_name": 5}),
        ("GET", "/v2/friend?limit=0", alice, None),
        ("GET", "/v2/friend?limit=5&state=1", alice, None),
        ("POST", "/v2/friend?ids=not-a-uuid", alice, None),
        ("POST", f"/v2/friend?ids={me}", alice, None),
        ("DELETE", "/v2/friend?usernames=nobody", alice, None),
        ("POST", "/v2/friend/block", alice, None),
        ("GET", "/v2/group?limit=5&name=zz", alice, None),
        ("GET", "/v2/group?name=zz&open=true", alice, None),
        ("POST", "/v2/group", alice, {"name": ""}),
        ("POST", "/v2/group", alice, {"name": "g", "max_count": -1}),
        ("POST", "/v2/group", alice, {"name": "g", "open": "yes"}),
        ("PUT", "/v2/group/not-a-uuid", alice, {"name": "x"}),
        ("PUT", f"/v2/group/{group_id}", alice, {"name": ""}),
        ("DELETE", f"/v2/group/{missing}", alice, None),
        ("POST", f"/v2/group/{missing}/join", alice, None),
        ("POST", f"/v2/group/{missing}/leave", alice, None),
        ("POST", f"/v2/group/{missing}/add?user_ids=bad", alice, None),
        ("POST", f"/v2/group/{missing}/kick?user_ids={me}", alice, None),
        ("POST", f"/v2/group/{missing}/demote", alice, None),
        ("GET", f"/v2/group/{missing}/user?limit=1000", alice, None),
        ("GET", f"/v2/user/{me}/group?state=1", alice, None),
        ("GET", "/v2/channel/bad", alice, None),
        ("GET", "/v2/notification?limit=5", alice, None),
        ("DELETE", "/v2/notification?ids=x&ids=y", alice, None),
        ("GET", "/v2/match?limit=5&authoritative=true&label=x", alice, None),
        ("GET", "/v2/party?limit=500", alice, None),
        ("GET", "/v2/matchmaker/stats", alice, None),
        ("PUT", "/v2/storage", alice, {"objects": [{**OBJ, "permission_read": 3}]}),
        ("PUT", "/v2/storage", alice, {"objects": [{**OBJ, "value": "[]"}]}),
        ("PUT", "/v2/storage", alice, b""),
        ("POST", "/v2/storage", alice, {"object_ids": [{**OBJ, "user_id": me}]}),
        ("POST", "/v2/storage", alice, {"objectIds": [{"collection": "c"}]}),
        ("PUT", "/v2/storage/delete", alice, {"object_ids": [{"collection": "c", "key": "k"}]}),
        ("GET", "/v2/storage/c?limit=0", alice, None),
        ("GET", f"/v2/storage/c/{me}?limit=5", alice, None),
        ("GET", "/v2/storage/delete?user_id=bad", alice, None),
        ("GET", "/v2/user?ids=bad", alice, None),
        ("GET", "/v2/user?usernames=alice", alice, None),
        ("POST", "/v2/account/link/device", alice, {"id": "short"}),
        ("POST", "/v2/account/unlink/email", alice, {"email": "x@example.com"}),
        ("POST", "/v2/account/unlink/device", alice, {}),
        ("POST", "/v2/session/logout", alice, {"refresh_token": "garbage"}),
        ("POST", "/v2/account/session/refresh", None, {"token": "bad"}),
        ("POST", "/v2/account/authenticate/custom", None, {"id": "x"}),
        ("POST", "/v2/account/authenticate/custom?create=false", None, {"id": "unknown-id"}),
        ("POST", "/v2/account/authenticate/email", None, b""),
        ("POST", "/v2/account/authenticate/email", None, {"email": "nobody", "password": "p"}),
        ("POST", "/v2/account/authenticate/device?username=", None, {"id": "d" * 9}),
    ]

    async def answers() -> list[Any]:
        return [
            await raw(hooked.server, method, path, who.auth if who else basic(), body)
            for method, path, who, body in requests
        ]

    unhooked = await answers()
    for name in API_HOOKS:
        hooked.before(name)
        hooked.after(name)
    assert await answers() == unhooked
    await turn()
    called = {name for name, kind, _, _ in hooked.calls}
    assert len(called) > 35  # most calls got through to their hooks


# Any route naming a call -------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_a_route_that_names_a_call_gets_its_hooks(hooked):
    """The hooks need nothing but the name: a body that fills one field (``record``),
    64-bit integers as strings, an enum by name."""

    async def write(ctx, call: Call, leaderboard_id: str) -> dict[str, Any]:
        body = call.json_body(None)
        return {
            "id": leaderboard_id,
            "empty": call.body_empty,
            "body": body if body is not NO_BODY else None,
        }

    async def listing(ctx, call: Call, leaderboard_id: str) -> dict[str, Any]:
        return {"owners": query_list(call, "owner_ids"), "expiry": query_list(call, "expiry")}

    context = hooked.server.context
    routes = [
        Route(
            b"POST",
            (b"lb", b"{leaderboard_id}"),
            write,
            auth="bearer",
            hook="WriteLeaderboardRecord",
        ),
        Route(
            b"GET",
            (b"lb", b"{leaderboard_id}"),
            listing,
            auth="bearer",
            hook="ListLeaderboardRecords",
        ),
    ]
    root = Resource()
    root.putChild(
        b"v2", JsonResource(context, routes, MAX_BODY, hooks=ApiHooks(context, hooked.runtime))
    )
    port = reactor.listenTCP(0, Site(root), interface="127.0.0.1")
    server = Server(f"http://127.0.0.1:{port.getHost().port}", context, hooked.server.clock)
    try:
        alice = await hooked.player("alice")

        def double(in_):
            record = in_["record"]
            return {
                **in_,
                "record": {**record, "score": int(record["score"]) * 2, "operator": "SET"},
            }

        hooked.before("WriteLeaderboardRecord", double)
        reply = await server.call(
            "POST", "/v2/lb/board", {"score": "21", "operator": 1}, alice.auth
        )
        assert hooked.seen("before")[-1][2] == (
            {"leaderboard_id": "board", "record": {"score": "21", "operator": "BEST"}},
        )
        assert reply.body == {
            "id": "board",
            "empty": False,
            "body": {"score": "42", "operator": "SET"},
        }
        # No body: the record is unset, for the hook and for the handler.
        hooked.init.before_api.pop("WriteLeaderboardRecord")
        hooked.before("WriteLeaderboardRecord", lambda in_: {**in_, "leaderboard_id": "other"})
        reply = await server.call("POST", "/v2/lb/board", None, alice.auth)
        assert hooked.seen("before")[-1][2] == ({"leaderboard_id": "board"},)
        assert reply.body == {"id": "other", "empty": True, "body": None}

        hooked.before("ListLeaderboardRecords", lambda in_: {**in_, "owner_ids": [alice.id]})
        reply = await server.call(
            "GET", "/v2/lb/board?owner_ids=x&owner_ids=y&expiry=123", None, alice.auth
        )
        assert hooked.seen("before")[-1][2] == (
            {"leaderboard_id": "board", "owner_ids": ["x", "y"], "expiry": "123"},
        )
        assert reply.body == {"owners": [alice.id], "expiry": ["123"]}
    finally:
        await port.stopListening()
