"""HTTP/1.1 limits against hostile clients: deadlines, head sizes, connections per address.

:class:`LimitedSite` is a ``twisted.web.server.Site`` whose connections
(:class:`LimitedHTTPChannel`) keep Nakama's (Go ``net/http``'s) limits:

- ``socket.read_timeout_ms`` (Nakama's key and default, 10 s): a request's head and body
  must arrive within this deadline, counted from the request's first byte (from the
  connection's start for its first request, as Go's ``ReadTimeout``). Past it the
  connection is closed without an answer, as Go does. Bytes arriving do not extend
  it, which is what kept "slowloris" connections (one header line every 20 s) open
  forever under twisted.web's idle timer. It stops at the end of the body: a slow
  handler or a slow response is not cut (``socket.write_wait_ms`` bounds the socket's
  writes), nor is a connection taken over by a WebSocket (:func:`connection_taken_over`).
- ``socket.idle_timeout_ms`` (Nakama's key and default, 60 s): a keep-alive connection
  waiting for its next request is closed after this long.
- A head over twisted.web's own limits (a line or the whole head over 16 KiB) is
  answered at once with Go's ``431 Request Header Fields Too Large``; a malformed head,
  including a ``Content-Length`` Go cannot parse (over 2**63 - 1), with Go's
  ``400 Bad Request``: plain text bodies, ``Connection: close``. (Nakama's own limit is
  Go's ``MaxHeaderBytes`` 5120 plus 4096 bytes of slack; twisted.web's 16 KiB is kept,
  so no client that works with Nakama is refused here.) A request whose declared
  ``Content-Length`` its request factory already refuses (the API's
  ``BodyLimitedRequest``, ``socket.max_request_size_bytes``) is handed to its resource
  at once, without waiting for a body it will not read, and its answer ends the
  connection.
- ``socket.max_connections_per_address`` (ours; Nakama has none), default 1000, 0 for
  no cap: connections open at once from one client address (an IPv6 client's /64, the
  block one host is given). Past it a new connection is answered at once with ``429
  Too Many Requests``, a ``Retry-After`` and a text body (:data:`TOO_MANY_CONNECTIONS`),
  then closed as a 431 is, and counted (:attr:`HttpLimitCounts.refused_connections`);
  the first refusal of an address is logged. The refused connections still closing
  are bounded for the whole site (:data:`MAX_CLOSING_REFUSALS`): past that, one is
  closed at once unanswered, so a flood cannot hold file descriptors with them.
  Loopback and private-use addresses (127/8, ::1, 10/8, 172.16/12,
  192.168/16, fc00::/7, link-local) are exempt: behind a reverse proxy on the same
  host or a load balancer in a private network every client has the proxy's address,
  where a per-address cap would refuse everyone, and the project's load benchmark
  (``benchmarks/load.py``, thousands of sockets from 127.0.0.1) keeps working. 1000 is
  far above what real clients share: a game client holds one socket and a few
  keep-alive HTTP connections, so even hundreds of players behind one carrier-grade
  NAT address stay below it, while one host can no longer take the whole
  file-descriptor budget. Behind a proxy on a public address (a CDN, some cloud load
  balancers) raise it or set 0. A WebSocket keeps its connection's place in the count
  until it closes.

- ``socket.max_concurrent_upgrades_per_address`` (ours), default 0 (no limit):
  connections from one client address (the same keys and exemptions as above) still
  sending their first request, at once. That is every socket's upgrade while its
  request arrives; the server cannot tell an upgrade from an API call before its
  request is read, so an API connection waiting for its first request counts too. A
  connection over it is answered at once with ``429 Too Many Requests``, a
  ``Retry-After`` and a text body (:data:`TOO_MANY_OPENING`), then closed as a 431 is,
  and counted (:attr:`HttpLimitCounts.concurrent_upgrades`). It holds its place in
  the connection count while it closes, so past ``max_connections_per_address`` such
  connections get that cap's answer instead.
- ``socket.exempt_private_addresses`` (default true): whether loopback and private
  addresses are exempt from the per-address limits (these, and
  ``socket.max_upgrades_per_sec_per_address`` in :mod:`nakama_rt.web.resources`).

Each connection has one timer: twisted.web's own ``TimeoutMixin`` timer, run as a
deadline (the read deadline, or the idle one between requests) rather than being
pushed back on every read. Time comes from the site's reactor.

An embedding app gets the same protection by serving its resources with
``LimitedSite(root, HttpLimits.from_config(config.socket), reactor=reactor)``
instead of ``Site(root)`` (``NakamaRT.site()`` does exactly this, with the API's
request factory); code that takes a connection over from twisted.web, as the ``/ws``
resource does, calls :func:`connection_taken_over` (without it the connection stops
counting towards its address's cap when it leaves twisted.web). The channel speaks
HTTP/1.1 only (WebSocket upgrades need it; no HTTP/2 is offered over TLS).
"""

