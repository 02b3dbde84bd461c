"""Test clients: HTTP calls with Agent and WebSocket sockets with Autobahn's client."""

from __future__ import annotations

import base64
import json
import uuid
from urllib.parse import urlencode

import orjson
from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
from google.protobuf import json_format
from twisted.internet import reactor
from twisted.internet.defer import Deferred, DeferredQueue, inlineCallbacks
from twisted.internet.endpoints import TCP4ClientEndpoint, wrapClientTLS
from twisted.web.client import Agent, readBody
from twisted.web.http_headers import Headers

from nakama_rt.wire.proto import realtime_pb2

SERVER_KEY = "defaultkey"


class HttpAnswer:
    def __init__(self, status: int, body: bytes, headers: Headers) -> None:
        self.status = status
        self.body = body
        self.headers = headers

    def json(self):
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"<HttpAnswer {self.status} {self.body[:200]!r}>"


class _Body:
    """A minimal IBodyProducer for request bodies."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self.length = len(data)

    def startProducing(self, consumer):  # noqa: N802
        consumer.write(self._data)
        return _fired()

    def pauseProducing(self):  # noqa: N802
        pass

    def resumeProducing(self):  # noqa: N802
        pass

    def stopProducing(self):  # noqa: N802
        pass


def _fired() -> Deferred:
    d: Deferred = Deferred()
    d.callback(None)
    return d


@inlineCallbacks
def http(
    port: int,
    method: str,
    path: str,
    body=None,
    headers: dict | None = None,
    basic=None,
    bearer=None,
    raw: bytes | None = None,
):
    """Call the server and return an :class:`HttpAnswer` (any status)."""
    agent = Agent(reactor)
    all_headers = {k.encode(): [v.encode()] for k, v in (headers or {}).items()}
    if basic is not None:
        user, password = basic
        token = base64.b64encode(f"{user}:{password}".encode())
        all_headers[b"authorization"] = [b"Basic " + token]
    if bearer is not None:
        all_headers[b"authorization"] = [b"Bearer " + bearer.encode()]
    producer = None
    if raw is not None:
        producer = _Body(raw)
    elif body is not None:
        producer = _Body(orjson.dumps(body))
        all_headers[b"content-type"] = [b"application/json"]
    response = yield agent.request(
        method.encode(), f"http://127.0.0.1:{port}{path}".encode(), Headers(all_headers), producer
    )
    data = yield readBody(response)
    return HttpAnswer(response.code, data, response.headers)


@inlineCallbacks
def authenticate(
    port: int, custom_id: str, username: str | None = None, vars=None, server_key: str = SERVER_KEY
):
    """Authenticate (creating the account) by custom id; return the session JSON."""
    query = {"create": "true"}
    if username:
        query["username"] = username
    body = {"id": custom_id}
    if vars:
        body["vars"] = vars
    answer = yield http(
        port,
        "POST",
        f"/v2/account/authenticate/custom?{urlencode(query)}",
        body=body,
        basic=(server_key, ""),
    )
    assert answer.status == 200, answer
    return answer.json()


class SocketClient(WebSocketClientProtocol):
    """A socket that queues what it receives; ``close_info`` fires with (code, reason)."""

    def __init__(self) -> None:
        super().__init__()
        self.received: DeferredQueue = DeferredQueue()
        self.close_info: Deferred = Deferred()
        self.binary_flags: list[bool] = []

    def onOpen(self):  # noqa: N802
        self.factory.opened.callback(self)

    def onMessage(self, payload, isBinary):  # noqa: N802, N803
        self.binary_flags.append(isBinary)
        if self.factory.fmt == "protobuf":
            envelope = realtime_pb2.Envelope.FromString(payload)
            self.received.put(json_format.MessageToDict(envelope, preserving_proto_field_name=True))
        else:
            self.received.put(orjson.loads(payload))

    def onClose(self, wasClean, code, reason):  # noqa: N802, N803
        if not self.factory.opened.called:
            self.factory.opened.errback(ConnectionError(f"refused: {code} {reason}"))
        if not self.close_info.called:
            self.close_info.callback((code, reason))

    def send(self, message: dict) -> None:
        """Send an envelope given as a dict of proto field names, in this socket's format."""
        if self.factory.fmt == "protobuf":
            envelope = json_format.ParseDict(message, realtime_pb2.Envelope())
            self.sendMessage(envelope.SerializeToString(), isBinary=True)
        else:
            self.sendMessage(orjson.dumps(message), isBinary=False)

    def next(self, timeout: float = 5.0) -> Deferred:
        d = self.received.get()
        d.addTimeout(timeout, reactor)
        return d

    @inlineCallbacks
    def request(self, message: dict, timeout: float = 5.0):
        """Send and return the next message received (the answer, in order)."""
        self.send(message)
        answer = yield self.next(timeout)
        return answer

    def closed(self, timeout: float = 10.0) -> Deferred:
        d = self.close_info
        d.addTimeout(timeout, reactor)
        return d


@inlineCallbacks
def connect(
    port: int,
    token: str | None,
    fmt: str = "json",
    status: bool | None = None,
    lang: str | None = None,
    bearer: str | None = None,
    max_size: int = 1 << 20,
    tls=None,
):
    """Open a socket to ``/ws``; fails with ConnectionError when the upgrade is refused."""
    query = {}
    if token is not None:
        query["token"] = token
    if fmt:
        query["format"] = fmt
    if status is not None:
        query["status"] = "true" if status else "false"
    if lang:
        query["lang"] = lang
    scheme = "wss" if tls is not None else "ws"
    url = f"{scheme}://127.0.0.1:{port}/ws?{urlencode(query)}"
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else None
    factory = WebSocketClientFactory(url, headers=headers)
    factory.setProtocolOptions(maxMessagePayloadSize=max_size, maxFramePayloadSize=max_size)
    factory.protocol = SocketClient
    factory.fmt = fmt or "json"
    factory.opened = Deferred()
    endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", port)
    if tls is not None:
        endpoint = wrapClientTLS(tls, endpoint)
    yield endpoint.connect(factory)
    client = yield factory.opened
    return client


async def wait_for(
    client: SocketClient, predicate, timeout: float = 5.0
) -> tuple[dict, list[dict]]:
    """The first message matching ``predicate``, and the ones received before it."""
    skipped = []
    while True:
        message = await client.next(timeout)
        if predicate(message):
            return message, skipped
        skipped.append(message)


def has(key: str):
    """A predicate: the message carries ``key`` (e.g. ``"channel_message"``)."""
    return lambda message: key in message


async def player(port: int, name: str, fmt: str = "json") -> SocketClient:
    """A new user ``name`` (a fresh custom id) with a socket open in ``fmt``."""
    session = await authenticate(port, f"player-{uuid.uuid4()}", username=name)
    return await connect(port, session["token"], fmt=fmt)


async def answer(client: SocketClient, message: dict) -> dict:
    """Send ``message``; return the reply carrying its cid."""
    client.send(message)
    reply, _ = await wait_for(client, lambda m: m.get("cid") == message["cid"])
    return reply


def presence_events(event: str):
    """``presence_event(kind, username)`` for ``event`` messages (e.g.
    ``"party_presence_event"``): a predicate, ``username`` among its joins or leaves."""

    def presence_event(kind: str, username: str):
        def matches(message: dict) -> bool:
            body = message.get(event, {})
            return any(p["username"] == username for p in body.get(kind, []))

        return matches

    return presence_event
