"""The cluster's Redis client against the real Redis: commands and their replies,
errors, pub/sub, a Redis that goes away and comes back, and what is not Redis."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import quote

import hiredis
import pytest
import pytest_twisted
from redis_fixtures import drop_connections
from test_embedding import self_signed
from twisted.internet import reactor
from twisted.internet.defer import gatherResults
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import deferLater
from twisted.logger import globalLogPublisher

from nakama_rt.cluster.redis import (
    ClusterUnavailable,
    RedisConnection,
    RedisError,
    connect,
    parse_redis_url,
    subscribe,
)


async def wait_until(condition, timeout: float = 5.0) -> None:
    for _ in range(int(timeout / 0.02)):
        if condition():
            return
        await deferLater(reactor, 0.02, lambda: None)
    raise AssertionError("timed out")


@pytest_twisted.ensureDeferred
async def test_commands_are_answered_as_redis_answers_them(redis_url) -> None:
    redis = await connect(redis_url, reactor)
    try:
        assert await redis.set(b"k", b"v", pexpire=60_000, only_if_not_exists=True) == b"OK"
        assert await redis.set(b"k", b"w", only_if_not_exists=True) is None  # NX: taken
        assert await redis.get(b"k") == b"v"
        assert await redis.mget([b"k", b"missing"]) == [b"v", None]
        assert await redis.sadd(b"s", b"a", b"b") == 2
        assert sorted(await redis.smembers(b"s")) == [b"a", b"b"]
        assert await redis.srem(b"s", b"a") == 1
        script = "return redis.call('GET', KEYS[1]) == ARGV[1] and 1 or 0"
        assert await redis.eval(script, [b"k"], [b"v"]) == 1
        assert await redis.delete(b"k", b"s") == 2
        # The test's own database, not database 0.
        assert await redis.execute(b"CLIENT", b"INFO") != b""
        info = (await redis.execute(b"CLIENT", b"INFO")).decode()
        assert f" db={redis_url.rsplit('/', 1)[1]} " in info
    finally:
        await redis.disconnect()


@pytest_twisted.ensureDeferred
async def test_pipelined_commands_are_answered_in_order(redis_url) -> None:
    redis = await connect(redis_url, reactor)
    try:
        answers = await gatherResults([redis.execute(b"INCR", b"counter") for _ in range(2_000)])
        assert answers == list(range(1, 2_001))
    finally:
        await redis.disconnect()


@pytest_twisted.ensureDeferred
async def test_an_error_reply_fails_its_command_only(redis_url) -> None:
    redis = await connect(redis_url, reactor)
    try:
        await redis.set(b"text", b"abc")
        failing = redis.execute(b"INCR", b"text")
        after = redis.get(b"text")
        with pytest.raises(RedisError, match="not an integer"):
            await failing
        assert await after == b"abc"
    finally:
        await redis.disconnect()


@pytest_twisted.ensureDeferred
async def test_without_redis_connecting_fails_at_once_with_the_url() -> None:
    with socket_nobody_listens_on() as port:
        url = f"redis://127.0.0.1:{port}/0"
        with pytest.raises(ClusterUnavailable, match=f"cluster {url}: "):
            await connect(url, reactor)
        # Nothing keeps trying afterwards: no retry waits on the reactor.
        await deferLater(reactor, 0.3, lambda: None)
        assert not [c for c in reactor.getDelayedCalls() if "_reconnect" in repr(c)]


@pytest_twisted.ensureDeferred
async def test_a_database_redis_does_not_have_is_refused_with_its_reason(redis_url) -> None:
    url = redis_url.rsplit("/", 1)[0] + "/999"
    with pytest.raises(ClusterUnavailable, match=f"cluster {url}: .*DB index is out of range"):
        await connect(url, reactor)


@pytest_twisted.ensureDeferred
async def test_what_is_published_reaches_the_subscriber_in_order(redis_url) -> None:
    received: list[tuple[bytes, bytes]] = []
    subscriber = await subscribe(
        redis_url, reactor, [b"one", b"two"], lambda c, m: received.append((c, m))
    )
    redis = await connect(redis_url, reactor)
    try:
        for i in range(100):
            redis.publish(b"one" if i % 2 else b"two", b"%d" % i)
            if i == 50:
                # A command between PUBLISH commands gets its own reply: they get none.
                assert await redis.execute(b"ECHO", b"between") == b"between"
        assert await redis.ping() == b"PONG"  # Redis ran every PUBLISH before it
        await wait_until(lambda: len(received) == 100)
        assert received == [(b"one" if i % 2 else b"two", b"%d" % i) for i in range(100)]
        assert redis._current is not None and not redis._current._waiting
        # The PUBLISH commands went straight to the socket, the ECHO through Twisted's
        # buffer, and still in order.
        assert redis._current._write_through is True
        # Nothing holds a small command back (Nagle) for an acknowledgement.
        handle = redis._current.transport.getHandle()
        assert handle.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        await redis.disconnect()
        await subscriber.disconnect()


@pytest_twisted.ensureDeferred
async def test_while_redis_is_away_commands_fail_at_once_and_come_back(redis_url) -> None:
    """Redis drops every connection (as a restart does): a command sent meanwhile
    fails at once with a clear error; both connections come back by themselves, the
    subscriber subscribed again before its listeners hear of it."""
    received: list[bytes] = []
    subscriber = await subscribe(redis_url, reactor, [b"ch"], lambda c, m: received.append(m))
    redis = await connect(redis_url, reactor)
    back: list[str] = []
    lost: list[str] = []
    redis.on_lost(lost.append)
    redis.on_reconnect(lambda: back.append("commands"))
    subscriber.on_reconnect(lambda: back.append("subscriber"))
    try:
        pending = redis.execute(b"BLPOP", b"never", b"10")  # in flight when it drops
        await deferLater(reactor, 0.1, lambda: None)
        assert drop_connections(redis_url) == 2
        with pytest.raises(ClusterUnavailable, match="Redis connection lost"):
            await pending
        await wait_until(lambda: not redis.connected)
        with pytest.raises(ClusterUnavailable, match="is not connected"):
            await redis.get(b"k")
        with pytest.raises(ClusterUnavailable, match="is not connected"):
            redis.publish(b"ch", b"meanwhile")  # at once: nothing to wait for
        assert lost == [f"Redis connection lost ({redis_url})"]
        await wait_until(lambda: sorted(back) == ["commands", "subscriber"])
        assert redis.connected and subscriber.connected
        redis.publish(b"ch", b"after")
        await wait_until(lambda: received == [b"after"])
    finally:
        await redis.disconnect()
        await subscriber.disconnect()


class _NotRedis(Protocol):
    def connectionMade(self) -> None:  # noqa: N802
        assert self.transport is not None
        self.transport.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")


class _NoClientReply(Protocol):
    """A Redis (or a proxy) that refuses CLIENT: its PUBLISH would be answered."""

    def dataReceived(self, data: bytes) -> None:  # noqa: N802
        assert self.transport is not None
        if data.startswith(b"*3\r\n$6\r\nCLIENT\r\n"):
            self.transport.write(b"-ERR unknown command 'CLIENT'\r\n")


@pytest_twisted.ensureDeferred
async def test_a_server_that_is_not_redis_is_refused_at_connect() -> None:
    for server, reason in (
        (_NotRedis, "Redis protocol error"),
        (_NoClientReply, "unknown command 'CLIENT'"),
    ):
        port = reactor.listenTCP(0, Factory.forProtocol(server), interface="127.0.0.1")
        url = f"redis://127.0.0.1:{port.getHost().port}/0"
        try:
            with pytest.raises(ClusterUnavailable, match=f"cluster {url}: .*{reason}"):
                await connect(url, reactor)
        finally:
            await port.stopListening()


class _StandIn(Protocol):
    """Redis enough for a commands connection: the n-th connection made is answered as
    ``plan[n]`` says (the last entry for any after it): "ok" to every command;
    "hang up" at the first, as a Redis going away mid-handshake would; or "silent",
    as a stopped Redis (or a proxy with nothing behind it) would be."""

    def __init__(self, plan: list[str], made: list[_StandIn]) -> None:
        self._how = plan[min(len(made), len(plan) - 1)]
        self._commands = hiredis.Reader()
        made.append(self)

    def dataReceived(self, data: bytes) -> None:  # noqa: N802
        assert self.transport is not None
        if self._how == "hang up":
            self.transport.loseConnection()
            return
        self._commands.feed(data)
        while self._commands.gets() is not False:
            if self._how == "ok":
                self.transport.write(b"+OK\r\n")


def _failures(events: list[dict]) -> list[str]:
    """What was logged as an error (Twisted's own ``log.err`` events included)."""
    failed = (e.get("log_failure") or e.get("failure") for e in events)
    return [str(failure.value) for failure in failed if failure is not None]


#: How a stand-in fails a connection being readied, and the reason given for it.
NOT_READIED = [
    ("hang up", "Redis connection lost: Connection was closed cleanly."),
    ("silent", "Redis did not answer within 0.2 s"),
]


@pytest.mark.parametrize("how, why", NOT_READIED)
@pytest_twisted.ensureDeferred
async def test_a_connection_not_readied_is_a_plain_failure_at_start(how, why) -> None:
    """Lost, or unanswered, before Redis answered its first step: connecting fails with
    the reason, and nothing is logged (Twisted's ClientService, readying it, logged
    NoTransition for a lost one; an unanswered one was waited for without end)."""
    events: list[dict] = []
    globalLogPublisher.addObserver(events.append)
    made: list[_StandIn] = []
    factory = Factory.forProtocol(lambda: _StandIn([how], made))
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    url = f"redis://127.0.0.1:{port.getHost().port}/0"
    try:
        with pytest.raises(ClusterUnavailable, match=f"cluster {url}: {why}"):
            await connect(url, reactor, timeout=0.2)
        await deferLater(reactor, 0.2, lambda: None)  # the disconnection told to the service
    finally:
        globalLogPublisher.removeObserver(events.append)
        await port.stopListening()
    assert _failures(events) == []


@dataclass
class Watched:
    """A connection to a stand-in Redis, with what its listeners heard and what was
    logged meanwhile."""

    redis: RedisConnection
    url: str
    made: list[_StandIn]
    back: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)

    def warned(self, text: str) -> list[dict]:
        return [e for e in self.events if text in e.get("log_format", "")]


