"""Hostile HTTP clients (issue 13): each attack sent over TCP to a real server on
127.0.0.1, then the timers alone on a ``task.Clock``.

What Nakama (Go's net/http with ReadTimeout 10 s, IdleTimeout 60 s, MaxHeaderBytes
5120) does is the reference: it closes a request that takes too long to arrive
without an answer, answers an oversized head with ``431 Request Header Fields Too
Large`` and an unparsable Content-Length with ``400 Bad Request`` (plain text).
"""

from __future__ import annotations

import base64
import time

import pytest
import pytest_twisted
from conftest import make_config, start_server, stop_server
from test_embedding import self_signed
from twisted.internet import reactor, ssl
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import (
    TCP4ClientEndpoint,
    connectProtocol,
    serverFromString,
    wrapClientTLS,
)
from twisted.internet.protocol import Protocol
from twisted.internet.task import Clock, deferLater
from twisted.internet.testing import StringTransport
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET
from wsclient import authenticate, connect

from nakama_rt.api import body_limited_request_factory
from nakama_rt.config import Config, ConfigError, SocketConfig
from nakama_rt.tap import Options
from nakama_rt.web.limits import (
    BAD_REQUEST,
    HEADERS_TOO_LARGE,
    HttpLimits,
    LimitedSite,
    address_key,
)

READ_TIMEOUT = 0.6
IDLE_TIMEOUT = 1.5
SERVER_KEY_BASIC = "Basic " + base64.b64encode(b"defaultkey:").decode()


@pytest_twisted.async_yield_fixture
async def server(tmp_path):
    socket = {
        "read_timeout_ms": int(READ_TIMEOUT * 1000),
        "idle_timeout_ms": int(IDLE_TIMEOUT * 1000),
    }
    running = await start_server(make_config(tmp_path, socket=socket))
    yield running
    await stop_server(running)


class RawClient(Protocol):
    """A TCP client that writes what it is told and keeps what it receives."""

    def __init__(self) -> None:
        self.received = bytearray()
        self.lost: Deferred = Deferred()
        self.lost_at: float | None = None

    def connectionMade(self) -> None:  # noqa: N802
        self.opened_at = time.monotonic()

    def dataReceived(self, data: bytes) -> None:  # noqa: N802
        self.received += data

    def connectionLost(self, reason) -> None:  # noqa: N802
        self.lost_at = time.monotonic()
        self.lost.callback(bytes(self.received))

    @property
    def open(self) -> bool:
        return self.lost_at is None

    async def answer(self, within: float) -> bytes:
        """Everything received until the server closed, which must be within ``within``."""
        return await self.lost.addTimeout(within, reactor)


async def raw_client(port: int, tls=None) -> RawClient:
    endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", port, timeout=5)
    if tls is not None:
        endpoint = wrapClientTLS(tls, endpoint)
    return await connectProtocol(endpoint, RawClient())


async def sleep(seconds: float) -> None:
    await deferLater(reactor, seconds, lambda: None)


async def until(predicate, within: float = 5.0) -> None:
    for _ in range(int(within / 0.02)):
        if predicate():
            return
        await sleep(0.02)
    assert predicate()


# Slowloris and the deadlines


