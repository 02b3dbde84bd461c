"""RPCs, hooks and session events of runtime modules, on a real server, in both formats."""

from __future__ import annotations

import json
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.task import deferLater

from nakama_rt.realtime.status import status_stream
from tests.wsclient import authenticate, connect, has, http, wait_for

FORMATS = ["json", "protobuf"]
EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "runtime"
HTTP_KEY = "defaulthttpkey"

GAME = """
    import json

    from twisted.internet import reactor
    from twisted.internet.task import deferLater

    from nakama_rt.runtime import NakamaError

    EVENTS = []
    ENDS = []

    def context(ctx, logger, nk, payload):
        return json.dumps({
            "mode": ctx.execution_mode,
            "user_id": ctx.user_id,
            "username": ctx.username,
            "session_id": ctx.session_id,
            "vars": dict(ctx.vars),
            "env": dict(ctx.env),
            "lang": ctx.lang,
            "query": dict(ctx.query_params),
            "agent": ctx.headers.get("User-Agent"),
            "client_ip": ctx.client_ip,
            "trace_id": ctx.trace_id,
            "payload": payload,
        })

    def fail(ctx, logger, nk, payload):
        raise ValueError("it broke: " + payload)

    def refuse(ctx, logger, nk, payload):
        raise NakamaError("no such <thing>", 5)

    async def slow_upper(ctx, logger, nk, payload):
        await deferLater(reactor, 0.01, lambda: None)
        return payload.upper()

    def before_status_update(ctx, logger, nk, envelope):
        status = envelope.status_update.status.value
        if status == "forbidden":
            return None
        if status == "explode":
            raise RuntimeError("status exploded")
        envelope.status_update.status.value = status.upper()
        return envelope

    def after_ping(ctx, logger, nk, out, in_):
        return nk.notification_send(ctx.user_id, "pinged", {"cid": out.cid}, 1)

    def session_start(ctx, logger, nk, event):
        EVENTS.append((event.name, ctx.execution_mode, ctx.user_id))

    def session_end(ctx, logger, nk, event):
        EVENTS.append((event.name, ctx.execution_mode, ctx.user_id))
        ENDS.append((ctx.username, dict(event.properties)))

    def init_module(ctx, logger, nk, initializer):
        initializer.register_rpc("context", context)
        initializer.register_rpc("fail", fail)
        initializer.register_rpc("refuse", refuse)
        initializer.register_rpc("slow_upper", slow_upper)
        initializer.register_before_rt("StatusUpdate", before_status_update)
        initializer.register_after_rt("ping", after_ping)
        initializer.register_event_session_start(session_start)
        initializer.register_event_session_end(session_end)
"""


@pytest.fixture
def server_options(tmp_path) -> dict:
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "rpcgame.py").write_text(textwrap.dedent(GAME))
    (modules / "echo.py").write_text((EXAMPLES / "echo.py").read_text())
    return {"runtime": {"path": str(modules), "env": {"GREETING": "ahoy", "MODE": "test"}}}


async def player(port: int, fmt: str = "json", status: bool | None = None, **kwargs):
    name = f"p{uuid.uuid4().hex[:10]}"
    session = await authenticate(port, f"custom-{uuid.uuid4()}", username=name, **kwargs)
    client = await connect(port, session["token"], fmt=fmt, status=status)
    return session, client


def error(cid: str, code: int, message: str) -> dict:
    return {"cid": cid, "error": {"code": code, "message": message}}


# Over the socket


@pytest.mark.parametrize("fmt", FORMATS)
@pytest_twisted.ensureDeferred
async def test_socket_rpc_answers_and_errors_keep_the_socket(server, fmt) -> None:
    _, client = await player(server.port, fmt)
    answer = await client.request({"cid": "1", "rpc": {"id": "Echo", "payload": "hi <you>"}})
    assert answer == {"cid": "1", "rpc": {"id": "Echo", "payload": "hi <you>"}}
    answer = await client.request({"cid": "2", "rpc": {"id": "slow_upper", "payload": "abc"}})
    assert answer == {"cid": "2", "rpc": {"id": "slow_upper", "payload": "ABC"}}
    answer = await client.request({"cid": "3", "rpc": {"id": "echo"}})
    assert answer == {"cid": "3", "rpc": {"id": "echo"}}  # an empty payload is left out
    cases = [
        ({"id": "nope"}, 6, "RPC function not found"),
        ({"payload": "x"}, 3, "RPC ID must be set"),
        ({"id": "fail", "payload": "x"}, 7, "it broke: x"),
        ({"id": "refuse"}, 7, "no such <thing>"),
    ]
    for n, (request, code, message) in enumerate(cases):
        cid = f"e{n}"
        assert await client.request({"cid": cid, "rpc": request}) == error(cid, code, message)
    assert await client.request({"cid": "alive", "ping": {}}) == {"cid": "alive", "pong": {}}
    other_session, other = await player(server.port)
    answer = await other.request({"cid": "o", "rpc": {"id": "echo", "payload": "still"}})
    assert answer["rpc"]["payload"] == "still"
    for c in (client, other):
        c.sendClose()
        await c.closed()


