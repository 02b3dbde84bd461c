"""The HTTP side: ``/ws`` (the socket upgrade), ``/v2/...`` (the API), ``/healthcheck``."""

from __future__ import annotations

from typing import cast

from twisted.protocols.policies import ProtocolWrapper
from twisted.web.resource import IResource, Resource
from twisted.web.server import NOT_DONE_YET, Request

from nakama_rt.api.http import ApiError, Code, client_address, write_error
from nakama_rt.core.limits import UPGRADE_RATE, KeyedRate
from nakama_rt.library_internals import detach_http_channel
from nakama_rt.logs import Logger
from nakama_rt.socket import upgrade
from nakama_rt.socket.protocol import (
    NakamaServerProtocol,
    NakamaSocketFactory,
    UpgradeRefused,
    authenticate_upgrade,
)
from nakama_rt.web.limits import (
    TOO_MANY_UPGRADES,
    AbortableTransport,
    address_key,
    close_after_answer,
    connection_taken_over,
)


def _decoded_args(request: Request) -> dict[str, list[str]]:
    args: dict[bytes, list[bytes]] = request.args or {}  # (Twisted types it as None)
    return {
        key.decode("utf-8", "replace"): [v.decode("utf-8", "replace") for v in values]
        for key, values in args.items()
    }


class SocketResource(Resource):
    """``GET /ws``: Nakama's checks in Nakama's order, each refused with plain HTTP
    (the format, the token, then the upgrade itself), then the socket opens on the
    request's connection.

    Before them, ours: with ``socket.max_upgrades_per_sec_per_address``, upgrade
    requests from one client address (the connection's, never a forwarded one; an
    IPv6 client's /64; loopback and private addresses exempt unless
    ``socket.exempt_private_addresses`` is false) have a token bucket of that many,
    refilling at that many a second. One that finds it empty is answered
    ``429 Too Many Requests`` with ``Retry-After: 1`` and a text body
    (:data:`~nakama_rt.web.limits.TOO_MANY_UPGRADES`) before its token is even
    looked at, so a flood of upgrades costs a parsed request and a table look-up
    each, and counted (``limit_refusals["upgrade_rate"]``). Its connection then
    closes: requests pipelined after it are not read, so one read of a client's
    pipelined flood is one answer, not hundreds, and others' requests interleave.
    """

    isLeaf = True
    log = Logger()

    def __init__(self, factory: NakamaSocketFactory) -> None:
        super().__init__()
        self._factory = factory
        environment = factory.environment
        sock = environment.config.socket
        rate = sock.max_upgrades_per_sec_per_address
        self._upgrades = KeyedRate(environment.clock, rate, rate) if rate else None
        self._exempt_private = sock.exempt_private_addresses

    def render(self, request: Request) -> bytes | int:
        if request.method != b"GET" or request.postpath:  # Nakama routes only GET /ws
            return _not_found(request)
        factory: NakamaSocketFactory = self._factory
        if self._upgrades is not None and not self._upgrade_allowed(request):
            factory.environment.counts.limit_refusals[UPGRADE_RATE] += 1
            request.setHeader(b"retry-after", b"1")
            close_after_answer(request)
            return _plain(request, 429, TOO_MANY_UPGRADES)
        header = request.getHeader("authorization")
        try:
            auth = authenticate_upgrade(factory.environment, _decoded_args(request), header)
        except UpgradeRefused as refused:
            return _plain(request, refused.status, refused.message)
        except Exception:
            self.log.failure("socket upgrade check failed")
            return _plain(request, 500, "Internal error")
        if not factory.environment.accepting():
            return _plain(request, 503, "Server shutting down")
        key = upgrade.handshake_key(request.requestHeaders)
        transport = request.channel.transport
        if key is None or transport is None:  # (no transport to take over under HTTP/2)
            request.setHeader(b"sec-websocket-version", b"13")
            return _plain(request, 400, upgrade.BAD_REQUEST)
        client_ip, client_port = client_address(request)
        # The socket outlives the HTTP request: stop the channel's timer (its idle
        # timer, or web.limits' read and idle deadlines), take its transport over,
        # and let the channel and this request go as soon as render returns (they
        # hold each other: left to the garbage collector, they tripled the time
        # collections took while sockets were connecting).
        channel = request.channel
        detach_http_channel(channel)
        try:
            protocol = factory.build_upgraded()
            _hand_over(transport, protocol)
            # It keeps its place in its address's connection count until it closes.
            connection_taken_over(channel, protocol.is_closed)
            protocol.open_upgraded(auth, upgrade.switching_protocols(key), client_ip, client_port)
        except Exception:
            # The connection is no longer twisted.web's to answer: drop it.
            self.log.failure("socket open failed")
            cast(AbortableTransport, transport).abortConnection()
        return NOT_DONE_YET

    def _upgrade_allowed(self, request: Request) -> bool:
        """Whether the request's address has an upgrade left this second."""
        assert self._upgrades is not None
        host = getattr(request.getClientAddress(), "host", None)
        key = address_key(host, self._exempt_private) if host else None
        return key is None or self._upgrades.take(key)


def _hand_over(transport, protocol: NakamaServerProtocol) -> None:
    """Connect ``protocol`` to the transport twisted.web served the request on, the
    way Autobahn's resource does, TLS included, and let it read again (twisted.web
    paused reading while it served the request; a TLS transport, which is no push
    producer, was never paused)."""
    if isinstance(transport, ProtocolWrapper):  # TLS from a TLS listener
        transport.wrappedProtocol = protocol
    elif isinstance(transport.protocol, ProtocolWrapper):  # TLS started on the connection
        transport.protocol.wrappedProtocol = protocol
    else:
        transport.protocol = protocol
    protocol.makeConnection(transport)
    if hasattr(transport, "resumeProducing"):
        transport.resumeProducing()


#: Reason phrases twisted.web does not know (it would say "Unknown Status").
_PHRASES = {429: b"Too Many Requests"}


def _plain(request: Request, status: int, message: str) -> bytes:
    """Go's ``http.Error``: a text body ending in a newline."""
    request.setResponseCode(status, _PHRASES.get(status))
    request.setHeader(b"content-type", b"text/plain; charset=utf-8")
    request.setHeader(b"x-content-type-options", b"nosniff")
    return (message + "\n").encode()


def _not_found(request: Request) -> int:
    write_error(request, ApiError(Code.NOT_FOUND, "Not Found"))
    return NOT_DONE_YET


class _NotFound(Resource):
    """Nakama's answer to a path it does not serve: the API's JSON 404."""

    isLeaf = True

    def render(self, request: Request) -> int:
        return _not_found(request)


_NOT_FOUND = _NotFound()


class _Root(Resource):
    """``GET /`` answers 200 with an empty body, as Nakama does (load balancers
    probe it); other paths are its children's, or the JSON 404."""

    def getChild(self, path: bytes, request: Request) -> Resource:  # noqa: N802 (Twisted's name)
        return self if path == b"" else _NOT_FOUND

    def render(self, request: Request) -> bytes | int:
        if request.method != b"GET":
            return _not_found(request)
        request.defaultContentType = None
        return b""


def build_root(socket: SocketResource, api: IResource, healthcheck: IResource) -> Resource:
    """The resource tree the server serves; an embedding app may mount the parts itself."""
    root = _Root()
    root.putChild(b"ws", socket)
    root.putChild(b"v2", api)
    root.putChild(b"healthcheck", healthcheck)
    return root
