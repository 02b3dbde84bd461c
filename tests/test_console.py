"""The operator console over HTTP (``nakama_rt.console``): a real server with the console
on a listener of its own, real sockets, and the requests a browser would send.

Login, the session cookie's attributes and expiry, refusals (no cookie, a wrong
password, slowed and counted, in the metrics too; a forged or cross-site action), the
live event stream, finding a session and disconnecting it with a reason its client sees.
"""

from __future__ import annotations

import dataclasses
import re
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

import jwt
import orjson
import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.protocol import Protocol
from twisted.logger import globalLogPublisher
from twisted.web.client import Agent
from twisted.web.http_headers import Headers

from nakama_rt.config import ConfigError, config_from_mapping, insecure_defaults
from nakama_rt.console.auth import COOKIE
from nakama_rt.console.figures import DISCONNECT_REASON
from nakama_rt.web.metrics import metrics_site
from tests.conftest import make_config, start_server, stop_server
from tests.test_metrics import Scraper
from tests.wsclient import answer, authenticate, connect, http

FORM = {"content-type": "application/x-www-form-urlencoded"}


class Console:
    """A browser's view of one server's console: the one served on ``port``, or (with
    :meth:`of`) that of a server in this process, on a listener of its own."""

    def __init__(self, port: int, running=None, listening=None) -> None:
        self.port = port
        self.running = running
        self.listening = listening
        self.cookie = ""

    @classmethod
    def of(cls, running) -> Console:
        listening = reactor.listenTCP(0, running.app.console_site(), interface="127.0.0.1")
        return cls(listening.getHost().port, running, listening)

    async def post(self, path: str, fields: dict, **headers: str):
        return await http(
            self.port,
            "POST",
            path,
            raw=urlencode(fields).encode(),
            headers={**FORM, **self._cookie(), **headers},
        )

    async def get(self, path: str):
        return await http(self.port, "GET", path, headers=self._cookie())

    def _cookie(self) -> dict:
        return {"cookie": f"{COOKIE.decode()}={self.cookie}"} if self.cookie else {}

    async def login(self, password: str = "password", username: str = "admin"):
        answer = await self.post("/login", {"username": username, "password": password})
        for header in answer.headers.getRawHeaders(b"set-cookie") or []:
            name, _, rest = header.decode().partition("=")
            if name == COOKIE.decode():
                self.cookie = rest.partition(";")[0]
        return answer

    def csrf(self) -> str:
        return jwt.decode(self.cookie, options={"verify_signature": False})["csrf"]


async def login_failures_metric(running) -> float:
    """``nakama_rt_console_login_failures_total``, from a real scrape of ``GET /metrics``
    on a metrics listener of the server's own."""
    listening = reactor.listenTCP(
        0, metrics_site(running.app.metrics_resource), interface="127.0.0.1"
    )
    try:
        samples = await Scraper(listening.getHost().port).scrape()
    finally:
        await listening.stopListening()
    return samples[("nakama_rt_console_login_failures_total", ())]


@pytest_twisted.async_yield_fixture
async def console(tmp_path):
    running = await start_server(make_config(tmp_path))
    console = Console.of(running)
    yield console
    await console.listening.stopListening()
    await stop_server(running)


class _Events(Protocol):
    """Reads a server-sent event stream; ``next()`` is its next event's data."""

    def __init__(self) -> None:
        self.buffer = b""
        self.events: list[dict] = []
        self.waiting: Deferred | None = None

    def dataReceived(self, data: bytes) -> None:  # noqa: N802
        self.buffer += data
        while b"\n\n" in self.buffer:
            chunk, _, self.buffer = self.buffer.partition(b"\n\n")
            for line in chunk.split(b"\n"):
                if line.startswith(b"data: "):
                    self.events.append(orjson.loads(line[6:]))
        if self.events and self.waiting is not None:
            waiting, self.waiting = self.waiting, None
            waiting.callback(self.events.pop(0))

    def next(self) -> Deferred:
        if self.events:
            d: Deferred = Deferred()
            d.callback(self.events.pop(0))
            return d
        self.waiting = Deferred()
        self.waiting.addTimeout(5, reactor)
        return self.waiting


async def _events(console: Console):
    agent = Agent(reactor)
    headers = Headers({b"cookie": [f"{COOKIE.decode()}={console.cookie}".encode()]})
    response = await agent.request(
        b"GET", f"http://127.0.0.1:{console.port}/events".encode(), headers
    )
    assert response.code == 200
    assert response.headers.getRawHeaders(b"content-type") == [b"text/event-stream"]
    reader = _Events()
    response.deliverBody(reader)
    return response, reader