@pytest_twisted.ensureDeferred
async def test_socket_rpc_context_and_nk(server) -> None:
    session, client = await player(server.port, status=True, vars={"tier": "gold"})
    client.send({"cid": "1", "rpc": {"id": "context", "payload": "p"}})
    answer, _ = await wait_for(client, has("rpc"))
    facts = json.loads(answer["rpc"]["payload"])
    (live,) = list(server.server.sessions)
    assert facts == {
        "mode": "rpc",
        "user_id": live.user_id,
        "username": live.username,
        "session_id": live.id,
        "vars": {"tier": "gold"},
        "env": {"GREETING": "ahoy", "MODE": "test"},
        "lang": "en",
        "query": {},
        "agent": None,
        "client_ip": "127.0.0.1",
        "trace_id": None,  # Nakama gives one to API requests only
        "payload": "p",
    }
    client.send({"cid": "2", "rpc": {"id": "whoami"}})
    answer, _ = await wait_for(client, has("rpc"))
    assert answer["rpc"]["payload"] == (
        f'{{"user": "{live.username}", "online": true, "greeting": "ahoy"}}'
    )


# Over HTTP


def rpc_path(rpc_id: str, query: str = "") -> str:
    return f"/v2/rpc/{rpc_id}" + (f"?{query}" if query else "")


@pytest_twisted.ensureDeferred
async def test_http_rpc_with_a_session_or_the_http_key(server) -> None:
    port = server.port
    session, _ = await player(port)
    token = session["token"]
    answer = await http(port, "POST", rpc_path("ECHO"), body="a <b> & c", bearer=token)
    assert (answer.status, answer.body) == (200, b'{"payload":"a \\u003cb\\u003e \\u0026 c"}')
    assert answer.headers.getRawHeaders(b"content-type") == [b"application/json"]
    answer = await http(port, "GET", rpc_path("echo"), bearer=token)
    assert (answer.status, answer.json()) == (200, {"payload": ""})
    answer = await http(port, "POST", rpc_path("echo", f"http_key={HTTP_KEY}"), body="srv")
    assert answer.json() == {"payload": "srv"}
    answer = await http(port, "POST", rpc_path("echo"), body="basic", basic=(HTTP_KEY, ""))
    assert answer.json() == {"payload": "basic"}
    answer = await http(port, "POST", rpc_path("echo"), raw=b"null", bearer=token)
    assert answer.json() == {"payload": ""}

    query = f"http_key={HTTP_KEY}&payload=q&tag=a&tag=b"
    answer = await http(port, "GET", rpc_path("context", query), headers={"User-Agent": "t"})
    facts = json.loads(answer.json()["payload"])
    assert facts["user_id"] is None and facts["session_id"] is None and facts["payload"] == ""
    assert facts["query"] == {"payload": ["q"], "tag": ["a", "b"]}, "http_key is removed"
    assert facts["agent"] == ["t"] and facts["env"]["MODE"] == "test"
    answer = await http(port, "POST", rpc_path("context"), body="x", bearer=token)
    facts = json.loads(answer.json()["payload"])
    assert facts["username"] == session_username(server) and facts["mode"] == "rpc"
    assert facts["user_id"] is not None and facts["session_id"] is None
    first_trace = facts["trace_id"]
    answer = await http(port, "POST", rpc_path("context"), body="x", bearer=token)
    again = json.loads(answer.json()["payload"])["trace_id"]
    assert first_trace == str(uuid.UUID(first_trace)) and again != first_trace  # per request


