"""The cluster's Redis client: hiredis' protocol over a Twisted connection.

hiredis (the parser of Redis' own C client) encodes every command
(``hiredis.pack_command``) and parses every reply (``hiredis.Reader``); what is here is
the Twisted side: a connection kept up by Twisted's ``ClientService``, commands
pipelined and answered in order with Deferreds, and a subscriber connection that hands
each published message to the bus. A command sent while Redis is away fails at once
with :class:`ClusterUnavailable` (the caller says what that means for its players);
the connection comes back by itself.

A password in the URL goes first, with ``AUTH`` (it is never shown: messages and
logs give the URL with ``***``), and ``rediss://`` wraps the connection in TLS with
Twisted's own client TLS, checking Redis's certificate for its host name.

A Redis that answers nothing for :data:`CONNECT_TIMEOUT` while something is asked of
it (a stopped Redis, or one a network cut leaves behind a TCP connection that looks
up for hours) is given up on, and the connection made again: each connection asks a
PING when it has had nothing to ask for that long.

A PUBLISH goes without a reply (``CLIENT REPLY SKIP`` before it): nothing here reads
Redis's count of subscribers, and that reply woke the publishing node once more for
every PUBLISH, 30 to 40 us of its CPU each on this project's 2-core machine (a PUBLISH
every 2 ms between two processes, 2026-12-07); the spread layouts of
``benchmarks/cluster.py`` did 1.04x (match) and 1.05x (chat) the work per CPU-second
without it (medians of 4 alternating runs, each run won). A stopping bus waits for a
PING instead, and a lost connection is told to :meth:`RedisConnection.on_lost`'s
listeners, since no PUBLISH fails with it now. A Redis that refuses ``CLIENT REPLY``
is refused at connect, with its reason. Connections go with ``TCP_NODELAY``, as
hiredis' own client's do: without replies to carry the acknowledgements, Nagle held
PUBLISH commands up to 40 ms. And a PUBLISH goes straight to the socket when nothing
waits in Twisted's buffer, as the socket layer's frames do, saving the writability
round Twisted makes for every write: 105 to 110 against 117 to 125 us of the
publisher's CPU a PUBLISH (``benchmarks/bus_cost.py``, one every 2 ms, three runs
alternating with the previous commit, 2026-12-07).

Chosen by measurement, against the two clients the design named
(``python benchmarks/redis_clients.py``: 100,000 publishes of 200 bytes in pipelined
bursts of 100, each received back on a subscription in the same process; CPU of that
process a message, publish and receipt together; this project's 2-core machine,
2026-12-06, medians of three runs alternating the clients; Redis 7.0 itself under
2 us a message):

==================================  ================  ======================
client                              reactor           CPU a message (us)
==================================  ================  ======================
this one (hiredis 3.5)              epoll (default)   5.0 (200 B), 10.8 (4 KB)
txredisapi 1.6 (with hiredis)       epoll (default)   25.6
redis-py 8.2 asyncio + hiredis      asyncio           24.3
==================================  ================  ======================

txredisapi spends its time in its command machinery (an inlineCallbacks generator, a
lock and a Deferred chain a command, and its reply conversion); redis-py needs
Twisted's asyncio reactor for the whole process, which costs the server itself 2 to 4%
on its hot paths, and an application embedding the server on another reactor could not
join a cluster. With txredisapi, the second node of the cluster benchmark
(``benchmarks/cluster.py chat``, rooms spread over two nodes) ran at 0.55x one
process; with this client at 0.65x, its p99 from 11 ms down to 4.5 ms (README).
Since its PUBLISH goes without a reply, this client spends 2.9 to 3.1 us a message in
that benchmark (each burst then waits for one PING), against 5.5 to 6.0 us before,
three runs each on 2026-12-07; Redis 1.3 against 1.1 us (the extra command).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs, unquote, urlsplit

import hiredis
from OpenSSL import crypto
from twisted.application.internet import ClientService, backoffPolicy
from twisted.internet.defer import Deferred, FirstError, fail, gatherResults
from twisted.internet.endpoints import TCP4ClientEndpoint, wrapClientTLS
from twisted.internet.interfaces import (
    IDelayedCall,
    IReactorTCP,
    IReactorTime,
    IStreamClientEndpoint,
    ITCPTransport,
)
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.ssl import Certificate, optionsForClientTLS, platformTrust
from twisted.internet.task import deferLater
from twisted.python.failure import Failure

from nakama_rt.config import without_password
from nakama_rt.library_internals import can_send_now, send_now
from nakama_rt.logs import Logger

_log = Logger()

#: Seconds between attempts to reach Redis again: from the first, growing to the last.
RETRY_FIRST, RETRY_MOST = 0.25, 2.0
#: Seconds a connection attempt may take, and again for Redis to answer its first
#: commands (a silent server is given up on, not waited for).
CONNECT_TIMEOUT = 5


class ClusterUnavailable(Exception):
    """The cluster's Redis cannot be reached or refuses us; the message says why."""