@pytest_twisted.ensureDeferred
async def test_without_a_login_pages_redirect_and_the_rest_is_refused(console) -> None:
    page = await console.get("/")
    assert page.status == 303 and page.headers.getRawHeaders(b"location") == [b"/login"]
    assert (await console.get("/events")).status == 401
    refused = await console.post("/sessions/disconnect", {"session_id": "x", "csrf": "y"})
    assert refused.status == 401
    login = await console.get("/login")
    assert login.status == 200 and b'name="password"' in login.body
    assert login.headers.getRawHeaders(b"x-frame-options") == [b"DENY"]
    assert b"frame-ancestors 'none'" in login.headers.getRawHeaders(b"content-security-policy")[0]
    script = await console.get("/static/console.js")  # (package data: installed too)
    assert script.status == 200 and b"EventSource" in script.body
    assert (await console.get("/static/nope.js")).status == 404


@pytest_twisted.ensureDeferred
async def test_wrong_passwords_are_slowed_down_and_counted(console) -> None:
    assert await login_failures_metric(console.running) == 0
    started = time.monotonic()
    first = await console.login("guess")
    second = await console.login("password", username="root")  # the wrong username
    took = time.monotonic() - started
    assert first.status == second.status == 401
    assert b"Wrong username or password" in second.body
    assert took >= 0.5 + 1.0  # 0.5 s, then 1 s
    assert console.running.app.console_auth.failures == 2
    assert console.cookie == ""
    assert (await console.get("/")).status == 303
    # Prometheus reads the same count; a good login adds nothing to it.
    assert await login_failures_metric(console.running) == 2
    assert (await console.login()).status == 303
    assert await login_failures_metric(console.running) == 2


@pytest_twisted.ensureDeferred
async def test_a_login_sets_a_strict_http_only_cookie_that_expires(console) -> None:
    answer = await console.login()
    assert answer.status == 303 and answer.headers.getRawHeaders(b"location") == [b"/"]
    cookie = answer.headers.getRawHeaders(b"set-cookie")[0].decode()
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite", "max-age", "path"} <= attributes
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
    assert "Max-Age=86400" in cookie
    page = await console.get("/")
    assert page.status == 200 and b"data-figure=" in page.body
    # A token past its expiry, or signed with another key, logs nobody in.
    claims = jwt.decode(console.cookie, options={"verify_signature": False})
    stale = {**claims, "exp": int(time.time()) - 1}
    console.cookie = jwt.encode(stale, "defaultsigningkey", algorithm="HS256")
    assert (await console.get("/")).status == 303
    console.cookie = jwt.encode(claims, "another key", algorithm="HS256")
    assert (await console.get("/")).status == 303


@pytest_twisted.ensureDeferred
async def test_actions_need_the_pages_token_and_origin(console) -> None:
    await console.login()
    session = await authenticate(console.running.port, f"c-{uuid.uuid4()}", username="victim")
    client = await connect(console.running.port, session["token"])
    sid = console.running.app.server.sessions
    session_id = next(iter(sid)).id
    forged = await console.post("/sessions/disconnect", {"session_id": session_id, "csrf": "x"})
    assert forged.status == 403
    fields = {"session_id": session_id, "csrf": console.csrf()}
    cross = await console.post("/sessions/disconnect", fields, origin="http://evil.example")
    assert cross.status == 403
    assert len(sid) == 1  # untouched
    client.sendClose()


@pytest_twisted.ensureDeferred
async def test_find_a_session_and_disconnect_it_with_a_reason(console) -> None:
    await console.login()
    port = console.running.port
    session = await authenticate(port, f"c-{uuid.uuid4()}", username="findme")
    client = await connect(port, session["token"], fmt="protobuf")
    await client.request({"cid": "1", "channel_join": {"target": "hall", "type": 1}})
    found = await console.get("/sessions?q=FINDM")
    assert found.status == 200
    session_id = next(iter(console.running.app.server.sessions)).id
    assert session_id.encode() in found.body and b"hall" in found.body
    by_id = await console.get(f"/sessions?q={session_id}")
    assert b"findme" in by_id.body
    nothing = await console.get("/sessions?q=nobody")
    assert b"No session found." in nothing.body
    fields = {"session_id": session_id, "csrf": console.csrf(), "back": "/sessions?q=findme"}
    logged: list[dict] = []
    globalLogPublisher.addObserver(logged.append)
    try:
        done = await console.post("/sessions/disconnect", fields)
    finally:
        globalLogPublisher.removeObserver(logged.append)
    assert done.status == 303
    assert done.headers.getRawHeaders(b"location") == [b"/sessions?q=findme"]
    assert await client.closed() == (1000, DISCONNECT_REASON)
    said = [e for e in logged if "disconnected session" in e.get("log_format", "")]
    assert len(said) == 1 and said[0]["operator"] == "admin"  # once, with the operator
    # A session that is gone (or never was) is no error: back to the page, nothing closed.
    gone = await console.post("/sessions/disconnect", {**fields, "back": "//evil.example"})
    assert gone.status == 303 and gone.headers.getRawHeaders(b"location") == [b"/"]


