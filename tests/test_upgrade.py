"""The ``/ws`` opening handshake: gorilla/websocket's rules, and a socket opened by
it in the same state as one opened by Autobahn's own handshake."""

from __future__ import annotations

import gc
import weakref

import jwt
import pytest
import pytest_twisted
from autobahn.websocket.protocol import WebSocketProtocol
from twisted.internet import reactor
from twisted.logger import globalLogPublisher
from twisted.web.http_headers import Headers

from nakama_rt.socket import upgrade
from nakama_rt.socket.protocol import NakamaServerProtocol
from nakama_rt.web.resources import SocketResource
from tests.targets import Target, raw_request
from tests.wsclient import authenticate, connect

RFC_KEY = b"dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455's example and its answer
RFC_ACCEPT = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


@pytest.mark.parametrize(
    "values, expected",
    [
        ([b"Upgrade"], True),
        ([b"UPGRADE"], True),
        ([b"keep-alive, Upgrade"], True),
        ([b"keep-alive,upgrade"], True),
        ([b" \tupgrade \t"], True),
        ([b"keep-alive", b"upgrade"], True),  # several header lines
        ([b"upgrade,"], True),
        ([b"keep-alive"], False),
        ([b"upgraded"], False),
        ([b""], False),
        ([], False),
        (None, False),
        # gorilla abandons a value at its first element that is not a plain token
        ([b"a;q=1, upgrade"], False),
        ([b"a,,upgrade"], False),
        ([b'"upgrade"'], False),
        ([b"up grade"], False),
        ([b"a;q=1", b"upgrade"], True),  # ... but reads the next header line
    ],
)
def test_token_lists_are_read_as_gorilla_reads_them(values, expected) -> None:
    assert upgrade.token_list_contains(values, b"upgrade") is expected


@pytest.mark.parametrize(
    "key, valid",
    [
        (RFC_KEY, True),
        (b"AAAAAAAAAAAAAAAAAAAAAA==", True),
        (b"dGhlIHNhbXBsZSBub25jZQ", False),  # unpadded
        (b"dGhlIHNhbXBsZSBub25jZQ==x", False),
        (b"dGhlIHNhbXBsZSBub25jZQ-_", False),  # the URL-safe alphabet
        (b"c2hvcnQ=", False),  # 5 bytes
        (b"AAAAAAAAAAAAAAAAAAAAAAAA", False),  # 18 bytes
        (b"abc", False),
        (b"", False),
        (None, False),
    ],
)
def test_a_key_is_padded_base64_of_16_bytes(key, valid) -> None:
    assert upgrade.valid_key(key) is valid


def _headers(**values: str) -> Headers:
    names = {
        "connection": b"connection",
        "upgrade": b"upgrade",
        "version": b"sec-websocket-version",
        "key": b"sec-websocket-key",
    }
    return Headers({names[name]: [value.encode()] for name, value in values.items()})


FULL = {"connection": "Upgrade", "upgrade": "websocket", "version": "13", "key": RFC_KEY.decode()}


@pytest.mark.parametrize(
    "change, accepted",
    [
        ({}, True),
        ({"connection": "keep-alive, Upgrade", "upgrade": "WebSocket"}, True),
        ({"connection": "keep-alive"}, False),
        ({"upgrade": "h2c"}, False),
        ({"version": "8"}, False),
        ({"version": "8, 13"}, True),
        ({"key": "abc"}, False),
    ],
)
def test_handshake_key(change, accepted) -> None:
    key = upgrade.handshake_key(_headers(**{**FULL, **change}))
    assert key == (RFC_KEY if accepted else None)
    missing = {name: value for name, value in FULL.items() if name not in change}
    for name in missing:  # any one header left out refuses the upgrade
        partial = {k: v for k, v in {**FULL, **change}.items() if k != name}
        assert upgrade.handshake_key(_headers(**partial)) is None


def test_the_101_response_is_nakamas() -> None:
    assert upgrade.switching_protocols(RFC_KEY) == (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + RFC_ACCEPT + b"\r\n\r\n"
    )


# Attributes only Autobahn's handshake sets: what it parsed of the request.
HANDSHAKE_ONLY = {
    "http_request_data",
    "http_status_line",
    "http_headers",
    "http_request_uri",
    "http_request_path",
    "http_request_params",
    "http_request_host",
    "http_response_data",
    "websocket_origin",
    "websocket_protocols",
    "websocket_extensions",
    "_wskey",
}