from __future__ import annotations

import functools
import ipaddress
import typing
from dataclasses import dataclass
from typing import Any, cast

from twisted.internet import abstract
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IAddress, IReactorTime
from twisted.internet.protocol import Protocol, connectionDone
from twisted.python.failure import Failure
from twisted.web.http import HTTPChannel, Request
from twisted.web.resource import IResource
from twisted.web.server import Site

from nakama_rt.config import SocketConfig
from nakama_rt.library_internals import received_head_size
from nakama_rt.logs import Logger

_log = Logger()


def _go_answer(status: str) -> bytes:
    """The answer Go's ``net/http`` writes itself for a request it cannot read."""
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Connection: close\r\n\r\n{status}"
    ).encode()


HEADERS_TOO_LARGE = _go_answer("431 Request Header Fields Too Large")
BAD_REQUEST = _go_answer("400 Bad Request")
#: The text of a 429 for too many socket upgrades a second from one address.
TOO_MANY_UPGRADES = "Too many socket upgrades from this address; retry later"
#: The answer to a connection over ``socket.max_concurrent_upgrades_per_address``.
TOO_MANY_OPENING = (
    b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Retry-After: 1\r\nConnection: close\r\n\r\n"
    b"Too many connections opening from this address; retry later\n"
)
TOO_MANY_CONNECTIONS = (
    b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Retry-After: 1\r\nConnection: close\r\n\r\n"
    b"Too many connections open from this address; retry later\n"
)
#: Connections over their address's cap that may be answered and closing at once, in
#: a whole site; more are closed unanswered.
MAX_CLOSING_REFUSALS = 64
#: The largest ``Content-Length`` Go parses (``strconv.ParseUint(cl, 10, 63)``).
MAX_CONTENT_LENGTH = 2**63 - 1
#: After an answer to a request whose rest is not read: how long the connection
#: still discards what the client sends before closing (Go's ``rstAvoidanceDelay``),
#: so that the client reads the answer instead of a reset.
LINGER_SECONDS = 0.5


@dataclass(frozen=True)
class HttpLimits:
    """The limits a :class:`LimitedSite` keeps, in ``SocketConfig``'s units."""

    read_timeout_ms: int = SocketConfig.read_timeout_ms
    idle_timeout_ms: int = SocketConfig.idle_timeout_ms
    #: 0: no cap.
    max_connections_per_address: int = SocketConfig.max_connections_per_address
    #: Loopback and private-use addresses are not capped (proxies and load balancers).
    exempt_private_addresses: bool = True
    #: Connections still sending their first request, at once per address; 0: no limit.
    max_concurrent_upgrades_per_address: int = 0

    @classmethod
    def from_config(cls, socket: SocketConfig) -> HttpLimits:
        return cls(
            read_timeout_ms=socket.read_timeout_ms,
            idle_timeout_ms=socket.idle_timeout_ms,
            max_connections_per_address=socket.max_connections_per_address,
            exempt_private_addresses=socket.exempt_private_addresses,
            max_concurrent_upgrades_per_address=socket.max_concurrent_upgrades_per_address,
        )


@dataclass
class HttpLimitCounts:
    """What the limits stopped, as plain counts (for metrics and tests)."""

    refused_connections: int = 0
    read_timeouts: int = 0
    idle_timeouts: int = 0
    #: Connections answered 429 over ``max_concurrent_upgrades_per_address``.
    concurrent_upgrades: int = 0


def _discard(data: bytes) -> None:
    pass


class AbortableTransport(typing.Protocol):
    """A transport that can be dropped at once, unanswered: TCP's and UNIX's
    (``ITCPTransport``) and TLS's (which Twisted declares only an ``ITransport``)."""

    def abortConnection(self) -> None: ...  # noqa: N802 (Twisted's name)


