"""Socket timers against a real server with short settings: pings, the pong deadline,
and the bounded close handshake, seen by a raw TCP client that can misbehave."""

from __future__ import annotations

import base64
import os
import struct
import uuid

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.protocol import Protocol
from twisted.internet.task import deferLater

from tests.wsclient import authenticate, connect

FAST = {"socket": {"ping_period_ms": 100, "pong_wait_ms": 300, "close_ack_wait_ms": 300}}


class RawSocket(Protocol):
    """A WebSocket client written out by hand: it never answers pings or close frames."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.buffer = b""
        self.upgraded: Deferred = Deferred()
        self.lost: Deferred = Deferred()
        self.opcodes: list[int] = []

    def connectionMade(self) -> None:  # noqa: N802
        key = base64.b64encode(os.urandom(16)).decode()
        self.transport.write(
            (
                f"GET /ws?token={self.token} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )

    def dataReceived(self, data: bytes) -> None:  # noqa: N802
        self.buffer += data
        if not self.upgraded.called:
            head, sep, rest = self.buffer.partition(b"\r\n\r\n")
            if not sep:
                return
            self.buffer = rest
            self.upgraded.callback(head.split(b"\r\n")[0])
        while len(self.buffer) >= 2:
            opcode, length = self.buffer[0] & 0x0F, self.buffer[1] & 0x7F
            offset = 2
            if length == 126:
                (length,) = struct.unpack("!H", self.buffer[2:4])
                offset = 4
            if len(self.buffer) < offset + length:
                return
            self.opcodes.append(opcode)
            self.buffer = self.buffer[offset + length :]

    def send_text(self, payload: bytes) -> None:
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.transport.write(bytes([0x81, 0x80 | len(payload)]) + mask + masked)

    def connectionLost(self, reason) -> None:  # noqa: N802
        self.lost.callback(reason.value)


async def raw_socket(port: int) -> RawSocket:
    session = await authenticate(port, f"raw-{uuid.uuid4()}")
    raw = RawSocket(session["token"])
    await connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", port), raw)
    status = await raw.upgraded
    assert status == b"HTTP/1.1 101 Switching Protocols"
    return raw


@pytest.mark.parametrize("server_options", [FAST])
@pytest_twisted.ensureDeferred
async def test_a_client_that_never_answers_pings_is_closed(server) -> None:
    raw = await raw_socket(server.port)
    await raw.lost.addTimeout(5, reactor)
    assert 0x9 in raw.opcodes, "the server pinged"
    assert raw.opcodes[-1] == 0x8, "then sent a close frame"
    assert len(server.server.sessions) == 0


@pytest.mark.parametrize("server_options", [FAST])
@pytest_twisted.ensureDeferred
async def test_the_close_handshake_does_not_wait_forever(server) -> None:
    raw = await raw_socket(server.port)
    raw.send_text(b"not json")  # the server closes with "received malformed payload"
    why = await raw.lost.addTimeout(5, reactor)  # and drops us although we never answer
    assert raw.opcodes == [0x8], (why, raw.buffer)


@pytest.mark.parametrize("server_options", [FAST])
@pytest_twisted.ensureDeferred
async def test_a_client_answering_pings_stays_connected(server) -> None:
    session = await authenticate(server.port, f"pinged-{uuid.uuid4()}")
    client = await connect(server.port, session["token"])
    pings = []
    original = client.onPing
    client.onPing = lambda payload: (pings.append(payload), original(payload))
    await deferLater(reactor, 1.0, lambda: None)
    assert len(pings) >= 5
    assert await client.request({"cid": "1", "ping": {}}) == {"cid": "1", "pong": {}}
    assert not client.close_info.called