@asynccontextmanager
async def watched_stand_in(plan: list[str]) -> AsyncIterator[Watched]:
    """Connected (timeout 0.2 s) to stand-ins answering as ``plan`` says; nothing may
    be logged as an error meanwhile."""
    made: list[_StandIn] = []
    factory = Factory.forProtocol(lambda: _StandIn(plan, made))
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    url = f"redis://127.0.0.1:{port.getHost().port}/0"
    watched = Watched(await connect(url, reactor, timeout=0.2), url, made)
    watched.redis.on_reconnect(lambda: watched.back.append("back"))
    watched.redis.on_lost(watched.lost.append)
    globalLogPublisher.addObserver(watched.events.append)
    try:
        yield watched
    finally:
        globalLogPublisher.removeObserver(watched.events.append)
        await watched.redis.disconnect()
        await port.stopListening()
    assert _failures(watched.events) == []


@pytest.mark.parametrize("how, why", NOT_READIED)
@pytest_twisted.ensureDeferred
async def test_a_reconnection_not_readied_is_tried_again(how, why) -> None:
    """The connection drops; the next one is lost or unanswered before it is ready
    (warned, not used, nothing told to listeners); the one after it is used."""
    async with watched_stand_in(["ok", how, "ok"]) as watched:
        watched.made[0].transport.loseConnection()
        await wait_until(lambda: watched.back == ["back"])
        assert len(watched.made) == 3 and watched.redis.connected
        assert watched.lost == [f"Redis connection lost ({watched.url})"]
        assert await watched.redis.ping() == b"OK"  # the stand-in's answer, on the third
        assert [e["why"] for e in watched.warned("refused a new connection")] == [why]


