"""The HTTP side: ``/ws`` (the socket upgrade), ``/v2/...`` (the API), ``/healthcheck``."""

from __future__ import annotations

from autobahn.twisted.resource import WebSocketResource
from twisted.web.resource import Resource
from twisted.web.server import Request

from nakama_rt.logs import Logger
from nakama_rt.protocol import NakamaSocketFactory, UpgradeRefused, authenticate_upgrade


def _decoded_args(request: Request) -> dict[str, list[str]]:
    return {
        key.decode("utf-8", "replace"): [v.decode("utf-8", "replace") for v in values]
        for key, values in (request.args or {}).items()
    }


class SocketResource(WebSocketResource):
    """``GET /ws``: refuse with plain HTTP before the upgrade, as Nakama does, then
    hand the connection to Autobahn."""

    log = Logger()

    def __init__(self, factory: NakamaSocketFactory) -> None:
        super().__init__(factory)

    def render(self, request: Request) -> bytes | int:
        factory: NakamaSocketFactory = self._factory
        header = request.getHeader("authorization")
        try:
            auth = authenticate_upgrade(factory.server, _decoded_args(request), header)
        except UpgradeRefused as refused:
            return _plain(request, refused.status, refused.message)
        except Exception:
            self.log.failure("socket upgrade check failed")
            return _plain(request, 500, "Internal error")
        if factory.server.shutting_down:
            return _plain(request, 503, "Server shutting down")
        # The socket outlives the HTTP request: stop the channel's idle timer.
        request.channel.setTimeout(None)
        factory.pending_auth = auth
        try:
            return super().render(request)
        finally:
            factory.pending_auth = None


def _plain(request: Request, status: int, message: str) -> bytes:
    """Go's ``http.Error``: a text body ending in a newline."""
    request.setResponseCode(status)
    request.setHeader(b"content-type", b"text/plain; charset=utf-8")
    request.setHeader(b"x-content-type-options", b"nosniff")
    return (message + "\n").encode()


def build_root(socket: SocketResource, api: Resource, healthcheck: Resource) -> Resource:
    """The resource tree the server serves; an embedding app may mount the parts itself."""
    root = Resource()
    root.putChild(b"ws", socket)
    root.putChild(b"v2", api)
    root.putChild(b"healthcheck", healthcheck)
    return root
