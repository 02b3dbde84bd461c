"""Upgrades per address (issue 17): a rate of ``/ws`` upgrades and a number of
connections still sending their first request, each refused with 429 and a text;
5,000 upgrade attempts from one address are refused at the limit while a client from
another address connects and is answered promptly.

The flooding address is 127.0.0.1 and the control client's 127.0.0.2 (every 127/8
address is the loopback interface), with ``socket.exempt_private_addresses`` off;
with it on (the default) neither is limited.
"""

from __future__ import annotations

import re
import time
import uuid

import pytest
import pytest_twisted
from autobahn.twisted.websocket import WebSocketClientFactory
from twisted.internet import reactor
from twisted.internet.defer import Deferred, DeferredSemaphore, ensureDeferred, gatherResults
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.protocol import Protocol
from twisted.internet.task import deferLater

from nakama_rt.web.limits import TOO_MANY_OPENING, TOO_MANY_UPGRADES
from tests.wsclient import SocketClient, authenticate


class Raw(Protocol):
    """A TCP client that writes what it is told and keeps what it receives."""

    def __init__(self, data: bytes = b"") -> None:
        self.data = data
        self.received = bytearray()
        self.lost: Deferred[bytes] = Deferred()

    def connectionMade(self) -> None:  # noqa: N802
        if self.data:
            self.transport.write(self.data)

    def dataReceived(self, data: bytes) -> None:  # noqa: N802
        self.received += data

    def connectionLost(self, reason) -> None:  # noqa: N802
        self.lost.callback(bytes(self.received))


class OneAnswer(Raw):
    """A client that hangs up once it has read one whole answer (a 401 would keep
    the connection open)."""

    def dataReceived(self, data: bytes) -> None:  # noqa: N802
        super().dataReceived(data)
        head, blank, body = bytes(self.received).partition(b"\r\n\r\n")
        length = re.search(rb"\r\nContent-Length: (\d+)", head)
        if blank and length is not None and len(body) >= int(length.group(1)):
            self.transport.loseConnection()


async def raw(port: int, data: bytes = b"", source: str = "127.0.0.1", kind=Raw) -> Raw:
    endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", port, bindAddress=(source, 0))
    return await connectProtocol(endpoint, kind(data))


