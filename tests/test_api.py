"""The /v2 HTTP API over a real listening Site, against both storage backends."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, replace
from io import BytesIO
from typing import Any

import orjson
import pytest
import pytest_twisted
from storage_fixtures import ShiftedReactor, start_test_storage
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.protocol import Protocol
from twisted.logger import LogLevel, formatEvent, globalLogPublisher
from twisted.web.client import Agent, FileBodyProducer, ResponseDone
from twisted.web.http_headers import Headers
from twisted.web.resource import Resource
from twisted.web.server import Site

from nakama_rt.api import ApiContext, HealthcheckResource, body_limited_request_factory, build_api
from nakama_rt.api.http import ApiError, Code, JsonResource, Route, read_body
from nakama_rt.auth.session_cache import SessionCache
from nakama_rt.config import Config, SessionConfig, SocketConfig
from nakama_rt.storage import StorageUnavailable

SERVER_KEY = "test-server-key"
MAX_BODY = 4096
BASE_CONFIG = Config(
    socket=SocketConfig(server_key=SERVER_KEY, max_request_size_bytes=MAX_BODY),
    session=SessionConfig(
        encryption_key="test-session-key",
        refresh_encryption_key="test-refresh-key",
        token_expiry_sec=60,
        refresh_token_expiry_sec=600,
    ),
)
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def basic(key: str = SERVER_KEY, password: str = "") -> str:
    return "Basic " + base64.b64encode(f"{key}:{password}".encode()).decode()


def claims(token: str) -> dict[str, Any]:
    """The JWT payload, decoded without verification as clients do."""
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def error(code: Code, message: str) -> dict[str, Any]:
    return {"code": int(code), "message": message}


class _Collect(Protocol):
    """Gathers a response body (twisted's readBody warns about Agent's transport)."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.done: Deferred[bytes] = Deferred()

    def dataReceived(self, data: bytes) -> None:
        self.chunks.append(data)

    def connectionLost(self, reason) -> None:
        if reason.check(ResponseDone):
            self.done.callback(b"".join(self.chunks))
        else:
            self.done.errback(reason)


async def read_response(response) -> bytes:
    collect = _Collect()
    response.deliverBody(collect)
    return await collect.done


@dataclass
class Reply:
    status: int
    headers: Headers
    body: Any


@dataclass
class Server:
    """A listening API with its context; ``call`` speaks HTTP to it."""

    url: str
    context: ApiContext
    clock: ShiftedReactor

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        auth: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        raw = body if isinstance(body, bytes) or body is None else orjson.dumps(body)
        sent = Headers({k: [v] for k, v in (headers or {}).items()})
        if auth is not None:
            sent.setRawHeaders("authorization", [auth])
        producer = FileBodyProducer(BytesIO(raw)) if raw is not None else None
        response = await Agent(reactor).request(
            method.encode(), (self.url + path).encode(), sent, producer
        )
        data = await read_response(response)
        parsed = orjson.loads(data) if data else None
        return Reply(response.code, response.headers, parsed)

    async def authenticate(self, kind: str, account: dict, query: str = "") -> Reply:
        return await self.call(
            "POST", f"/v2/account/authenticate/{kind}{query}", account, auth=basic()
        )

    async def session(self, kind: str, account: dict, query: str = "") -> dict[str, Any]:
        reply = await self.authenticate(kind, account, query)
        assert reply.status == 200, reply.body
        return reply.body


async def _serve(config: Config, storage, clock: ShiftedReactor):
    cache = SessionCache(config.session, clock)
    context = ApiContext(
        reactor=clock,
        config=config,
        storage=storage,
        session_cache=cache,
        bcrypt_cost=4,
    )
    root = Resource()
    root.putChild(b"v2", build_api(context))
    root.putChild(b"healthcheck", HealthcheckResource(storage))
    site = Site(root, requestFactory=body_limited_request_factory(MAX_BODY))
    port = reactor.listenTCP(0, site, interface="127.0.0.1")
    return Server(f"http://127.0.0.1:{port.getHost().port}", context, clock), port


@pytest_twisted.async_yield_fixture
async def backend(storage_kind, tmp_path):
    clock = ShiftedReactor()
    opened = await start_test_storage(storage_kind, tmp_path, clock)
    yield opened.storage, clock
    await opened.close()