@pytest_twisted.ensureDeferred
async def test_idle_connections_are_probed_and_kept(redis_url) -> None:
    """Nothing asked of Redis: a PING every timeout shows it is there, on a commands
    connection and on a subscriber (whose PING Redis answers in its subscribed form);
    each stays the same connection, and the subscriber still gets what is published."""
    events: list[dict] = []
    globalLogPublisher.addObserver(events.append)
    received: list[bytes] = []
    redis = await connect(redis_url, reactor, timeout=0.2)
    subscriber = await subscribe(
        redis_url, reactor, [b"ch"], lambda c, m: received.append(m), timeout=0.2
    )
    try:
        first, subscribed = redis._current, subscriber._current
        await deferLater(reactor, 1.0, lambda: None)
        assert redis._current is first and first.heard >= 3  # answered PINGs
        assert subscriber._current is subscribed and subscribed.heard >= 3
        redis.publish(b"ch", b"still here")
        await wait_until(lambda: received == [b"still here"])
    finally:
        globalLogPublisher.removeObserver(events.append)
        await redis.disconnect()
        await subscriber.disconnect()
    assert not [e for e in events if "went silent" in e.get("log_format", "")]


@pytest_twisted.ensureDeferred
async def test_a_redis_gone_silent_is_given_up_and_reached_again() -> None:
    """Redis stops answering on a connection in use (stopped, or a network cut that
    leaves TCP up): within two timeouts what waits fails, listeners hear the loss, and
    a new connection is made."""
    async with watched_stand_in(["ok"]) as watched:
        watched.made[0]._how = "silent"
        pending = watched.redis.get(b"key")
        with pytest.raises(ClusterUnavailable, match="Redis did not answer within 0.2 s"):
            await pending
        await wait_until(lambda: watched.back == ["back"])
        assert watched.lost == [f"Redis connection lost ({watched.url})"]
        assert len(watched.made) == 2
        assert await watched.redis.get(b"key") == b"OK"  # the new stand-in's answer
        assert len(watched.warned("went silent")) == 1