class RedisError(Exception):
    """Redis answered a command with an error (its text is the message)."""


@dataclass(frozen=True)
class RedisAddress:
    """Where the cluster's Redis is, and who we are to it."""

    host: str
    port: int
    database: int
    #: For ``AUTH`` (a Redis 6 ACL user; none: the default user).
    username: str | None = None
    password: str | None = None
    #: The URL as messages and logs show it: without its password.
    shown: str = ""
    #: ``rediss://``: TLS, Redis's certificate checked for ``host`` against the PEM
    #: file ``ca_certs`` (``?ssl_ca_certs=``), or else the system's trusted roots.
    tls: bool = False
    ca_certs: str | None = None

    def endpoint(self, reactor: IReactorTCP, timeout: float) -> IStreamClientEndpoint:
        """Where connections go; ClusterUnavailable when ``ca_certs`` cannot be read."""
        tcp = TCP4ClientEndpoint(reactor, self.host, self.port, timeout=timeout)
        if not self.tls:
            return tcp
        if self.ca_certs is None:
            options = optionsForClientTLS(self.host, trustRoot=platformTrust())
        else:
            try:
                authority = Certificate.loadPEM(Path(self.ca_certs).read_bytes())
            except (OSError, crypto.Error) as error:
                why = getattr(error, "strerror", None) or "not a PEM certificate"
                raise ClusterUnavailable(
                    f"cluster {self.shown}: cannot read ssl_ca_certs {self.ca_certs}: {why}"
                ) from None
            options = optionsForClientTLS(self.host, trustRoot=authority)
        return wrapClientTLS(options, tcp)


def parse_redis_url(url: str) -> RedisAddress:
    """The address in ``redis://[[user]:password@]host[:port][/db]`` (port 6379 and
    database 0 by default), or ``rediss://...`` for TLS with an optional
    ``?ssl_ca_certs=PATH``, as redis-py and Redis's own tools write them."""
    parts = urlsplit(url)
    shown = without_password(url)
    if parts.scheme not in ("redis", "rediss") or not parts.hostname:
        raise ValueError(f"not a redis://host:port/db URL: {shown!r}")
    path = parts.path.strip("/")
    if path and not path.isdigit():
        raise ValueError(f"the database of {shown!r} must be a number")
    query = parse_qs(parts.query, keep_blank_values=True)
    tls = parts.scheme == "rediss"
    if set(query) - ({"ssl_ca_certs"} if tls else set()):
        raise ValueError(f"{shown!r} takes no options but ssl_ca_certs (with rediss://)")
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    ca_certs = query["ssl_ca_certs"][-1] if "ssl_ca_certs" in query else None
    port = parts.port or 6379
    return RedisAddress(
        parts.hostname, port, int(path or 0), username, password, shown, tls, ca_certs
    )


#: Called with (channel, message) for each message published on a subscribed channel.
MessageReceiver = Callable[[bytes, bytes], None]


Argument = bytes | str | int | float


def _pack(args: Sequence[Argument]) -> bytes:
    """One command in Redis' protocol."""
    # hiredis' stub types the tuple as having one element; it takes any number.
    return hiredis.pack_command(tuple(args))  # type: ignore[arg-type]


#: Before a command: Redis makes no reply to it (nor to this).
_SKIP_REPLY = _pack((b"CLIENT", b"REPLY", b"SKIP"))