@pytest_twisted.async_yield_fixture
async def server(backend):
    storage, clock = backend
    served, port = await _serve(BASE_CONFIG, storage, clock)
    yield served
    await port.stopListening()


# Health and routing ------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_healthcheck(server):
    reply = await server.call("GET", "/healthcheck")
    assert (reply.status, reply.body) == (200, {})
    assert reply.headers.getRawHeaders("content-type") == ["application/json"]
    reply = await server.call("POST", "/healthcheck")
    assert (reply.status, reply.body) == (501, error(Code.UNIMPLEMENTED, "Method Not Allowed"))


@pytest_twisted.ensureDeferred
async def test_healthcheck_fails_while_the_database_is_unreachable(server):
    storage = server.context.storage
    # The database goes away under the running server: its connection (SQLite) or
    # connection pool (PostgreSQL) is closed while the worker threads stay up.
    close = storage._close if hasattr(storage, "_close") else storage._db.close
    await storage._run(close)
    reply = await server.call("GET", "/healthcheck")
    assert (reply.status, reply.body) == (503, error(Code.UNAVAILABLE, "Database unavailable."))


@pytest_twisted.ensureDeferred
async def test_unknown_path_and_wrong_method(server):
    reply = await server.call("GET", "/v2/nothing/here", auth=basic())
    assert (reply.status, reply.body) == (404, error(Code.NOT_FOUND, "Not Found"))
    reply = await server.call("GET", "/v2/account/authenticate/custom/", auth=basic())
    assert (reply.status, reply.body) == (404, error(Code.NOT_FOUND, "Not Found"))
    reply = await server.call("GET", "/v2/account/authenticate/custom", auth=basic())
    assert (reply.status, reply.body) == (501, error(Code.UNIMPLEMENTED, "Method Not Allowed"))