@pytest_twisted.ensureDeferred
async def test_slowloris_head_is_closed_at_the_read_deadline(server):
    """A request head that never ends, one header line at a time, used to keep its
    connection forever (twisted.web's idle timer restarted on every line). Go closes
    it at ReadTimeout without an answer; so do we."""
    attacker = await raw_client(server.port)
    attacker.transport.write(b"GET /healthcheck HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    for i in range(40):  # up to 6 s of one line every 150 ms
        await sleep(0.15)
        if not attacker.open:
            break
        attacker.transport.write(b"X-Slow-%d: 1\r\n" % i)
    assert not attacker.open, "still open after 6 s of header lines"
    assert attacker.received == b"", "Go closes without answering"
    assert READ_TIMEOUT - 0.1 <= attacker.lost_at - attacker.opened_at < READ_TIMEOUT + 1.5
    reply = await authenticate(server.port, "custom-after-slowloris")
    assert reply["token"], "clients are still served"


@pytest_twisted.ensureDeferred
async def test_silent_connection_is_closed_at_the_read_deadline(server):
    """The first request's deadline runs from the connection's start (Go's)."""
    silent = await raw_client(server.port)
    assert await silent.answer(within=READ_TIMEOUT + 2) == b""
    assert silent.lost_at - silent.opened_at >= READ_TIMEOUT - 0.1


@pytest_twisted.ensureDeferred
async def test_slow_body_is_closed_at_the_read_deadline(server):
    client = await raw_client(server.port)
    client.transport.write(
        b"POST /v2/account/authenticate/custom HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Authorization: " + SERVER_KEY_BASIC.encode() + b"\r\n"
        b"Content-Type: application/json\r\nContent-Length: 40\r\n\r\n{"
    )
    for _ in range(40):
        await sleep(0.15)
        if not client.open:
            break
        client.transport.write(b" ")
    assert not client.open
    assert client.received == b""


@pytest_twisted.ensureDeferred
async def test_keep_alive_connection_closes_after_idle_timeout(server):
    client = await raw_client(server.port)
    request = b"GET /healthcheck HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    client.transport.write(request)
    await until(lambda: client.received.endswith(b"{}"))
    assert client.received.startswith(b"HTTP/1.1 200 OK\r\n")
    # Idle for longer than the read deadline: still open, and serves a second request.
    await sleep(READ_TIMEOUT + 0.3)
    assert client.open
    client.received.clear()
    client.transport.write(request)
    await until(lambda: client.received.endswith(b"{}"))
    answered = time.monotonic()
    assert await client.answer(within=IDLE_TIMEOUT + 2)
    assert IDLE_TIMEOUT - 0.1 <= client.lost_at - answered


@pytest_twisted.ensureDeferred
async def test_websocket_is_not_cut_by_the_http_deadlines(server):
    session = await authenticate(server.port, "custom-ws-deadlines")
    socket = await connect(server.port, session["token"])
    await sleep(IDLE_TIMEOUT + 0.5)
    answer = await socket.request({"cid": "1", "ping": {}})
    assert answer == {"cid": "1", "pong": {}}
    socket.sendClose()
    await socket.closed()


class SlowResource(Resource):
    """Answers after ``delay`` seconds."""

    isLeaf = True

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    def render(self, request):
        def finish():
            request.write(b"done")
            request.finish()

        reactor.callLater(self.delay, finish)
        return NOT_DONE_YET


@pytest_twisted.ensureDeferred
async def test_slow_response_is_not_cut_by_the_read_deadline():
    limits = HttpLimits(read_timeout_ms=300, idle_timeout_ms=5000)
    site = LimitedSite(SlowResource(0.9), limits, reactor=reactor)
    port = reactor.listenTCP(0, site, interface="127.0.0.1")
    try:
        client = await raw_client(port.getHost().port)
        client.transport.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        await until(lambda: client.received.endswith(b"done\r\n0\r\n\r\n"), within=5)
        assert client.received.startswith(b"HTTP/1.1 200 OK\r\n")
        assert client.open
        assert site.counts.read_timeouts == 0
        client.transport.loseConnection()
        await client.lost
    finally:
        await port.stopListening()


# Heads too large, lengths Go refuses, bodies over the limit


@pytest_twisted.ensureDeferred
async def test_huge_authorization_header_answers_431(server):
    """64 KB of Authorization: twisted.web dropped the connection unanswered."""
    client = await raw_client(server.port)
    client.transport.write(
        b"GET /v2/account HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Authorization: Bearer " + b"a" * 65536 + b"\r\n\r\n"
    )
    assert await client.answer(within=READ_TIMEOUT) == HEADERS_TOO_LARGE
    assert HEADERS_TOO_LARGE == (
        b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"
        b"431 Request Header Fields Too Large"
    )


@pytest_twisted.ensureDeferred
async def test_many_headers_over_the_total_answer_431(server):
    client = await raw_client(server.port)
    headers = b"".join(b"X-Pad-%d: %s\r\n" % (i, b"p" * 1000) for i in range(20))
    client.transport.write(b"GET /healthcheck HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers + b"\r\n")
    assert await client.answer(within=READ_TIMEOUT) == HEADERS_TOO_LARGE


@pytest.mark.parametrize("length", [b"99999999999999999999", b"9223372036854775808", b"12abc"])
@pytest_twisted.ensureDeferred
async def test_unparsable_content_length_answers_400_at_once(server, length):
    """Go refuses a Content-Length over 2**63 - 1 (or not a number) with 400 at once;
    twisted.web waited for the body (up to its 60 s idle timer)."""
    client = await raw_client(server.port)
    client.transport.write(
        b"POST /v2/account/authenticate/custom HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Length: " + length + b"\r\n\r\n"
    )
    assert await client.answer(within=READ_TIMEOUT) == BAD_REQUEST
    assert BAD_REQUEST == (
        b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Connection: close\r\n\r\n400 Bad Request"
    )


def _authenticate_head(length: int) -> bytes:
    return (
        b"POST /v2/account/authenticate/custom HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Authorization: " + SERVER_KEY_BASIC.encode() + b"\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % length
    )


def _status_and_body(answer: bytes) -> tuple[bytes, bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return head.split(b"\r\n")[0], body


@pytest_twisted.ensureDeferred
async def test_declared_body_over_the_limit_is_refused_before_it_is_sent(server):
    """Content-Length over socket.max_request_size_bytes: the API's answer to a body
    too large comes at once (it came only after the whole body), then the close."""
    client = await raw_client(server.port)
    client.transport.write(_authenticate_head(SocketConfig.max_request_size_bytes + 1))
    answer = await client.answer(within=READ_TIMEOUT)
    status, body = _status_and_body(answer)
    assert status == b"HTTP/1.1 400 Bad Request"
    assert b"\r\nconnection: close\r\n" in answer.lower()
    assert b'"message":"http: request body too large"' in body


@pytest_twisted.ensureDeferred
async def test_declared_body_over_the_limit_answer_survives_the_body(server):
    """A client that sends its big body anyway still reads the answer (the server
    discards the rest for a moment before it closes, as Go does, instead of
    resetting the connection under the answer)."""
    size = 2_000_000
    client = await raw_client(server.port)
    client.transport.write(_authenticate_head(size) + b"x" * size)
    answer = await client.answer(within=5)
    status, body = _status_and_body(answer)
    assert status == b"HTTP/1.1 400 Bad Request"
    assert b"http: request body too large" in body


# Connections per address


@pytest_twisted.async_yield_fixture
async def capped(server):
    """The server's resources on a second listener capping loopback at 3."""
    limits = HttpLimits(
        read_timeout_ms=5000, max_connections_per_address=3, exempt_private_addresses=False
    )
    factory = body_limited_request_factory(SocketConfig.max_request_size_bytes)
    site = LimitedSite(server.app.resource, limits, requestFactory=factory, reactor=reactor)
    port = reactor.listenTCP(0, site, interface="127.0.0.1")
    yield site, port.getHost().port
    await port.stopListening()


@pytest_twisted.ensureDeferred
async def test_connections_over_the_cap_are_refused_at_once(capped):
    site, port = capped
    held = [await raw_client(port) for _ in range(3)]
    await until(lambda: site.connections.get("127.0.0.1") == 3)
    refused = await raw_client(port)
    refused.transport.write(b"GET /healthcheck HTTP/1.1\r\n\r\n")
    answer = await refused.answer(within=2)
    assert answer.startswith(b"HTTP/1.1 429 Too Many Requests\r\n")
    assert b"Retry-After: 1\r\n" in answer
    assert answer.endswith(b"Too many connections open from this address; retry later\n")
    assert site.counts.refused_connections == 1
    await until(lambda: site.closing_refusals == 0)
    assert all(client.open for client in held)
    held[0].transport.loseConnection()
    await held[0].lost
    await until(lambda: site.connections.get("127.0.0.1") == 2)
    client = await raw_client(port)
    client.transport.write(b"GET /healthcheck HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert (await client.answer(within=5)).startswith(b"HTTP/1.1 200 OK\r\n")
    for other in held[1:]:
        other.transport.loseConnection()
        await other.lost
    await until(lambda: "127.0.0.1" not in site.connections)


@pytest_twisted.ensureDeferred
async def test_websocket_counts_towards_the_cap_until_it_closes(server, capped):
    site, port = capped
    session = await authenticate(server.port, "custom-ws-cap")
    held = [await raw_client(port) for _ in range(2)]
    socket = await connect(port, session["token"])
    await until(lambda: site.connections.get("127.0.0.1") == 3)
    refused = await (await raw_client(port)).answer(within=2)
    assert refused.startswith(b"HTTP/1.1 429 Too Many Requests\r\n")
    socket.sendClose()
    await socket.closed()
    await until(lambda: site.connections.get("127.0.0.1") == 2)
    accepted = await raw_client(port)
    await sleep(0.2)
    assert accepted.open
    for client in [*held, accepted]:
        client.transport.loseConnection()
        await client.lost
    await until(lambda: "127.0.0.1" not in site.connections)


@pytest_twisted.ensureDeferred
async def test_limits_hold_over_tls(server, tmp_path):
    """A TLS listener wraps the site's protocols: a refused connection is still answered
    429 and closed, a 431 still answered, a silent connection still closed at the deadline,
    and a wss socket still counted until it closes."""
    cert, key, cert_pem = self_signed(tmp_path)
    trust = ssl.optionsForClientTLS("localhost", ssl.Certificate.loadPEM(cert_pem))
    limits = HttpLimits(
        read_timeout_ms=1000, max_connections_per_address=2, exempt_private_addresses=False
    )
    factory = body_limited_request_factory(SocketConfig.max_request_size_bytes)
    site = LimitedSite(server.app.resource, limits, requestFactory=factory, reactor=reactor)
    description = f"ssl:0:interface=127.0.0.1:privateKey={key}:certKey={cert}"
    port = await serverFromString(reactor, description).listen(site)
    number = port.getHost().port
    try:
        big = await raw_client(number, trust)
        big.transport.write(
            b"GET / HTTP/1.1\r\nHost: x\r\nAuthorization: " + b"a" * 65536 + b"\r\n\r\n"
        )
        assert await big.answer(within=2) == HEADERS_TOO_LARGE
        await until(lambda: site.connections == {})  # (its place, held while it closed)
        silent = [await raw_client(number, trust) for _ in range(2)]
        await until(lambda: site.connections == {"127.0.0.1": 2})
        refused = await raw_client(number, trust)
        assert (await refused.answer(within=2)).startswith(b"HTTP/1.1 429 Too Many Requests")
        assert site.counts.refused_connections == 1
        for client in silent:
            assert await client.answer(within=3) == b""
        assert site.counts.read_timeouts == 2
        await until(lambda: site.connections == {})
        session = await authenticate(server.port, "custom-wss-cap")
        socket = await connect(number, session["token"], tls=trust)
        await sleep(1.2)
        assert await socket.request({"cid": "t", "ping": {}}) == {"cid": "t", "pong": {}}
        assert site.connections == {"127.0.0.1": 1}
        socket.sendClose()
        await socket.closed()
        await until(lambda: site.connections == {})
    finally:
        await port.stopListening()


def test_address_keys():
    assert address_key("93.184.216.34") == "93.184.216.34"
    assert address_key("::ffff:93.184.216.34") == "93.184.216.34"
    # One IPv6 host has a whole /64.
    assert address_key("2a00:1450:1:2:aaaa::1") == address_key("2a00:1450:1:2:bbbb::2")
    assert address_key("2a00:1450:1:2::1") == "2a00:1450:1:2::/64"
    for exempt in ("127.0.0.1", "::1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "fd00::1"):
        assert address_key(exempt) is None, exempt
    assert address_key("127.0.0.1", exempt_private=False) == "127.0.0.1"
    assert address_key("not an address") is None


# The timers on a Clock: one per connection, a deadline rather than an idle timer


class Hello(Resource):
    isLeaf = True
    pending: list = []

    def render(self, request):
        if request.path == b"/slow":
            self.pending.append(request)
            return NOT_DONE_YET
        return b"hello"


def _connection(site: LimitedSite, address=None):
    address = address or IPv4Address("TCP", "93.184.216.9", 40000)
    channel = site.buildProtocol(address)
    transport = StringTransport(peerAddress=address)
    channel.makeConnection(transport)
    return channel, transport


def _clock_site(**limits) -> tuple[Clock, LimitedSite]:
    clock = Clock()
    values = {"read_timeout_ms": 1000, "idle_timeout_ms": 5000, **limits}
    return clock, LimitedSite(Hello(), HttpLimits(**values), reactor=clock)


def test_reads_do_not_push_the_read_deadline_back():
    clock, site = _clock_site()
    channel, transport = _connection(site)
    assert len(clock.getDelayedCalls()) == 1, "one timer per connection"
    channel.dataReceived(b"GET / HTTP/1.1\r\n")
    for i in range(7):
        clock.advance(0.125)
        channel.dataReceived(b"X-%d: y\r\n" % i)
        assert len(clock.getDelayedCalls()) == 1
    assert not transport.disconnecting
    clock.advance(0.125)
    assert transport.disconnecting and transport.value() == b""
    assert site.counts.read_timeouts == 1


def test_idle_deadline_between_requests_then_a_new_read_deadline():
    clock, site = _clock_site()
    channel, transport = _connection(site)
    clock.advance(0.75)
    channel.dataReceived(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert transport.value().endswith(b"hello")
    clock.advance(4.5)
    assert not transport.disconnecting
    assert len(clock.getDelayedCalls()) == 1, "one timer per connection"
    # The next request's first byte starts its own read deadline.
    channel.dataReceived(b"GET / HTT")
    assert [call.getTime() for call in clock.getDelayedCalls()] == [5.25 + 1.0]
    clock.advance(0.5)
    assert not transport.disconnecting
    clock.advance(0.5)
    assert transport.disconnecting
    assert (site.counts.read_timeouts, site.counts.idle_timeouts) == (1, 0)


@pytest.mark.parametrize("idle_ms", [5000, 500])
def test_idle_connection_closes_after_idle_timeout(idle_ms):
    clock, site = _clock_site(idle_timeout_ms=idle_ms)
    channel, transport = _connection(site)
    channel.dataReceived(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    clock.advance(0.125)
    channel.dataReceived(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    clock.advance(idle_ms / 1000 - 0.125)
    assert not transport.disconnecting
    assert len(clock.getDelayedCalls()) == 1
    clock.advance(0.125)
    assert transport.disconnecting
    assert (site.counts.read_timeouts, site.counts.idle_timeouts) == (0, 1)


def test_request_right_after_a_response_pushes_the_timer_back():
    """The common keep-alive case costs the reactor no new timer."""
    clock, site = _clock_site()
    channel, transport = _connection(site)
    channel.dataReceived(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    [timer] = clock.getDelayedCalls()
    clock.advance(0.5)
    channel.dataReceived(b"GET / HTTP/1.1\r\n")
    assert clock.getDelayedCalls() == [timer] and timer.getTime() == 1.5


def test_no_deadline_while_a_request_is_answered():
    clock, site = _clock_site()
    channel, transport = _connection(site)
    Hello.pending.clear()
    channel.dataReceived(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
    assert clock.getDelayedCalls() == []
    clock.advance(3600)
    assert not transport.disconnecting
    request = Hello.pending.pop()
    request.write(b"late")
    request.finish()
    assert transport.value().endswith(b"late\r\n0\r\n\r\n")
    assert len(clock.getDelayedCalls()) == 1


def test_pipelined_request_gets_the_read_deadline():
    clock, site = _clock_site()
    channel, transport = _connection(site)
    Hello.pending.clear()
    channel.dataReceived(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\n")
    clock.advance(10)
    request = Hello.pending.pop()
    request.finish()
    # The buffered start of the second request is replayed: its deadline runs.
    assert [call.getTime() for call in clock.getDelayedCalls()] == [10 + 1.0]


def test_cap_counts_by_address_and_exempts_private_ones():
    clock, site = _clock_site(max_connections_per_address=2)
    public = IPv4Address("TCP", "93.184.216.4", 1)
    first, _ = _connection(site, public)
    _connection(site, public)
    refused, answer = _connection(site, public)
    assert answer.value().startswith(b"HTTP/1.1 429 ")
    assert site.counts.refused_connections == 1
    refused.connectionLost(None)
    for _ in range(5):
        _connection(site, IPv4Address("TCP", "10.0.0.5", 1))
        _connection(site, IPv6Address("TCP", "::1", 1))
    assert site.connections == {"93.184.216.4": 2}
    first.connectionLost(None)
    assert site.connections == {"93.184.216.4": 1}
    assert site.buildProtocol(public) is not None
    assert site.connections == {"93.184.216.4": 2}


def test_refusals_closing_at_once_are_bounded_then_dropped_unanswered():
    """A flood over the cap: the first MAX_CLOSING_REFUSALS get their 429 while they
    close; the next are closed at once, unanswered, until those are gone."""
    from nakama_rt.web.limits import MAX_CLOSING_REFUSALS, TOO_MANY_CONNECTIONS

    clock, site = _clock_site(max_connections_per_address=1)
    _connection(site)
    answered = [_connection(site) for _ in range(MAX_CLOSING_REFUSALS)]
    assert all(transport.value() == TOO_MANY_CONNECTIONS for _, transport in answered)
    assert site.closing_refusals == MAX_CLOSING_REFUSALS
    address = IPv4Address("TCP", "93.184.216.9", 40000)
    assert site.buildProtocol(address).__class__.__name__ == "_Refused"
    assert site.counts.refused_connections == MAX_CLOSING_REFUSALS + 1
    channel, _ = answered[0]
    channel.connectionLost(None)
    assert site.closing_refusals == MAX_CLOSING_REFUSALS - 1
    assert site.buildProtocol(address).__class__.__name__ != "_Refused"
    assert site.connections == {"93.184.216.9": 1}  # the refusals hold no place in it


def test_cap_of_zero_is_no_cap():
    clock, site = _clock_site(max_connections_per_address=0)
    for _ in range(10):
        _connection(site)
    assert site.connections == {} and site.counts.refused_connections == 0


# Configuration


def test_config_keys_and_options():
    socket = SocketConfig()
    assert (socket.read_timeout_ms, socket.idle_timeout_ms) == (10_000, 60_000)
    assert socket.max_connections_per_address == 1000
    options = Options()
    options.parseOptions(
        [
            "--read-timeout-ms=2500",
            "--idle-timeout-ms=30000",
            "--max-connections-per-address=0",
        ]
    )
    config = options["nakama_config"]
    assert HttpLimits.from_config(config.socket) == HttpLimits(2500, 30000, 0)
    for key in ("read_timeout_ms", "idle_timeout_ms"):
        with pytest.raises(ConfigError, match=f"socket.{key} must be greater than 0"):
            Config(socket=SocketConfig(**{key: 0})).validate()
    with pytest.raises(ConfigError, match="max_connections_per_address"):
        Config(socket=SocketConfig(max_connections_per_address=-1)).validate()