class _Connection(Protocol):
    """One connection: commands written as they come, replies matched to them in
    order. On a subscriber connection, published messages go to ``on_message``."""

    def __init__(
        self, made: Callable[[_Connection], None], on_message: MessageReceiver | None
    ) -> None:
        self._made = made
        self._reader = hiredis.Reader()
        self._waiting: deque[Deferred[Any]] = deque()
        self._on_message = on_message
        self.lost: Deferred[None] = Deferred()
        #: How many times Redis sent something (replies, published messages).
        self.heard = 0
        #: Whether PUBLISH commands may skip Twisted's write buffer (a plain TCP one).
        self._write_through: bool | None = None

    def execute(self, *args: Argument) -> Deferred[Any]:
        answer: Deferred[Any] = Deferred()
        self._waiting.append(answer)
        assert self.transport is not None
        self.transport.write(_pack(args))
        return answer

    def execute_unanswered(self, *args: Argument) -> None:
        """Send a command that Redis answers with nothing (the replies of those sent
        before and after still come in order); straight to the socket when Twisted's
        buffer is empty (:func:`~nakama_rt.library_internals.send_now`)."""
        transport = self.transport
        assert transport is not None
        command = _SKIP_REPLY + _pack(args)
        if self._write_through is None:  # known once the connection is up
            self._write_through = can_send_now(transport)
        if self._write_through:
            command = send_now(transport, command)  # type: ignore[arg-type]  # (can_send_now)
            if not command:
                return
        transport.write(command)

    def subscribe(self, channels: Sequence[bytes]) -> Deferred[Any]:
        """SUBSCRIBE, answered once Redis confirmed every channel (one reply each)."""
        confirmed: list[Deferred[Any]] = [Deferred() for _ in channels]
        self._waiting.extend(confirmed)
        assert self.transport is not None
        self.transport.write(_pack((b"SUBSCRIBE", *channels)))
        return gatherResults(confirmed, consumeErrors=True)

    def connectionMade(self) -> None:  # noqa: N802 (Twisted's name)
        # The TCP connection's, under TLS too (its transport is then TLS's wrapper).
        transport = self.transport
        if not ITCPTransport.providedBy(transport):
            transport = getattr(transport, "transport", None)
        cast(ITCPTransport, transport).setTcpNoDelay(True)
        self._made(self)

    def dataReceived(self, data: bytes) -> None:  # noqa: N802 (Twisted's name)
        self.heard += 1
        reader = self._reader
        try:
            reader.feed(data)
            while (reply := reader.gets()) is not False:
                self._reply(reply)
        except hiredis.ProtocolError as error:
            # Not Redis at the other end, or a broken stream: start over.
            self.give_up(ClusterUnavailable(f"Redis protocol error: {error}"))

    def give_up(self, error: Exception) -> None:
        """Fail what waits for an answer with ``error``, and drop the connection at
        once (what waits to be written would never go to a peer that is not there)."""
        self._fail_all(error)
        assert self.transport is not None
        cast(ITCPTransport, self.transport).abortConnection()

    @property
    def waiting(self) -> int:
        """Commands sent and not answered yet."""
        return len(self._waiting)

    def _reply(self, reply: Any) -> None:
        on_message = self._on_message
        if on_message is not None and type(reply) is list and reply[0] == b"message":
            on_message(reply[1], reply[2])
            return
        if not self._waiting:
            return  # nothing asked for it: a stray reply is dropped
        answer = self._waiting.popleft()
        if isinstance(reply, hiredis.ReplyError):
            answer.errback(RedisError(str(reply)))
        else:
            answer.callback(reply)

    def _fail_all(self, error: Exception) -> None:
        waiting, self._waiting = self._waiting, deque()
        for answer in waiting:
            answer.errback(Failure(error))

    def connectionLost(self, reason: Failure = Failure(ConnectionError())) -> None:  # noqa: N802, B008 (Twisted's)
        self._fail_all(ClusterUnavailable(f"Redis connection lost: {reason.getErrorMessage()}"))
        self.lost.callback(None)