class LimitedHTTPChannel(HTTPChannel):
    """twisted.web's HTTP/1.1 channel with the limits of :class:`LimitedSite`.

    Its ``TimeoutMixin`` timer is a deadline: ``resetTimeout`` (called on every read)
    does nothing; the timer is set to the read deadline at a request's first byte and
    to the idle one once a response is done. HTTPChannel itself stops it while a
    request is being answered.
    """

    site: LimitedSite
    #: The per-address count this connection holds a place in, if any.
    _address: str | None = None
    #: The per-address count of connections still sending their first request that
    #: this one is in, if any.
    _opening: str | None = None
    #: Over the concurrent upgrades limit: answered 429 as soon as it is made.
    _refused_opening = False
    #: Over its address's connection cap: answered 429, and closed.
    _refused_cap = False
    _between_requests = False
    #: When a connection waiting for its next request closes (reactor time).
    _idle_deadline = 0.0
    #: Answered before its request was read in full: close with a linger.
    _answered_early = False
    _lingering = False

    def connectionMade(self) -> None:  # noqa: N802 (Twisted's names, here and below)
        # The first request's deadline runs from the connection's start, as Go's.
        self.timeOut = self.site.read_timeout  # type: ignore[assignment]  # Twisted says int; float seconds work
        super().connectionMade()
        if self._refused_cap:
            self._answer_and_close(TOO_MANY_CONNECTIONS)
        elif self._refused_opening:
            self._answer_and_close(TOO_MANY_OPENING)

    def resetTimeout(self) -> None:  # noqa: N802
        """Reads do not push the deadline back (that is what slowloris relies on)."""

    def dataReceived(self, data: bytes) -> None:  # noqa: N802
        if self._between_requests:
            # The next request's first byte: its deadline starts now.
            self._between_requests = False
            read_timeout = self.site.read_timeout
            if self.timeOut == read_timeout:
                # The timer set when the last response was done: pushed back,
                # which costs the reactor nothing.
                super().resetTimeout()
            else:
                self._restart_timer(read_timeout)
        super().dataReceived(data)

    def requestDone(self, request: Any) -> None:  # noqa: N802
        self._between_requests = True
        idle = self.site.timeOut
        self._idle_deadline = self.site.reactor.seconds() + idle
        # HTTPChannel restarts the timer it stopped for the request (with the read
        # timeout: the idle deadline is checked when it fires) and plays any
        # pipelined bytes back, which may start the next request.
        super().requestDone(request)
        if self._between_requests and self.persistent and idle < self.site.read_timeout:
            self._restart_timer(idle)

    def _restart_timer(self, seconds: float | None) -> None:
        """The timer fires ``seconds`` from now: a new call rather than the old one
        moved sooner (the reactor finds such a call by a linear search of all its
        timers, thousands with as many sockets)."""
        self.setTimeout(None)
        self.setTimeout(seconds)

    def allContentReceived(self) -> None:  # noqa: N802
        super().allContentReceived()  # stops the timer, then renders
        if self.transport is None and self._address is not None:
            # Taken over without connection_taken_over: it no longer counts here.
            self._release()

    def timeoutConnection(self) -> None:  # noqa: N802
        """Close at once, as Go does (twisted.web's logs each one and waits 15 s
        more for a clean close: a line per connection under a slowloris attack)."""
        if not self._lingering:
            counts = self.site.counts
            if self._between_requests:
                left = self._idle_deadline - self.site.reactor.seconds()
                if left > 0.001:
                    self.setTimeout(left)  # (this timer has fired: a new one)
                    return
                counts.idle_timeouts += 1
            else:
                counts.read_timeouts += 1
        cast(AbortableTransport, self.transport).abortConnection()

    def connectionLost(self, reason: Failure = connectionDone) -> None:  # noqa: N802
        super().connectionLost(reason)
        self._release()
        if self._refused_cap:
            self.site.closing_refusals -= 1
        if self._opening is not None:
            self._done_opening()

    # Heads that are too large or malformed

    def lineLengthExceeded(self, line: bytes) -> None:  # noqa: N802
        # One line of the head over LineReceiver.MAX_LENGTH (HTTPChannel dropped
        # the connection unanswered).
        self._answer_and_close(HEADERS_TOO_LARGE)

    def _respondToBadRequestAndDisconnect(self) -> None:  # noqa: N802
        # HTTPChannel's answer to any head it refuses (a private name of Twisted's,
        # checked in library_internals): Go's, with a body, instead of a bare
        # status line; 431 when it is its size (totalHeadersSize).
        if received_head_size(self) > self.totalHeadersSize:
            self._answer_and_close(HEADERS_TOO_LARGE)
        else:
            self._answer_and_close(BAD_REQUEST)

    def allHeadersReceived(self) -> None:  # noqa: N802
        if self._opening is not None:
            self._done_opening()  # its first request has arrived
        if self.length is not None and self.length > MAX_CONTENT_LENGTH:
            self._answer_and_close(BAD_REQUEST)  # a length Go cannot parse
            return
        super().allHeadersReceived()
        request = self.requests[-1]
        if self.length and getattr(request, "body_too_large", False):
            # Its request factory refuses this body: let the resource answer now
            # rather than after a body it will not read, then close.
            self.persistent = False
            self._answered_early = True
            request.responseHeaders.setRawHeaders(b"connection", [b"close"])
            self.length = 0  # HTTPChannel then hands the request over at once

    def _answer_and_close(self, answer: bytes) -> None:
        self._ignore_input()
        self.persistent = False
        self._answered_early = True
        assert self.transport is not None  # reading a head: the connection is ours
        self.transport.write(answer)
        self.loseConnection()

    def _ignore_input(self) -> None:
        # As HTTPChannel does after a last request: the rest is never parsed.
        self.dataReceived = self.lineReceived = self.rawDataReceived = _discard  # type: ignore[method-assign]  # as HTTPChannel does

    def loseConnection(self) -> None:  # noqa: N802
        transport = self.transport
        if not self._answered_early or not isinstance(transport, abstract.FileDescriptor):
            # (a TLS transport closes with its own close_notify)
            super().loseConnection()
            return
        # Go's closeWriteAndWait: the answer and a FIN now, then what the client
        # still sends is read and dropped for a moment, so that it reads the answer
        # rather than a reset.
        self._ignore_input()
        self._lingering = True
        transport.unregisterProducer()
        transport.loseWriteConnection()
        self._restart_timer(LINGER_SECONDS)

    # The per-address count

    def taken_over(self, closed: Deferred) -> None:
        """Another protocol owns the connection now: no more deadlines; its place in
        the per-address count is given back once ``closed`` fires."""
        self.setTimeout(None)
        address, self._address = self._address, None
        if address is not None:
            closed.addBoth(_give_back, self.site, address)

    def _release(self) -> None:
        address, self._address = self._address, None
        if address is not None:
            self.site.release(address)

    def _done_opening(self) -> None:
        address, self._opening = self._opening, None
        if address is not None:
            self.site.done_opening(address)