@pytest_twisted.ensureDeferred
async def test_the_event_stream_shows_a_new_session_without_a_reload(console) -> None:
    await console.login()
    _, events = await _events(console)
    first = await events.next()
    assert first["sessions"] == 0 and first["node"] == "nakama"
    port = console.running.port
    session = await authenticate(port, f"c-{uuid.uuid4()}", username="newcomer")
    client = await connect(port, session["token"])
    while True:
        event = await events.next()
        if event["sessions"] == 1:
            break
    assert [s["username"] for s in event["live_sessions"]] == ["newcomer"]
    assert "messages_in_per_sec" in event and event["rss_megabytes"] > 0
    client.sendClose()
    events.transport.stopProducing()  # the page closes


def test_the_console_is_off_unless_a_listener_is_set(tmp_path) -> None:
    from nakama_rt.tap import Options

    assert config_from_mapping({}).console_listen() == ""
    assert config_from_mapping({"console": {"port": 7351}}).console_listen() == "tcp:7351"
    options = Options()
    options.parseOptions(["--console-listen", "tcp:0:interface=127.0.0.1"])
    config = options["nakama_config"]
    assert config.console_listen() == "tcp:0:interface=127.0.0.1"
    assert ("console.password", "--console-password") in insecure_defaults(config)
    assert not [k for k, _ in insecure_defaults(config_from_mapping({})) if "console" in k]
    changed = dataclasses.replace(
        config, console=dataclasses.replace(config.console, password="s3cret", signing_key="k")
    )
    assert not [k for k, _ in insecure_defaults(changed) if "console" in k]
    with pytest.raises(ConfigError, match="console.token_expiry_sec"):
        config_from_mapping({"console": {"token_expiry_sec": 0}}).validate()


@pytest_twisted.ensureDeferred
async def test_the_service_serves_the_console_on_its_own_listener(tmp_path) -> None:
    from nakama_rt.service import ListenerService, NakamaService, RecordedStartup

    config = make_config(tmp_path, console={"listen": "tcp:0:interface=127.0.0.1"})
    service = NakamaService(config, reactor, startup=RecordedStartup())
    service.startService()
    try:
        assert await service.startup.outcome is None
        listeners = [child for child in service if isinstance(child, ListenerService)]
        assert [listener.purpose for listener in listeners] == ["socket and API", "console"]
        port = listeners[1].port.getHost().port
        login = await http(port, "GET", "/login")
        assert login.status == 200 and b"nakama-rt console" in login.body
        api = await http(port, "GET", "/healthcheck")
        assert api.status == 404  # the console's listener serves the console only
    finally:
        await service.stopService()


EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "runtime"


@pytest_twisted.ensureDeferred
async def test_matches_are_listed_filtered_by_label_query_and_ended(tmp_path) -> None:
    running = await start_server(make_config(tmp_path, runtime={"path": str(EXAMPLES)}))
    console = Console.of(running)
    try:
        await console.login()
        port = running.port
        session = await authenticate(port, f"c-{uuid.uuid4()}", username="player")
        client = await connect(port, session["token"])
        created = await client.request({"cid": "1", "rpc": {"id": "create_arena", "payload": "{}"}})
        match_id = orjson.loads(created["rpc"]["payload"])["match_id"]
        joined = await client.request(
            {"cid": "2", "match_join": {"match_id": match_id, "metadata": {"team": "red"}}}
        )
        assert joined["match"]["match_id"] == match_id
        await client.request({"cid": "3", "match_create": {}})  # a relayed one too
        page = await console.get("/matches")
        assert match_id.encode() in page.body and b"arena" in page.body and b"relayed" in page.body
        picked = await console.get("/matches?q=%2Blabel.mode%3Aarena")
        assert match_id.encode() in picked.body and b"relayed" not in picked.body
        none = await console.get("/matches?q=%2Blabel.mode%3Aduel")
        assert b"No match." in none.body
        bad = await console.get("/matches?q=label.x%3A%3E")  # label.x:> (no number)
        assert b"Bad query" in bad.body
        fields = {"match_id": match_id, "grace": "0", "csrf": console.csrf()}
        ended = await console.post("/matches/end", fields)
        assert ended.status == 303
        assert len(running.app.server.match_registry) == 0
        missing = await console.post("/matches/end", fields)
        assert missing.status == 404
        bad_grace = await console.post("/matches/end", {**fields, "grace": "soon"})
        assert bad_grace.status == 400 and b"whole number of seconds" in bad_grace.body
        client.sendClose()
    finally:
        await console.listening.stopListening()
        await stop_server(running)