class RedisConnection:
    """The cluster's connection to Redis, reconnected whenever it drops. Replies are
    bytes, lists of them, integers or None, as Redis sends them."""

    def __init__(
        self,
        url: str,
        reactor: IReactorTCP,
        on_message: MessageReceiver | None = None,
        prepare: Callable[[_Connection], Deferred[Any] | None] | None = None,
        timeout: float = CONNECT_TIMEOUT,
    ) -> None:
        address = parse_redis_url(url)
        #: The URL without its password (for every message and log line).
        self.url = address.shown
        self._address = address
        self._timeout = timeout
        self._silent = f"Redis did not answer within {timeout:g} s"
        self._prepare = prepare
        self._current: _Connection | None = None
        self._connections = 0
        #: Connections refused in a row (a step failed): they lengthen the wait before
        #: the next attempt as failed attempts do.
        self._refused = 0
        #: Told how the first connection's readying went (start waits on it).
        self._first_ready: Deferred[None] = Deferred()
        #: The next check that Redis still answers, and what the last one found.
        self._probe_call: IDelayedCall | None = None
        self._probed: tuple[_Connection, int] | None = None
        self._reconnect_listeners: list[Callable[[], None]] = []
        self._lost_listeners: list[Callable[[str], None]] = []
        factory = Factory.forProtocol(lambda: _Connection(self._ready, on_message))
        backoff = backoffPolicy(initialDelay=RETRY_FIRST, maxDelay=RETRY_MOST)
        # The reactor is the clock of the retries too (every reactor is both).
        self._clock = clock = cast(IReactorTime, reactor)
        # No prepareConnection: a connection lost while ClientService waits on one is
        # told to its state machine twice (failed, then disconnected), and Twisted 26.10
        # logs NoTransition for the second. Readied here instead, a connection is
        # connected as far as the service knows, and its loss a plain disconnection.
        self._service = ClientService(
            address.endpoint(reactor, timeout),
            factory,
            retryPolicy=lambda attempt: backoff(attempt + self._refused),
            clock=clock,
        )

    async def start(self) -> None:
        """Connect; ClusterUnavailable if Redis is not there or refuses us (at start it
        must be there)."""
        self._service.startService()
        try:
            await self._service.whenConnected(failAfterFailures=1)
            await self._first_ready
        except Exception as error:
            await self.disconnect()
            raise ClusterUnavailable(f"cluster {self.url}: {error}") from None
        self._probe_call = self._clock.callLater(self._timeout, self._probe)

    def _probe(self) -> None:
        """Every ``timeout``: give the connection up if Redis sent nothing since the
        last check, while something was asked of it; else ask it a PING when nothing
        is. So a Redis that stopped, or a peer gone without a word (a network cut
        leaves TCP up for hours), is found within two timeouts: what waits fails,
        and the connection is made again."""
        self._probe_call = self._clock.callLater(self._timeout, self._probe)
        connection = self._current
        if connection is None:
            self._probed = None
            return
        if self._probed == (connection, connection.heard):
            _log.warn("cluster Redis {url} went silent: reconnecting", url=self.url)
            connection.give_up(ClusterUnavailable(self._silent))
            self._probed = None
            return
        if not connection.waiting:
            connection.execute(b"PING").addErrback(lambda _: None)  # failed with the rest
        self._probed = (connection, connection.heard)

    def _ready(self, connection: _Connection) -> None:
        """Ready a new connection (``CLIENT REPLY`` taken, its database, a subscriber's
        channels) before any command goes on it."""
        connection.lost.addCallback(self._lost, connection)
        # A Redis that refuses CLIENT REPLY (before 3.2, or the command disabled) would
        # answer PUBLISH commands after all, and their replies would be taken for
        # others': such a connection is refused, with Redis's reason.
        steps: list[Deferred[Any]] = []
        address = self._address
        if address.password is not None:
            # First: a Redis with a password answers nothing else before it.
            user = [address.username] if address.username else []
            steps.append(connection.execute(b"AUTH", *user, address.password))
        steps.append(connection.execute(b"CLIENT", b"REPLY", b"ON"))
        if address.database:
            steps.append(connection.execute(b"SELECT", address.database))
        if self._prepare is not None and (step := self._prepare(connection)) is not None:
            steps.append(step)
        silent = ClusterUnavailable(self._silent)
        deadline = self._clock.callLater(self._timeout, connection.give_up, silent)

        def ready(_: object) -> None:
            deadline.cancel()
            self._current = connection
            self._refused = 0
            self._connections += 1
            if self._connections == 1:
                self._first_ready.callback(None)
            else:
                for listener in list(self._reconnect_listeners):
                    listener()

        def refused(failure: Failure) -> None:
            # Redis refused a step (a database it does not have), did not answer in
            # time, or the connection went meanwhile: it is not used, and the service
            # tries again later.
            if failure.check(FirstError):
                failure = failure.value.subFailure
            if deadline.active():
                deadline.cancel()
            self._refused += 1
            assert connection.transport is not None
            connection.transport.loseConnection()
            if not self._first_ready.called:  # the first connection: start says why
                self._first_ready.errback(failure)
            else:
                _log.warn(
                    "cluster Redis {url} refused a new connection: {why}; trying again",
                    url=self.url,
                    why=failure.getErrorMessage(),
                )

        gatherResults(steps, consumeErrors=True).addCallbacks(ready, refused)

    def _lost(self, _: object, connection: _Connection) -> None:
        if self._current is connection:
            self._current = None
            why = f"Redis connection lost ({self.url})"
            for listener in list(self._lost_listeners):
                listener(why)

    @property
    def connected(self) -> bool:
        return self._current is not None

    def on_lost(self, listener: Callable[[str], None]) -> None:
        """Have ``listener`` told why each time the connection in use goes away (what
        was sent on it without an answer may be lost)."""
        self._lost_listeners.append(listener)

    def on_reconnect(self, listener: Callable[[], None]) -> None:
        """Have ``listener`` called each time the connection is back (and ready) after
        Redis went away."""
        self._reconnect_listeners.append(listener)

    def execute(self, *args: Argument) -> Deferred[Any]:
        """Send one command; its reply, or ClusterUnavailable at once while Redis is away."""
        connection = self._current
        if connection is None:
            return fail(ClusterUnavailable(f"cluster Redis {self.url} is not connected"))
        return connection.execute(*args)

    # The commands the cluster uses, named as Redis names them.

    def set(
        self,
        key: bytes,
        value: bytes,
        pexpire: int | None = None,
        only_if_not_exists: bool = False,
    ) -> Deferred[Any]:
        """SET: b"OK", or None when ``only_if_not_exists`` and the key exists."""
        args: list[bytes | int] = [b"SET", key, value]
        if pexpire is not None:
            args += [b"PX", pexpire]
        if only_if_not_exists:
            args.append(b"NX")
        return self.execute(*args)

    def get(self, key: bytes) -> Deferred[Any]:
        return self.execute(b"GET", key)

    def mget(self, keys: Sequence[bytes]) -> Deferred[Any]:
        return self.execute(b"MGET", *keys)

    def delete(self, *keys: bytes) -> Deferred[Any]:
        return self.execute(b"DEL", *keys)

    def sadd(self, key: bytes, *members: bytes) -> Deferred[Any]:
        return self.execute(b"SADD", key, *members)

    def srem(self, key: bytes, *members: bytes) -> Deferred[Any]:
        return self.execute(b"SREM", key, *members)

    def smembers(self, key: bytes) -> Deferred[Any]:
        return self.execute(b"SMEMBERS", key)

    def publish(self, channel: bytes, message: bytes) -> None:
        """PUBLISH, answered by nothing; ClusterUnavailable at once while Redis is away
        (:meth:`on_lost` tells when a connection goes with what was sent on it)."""
        connection = self._current
        if connection is None:
            raise ClusterUnavailable(f"cluster Redis {self.url} is not connected")
        connection.execute_unanswered(b"PUBLISH", channel, message)

    def ping(self) -> Deferred[Any]:
        """PING: answered once Redis has run every command sent before it."""
        return self.execute(b"PING")

    def eval(
        self, script: str, keys: Sequence[bytes], args: Sequence[bytes | int]
    ) -> Deferred[Any]:
        return self.execute(b"EVAL", script, len(keys), *keys, *args)

    def disconnect(self) -> Deferred[None]:
        """Close the connection and stop reconnecting."""
        self._current = None
        if self._probe_call is not None and self._probe_call.active():
            self._probe_call.cancel()
        # In a turn of its own: the service refuses a stop from within its own
        # callbacks (a caller may disconnect as soon as it is told it connected).
        stopping: Deferred[None] = deferLater(self._clock, 0, lambda: None)
        stopping.addCallback(lambda _: self._service.stopService())
        return stopping


async def connect(
    url: str, reactor: IReactorTCP, timeout: float = CONNECT_TIMEOUT
) -> RedisConnection:
    """A connection to the cluster's Redis; ClusterUnavailable when it is not there, or
    does not answer within ``timeout`` seconds."""
    connection = RedisConnection(url, reactor, timeout=timeout)
    await connection.start()
    return connection


async def subscribe(
    url: str,
    reactor: IReactorTCP,
    channels: Sequence[bytes],
    on_message: MessageReceiver,
    timeout: float = CONNECT_TIMEOUT,
) -> RedisConnection:
    """A connection subscribed to ``channels``, handing each message published on them
    to ``on_message``. When Redis comes back after it went away, the connection
    subscribes again before its reconnect listeners are called (what was published
    meanwhile is lost)."""
    subscriber = RedisConnection(
        url, reactor, on_message, lambda connection: connection.subscribe(channels), timeout
    )
    await subscriber.start()
    return subscriber