def test_a_url_gives_its_address_and_is_shown_without_its_password() -> None:
    address = parse_redis_url("redis://:s3cret%3A%2F%40pass@127.0.0.1:6390/2")
    assert (address.host, address.port, address.database) == ("127.0.0.1", 6390, 2)
    assert (address.username, address.password) == (None, "s3cret:/@pass")
    assert address.shown == "redis://:***@127.0.0.1:6390/2"
    address = parse_redis_url("redis://game:pw@redis.example/0")
    assert (address.username, address.password, address.port) == ("game", "pw", 6379)
    assert address.shown == "redis://game:***@redis.example/0"
    plain = parse_redis_url("redis://127.0.0.1")
    assert (plain.password, plain.database, plain.shown) == (None, 0, "redis://127.0.0.1")
    tls = parse_redis_url("rediss://:pw@redis.example:6380/3?ssl_ca_certs=/etc/ca.pem")
    assert (tls.tls, tls.ca_certs, tls.port, tls.database) == (True, "/etc/ca.pem", 6380, 3)
    assert not plain.tls and parse_redis_url("rediss://h").ca_certs is None
    for wrong in ("http://:pw@host/0", "redis://:pw@host/x", "redis://:pw@h/0?ssl_ca_certs=a"):
        with pytest.raises(ValueError) as refused:
            parse_redis_url(wrong)
        assert "pw" not in str(refused.value) and "***" in str(refused.value)


#: The password of the Redis that asks for one.
PASSWORD = "s3cret:/@pass"


@pytest_twisted.ensureDeferred
async def test_a_redis_with_a_password_takes_it_from_the_url(private_redis) -> None:
    """AUTH goes first (nothing else is answered before it); a wrong or missing
    password is refused with Redis's reason, and never shown."""
    port = private_redis("--requirepass", PASSWORD)
    url = f"redis://:{quote(PASSWORD, safe='')}@127.0.0.1:{port}/1"
    redis = await connect(url, reactor)
    try:
        assert redis.url == f"redis://:***@127.0.0.1:{port}/1"
        assert await redis.set(b"k", b"v") == b"OK"
        info = (await redis.execute(b"CLIENT", b"INFO")).decode()
        assert " db=1 " in info
    finally:
        await redis.disconnect()
    for wrong, reason in (
        (f"redis://:nope@127.0.0.1:{port}/1", "WRONGPASS"),
        (f"redis://127.0.0.1:{port}/1", "NOAUTH"),
    ):
        with pytest.raises(ClusterUnavailable, match=reason) as refused:
            await connect(wrong, reactor)
        assert "nope" not in str(refused.value) and PASSWORD not in str(refused.value)


@pytest_twisted.ensureDeferred
async def test_rediss_speaks_tls_and_checks_the_certificate(private_redis, tmp_path) -> None:
    """``rediss://``: TLS to a Redis whose certificate ``ssl_ca_certs`` vouches for;
    published messages arrive over it; a certificate nothing vouches for, or a CA file
    that cannot be read, is refused at connect with the reason."""
    cert, key, _ = self_signed(tmp_path)
    tls = ["--tls-cert-file", cert, "--tls-key-file", key, "--tls-ca-cert-file", cert]
    port = private_redis(*tls, "--tls-auth-clients", "no", tls=True)
    url = f"rediss://localhost:{port}/2?ssl_ca_certs={cert}"
    received: list[bytes] = []
    subscriber = await subscribe(url, reactor, [b"ch"], lambda c, m: received.append(m))
    redis = await connect(url, reactor)
    try:
        assert await redis.set(b"k", b"v") == b"OK"
        redis.publish(b"ch", b"over tls")
        await wait_until(lambda: received == [b"over tls"])
        handle = redis._current.transport.transport.getHandle()  # TLS's TCP connection
        assert handle.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        await redis.disconnect()
        await subscriber.disconnect()
    with pytest.raises(ClusterUnavailable, match="certificate verify failed"):
        await connect(f"rediss://localhost:{port}/2", reactor)  # the system's roots
    missing, garbage = tmp_path / "missing.pem", tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    for path, why in ((missing, "No such file"), (garbage, "not a PEM certificate")):
        with pytest.raises(ClusterUnavailable, match=f"cannot read ssl_ca_certs {path}: {why}"):
            await connect(f"rediss://localhost:{port}/2?ssl_ca_certs={path}", reactor)


class socket_nobody_listens_on:  # noqa: N801 (a context manager, read as a phrase)
    """A loopback port that refuses connections: bound, never listening."""

    def __enter__(self) -> int:
        import socket

        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        return self._socket.getsockname()[1]

    def __exit__(self, *exc: object) -> None:
        self._socket.close()