@pytest_twisted.ensureDeferred
async def test_cors(server):
    reply = await server.call(
        "OPTIONS",
        "/v2/account/authenticate/custom",
        headers={
            "Origin": "http://game.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert reply.status == 200 and reply.body is None
    assert reply.headers.getRawHeaders("access-control-allow-origin") == ["*"]
    assert reply.headers.getRawHeaders("access-control-allow-methods") == ["POST"]
    reply = await server.call("GET", "/healthcheck", headers={"Origin": "http://game.example"})
    assert (reply.status, reply.body) == (200, {})
    assert reply.headers.getRawHeaders("access-control-allow-origin") == ["*"]


# Authenticate: custom ----------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_authenticate_custom_creates_then_finds(server):
    first = await server.authenticate("custom", {"id": "custom-id-1"}, "?username=alice")
    assert first.status == 200
    assert set(first.body) == {"created", "token", "refresh_token"} and first.body["created"]
    token = claims(first.body["token"])
    assert token["usn"] == "alice"
    assert set(token) == {"tid", "uid", "usn", "exp", "iat"}
    assert token["exp"] - token["iat"] == 60
    refresh = claims(first.body["refresh_token"])
    assert refresh["tid"] == token["tid"] and refresh["exp"] - refresh["iat"] == 600

    again = await server.authenticate("custom", {"id": "custom-id-1"}, "?username=ignored")
    assert again.status == 200
    # protojson leaves false out: no "created" for an existing account.
    assert set(again.body) == {"token", "refresh_token"}
    assert claims(again.body["token"])["uid"] == token["uid"]
    assert claims(again.body["token"])["usn"] == "alice"
    assert claims(again.body["token"])["tid"] != token["tid"]


@pytest_twisted.ensureDeferred
async def test_authenticate_generates_username_and_carries_vars(server):
    body = await server.session("custom", {"id": "custom-id-2", "vars": {"k": "v"}})
    token = claims(body["token"])
    assert re.fullmatch(r"[a-zA-Z]{10}", token["usn"])
    assert token["vrs"] == {"k": "v"} and claims(body["refresh_token"])["vrs"] == {"k": "v"}


@pytest_twisted.ensureDeferred
async def test_authenticate_create_false(server):
    reply = await server.authenticate("custom", {"id": "custom-unknown"}, "?create=false")
    assert (reply.status, reply.body) == (404, error(Code.NOT_FOUND, "User account not found."))
    await server.session("custom", {"id": "custom-known"})
    reply = await server.authenticate("custom", {"id": "custom-known"}, "?create=false")
    assert reply.status == 200 and "created" not in reply.body
    reply = await server.authenticate("custom", {"id": "custom-known"}, "?create=maybe")
    assert reply.status == 400 and reply.body["code"] == Code.INVALID_ARGUMENT


@pytest_twisted.ensureDeferred
async def test_authenticate_duplicate_username(server):
    await server.session("custom", {"id": "custom-dup-1"}, "?username=taken")
    reply = await server.authenticate("custom", {"id": "custom-dup-2"}, "?username=taken")
    assert (reply.status, reply.body) == (
        409,
        error(Code.ALREADY_EXISTS, "Username is already in use."),
    )


@pytest_twisted.ensureDeferred
async def test_authenticate_server_key(server):
    path = "/v2/account/authenticate/custom"
    reply = await server.call("POST", path, {"id": "custom-id-1"})
    assert (reply.status, reply.body) == (401, error(Code.UNAUTHENTICATED, "Server key required"))
    for auth in (basic("wrong-key"), "Bearer abc", "Basic !!!", "Basic " + "eA=="):
        reply = await server.call("POST", path, {"id": "custom-id-1"}, auth=auth)
        assert (reply.status, reply.body) == (
            401,
            error(Code.UNAUTHENTICATED, "Server key invalid"),
        ), auth
    reply = await server.call("POST", path, {"id": "custom-id-1"}, auth=basic(password="x"))
    assert reply.status == 200


@pytest.mark.parametrize(
    ("account", "query", "message"),
    [
        ({}, "", "Custom ID is required."),
        ({"id": ""}, "", "Custom ID is required."),
        ({"id": "has space"}, "", "Custom ID invalid, no spaces or control characters allowed."),
        ({"id": "tab\there"}, "", "Custom ID invalid, no spaces or control characters allowed."),
        ({"id": "short"}, "", "Custom ID invalid, must be 6-128 bytes."),
        ({"id": "x" * 129}, "", "Custom ID invalid, must be 6-128 bytes."),
        (
            {"id": "custom-ok"},
            "?username=bad%01name",
            "Username invalid, no spaces or control characters allowed.",
        ),
        ({"id": "custom-ok"}, "?username=" + "u" * 129, "Username invalid, must be 1-128 bytes."),
    ],
)
@pytest_twisted.ensureDeferred
async def test_authenticate_custom_validation(server, account, query, message):
    reply = await server.authenticate("custom", account, query)
    assert (reply.status, reply.body) == (400, error(Code.INVALID_ARGUMENT, message))


@pytest_twisted.ensureDeferred
async def test_username_may_contain_spaces_like_nakama(server):
    body = await server.session("custom", {"id": "custom-spaces"}, "?username=two%20words")
    assert claims(body["token"])["usn"] == "two words"


@pytest_twisted.ensureDeferred
async def test_empty_body_means_no_account(server):
    reply = await server.authenticate("custom", b"")
    assert (reply.status, reply.body) == (
        400,
        error(Code.INVALID_ARGUMENT, "Custom ID is required."),
    )


# Authenticate: device ----------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_authenticate_device(server):
    created = await server.authenticate("device", {"id": "device-id-0001"})
    assert created.status == 200 and created.body["created"] is True
    again = await server.authenticate("device", {"id": "device-id-0001"})
    assert again.status == 200 and "created" not in again.body
    assert claims(again.body["token"])["uid"] == claims(created.body["token"])["uid"]
    account = await server.call("GET", "/v2/account", auth="Bearer " + again.body["token"])
    assert account.body["devices"] == [{"id": "device-id-0001"}]


@pytest.mark.parametrize(
    ("account", "message"),
    [
        ({"id": ""}, "Device ID is required."),
        (
            {"id": "device id with space"},
            "Device ID invalid, no spaces or control characters allowed.",
        ),
        ({"id": "short-id"}, "Device ID invalid, must be 10-128 bytes."),
        ({"id": "d" * 129}, "Device ID invalid, must be 10-128 bytes."),
    ],
)
@pytest_twisted.ensureDeferred
async def test_authenticate_device_validation(server, account, message):
    reply = await server.authenticate("device", account)
    assert (reply.status, reply.body) == (400, error(Code.INVALID_ARGUMENT, message))


@pytest_twisted.ensureDeferred
async def test_authenticate_device_create_false(server):
    reply = await server.authenticate("device", {"id": "device-unknown-1"}, "?create=false")
    assert (reply.status, reply.body) == (404, error(Code.NOT_FOUND, "User account not found."))


# Authenticate: email -----------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_authenticate_email(server):
    account = {"email": "Player@Example.com", "password": "correct horse"}
    created = await server.authenticate("email", account, "?username=player")
    assert created.status == 200 and created.body["created"] is True
    uid = claims(created.body["token"])["uid"]

    # Emails compare case-insensitively.
    again = await server.authenticate("email", {**account, "email": "PLAYER@example.COM"})
    assert again.status == 200 and "created" not in again.body
    assert claims(again.body["token"])["uid"] == uid

    wrong = await server.authenticate("email", {**account, "password": "wrong horse"})
    assert (wrong.status, wrong.body) == (401, error(Code.UNAUTHENTICATED, "Invalid credentials."))

    # Username and password, without an email.
    by_name = await server.authenticate("email", {"password": "correct horse"}, "?username=player")
    assert by_name.status == 200 and claims(by_name.body["token"])["uid"] == uid
    wrong = await server.authenticate("email", {"password": "wrong horse"}, "?username=player")
    assert (wrong.status, wrong.body) == (401, error(Code.UNAUTHENTICATED, "Invalid credentials."))
    missing = await server.authenticate("email", {"password": "whatever1"}, "?username=nobody")
    assert (missing.status, missing.body) == (
        404,
        error(Code.NOT_FOUND, "User account not found."),
    )

    account_reply = await server.call("GET", "/v2/account", auth="Bearer " + again.body["token"])
    assert account_reply.body["email"] == "player@example.com"


@pytest_twisted.ensureDeferred
async def test_authenticate_email_password_less_account(server):
    # An account without a password cannot log in by username.
    await server.session("custom", {"id": "custom-nopass"}, "?username=nopass")
    reply = await server.authenticate("email", {"password": "password1"}, "?username=nopass")
    assert (reply.status, reply.body) == (401, error(Code.UNAUTHENTICATED, "Invalid credentials."))


@pytest_twisted.ensureDeferred
async def test_authenticate_email_password_longer_than_bcrypt_takes(server):
    # Go's bcrypt refuses over 72 bytes; Nakama answers that as a failed creation.
    account = {"email": "long@example.com", "password": "p" * 73}
    reply = await server.authenticate("email", account)
    failed = error(Code.INTERNAL, "Error finding or creating user account.")
    assert (reply.status, reply.body) == (500, failed)
    assert (await server.authenticate("email", {**account, "password": "p" * 72})).status == 200


@pytest_twisted.ensureDeferred
async def test_authenticate_email_create_false(server):
    account = {"email": "nobody@example.com", "password": "password1"}
    reply = await server.authenticate("email", account, "?create=false")
    assert (reply.status, reply.body) == (404, error(Code.NOT_FOUND, "User account not found."))


@pytest.mark.parametrize(
    ("body", "query", "message"),
    [
        (b"", "", "Email address and password is required."),
        (
            {"email": "bad email@example.com", "password": "password1"},
            "",
            "Invalid email address, no spaces or control characters allowed.",
        ),
        (
            {"email": "no-at-sign.example.com", "password": "password1"},
            "",
            "Invalid email address format.",
        ),
        ({"email": "nodot@example", "password": "password1"}, "", "Invalid email address format."),
        (
            {"email": "a@b.co", "password": "password1"},
            "",
            "Invalid email address, must be 10-255 bytes.",
        ),
        (
            {"email": "a" * 250 + "@example.com", "password": "password1"},
            "",
            "Invalid email address, must be 10-255 bytes.",
        ),
        (
            {"email": "short@example.com", "password": "1234567"},
            "",
            "Password must be at least 8 characters long.",
        ),
        ({"email": "short@example.com"}, "", "Password must be at least 8 characters long."),
        ({"password": "password1"}, "", "Username is required when email address is not supplied."),
        (
            {"email": "user@example.com", "password": "password1"},
            "?username=%7F",
            "Username invalid, no spaces or control characters allowed.",
        ),
    ],
)
@pytest_twisted.ensureDeferred
async def test_authenticate_email_validation(server, body, query, message):
    reply = await server.authenticate("email", body, query)
    assert (reply.status, reply.body) == (400, error(Code.INVALID_ARGUMENT, message))


# Session refresh and logout ----------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_refresh(server):
    session = await server.session("custom", {"id": "custom-refresh", "vars": {"a": "1"}})
    reply = await server.call(
        "POST", "/v2/account/session/refresh", {"token": session["refresh_token"]}, auth=basic()
    )
    assert reply.status == 200 and set(reply.body) == {"token", "refresh_token"}
    old, new = claims(session["token"]), claims(reply.body["token"])
    # Nakama keeps the token id and issue time, and the vars unless new ones are sent.
    assert (new["tid"], new["iat"], new["uid"], new["vrs"]) == (
        old["tid"],
        old["iat"],
        old["uid"],
        {"a": "1"},
    )
    reply = await server.call(
        "POST",
        "/v2/account/session/refresh",
        {"token": session["refresh_token"], "vars": {"b": "2"}},
        auth=basic(),
    )
    assert claims(reply.body["token"])["vrs"] == {"b": "2"}
    account = await server.call("GET", "/v2/account", auth="Bearer " + reply.body["token"])
    assert account.status == 200


@pytest_twisted.ensureDeferred
async def test_refresh_refused(server):
    path = "/v2/account/session/refresh"
    session = await server.session("custom", {"id": "custom-refresh-2"})
    reply = await server.call("POST", path, {"token": ""}, auth=basic())
    assert (reply.status, reply.body) == (
        400,
        error(Code.INVALID_ARGUMENT, "Refresh token is required."),
    )
    invalid = error(Code.UNAUTHENTICATED, "Refresh token invalid or expired.")
    for token in ("garbage", session["token"]):  # A session token is no refresh token.
        reply = await server.call("POST", path, {"token": token}, auth=basic())
        assert (reply.status, reply.body) == (401, invalid)
    reply = await server.call("POST", path, {"token": session["refresh_token"]})
    assert (reply.status, reply.body) == (401, error(Code.UNAUTHENTICATED, "Server key required"))
    server.clock.advance(601)
    reply = await server.call("POST", path, {"token": session["refresh_token"]}, auth=basic())
    assert (reply.status, reply.body) == (401, invalid)


@pytest_twisted.ensureDeferred
async def test_logout_revokes_both_tokens(server):
    session = await server.session("custom", {"id": "custom-logout"})
    bearer = "Bearer " + session["token"]
    assert (await server.call("GET", "/v2/account", auth=bearer)).status == 200
    reply = await server.call(
        "POST",
        "/v2/session/logout",
        {"token": session["token"], "refresh_token": session["refresh_token"]},
        auth=bearer,
    )
    assert (reply.status, reply.body) == (200, {})
    reply = await server.call("GET", "/v2/account", auth=bearer)
    assert (reply.status, reply.body) == (401, error(Code.UNAUTHENTICATED, "Auth token invalid"))
    assert reply.headers.getRawHeaders("www-authenticate") == ["Auth token invalid"]
    reply = await server.call(
        "POST", "/v2/account/session/refresh", {"token": session["refresh_token"]}, auth=basic()
    )
    assert (reply.status, reply.body) == (
        401,
        error(Code.UNAUTHENTICATED, "Refresh token invalid or expired."),
    )


@pytest_twisted.ensureDeferred
async def test_logout_everywhere(server):
    first = await server.session("custom", {"id": "custom-logout-all"})
    server.clock.advance(1)  # Revocation is by whole seconds, as in Nakama.
    second = await server.session("custom", {"id": "custom-logout-all"})
    server.clock.advance(1)
    reply = await server.call("POST", "/v2/session/logout", {}, auth="Bearer " + second["token"])
    assert (reply.status, reply.body) == (200, {})
    for session in (first, second):
        reply = await server.call("GET", "/v2/account", auth="Bearer " + session["token"])
        assert reply.status == 401


@pytest_twisted.ensureDeferred
async def test_logout_rejects_foreign_tokens(server):
    mine = await server.session("custom", {"id": "custom-mine"})
    theirs = await server.session("custom", {"id": "custom-theirs"})
    bearer = "Bearer " + mine["token"]
    reply = await server.call("POST", "/v2/session/logout", {"token": theirs["token"]}, auth=bearer)
    assert (reply.status, reply.body) == (
        400,
        error(Code.INVALID_ARGUMENT, "Session token invalid."),
    )
    reply = await server.call("POST", "/v2/session/logout", {"refresh_token": "junk"}, auth=bearer)
    assert (reply.status, reply.body) == (
        400,
        error(Code.INVALID_ARGUMENT, "Refresh token invalid."),
    )
    reply = await server.call("POST", "/v2/session/logout", {}, auth=basic())
    assert (reply.status, reply.body) == (401, error(Code.UNAUTHENTICATED, "Auth token invalid"))


# Account -----------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_get_account(server):
    session = await server.session("custom", {"id": "custom-account"}, "?username=acct")
    reply = await server.call("GET", "/v2/account", auth="Bearer " + session["token"])
    assert reply.status == 200
    user = reply.body["user"]
    assert TIMESTAMP.match(user.pop("create_time")) and TIMESTAMP.match(user.pop("update_time"))
    # Proto field names; empty fields (display name, devices, email, online...) left out.
    assert reply.body == {
        "user": {
            "id": claims(session["token"])["uid"],
            "username": "acct",
            "lang_tag": "en",
            "metadata": "{}",
        },
        "wallet": "{}",
        "custom_id": "custom-account",
    }
    assert reply.headers.getRawHeaders("cache-control") == ["no-store, no-cache, must-revalidate"]


@pytest_twisted.ensureDeferred
async def test_bearer_auth_failures(server):
    session = await server.session("custom", {"id": "custom-bearer"})
    reply = await server.call("GET", "/v2/account")
    assert (reply.status, reply.body) == (401, error(Code.UNAUTHENTICATED, "Auth token required"))
    invalid = error(Code.UNAUTHENTICATED, "Auth token invalid")
    for auth in ("Bearer junk", "Bearer " + session["refresh_token"], session["token"], basic()):
        reply = await server.call("GET", "/v2/account", auth=auth)
        assert (reply.status, reply.body) == (401, invalid), auth
    server.clock.advance(61)
    reply = await server.call("GET", "/v2/account", auth="Bearer " + session["token"])
    assert (reply.status, reply.body) == (401, invalid)


# Bodies ------------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_malformed_bodies(server):
    for body in (
        b"{not json",
        b"[1, 2]",
        b'"text"',
        b'{"id": 12345678}',
        b'{"id": "ok-custom-id", "vars": {"k": 1}}',
    ):
        reply = await server.authenticate("custom", body)
        assert reply.status == 400, body
        assert reply.body["code"] == Code.INVALID_ARGUMENT and reply.body["message"]
        assert set(reply.body) == {"code", "message"}


@pytest_twisted.ensureDeferred
async def test_unknown_fields_ignored_and_camel_case_accepted(server):
    session = await server.session("custom", {"id": "custom-camel", "unknown": [1]})
    bearer = "Bearer " + session["token"]
    reply = await server.call(
        "POST", "/v2/session/logout", {"refreshToken": session["refresh_token"]}, auth=bearer
    )
    assert (reply.status, reply.body) == (200, {})
    reply = await server.call(
        "POST", "/v2/account/session/refresh", {"token": session["refresh_token"]}, auth=basic()
    )
    assert reply.status == 401


@pytest_twisted.ensureDeferred
async def test_oversize_body(server):
    body = orjson.dumps({"id": "custom-big-body", "vars": {"pad": "x" * MAX_BODY}})
    reply = await server.authenticate("custom", body)
    assert (reply.status, reply.body) == (
        400,
        error(Code.INVALID_ARGUMENT, "http: request body too large"),
    )


def test_read_body_limit_without_the_request_factory():
    class Plain:
        content = BytesIO(b"x" * 11)

    assert read_body(Plain(), 11) == b"x" * 11
    with pytest.raises(ApiError) as raised:
        read_body(Plain(), 10)
    assert raised.value.code == Code.INVALID_ARGUMENT


# Single session and failures ---------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_single_session(backend):
    storage, clock = backend
    config = replace(BASE_CONFIG, session=replace(BASE_CONFIG.session, single_session=True))
    served, port = await _serve(config, storage, clock)
    try:
        first = await served.session("custom", {"id": "custom-single"})
        clock.advance(1)
        second = await served.session("custom", {"id": "custom-single"})
        old = await served.call("GET", "/v2/account", auth="Bearer " + first["token"])
        assert (old.status, old.body) == (401, error(Code.UNAUTHENTICATED, "Auth token invalid"))
        new = await served.call("GET", "/v2/account", auth="Bearer " + second["token"])
        assert new.status == 200
    finally:
        await port.stopListening()


@pytest_twisted.ensureDeferred
async def test_unexpected_error_is_a_bare_500():
    async def broken(context, call):
        raise ZeroDivisionError("secret detail")

    root = Resource()
    root.putChild(b"v2", JsonResource(None, [Route(b"GET", (b"boom",), broken, "none")], None))
    port = reactor.listenTCP(0, Site(root), interface="127.0.0.1")
    try:
        url = f"http://127.0.0.1:{port.getHost().port}/v2/boom"
        response = await Agent(reactor).request(b"GET", url.encode())
        body = await read_response(response)
        assert response.code == 500
        assert orjson.loads(body) == error(Code.INTERNAL, "Internal Server Error")
        assert b"secret" not in body and b"Traceback" not in body
    finally:
        await port.stopListening()


class Refused(Exception):
    """What a fake storage raises on purpose."""


class NoSuchThing(Refused, LookupError):
    pass


@pytest_twisted.ensureDeferred
async def test_a_route_maps_errors_by_type_and_answers_failures_with_its_message():
    raised: list[Exception] = []

    async def failing(context, call):
        if isinstance(raised[-1], ZeroDivisionError):
            call.internal = "Error while doing the second step."
        raise raised[-1]

    route = Route(
        b"GET",
        (b"thing",),
        failing,
        "none",
        errors={
            LookupError: ApiError(Code.NOT_FOUND, "Thing not found."),
            Refused: lambda refused: ApiError(Code.INVALID_ARGUMENT, f"Refused: {refused}."),
        },
        internal="Error while doing the thing.",
    )
    root = Resource()
    root.putChild(b"v2", JsonResource(None, [route], None))
    port = reactor.listenTCP(0, Site(root), interface="127.0.0.1")
    url = f"http://127.0.0.1:{port.getHost().port}/v2/thing".encode()
    events: list[dict[str, Any]] = []
    globalLogPublisher.addObserver(events.append)

    async def answer(error: Exception) -> tuple[int, Any]:
        raised.append(error)
        response = await Agent(reactor).request(b"GET", url)
        return response.code, orjson.loads(await read_response(response))

    try:
        # The most specific class the route names wins: NoSuchThing is a Refused first.
        assert await answer(NoSuchThing("no")) == (
            400,
            error(Code.INVALID_ARGUMENT, "Refused: no."),
        )
        assert await answer(KeyError("k")) == (404, error(Code.NOT_FOUND, "Thing not found."))
        # A step the handler named, then the route's own words.
        second = error(Code.INTERNAL, "Error while doing the second step.")
        assert await answer(ZeroDivisionError("secret")) == (500, second)
        internal = error(Code.INTERNAL, "Error while doing the thing.")
        for _ in range(3):
            assert await answer(StorageUnavailable("the file is locked")) == (500, internal)
    finally:
        globalLogPublisher.removeObserver(events.append)
        await port.stopListening()
    ours = [e for e in events if e.get("log_namespace", "").startswith(("nakama_rt", __name__))]
    # The unexpected failure keeps its traceback, logged under the handler's module.
    (failure,) = [e for e in ours if e.get("log_failure") is not None]
    assert failure["log_namespace"] == __name__
    assert failure["log_failure"].check(ZeroDivisionError)
    # The outage is one warning, not one per request.
    warnings = [formatEvent(e) for e in ours if e["log_level"] == LogLevel.warn]
    assert warnings == ["database unavailable: the file is locked: GET /v2/thing answered 500"]