@pytest_twisted.ensureDeferred
async def test_matchmaker_tickets_are_listed_and_removed(console) -> None:
    await console.login()
    port = console.running.port
    session = await authenticate(port, f"c-{uuid.uuid4()}", username="seeker")
    client = await connect(port, session["token"])
    add = {"query": "*", "min_count": 2, "max_count": 4, "string_properties": {"mode": "duel"}}
    added = await client.request({"cid": "1", "matchmaker_add": add})
    ticket = added["matchmaker_ticket"]["ticket"]
    page = await console.get("/tickets")
    assert ticket.encode() in page.body and b"seeker" in page.body and b"duel" in page.body
    removed = await console.post("/tickets/remove", {"ticket": ticket, "csrf": console.csrf()})
    assert removed.status == 303
    assert len(console.running.app.server.matchmaker) == 0
    assert (
        await console.post("/tickets/remove", {"ticket": ticket, "csrf": console.csrf()})
    ).status == 404
    client.sendClose()


@pytest_twisted.ensureDeferred
async def test_parties_channels_runtime_and_configuration_pages(tmp_path) -> None:
    config = make_config(
        tmp_path,
        runtime={"path": str(EXAMPLES), "env": {"API_TOKEN": "hush"}},
        session={"encryption_key": "a-secret-key-that-is-long-enough"},
    )
    running = await start_server(config)
    console = Console.of(running)
    try:
        await console.login()
        port = running.port
        session = await authenticate(port, f"c-{uuid.uuid4()}", username="partier")
        client = await connect(port, session["token"])
        await answer(client, {"cid": "1", "channel_join": {"target": "tavern", "type": 1}})
        party = await answer(client, {"cid": "2", "party_create": {"open": True, "max_size": 4}})
        parties = await console.get("/parties")
        assert party["party"]["party_id"].encode() in parties.body and b"partier" in parties.body
        channels = await console.get("/channels")
        assert b"tavern" in channels.body and b"room" in channels.body
        runtime = await console.get("/runtime")
        assert b"create_arena" in runtime.body and b"arena" in runtime.body
        shown = await console.get("/config")
        assert b"session.encryption_key" in shown.body and b"(redacted)" in shown.body
        for secret in (b"a-secret-key", b"hush", b"defaultkey", b"defaulthttpkey"):
            assert secret not in shown.body
        assert b"API_TOKEN=(redacted)" in shown.body
        client.sendClose()
    finally:
        await console.listening.stopListening()
        await stop_server(running)


def test_the_configuration_shown_hides_the_database_password() -> None:
    from nakama_rt.console.figures import redacted_config

    config = config_from_mapping({"database": {"address": "postgresql://game:pa55@db:5432/g"}})
    rows = dict(redacted_config(config))
    assert rows["database.address"] == "postgresql://game@db:5432/g"
    assert rows["console.password"] == rows["socket.server_key"] == "(redacted)"
    assert rows["name"] == "nakama"


@pytest_twisted.ensureDeferred
async def test_a_dropped_session_kept_for_resume_shows_so_and_can_be_ended(tmp_path) -> None:
    from tests.test_resume import _cut, _until

    running = await start_server(make_config(tmp_path, session={"resume_grace_ms": 60_000}))
    console = Console.of(running)
    try:
        await console.login()
        session = await authenticate(running.port, f"c-{uuid.uuid4()}", username="dropper")
        client = await connect(running.port, session["token"])
        open_now = (await console.get("/sessions?q=dropper")).body.decode()
        assert "<td>open</td>" in open_now
        _cut(client)  # a reset: kept for the window
        await _until(lambda: len(running.app.parking) == 1)
        kept = (await console.get("/sessions?q=dropper")).body.decode()
        left = re.search(r"dropped, kept ([0-9.]+) s more", kept)
        assert left is not None and 55 <= float(left.group(1)) <= 60
        session_id = next(iter(running.app.server.sessions)).id
        fields = {"session_id": session_id, "csrf": console.csrf(), "back": "/"}
        assert (await console.post("/sessions/disconnect", fields)).status == 303
        await _until(lambda: len(running.app.server.sessions) == 0)
        assert len(running.app.parking) == 0
    finally:
        await console.listening.stopListening()
        await stop_server(running)
