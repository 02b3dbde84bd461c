"""Hostile clients (issue 13): bad input is the client's mistake, on SQLite and PostgreSQL.

Every case is sent to a real server and checked for its exact answer: a 4xx with
Nakama's error body over HTTP, a ``BAD_INPUT`` Error over the socket, the same on
both backends. Nothing a client sends may log a traceback or anything at error
level; what it got wrong is counted in ``nakama_rt_client_errors_total``.
"""

from __future__ import annotations

import base64
import dataclasses
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import pytest_twisted
from google.protobuf.descriptor import FieldDescriptor
from storage_fixtures import _admin, postgres_address
from twisted.internet import reactor, threads
from twisted.logger import LogLevel, formatEvent, globalLogPublisher
from twisted.web.server import Site

from nakama_rt.api import body_limited_request_factory, build_api
from nakama_rt.app import NakamaRT
from nakama_rt.config import DatabaseConfig
from nakama_rt.logs import set_level
from nakama_rt.web.resources import build_root
from nakama_rt.wire.proto import realtime_pb2
from tests.conftest import make_config
from tests.wsclient import SERVER_KEY, SocketClient, authenticate, connect, http, wait_for

INT64_MAX = 2**63 - 1


@dataclass
class Hostile:
    """A whole server on one backend, its API counting into the server's counts."""

    app: NakamaRT
    port: int
    events: list[dict[str, Any]] = field(default_factory=list)

    async def player(self, name: str) -> tuple[str, str]:
        """A new user's (id, token)."""
        token = (await authenticate(self.port, f"hostile-{name}", username=name))["token"]
        account = await http(self.port, "GET", "/v2/account", bearer=token)
        return account.json()["user"]["id"], token

    async def call(self, method: str, path: str, token: str, body: Any = None) -> tuple:
        answer = await http(self.port, method, path, body=body, bearer=token)
        return answer.status, answer.json()

    def sample(self, kind: str, code: int) -> float:
        value = self.app.metrics_registry.get_sample_value(
            "nakama_rt_client_errors_total", {"kind": kind, "code": str(code)}
        )
        return value or 0.0

    def assert_quiet(self) -> None:
        """No traceback and nothing at error level or above was logged."""
        loud = [
            (event["log_level"].name, event.get("log_format"))
            for event in self.events
            if event.get("log_failure") is not None or event["log_level"] >= LogLevel.error
        ]
        assert loud == []


