"""A WebSocket client at the byte level, as an attacker writes one: the upgrade by hand,
then whatever frames a test builds, masked or not as it chooses (used by the hostile
socket tests and by the conformance cases that compare close frames with Nakama's)."""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator

from twisted.internet import reactor
from twisted.internet.defer import Deferred, DeferredQueue
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.error import ConnectionDone
from twisted.internet.protocol import Protocol
from twisted.python.failure import Failure

TEXT, BINARY, CONTINUATION, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA


def frame(payload: bytes, opcode: int = TEXT, fin: bool = True) -> bytes:
    """A client frame, masked with a random key, in the shortest length encoding."""
    mask = os.urandom(4)
    size = len(payload)
    if size < 126:
        head = bytes([(0x80 if fin else 0) | opcode, 0x80 | size])
    else:
        head = bytes([(0x80 if fin else 0) | opcode, 0x80 | 126]) + struct.pack("!H", size)
    key = (mask * (size // 4 + 1))[:size]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(size, "big")
    return head + mask + masked


class RawSocket(Protocol):
    """A WebSocket client that writes whatever bytes a test gives it, as an attacker
    would: the upgrade by hand, then frames. It queues the server's frames (answering
    the server's pings itself, so it stays alive) and records how the connection
    ended."""

    def __init__(self, request: bytes) -> None:
        self.request = request
        self.buffer = b""
        self.upgraded: Deferred[bytes] = Deferred()
        self.ended: Deferred[None] = Deferred()
        self.end_reason: Failure | None = None
        self.frames: DeferredQueue = DeferredQueue()
        self.pings_answered = 0

    def connectionMade(self) -> None:  # noqa: N802
        self.transport.write(self.request)

    def dataReceived(self, data: bytes) -> None:  # noqa: N802
        self.buffer += data
        if not self.upgraded.called:
            head, blank, rest = self.buffer.partition(b"\r\n\r\n")
            if not blank:
                return
            self.buffer = rest
            if not head.startswith(b"HTTP/1.1 101 "):
                self.upgraded.errback(ConnectionError(head.decode("latin-1")))
                return
            self.upgraded.callback(head)
        for opcode, payload in self._server_frames():
            if opcode == PING:
                self.pings_answered += 1
                self.send(frame(payload, PONG))
            else:
                self.frames.put((opcode, payload))

    def _server_frames(self) -> Iterator[tuple[int, bytes]]:
        """The complete (unmasked, unfragmented) server frames in the buffer."""
        while len(self.buffer) >= 2:
            size, at = self.buffer[1] & 0x7F, 2
            if size == 126:
                if len(self.buffer) < 4:
                    return
                (size,) = struct.unpack_from("!H", self.buffer, 2)
                at = 4
            if len(self.buffer) < at + size:
                return
            opcode = self.buffer[0] & 0x0F
            payload, self.buffer = self.buffer[at : at + size], self.buffer[at + size :]
            yield opcode, payload

    def connectionLost(self, reason: Failure) -> None:  # noqa: N802
        self.end_reason = reason
        self.ended.callback(None)

    def send(self, *frames: bytes) -> None:
        self.transport.write(b"".join(frames))

    def next(self, timeout: float = 5.0) -> Deferred:
        """The server's next frame (not its pings), as ``(opcode, payload)``."""
        return self.frames.get().addTimeout(timeout, reactor)

    async def end(self, timeout: float = 5.0) -> bool:
        """Wait for the connection to end: True when the server closed it cleanly
        (FIN), False when it reset it."""
        await self.ended.addTimeout(timeout, reactor)
        assert self.end_reason is not None
        return self.end_reason.check(ConnectionDone) is not None


async def raw_socket(
    port: int, token: str, fmt: str = "json", host: str = "127.0.0.1"
) -> RawSocket:
    """A socket upgraded by hand on ``host:port`` for ``token``."""
    request = (
        f"GET /ws?token={token}&format={fmt} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    client = RawSocket(request)
    await connectProtocol(TCP4ClientEndpoint(reactor, host, port), client)
    await client.upgraded.addTimeout(5, reactor)
    return client


def close_payload(code: int, reason: bytes = b"") -> bytes:
    return struct.pack("!H", code) + reason