def _open_protocol(server, token: str):
    user_id = jwt.decode(token, options={"verify_signature": False})["uid"]
    return next(p for p in server.app.socket_factory.open_protocols if p.session.user_id == user_id)


@pytest_twisted.ensureDeferred
async def test_a_socket_opened_by_the_resource_matches_autobahns_handshake(server) -> None:
    """The factory also serves sockets on its own (Autobahn's handshake, onConnect);
    both ways must leave a socket in the same state."""
    plain = reactor.listenTCP(0, server.app.socket_factory, interface="127.0.0.1")
    try:
        web_user = await authenticate(server.port, "upgrade-web-user")
        own_user = await authenticate(server.port, "upgrade-own-user")
        web_client = await connect(server.port, web_user["token"])
        own_client = await connect(plain.getHost().port, own_user["token"])
        assert len(server.app.socket_factory.open_protocols) == 2
        by_web = _open_protocol(server, web_user["token"])
        by_autobahn = _open_protocol(server, own_user["token"])
        assert set(vars(by_web)) == set(vars(by_autobahn)) - HANDSHAKE_ONLY
        for name in (
            "state",
            "websocket_version",
            "websocket_protocol_in_use",
            "websocket_extensions_in_use",
            "inside_message",
            "current_frame",
            "openHandshakeTimeoutCall",
            "data",
        ):
            assert getattr(by_web, name) == getattr(by_autobahn, name), name
        assert by_web.state == WebSocketProtocol.STATE_OPEN
        assert by_web.is_open.called and by_autobahn.is_open.called
        assert (by_web.session.client_ip, by_autobahn.session.client_ip) == (
            "127.0.0.1",
            "127.0.0.1",
        )
        assert by_web.session.client_port == str(web_client.transport.getHost().port)
        # Both carry traffic.
        for client in (web_client, own_client):
            client.send({"cid": "1", "ping": {}})
            assert (await client.next())["cid"] == "1"
        # Neither answers with a Server header (Autobahn's would name an object).
        token = own_user["token"]
        for port in (server.port, plain.getHost().port):
            head = await raw_request(
                Target("ours", "127.0.0.1", port),
                f"GET /ws?token={token} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
                f"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                f"Sec-WebSocket-Key: {RFC_KEY.decode()}\r\n\r\n".encode(),
            )
            assert head.startswith(b"HTTP/1.1 101 ") and b"\r\nServer:" not in head, head
    finally:
        await plain.stopListening()


@pytest_twisted.ensureDeferred
async def test_the_upgrade_request_and_its_channel_are_freed_at_once(server, monkeypatch) -> None:
    """Without waiting for the garbage collector: they would otherwise cost every
    connect a share of the collections."""
    seen: list[weakref.ref] = []
    render = SocketResource.render

    def watching(self, request):
        seen.extend((weakref.ref(request), weakref.ref(request.channel)))
        return render(self, request)

    monkeypatch.setattr(SocketResource, "render", watching)
    user = await authenticate(server.port, "upgrade-freed-user")
    gc.disable()
    try:
        client = await connect(server.port, user["token"])
        client.send({"cid": "1", "ping": {}})
        assert (await client.next())["cid"] == "1"
        assert len(seen) == 2 and all(ref() is None for ref in seen)
    finally:
        gc.enable()


@pytest_twisted.ensureDeferred
async def test_a_socket_that_fails_to_open_is_dropped_alone(server, monkeypatch) -> None:
    user = await authenticate(server.port, "upgrade-fails-user")
    other = await authenticate(server.port, "upgrade-other-user")
    survivor = await connect(server.port, other["token"])

    def broken(self, *args):
        raise RuntimeError("cannot open")

    monkeypatch.setattr(NakamaServerProtocol, "open_upgraded", broken)
    failures: list[dict] = []

    def observe(event: dict) -> None:
        if "log_failure" in event:
            failures.append(event)

    globalLogPublisher.addObserver(observe)
    try:
        with pytest.raises(ConnectionError):
            await connect(server.port, user["token"])
    finally:
        globalLogPublisher.removeObserver(observe)
    assert [event["log_failure"].value.args for event in failures] == [("cannot open",)]
    survivor.send({"cid": "1", "ping": {}})
    assert (await survivor.next())["cid"] == "1"