def session_username(server) -> str:
    (live,) = list(server.server.sessions)
    return live.username


@pytest_twisted.ensureDeferred
async def test_http_rpc_unwrap(server) -> None:
    port = server.port
    path = rpc_path("echo", f"http_key={HTTP_KEY}&unwrap")
    answer = await http(
        port, "POST", path, raw=b'{"raw": true}', headers={"Content-Type": "application/x-game"}
    )
    assert (answer.status, answer.body) == (200, b'{"raw": true}')
    assert answer.headers.getRawHeaders(b"content-type") == [b"application/x-game"]
    answer = await http(port, "POST", path, raw=b"plain")
    assert answer.body == b"plain"
    assert answer.headers.getRawHeaders(b"content-type") == [b"text/plain"]


@pytest_twisted.ensureDeferred
async def test_http_rpc_refusals_and_failures(server) -> None:
    port = server.port
    session, _ = await player(port)
    token = session["token"]
    key = f"http_key={HTTP_KEY}"
    cases = [
        (rpc_path("echo"), {}, 401, 16, "Auth token or HTTP key required"),
        (rpc_path("echo", "http_key=wrong"), {}, 401, 16, "HTTP key invalid"),
        (rpc_path("echo"), {"basic": ("wrong", "")}, 401, 16, "HTTP key invalid"),
        (rpc_path("echo"), {"bearer": "not.a.token"}, 401, 16, "Auth token invalid"),
        (rpc_path("", key), {}, 400, 3, "RPC ID must be set"),
        (rpc_path("nope", key), {}, 404, 5, "RPC function not found"),
        (rpc_path("echo", key), {"body": {"not": "a string"}}, 400, 3, None),
        (rpc_path("echo", key), {"raw": b"{broken"}, 400, 3, None),
    ]
    for path, kwargs, status, code, message in cases:
        answer = await http(port, "POST", path, **kwargs)
        body = answer.json()
        assert (answer.status, body["code"]) == (status, code), path
        message = message or "json: cannot unmarshal object into Go value of type string"
        assert body == {"error": message, "message": message, "code": code}
    answer = await http(port, "POST", rpc_path("fail"), body="x", bearer=token)
    assert (answer.status, answer.json()) == (
        500,
        {"code": 13, "error": {}, "message": "it broke: x"},
    )
    answer = await http(port, "POST", rpc_path("refuse", key))
    assert answer.status == 404
    assert answer.body == (
        b'{"code":5,"error":{"Code":5,"Message":"no such \\u003cthing\\u003e"},'
        b'"message":"no such \\u003cthing\\u003e"}'
    )
    answer = await http(port, "PUT", rpc_path("echo", key))
    assert (answer.status, answer.json()["code"]) == (501, 12)
    answer = await http(port, "POST", rpc_path("echo", key), raw=b'"' + b"x" * 300_000 + b'"')
    assert (answer.status, answer.body) == (
        400,
        b'{"code":3, "message":"http: request body too large"}',
    )
    answer = await http(port, "GET", "/v2/account", bearer=token)
    assert answer.status == 200, "the rest of the API is unchanged"


# Hooks and events


def game_module():
    return sys.modules["rpcgame"]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest_twisted.ensureDeferred
async def test_before_hook_changes_rejects_or_fails_a_message(server, fmt) -> None:
    session, client = await player(server.port, fmt)
    (live,) = list(server.server.sessions)
    answer = await client.request({"cid": "1", "status_update": {"status": "away"}})
    assert answer == {"cid": "1"}
    (presence,) = server.server.tracker.list_by_stream(status_stream(live.user_id), False, True)
    assert presence.meta.status == "AWAY"
    event = await client.next()  # a session follows its own status
    assert event["status_presence_event"]["joins"][0]["status"] == "AWAY"
    answer = await client.request({"cid": "2", "status_update": {"status": "explode"}})
    assert answer == error("2", 7, "status exploded")
    answer = await client.request({"cid": "3", "rpc": {"id": "echo", "payload": "open"}})
    assert answer["rpc"]["payload"] == "open"
    answer = await client.request({"cid": "4", "status_update": {"status": "forbidden"}})
    assert answer == error("4", 1, "Requested resource was not found.")
    code, _ = await client.closed()
    assert code == 1000, "as Nakama, a disabled message closes the socket"