def _give_back(result: Any, site: LimitedSite, address: str) -> Any:
    site.release(address)
    return result


def close_after_answer(request: Request) -> None:
    """Close ``request``'s connection once it is answered, reading nothing more on it
    (a refusal the client should not repeat at once: a pipelined flood of requests
    gets one answer per connection, not one per request)."""
    request.responseHeaders.setRawHeaders(b"connection", [b"close"])
    request.channel.persistent = False


def connection_taken_over(channel: Any, closed: Deferred) -> None:
    """Tell ``channel``'s limits that another protocol (a WebSocket) took its transport
    over: the HTTP deadlines stop and the connection counts towards its address's
    cap until ``closed`` fires. Does nothing for a channel of a plain ``Site``."""
    if isinstance(channel, LimitedHTTPChannel):
        channel.taken_over(closed)


class _Refused(Protocol):
    """A connection over its address's cap while too many such are closing already:
    closed as soon as it is accepted, unanswered (a ``Protocol`` rather than ``None``,
    which a TLS listener would try to wrap)."""

    def connectionMade(self) -> None:  # noqa: N802
        cast(AbortableTransport, self.transport).abortConnection()


@functools.lru_cache(maxsize=4096)
def address_key(host: str, exempt_private: bool = True) -> str | None:
    """The per-address count ``host`` falls in: the address itself, an IPv6 client's
    /64, or None when it is not capped (loopback and private-use addresses)."""
    try:
        address = ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return None  # not an IP address (a UNIX socket)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if exempt_private and (address.is_private or address.is_loopback):
        return None
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class LimitedSite(Site):
    """A ``Site`` whose connections keep :class:`HttpLimits` (see the module). It keeps
    no access log (Nakama has none) and logs no "Starting factory" lines."""

    protocol = LimitedHTTPChannel  # type: ignore[assignment]  # Twisted: HTTP/2's wrapper only
    #: Seconds a connection waiting for its next request stays open (never None here).
    timeOut: float
    noisy = False

    def log(self, request: Request) -> None:
        """No access log line per request."""

    def __init__(
        self,
        resource: IResource,
        limits: HttpLimits | None = None,
        *,
        requestFactory: Any = None,  # noqa: N803 (Site's name)
        reactor: IReactorTime | None = None,
        counts: HttpLimitCounts | None = None,
    ) -> None:
        limits = limits or HttpLimits()
        if limits.read_timeout_ms < 1 or limits.idle_timeout_ms < 1:
            raise ValueError("the read and idle timeouts must be greater than 0")
        if limits.max_connections_per_address < 0:
            raise ValueError("max_connections_per_address must be 0 (no cap) or more")
        if limits.max_concurrent_upgrades_per_address < 0:
            raise ValueError("max_concurrent_upgrades_per_address must be 0 (no limit) or more")
        super().__init__(
            resource,
            requestFactory,
            timeout=limits.idle_timeout_ms / 1000.0,
            reactor=reactor,
        )
        self.limits = limits
        #: Seconds a request's head and body may take.
        self.read_timeout = limits.read_timeout_ms / 1000.0
        #: Shared by the sites of one server when given, so its metrics add them up.
        self.counts = counts if counts is not None else HttpLimitCounts()
        #: Open connections by address key (only capped addresses, only while open).
        self.connections: dict[str, int] = {}
        #: Connections still sending their first request, by address key (only
        #: limited addresses, only while there are some).
        self.opening: dict[str, int] = {}
        self._refusing: set[str] = set()
        #: Connections over their address's cap, answered and not closed yet.
        self.closing_refusals = 0

    def acceptableProtocols(self) -> list[bytes]:  # noqa: N802
        return [b"http/1.1"]

    def buildProtocol(self, addr: IAddress | None) -> Protocol | None:  # type: ignore[override]  # noqa: N802 (Twisted: HTTP/2's wrapper only)
        limits = self.limits
        cap = limits.max_connections_per_address
        opening = limits.max_concurrent_upgrades_per_address
        host = getattr(addr, "host", None)
        key = (
            address_key(host, limits.exempt_private_addresses)
            if (cap or opening) and host
            else None
        )
        if key is None:
            return super().buildProtocol(addr)
        held = self.connections.get(key, 0)
        if cap and held >= cap:
            self.counts.refused_connections += 1
            if key not in self._refusing:
                self._refusing.add(key)
                _log.warn(
                    "refusing connections from {address}: {held} open, the most "
                    "socket.max_connections_per_address allows",
                    address=key,
                    held=held,
                )
            if self.closing_refusals >= MAX_CLOSING_REFUSALS:
                return _Refused()
            refused = super().buildProtocol(addr)
            refused._refused_cap = True
            self.closing_refusals += 1
            return refused
        channel = super().buildProtocol(addr)
        if cap:
            self.connections[key] = held + 1
            channel._address = key
        if opening:
            pending = self.opening.get(key, 0)
            if pending >= opening:
                self.counts.concurrent_upgrades += 1
                channel._refused_opening = True
            else:
                self.opening[key] = pending + 1
                channel._opening = key
        return channel

    def done_opening(self, key: str) -> None:
        """A connection counted under ``key`` sent its first request, or closed."""
        pending = self.opening.get(key, 0) - 1
        if pending > 0:
            self.opening[key] = pending
        else:
            self.opening.pop(key, None)

    def release(self, key: str) -> None:
        """A connection counted under ``key`` closed."""
        held = self.connections.get(key, 0) - 1
        if held > 0:
            self.connections[key] = held
        else:
            self.connections.pop(key, None)
            self._refusing.discard(key)