def upgrade_request(token: str = "not-a-token") -> bytes:
    return (
        f"GET /ws?token={token}&format=json HTTP/1.1\r\nHost: x\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


async def sleep(seconds: float) -> None:
    await deferLater(reactor, seconds, lambda: None)


async def until(predicate, within: float = 5.0) -> None:
    for _ in range(int(within / 0.01)):
        if predicate():
            return
        await sleep(0.01)
    assert predicate()


async def socket_from(port: int, token: str, source: str) -> SocketClient:
    """A JSON socket opened from ``source`` (a loopback address of its own)."""
    factory = WebSocketClientFactory(f"ws://127.0.0.1:{port}/ws?token={token}&format=json")
    factory.protocol = SocketClient
    factory.fmt = "json"
    factory.opened = Deferred()
    endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", port, bindAddress=(source, 0))
    await endpoint.connect(factory)
    return await factory.opened


RATE = 20
UPGRADES = {
    "socket": {
        "max_upgrades_per_sec_per_address": RATE,
        "exempt_private_addresses": False,
        "max_connections_per_address": 0,
    }
}


#: Attempts in flight at once (the listener's backlog is 50: a burst of thousands of
#: connects would mostly wait for SYN retries, a second each).
IN_FLIGHT = 40


async def attempt(port: int, answers: list[bytes]) -> None:
    attacker = await raw(port, upgrade_request(), kind=OneAnswer)
    answers.append(await attacker.lost)


@pytest.mark.parametrize("server_options", [UPGRADES])
@pytest_twisted.ensureDeferred
async def test_5000_upgrade_attempts_are_refused_at_the_limit_without_stalling_others(
    server,
) -> None:
    """5,000 upgrade attempts from 127.0.0.1, each on a connection of its own, 40 at a
    time (bad tokens: those the limit lets through are answered 401, the others 429),
    while a socket from another address pings throughout and another one opens in
    the middle of it."""
    token = (await authenticate(server.port, f"custom-{uuid.uuid4()}"))["token"]
    control = await socket_from(server.port, token, "127.0.0.2")
    answers: list[bytes] = []
    limiter = DeferredSemaphore(IN_FLIGHT)
    started = time.monotonic()
    flood = gatherResults(
        [limiter.run(lambda: ensureDeferred(attempt(server.port, answers))) for _ in range(5000)]
    )
    opening = ensureDeferred(socket_from(server.port, token, "127.0.0.2"))
    rounds: list[float] = []
    while not flood.called:
        sent = time.monotonic()
        cid = str(len(rounds))
        assert await control.request({"cid": cid, "ping": {}}) == {"cid": cid, "pong": {}}
        rounds.append(time.monotonic() - sent)
        assert time.monotonic() - started < 60, "the flood was not answered in time"
    await flood
    elapsed = time.monotonic() - started
    other = await opening
    refused = sum(a.startswith(b"HTTP/1.1 429 Too Many Requests\r\n") for a in answers)
    let_through = sum(a.startswith(b"HTTP/1.1 401 Unauthorized\r\n") for a in answers)
    assert (refused, let_through) == (5000 - let_through, len(answers) - refused)
    # The burst, and what the bucket refilled while the flood lasted.
    assert RATE <= let_through <= RATE + RATE * elapsed + 1
    assert all(a.endswith(TOO_MANY_UPGRADES.encode() + b"\n") for a in answers if b" 429 " in a)
    assert server.server.counts.limit_refusals["upgrade_rate"] == refused
    # Answered between the attempts, not after them (a loose bound: no timing test).
    rounds.sort()
    assert len(rounds) >= 10 and rounds[len(rounds) * 9 // 10] < 0.25, rounds[-5:]
    assert await other.request({"cid": "o", "ping": {}}) == {"cid": "o", "pong": {}}
    for client in (control, other):
        client.sendClose()
        await client.closed()


@pytest.mark.parametrize("server_options", [UPGRADES])
@pytest_twisted.ensureDeferred
async def test_a_refused_upgrade_answers_429_with_a_reason_and_closes(server) -> None:
    """Pipelined upgrades: the burst is answered 401 (bad token) one by one, the first
    one over it 429, and the connection closes: the rest are not read."""
    attacker = await raw(server.port, upgrade_request() * (RATE + 10))
    answers = (await attacker.lost.addTimeout(5, reactor)).split(b"HTTP/1.1 ")[1:]
    codes = [a[:3] for a in answers]
    # (one more 401 if the bucket refilled a token meanwhile)
    assert codes[-1] == b"429" and set(codes[:-1]) == {b"401"} and RATE <= len(codes) - 1 < RATE + 3
    head, _, body = answers[-1].partition(b"\r\n\r\n")
    assert head.startswith(b"429 Too Many Requests\r\n")
    assert b"\r\nRetry-After: 1\r\n" in head and b"\r\nConnection: close\r\n" in head
    assert b"text/plain" in head
    assert body == TOO_MANY_UPGRADES.encode() + b"\n"
    assert server.server.counts.limit_refusals == {"upgrade_rate": 1}


@pytest_twisted.ensureDeferred
async def test_loopback_is_exempt_by_default(tmp_path) -> None:
    from tests.conftest import make_config, start_server, stop_server

    config = make_config(
        tmp_path,
        socket={"max_upgrades_per_sec_per_address": 1, "max_concurrent_upgrades_per_address": 1},
    )
    running = await start_server(config)
    try:
        held = await raw(running.port)  # one connection still to send its request
        attacker = await raw(
            running.port, upgrade_request() * 10 + b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n"
        )
        answers = await attacker.lost
        assert answers.count(b"HTTP/1.1 401 Unauthorized\r\n") == 10
        assert running.server.counts.limit_refusals == {}
        held.transport.loseConnection()
        await held.lost
    finally:
        await stop_server(running)


OPENING = {
    "socket": {
        "max_concurrent_upgrades_per_address": 3,
        "exempt_private_addresses": False,
    }
}


@pytest.mark.parametrize("server_options", [OPENING])
@pytest_twisted.ensureDeferred
async def test_connections_still_sending_their_first_request_are_limited(server) -> None:
    """Three connections from 127.0.0.1 that have sent nothing: a fourth is answered
    429 at once; another address is not; once one of the three has sent its request,
    a new connection is served."""
    site = server.listening.factory
    silent = [await raw(server.port) for _ in range(3)]
    await until(lambda: site.opening.get("127.0.0.1") == 3)
    refused = await raw(server.port, upgrade_request())
    assert await refused.lost.addTimeout(5, reactor) == TOO_MANY_OPENING
    assert site.counts.concurrent_upgrades == 1
    elsewhere = await raw(
        server.port, b"GET /healthcheck HTTP/1.1\r\nConnection: close\r\n\r\n", "127.0.0.2"
    )
    assert (await elsewhere.lost).startswith(b"HTTP/1.1 200 OK\r\n")
    silent[0].transport.write(b"GET /healthcheck HTTP/1.1\r\n\r\n")
    await until(lambda: site.opening.get("127.0.0.1") == 2)
    served = await raw(server.port, b"GET /healthcheck HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert (await served.lost).startswith(b"HTTP/1.1 200 OK\r\n")
    for client in silent:
        client.transport.loseConnection()
        await client.lost
    await until(lambda: site.opening == {})
    refusals = {
        s.labels["limit"]: s.value
        for family in server.app.metrics_registry.collect()
        if family.name == "nakama_rt_limit_refusals"
        for s in family.samples
        if s.name.endswith("_total")
    }
    assert refusals == {"concurrent_upgrades": 1}