@pytest_twisted.ensureDeferred
async def test_after_hook_gets_the_reply_and_can_use_nk(server) -> None:
    _, client = await player(server.port)
    assert await client.request({"cid": "p1", "ping": {}}) == {"cid": "p1", "pong": {}}
    message, _ = await wait_for(client, has("notifications"))
    (notification,) = message["notifications"]["notifications"]
    assert (notification["subject"], notification["content"]) == ("pinged", '{"cid":"p1"}')


@pytest_twisted.ensureDeferred
async def test_session_events_fire_on_open_and_close(server) -> None:
    _, client = await player(server.port)
    (live,) = list(server.server.sessions)
    client.sendClose()
    await client.closed()
    for _ in range(100):
        if len(game_module().EVENTS) == 2:
            break
        await deferLater(reactor, 0.01, lambda: None)
    assert game_module().EVENTS == [
        ("session_start", "event", live.user_id),
        ("session_end", "event", live.user_id),
    ]


async def end_reasons(username: str, count: int = 1) -> list[str]:
    """The ``reason`` of each session_end event of ``username``'s sessions, in order,
    once there are ``count`` of them."""
    for _ in range(300):
        ends = [properties for name, properties in game_module().ENDS if name == username]
        if len(ends) >= count:
            assert all(set(properties) == {"reason"} for properties in ends), ends
            return [properties["reason"] for properties in ends]
        await deferLater(reactor, 0.01, lambda: None)
    raise AssertionError(f"no session_end for {username}")


async def named_player(port: int, username: str):
    session = await authenticate(port, f"custom-{uuid.uuid4()}", username=username)
    return session["token"], await connect(port, session["token"])


@pytest_twisted.ensureDeferred
async def test_session_end_says_why_the_client_ended_it(server) -> None:
    """Nakama's sessionWS.Close passes its message to the session_end event
    (Properties {"reason": msg}, server/runtime_go.go). When the client ends the
    socket, that message is the error gorilla/websocket's ReadMessage returned
    (Consume in server/session_ws.go), except for a close with 1000, 1001 or no code,
    which is no error: "". A connection dropped without a close frame reads as
    gorilla's unexpected EOF, a close with 1006."""
    cases = [
        ("normal", lambda c: c.sendClose(1000), ""),
        ("nocode", lambda c: c.sendClose(), ""),
        ("app", lambda c: c.sendClose(4000, "see you"), "websocket: close 4000: see you"),
        ("bare", lambda c: c.sendClose(3001), "websocket: close 3001"),
        (
            "dropped",
            lambda c: c.transport.abortConnection(),
            "websocket: close 1006 (abnormal closure): unexpected EOF",
        ),
    ]
    for name, close, reason in cases:
        username = f"{name}{uuid.uuid4().hex[:8]}"
        _, client = await named_player(server.port, username)
        close(client)
        await client.closed()
        assert await end_reasons(username) == [reason], name


@pytest_twisted.ensureDeferred
async def test_session_end_says_why_the_server_ended_it(tmp_path) -> None:
    """When the server closes the socket, session_end gets the reason it closed with
    (the text of its close frame): Nakama's single-socket takeover and disconnects
    say "server-side session disconnect" (SingleSession in server/session_registry.go).
    Our pong timeout and shutdown reasons are our own: Nakama's is the text of the
    read deadline error, and it ends no socket itself when it shuts down."""
    from tests.conftest import make_config, start_server, stop_server

    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "rpcgame.py").write_text(textwrap.dedent(GAME))
    config = make_config(
        tmp_path,
        runtime={"path": str(modules)},
        session={"single_socket": True},
        socket={"ping_period_ms": 100, "pong_wait_ms": 300},
    )
    running = await start_server(config)
    try:
        token, older = await named_player(running.port, "taken")
        newer = await connect(running.port, token)
        assert await older.closed() == (1000, "server-side session disconnect")
        assert await end_reasons("taken") == ["server-side session disconnect"]

        _, silent = await named_player(running.port, "silent")
        silent.onPing = lambda payload: None  # it never answers the server's pings
        assert await silent.closed() == (1000, "pong timeout")
        assert await end_reasons("silent") == ["pong timeout"]
    finally:
        await stop_server(running)
    assert await newer.closed() == (1001, "server shutting down")
    assert await end_reasons("taken", 2) == [
        "server-side session disconnect",
        "server shutting down",
    ]