@pytest_twisted.async_yield_fixture
async def hostile(storage_kind, tmp_path):
    config = make_config(tmp_path, logger={"level": "debug"})
    schema = None
    if storage_kind == "postgresql":
        schema = f"nrt_test_{uuid.uuid4().hex}"
        await threads.deferToThread(_admin, f"CREATE SCHEMA {schema}")
        config = dataclasses.replace(config, database=DatabaseConfig(postgres_address(schema)))
    app = NakamaRT(config, reactor, bcrypt_cost=4)
    await app.start()
    # The API counts into the server's counts, which the metrics read.
    context = dataclasses.replace(app.api_context, counts=app.server.counts)
    api = build_api(context, app.server.runtime)
    root = build_root(app.socket_resource, api, app.healthcheck_resource)
    limit = config.socket.max_request_size_bytes
    site = Site(root, requestFactory=body_limited_request_factory(limit))
    listening = reactor.listenTCP(0, site, interface="127.0.0.1")
    running = Hostile(app, listening.getHost().port)
    globalLogPublisher.addObserver(running.events.append)
    try:
        yield running
    finally:
        globalLogPublisher.removeObserver(running.events.append)
        set_level("info")
        await listening.stopListening()
        await app.stop()
        if schema is not None:
            await threads.deferToThread(_admin, f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def error(message: str, code: int = 3) -> dict[str, Any]:
    return {"code": code, "message": message}


def raw_object(**fields: Any) -> str:
    """JSON object text from field values given as JSON text (any number, however big)."""
    return "{" + ",".join(f'"{name}":{value}' for name, value in fields.items()) + "}"


def cursor(json_text: str) -> str:
    """A cursor as a client could forge it: any JSON text, base64url, percent-encoded."""
    return quote(base64.urlsafe_b64encode(json_text.encode()).decode())


# 1. Cursors -------------------------------------------------------------------------------

#: Edge-list cursors are ``[state, position]``; each of these is refused.
BAD_EDGE_CURSORS = [
    f"[0,{2**63}]",
    f"[0,{2**64 - 1}]",
    f"[{2**63},0]",
    f"[0,{2**64}]",  # parsed as a float
    "[-1,0]",
    "[0,-1]",
    "[0,1.5]",
    "[9,0]",  # no such edge state
    "[true,0]",
    '[0,"1"]',
    "[[0],1]",
    "[0]",
    "[0,1,2]",
    '{"s":0,"p":0}',
    '"x"',
    "null",
]


@pytest_twisted.ensureDeferred
async def test_forged_cursors_are_refused_on_every_listing(hostile) -> None:
    me, token = await hostile.player("alice")
    group = str(uuid.uuid4())
    before = hostile.sample("http", 400)
    edge_lists = [
        "/v2/friend?cursor={}",
        f"/v2/group/{group}/user?cursor={{}}",
        f"/v2/user/{me}/group?cursor={{}}",
    ]
    cases = [
        (path.format(cursor(text)), "Cursor is invalid.")
        for path in edge_lists
        for text in BAD_EDGE_CURSORS
    ]
    notification = "/v2/notification?cacheable_cursor="
    for t, i in ((2**63, '"x"'), (-1, '"x"'), (1.5, '"x"'), ('"1"', '"x"'), (1, '"x\\u0000"')):
        fields = raw_object(t=t, i=i)
        cases.append((notification + cursor(fields), "Malformed cursor was used."))
        channel = raw_object(m=2, s='""', c='""', l='"lobby"', t=t, i=i, f="true", n="true")
        history = "/v2/channel/2...lobby?cursor=" + cursor(channel)
        cases.append((history, "Cursor is invalid or expired."))
    search = "/v2/group?name=a&cursor=" + cursor('["name","a\\u0000"]')
    cases.append((search, "Malformed cursor was used."))
    for path, message in cases:
        assert await hostile.call("GET", path, token) == (400, error(message)), path
    assert hostile.sample("http", 400) == before + len(cases)

    # The largest position a cursor may hold is BIGINT's: a page past every edge.
    for path in edge_lists:
        last = path.format(cursor(f"[0,{INT64_MAX}]"))
        assert await hostile.call("GET", last, token) == (200, {})
    last = notification + cursor(raw_object(t=INT64_MAX, i='"x"'))
    status, body = await hostile.call("GET", last, token)
    assert (status, body.get("notifications")) == (200, None)
    hostile.assert_quiet()


# 2. NUL characters ------------------------------------------------------------------------


def field_error(name: str) -> dict[str, Any]:
    return error(f'Invalid value for field "{name}": contains a NUL character.')


def query_error(name: str) -> dict[str, Any]:
    return error(f'Invalid value for query parameter "{name}": contains a NUL character.')


def path_error(name: str) -> dict[str, Any]:
    return error(f'Invalid value for path parameter "{name}": contains a NUL character.')


#: A group's text fields, in create and update.
GROUP_TEXT = ("name", "description", "lang_tag", "avatar_url")


def http_nul_cases(group: str, friend: str) -> list[tuple[str, str, Any, dict[str, Any]]]:
    """(method, path, body, answer) for every HTTP text input that reaches the database."""
    cases = []
    for name in GROUP_TEXT:
        body = {"name": "Knights", name: "a\x00b"}
        cases.append(("POST", "/v2/group", body, field_error(name)))
        cases.append(("PUT", f"/v2/group/{group}", {name: "a\x00b"}, field_error(name)))
    for method, path in (("POST", "/v2/friend"), ("DELETE", "/v2/friend")):
        cases.append((method, f"{path}?usernames=a%00b", None, query_error("usernames")))
        cases.append((method, f"{path}?ids={friend}&ids=a%00b", None, query_error("ids")))
    cases.append(("POST", "/v2/friend/block?usernames=a%00b", None, query_error("usernames")))
    # JSONB takes no \u0000 either.
    metadata = quote('{"note":"a\\u0000b"}')
    cases.append(
        ("POST", f"/v2/friend?ids={friend}&metadata={metadata}", None, query_error("metadata"))
    )
    cases.append(("DELETE", "/v2/notification?ids=a%00b", None, query_error("ids")))
    cases.append(("GET", "/v2/channel/2...lo%00bby", None, path_error("channel_id")))
    cases.append(("GET", "/v2/group?name=a%00b", None, query_error("name")))
    cases.append(("GET", "/v2/group?lang_tag=a%00b", None, query_error("lang_tag")))
    return cases


@pytest_twisted.ensureDeferred
async def test_nul_in_any_http_text_input_is_refused(hostile) -> None:
    _, token = await hostile.player("alice")
    friend, _ = await hostile.player("bob")
    status, group = await hostile.call("POST", "/v2/group", token, {"name": "Knights"})
    assert status == 200
    cases = http_nul_cases(group["id"], friend)
    before = hostile.sample("http", 400)
    for method, path, body, answer in cases:
        assert await hostile.call(method, path, token, body) == (400, answer), (method, path, body)
    assert hostile.sample("http", 400) == before + len(cases)
    # Nothing was written: the one group is unchanged, bob was not invited.
    status, listed = await hostile.call("GET", "/v2/group?limit=100", token)
    assert [g["name"] for g in listed["groups"]] == ["Knights"]
    assert await hostile.call("GET", "/v2/friend", token) == (200, {})
    # Metadata that is not JSON at all is the client's mistake too (Nakama answers 500).
    not_json = (400, error('Invalid value for query parameter "metadata": not JSON.'))
    assert await hostile.call("POST", f"/v2/friend?ids={friend}&metadata=nope", token) == not_json
    hostile.assert_quiet()


@pytest_twisted.ensureDeferred
async def test_group_text_too_long_for_its_column_is_refused(hostile) -> None:
    _, token = await hostile.player("alice")
    status, group = await hostile.call("POST", "/v2/group", token, {"name": "Knights"})
    assert status == 200
    for name, limit in (("name", 255), ("description", 255), ("lang_tag", 18), ("avatar_url", 512)):
        answer = (400, error(f'Invalid value for field "{name}": longer than {limit} characters.'))
        body = {"name": "Round table", name: "é" * (limit + 1)}
        assert await hostile.call("POST", "/v2/group", token, body) == answer
        assert await hostile.call("PUT", f"/v2/group/{group['id']}", token, body) == answer
        fits = {"name": f"Fits {name}", name: "é" * limit}
        assert (await hostile.call("POST", "/v2/group", token, fits))[0] == 200, name
    hostile.assert_quiet()


@pytest_twisted.ensureDeferred
async def test_authentication_keeps_nakamas_answers_for_nul(hostile) -> None:
    """Nakama's own rules refuse NUL in ids and usernames with its messages; passwords
    and vars never reach the database and may hold one."""
    port, key = hostile.port, (SERVER_KEY, "")
    custom = "/v2/account/authenticate/custom"
    answer = await http(port, "POST", custom, body={"id": "nul\x00custom"}, basic=key)
    message = "Custom ID invalid, no spaces or control characters allowed."
    assert (answer.status, answer.json()) == (400, error(message))
    answer = await http(
        port, "POST", f"{custom}?username=a%00b", body={"id": "custom-nul"}, basic=key
    )
    message = "Username invalid, no spaces or control characters allowed."
    assert (answer.status, answer.json()) == (400, error(message))
    body = {"id": "custom-vars", "vars": {"k": "a\x00b"}}
    assert (await http(port, "POST", custom, body=body, basic=key)).status == 200
    email = {"email": "nul@example.com", "password": "pass\x00word"}
    path = "/v2/account/authenticate/email"
    assert (await http(port, "POST", path, body=email, basic=key)).status == 200
    assert (await http(port, "POST", f"{path}?create=false", body=email, basic=key)).status == 200
    hostile.assert_quiet()


async def answer_to(client: SocketClient, message: dict[str, Any]) -> dict[str, Any]:
    client.send(message)
    answer, _ = await wait_for(client, lambda m: m.get("cid") == message["cid"])
    return answer


@pytest_twisted.ensureDeferred
async def test_nul_over_the_socket(hostile) -> None:
    _, token = await hostile.player("alice")
    bob, _ = await hostile.player("bob")
    client = await connect(hostile.port, token)
    before = hostile.sample("socket", 3)
    # The one socket text input that reaches the database: status_follow's usernames.
    follow = {"cid": "1", "status_follow": {"usernames": ["bob", "a\x00b"]}}
    nul = 'Invalid value for field "usernames": contains a NUL character.'
    assert await answer_to(client, follow) == {"cid": "1", "error": {"code": 3, "message": nul}}
    # Room names refuse control characters already (Nakama's rule).
    join = {"cid": "2", "channel_join": {"target": "lo\x00bby", "type": 1}}
    refused = "Channel name must not contain control chars: Invalid channel target"
    assert await answer_to(client, join) == {"cid": "2", "error": {"code": 3, "message": refused}}
    # A raw NUL in message content is not JSON.
    joined = await answer_to(client, {"cid": "3", "channel_join": {"target": "lobby", "type": 1}})
    channel = joined["channel"]["id"]
    send = {"channel_id": channel, "content": '{"a":"\x00"}'}
    not_json = {"code": 3, "message": "Message content must be a valid JSON object"}
    assert await answer_to(client, {"cid": "4", "channel_message_send": send}) == {
        "cid": "4",
        "error": not_json,
    }
    assert hostile.sample("socket", 3) == before + 3
    # Content is kept as text, so a \u0000 escape in it is stored (and given back) as sent.
    escaped = '{"a":"\\u0000"}'
    send = {"channel_id": channel, "content": escaped}
    ack = await answer_to(client, {"cid": "5", "channel_message_send": send})
    assert ack["channel_message_ack"]["persistent"] is True
    status, history = await hostile.call("GET", f"/v2/channel/{channel}?limit=10", token)
    assert [m["content"] for m in history["messages"]] == [escaped]
    # Following by id still works after the refusal.
    follow = {"cid": "6", "status_follow": {"user_ids": [bob]}}
    assert await answer_to(client, follow) == {"cid": "6", "status": {}}
    client.sendClose(code=1000)
    await client.closed()
    hostile.assert_quiet()


def hostile_fields(descriptor: Any, depth: int = 0) -> dict[str, Any]:
    """A message (as protojson) with every field set to a hostile value: text with a NUL,
    the largest integers, one of each oneof, nested messages a few levels deep."""
    message: dict[str, Any] = {}
    oneofs: set[str] = set()
    for member in descriptor.fields:
        if member.containing_oneof is not None:
            if member.containing_oneof.name in oneofs:
                continue
            oneofs.add(member.containing_oneof.name)
        entry = member.message_type
        if entry is not None and entry.GetOptions().map_entry:
            message[member.name] = {"k\x00": _hostile(entry.fields_by_name["value"], depth)}
            continue
        value = _hostile(member, depth)
        if value is not None:
            message[member.name] = [value] if member.is_repeated else value
    return message


def _hostile(member: Any, depth: int) -> Any:
    kind = member.type
    if kind == FieldDescriptor.TYPE_STRING:
        return "a\x00b"
    if kind == FieldDescriptor.TYPE_BYTES:
        return base64.b64encode(b"\x00\xff").decode()
    if kind == FieldDescriptor.TYPE_INT32:
        return 2**31 - 1
    if kind == FieldDescriptor.TYPE_INT64:
        return str(2**63 - 1)
    if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return 1e30
    if kind == FieldDescriptor.TYPE_BOOL:
        return True
    if kind == FieldDescriptor.TYPE_ENUM:
        return member.enum_type.values[-1].number
    if kind == FieldDescriptor.TYPE_MESSAGE:
        inner = member.message_type
        if inner.full_name.startswith("google.protobuf.") and "value" in inner.fields_by_name:
            return _hostile(inner.fields_by_name["value"], depth)  # a wrapper
        return hostile_fields(inner, depth + 1) if depth < 3 else None
    return None


@pytest_twisted.ensureDeferred
async def test_every_socket_message_with_hostile_values(hostile) -> None:
    """No handler fails on what a client sends: each answers (or ignores) it, the socket
    stays open, nothing is logged loud."""
    _, token = await hostile.player("alice")
    client = await connect(hostile.port, token)
    messages = realtime_pb2.Envelope.DESCRIPTOR.oneofs_by_name["message"].fields
    handled = [m for m in messages if hostile.app.server.pipeline.handles(m.name)]
    assert len(handled) > 20
    for n, message in enumerate(handled):
        client.send({"cid": f"m{n}", message.name: hostile_fields(message.message_type)})
        # Handled in order: the pong comes after the message's own answer.
        client.send({"cid": f"p{n}", "ping": {}})
        _, before = await wait_for(client, lambda m, n=n: m.get("cid") == f"p{n}")
        for answer in before:
            if answer.get("cid") == f"m{n}" and "error" in answer:
                assert answer["error"].get("code", 0) != 0, (message.name, answer)
    client.sendClose(code=1000)
    assert await client.closed() == (1000, None)
    hostile.assert_quiet()


# 3. What is logged and counted ------------------------------------------------------------


def formatted(events: list[dict[str, Any]], namespace: str) -> list[tuple[str, str]]:
    return [
        (event["log_level"].name, formatEvent(event))
        for event in events
        if event.get("log_namespace") == namespace
    ]


@pytest_twisted.ensureDeferred
async def test_a_refusal_is_one_debug_line_with_the_client_address_and_counted(hostile) -> None:
    _, token = await hostile.player("alice")
    counted = {status: hostile.sample("http", status) for status in (400, 401, 404)}
    del hostile.events[:]
    assert await hostile.call("GET", "/v2/friend?cursor=nope", token) == (
        400,
        error("Cursor is invalid."),
    )
    answer = await http(hostile.port, "GET", "/v2/friend")
    assert (answer.status, answer.json()) == (401, error("Auth token required", 16))
    answer = await http(hostile.port, "GET", "/v2/nothing", bearer=token)
    assert (answer.status, answer.json()) == (404, error("Not Found", 5))
    answer = await http(hostile.port, "POST", "/v2/rpc/nothing?http_key=defaulthttpkey")
    assert answer.status == 404
    lines = formatted(hostile.events, "nakama_rt.api.http")
    assert [level for level, _ in lines] == ["debug"] * 3
    assert lines[0][1].startswith("GET /v2/friend from 127.0.0.1:")
    assert lines[0][1].endswith(": 400 'Cursor is invalid.'")
    assert "401 'Auth token required'" in lines[1][1] and "404 'Not Found'" in lines[2][1]
    assert hostile.sample("http", 400) == counted[400] + 1
    assert hostile.sample("http", 401) == counted[401] + 1
    assert hostile.sample("http", 404) == counted[404] + 2
    hostile.assert_quiet()


@pytest_twisted.ensureDeferred
async def test_our_own_failures_keep_their_traceback_and_are_not_counted(hostile) -> None:
    _, token = await hostile.player("alice")
    client = await connect(hostile.port, token)
    storage = hostile.app.storage
    # The database goes away under the running server (as in the healthcheck's test).
    await storage._run(storage._close if hasattr(storage, "_close") else storage._db.close)
    before = hostile.sample("http", 400), hostile.sample("socket", 3)
    assert await hostile.call("GET", "/v2/friend", token) == (
        500,
        error("Error while trying to list friends.", 13),
    )
    follow = {"cid": "1", "status_follow": {"usernames": ["bob"]}}
    assert await answer_to(client, follow) == {
        "cid": "1",
        "error": {"message": "Could not check users"},  # RUNTIME_EXCEPTION (0) is left out
    }
    failures = [e["log_namespace"] for e in hostile.events if e.get("log_failure") is not None]
    assert failures == ["nakama_rt.api.friends", "nakama_rt.realtime.status.StatusHandlers"]
    assert (hostile.sample("http", 400), hostile.sample("socket", 3)) == before
    client.dropConnection(abort=True)
