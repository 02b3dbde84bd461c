"""Where the conformance tests run, and raw clients that keep the exact bytes.

Our server always runs (the ``server`` fixture). A reference Nakama is added when
``NAKAMA_RT_REFERENCE=host:port`` is set (its server key must be ``defaultkey`` and its
session settings Nakama's defaults); without it the reference cases are not generated.
"""

from __future__ import annotations

import base64
import os
import re
import uuid
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any
from urllib.parse import urlencode

import orjson
import pytest
from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
from twisted.internet import reactor
from twisted.internet.defer import Deferred, DeferredQueue
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.protocol import Protocol
from twisted.internet.task import deferLater
from twisted.web.client import Agent, FileBodyProducer, ResponseDone
from twisted.web.http_headers import Headers

from nakama_rt.wire.proto import realtime_pb2

REFERENCE = os.environ.get("NAKAMA_RT_REFERENCE", "")
TARGET_NAMES = ["ours", "reference"] if REFERENCE else ["ours"]
SERVER_KEY = "defaultkey"


@dataclass(frozen=True)
class Target:
    name: str
    host: str
    port: int

    @classmethod
    def reference(cls) -> Target:
        host, _, port = REFERENCE.rpartition(":")
        return cls("reference", host or "127.0.0.1", int(port))


def _param(name: str, values: tuple, label: str, ours_differs: str | None):
    marks = ()
    if ours_differs and name == "ours":
        marks = pytest.mark.xfail(strict=True, reason=ours_differs)
    return pytest.param(name, *values, id=f"{name}-{label}" if label else name, marks=marks)


def on_targets(ours_differs: str | None = None):
    """Parametrize ``target``: ours (xfail when ``ours_differs``), and the reference."""
    return pytest.mark.parametrize(
        "target", [_param(n, (), "", ours_differs) for n in TARGET_NAMES], indirect=True
    )


def cases_on_targets(names: str, cases: list):
    """Parametrize ``target`` and ``names`` with every case on every target.

    A case is a tuple of values for ``names``; when it is a :class:`Differs`, only the
    ``ours`` run of it is marked as a strict xfail.
    """
    params = []
    for case in cases:
        differs = case.reason if isinstance(case, Differs) else None
        values = case.values if isinstance(case, Differs) else case
        for name in TARGET_NAMES:
            params.append(_param(name, values, str(values[0]), differs))
    return pytest.mark.parametrize(f"target, {names}", params, indirect=["target"])


@dataclass(frozen=True)
class Differs:
    """A case where our server does not (yet) do what the reference does."""

    reason: str
    values: tuple


# HTTP ----------------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    body: bytes
    headers: Headers

    def header(self, name: str) -> str | None:
        values = self.headers.getRawHeaders(name)
        return values[0] if values else None

    def json(self) -> Any:
        return orjson.loads(self.body)


class _Collect(Protocol):
    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.done: Deferred[bytes] = Deferred()

    def dataReceived(self, data: bytes) -> None:  # noqa: N802
        self.chunks.append(data)

    def connectionLost(self, reason) -> None:  # noqa: N802
        if reason.check(ResponseDone):
            self.done.callback(b"".join(self.chunks))
        else:
            self.done.errback(reason)


class _UntilBlankLine(Protocol):
    """Collects what the server sends up to the end of its response head."""

    def __init__(self, request: bytes) -> None:
        self.request = request
        self.received = b""
        self.head: Deferred[bytes] = Deferred()

    def connectionMade(self) -> None:  # noqa: N802
        self.transport.write(self.request)

    def dataReceived(self, data: bytes) -> None:  # noqa: N802
        self.received += data
        if b"\r\n\r\n" in self.received and not self.head.called:
            self.head.callback(self.received)
            self.transport.loseConnection()

    def connectionLost(self, reason) -> None:  # noqa: N802
        if not self.head.called:
            self.head.callback(self.received)


async def raw_request(target: Target, request: bytes) -> bytes:
    """Send ``request`` as is on a new connection; return the response head's exact
    bytes (all that came, if the connection closed first)."""
    collect = _UntilBlankLine(request)
    await connectProtocol(TCP4ClientEndpoint(reactor, target.host, target.port), collect)
    return await collect.head


def basic(key: str = SERVER_KEY, password: str = "") -> str:
    return "Basic " + base64.b64encode(f"{key}:{password}".encode()).decode()


async def call(
    target: Target,
    method: str,
    path: str,
    body: Any = None,
    auth: str | None = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    """One HTTP request; ``body`` is JSON-encoded unless it is bytes."""
    sent = Headers({k: [v] for k, v in (headers or {}).items()})
    if auth is not None:
        sent.setRawHeaders("authorization", [auth])
    producer = None
    if body is not None:
        raw = body if isinstance(body, bytes) else orjson.dumps(body)
        producer = FileBodyProducer(BytesIO(raw))
        if not isinstance(body, bytes):
            sent.setRawHeaders("content-type", ["application/json"])
    url = f"http://{target.host}:{target.port}{path}"
    response = await Agent(reactor).request(method.encode(), url.encode(), sent, producer)
    collect = _Collect()
    response.deliverBody(collect)
    data = await collect.done
    if target.name == "reference" and _is_json(response.headers):
        data = compact_json(data)
    return Answer(response.code, data, response.headers)


def _is_json(headers: Headers) -> bool:
    return any(v.startswith("application/json") for v in headers.getRawHeaders("content-type", []))


def compact_json(data: bytes) -> bytes:
    """``data`` without whitespace outside strings.

    Go's protojson puts a space after some of its separators, chosen per build so that
    nobody depends on its exact bytes; the reference's JSON is compacted before it is
    compared. Our server's bytes are compared as they come.
    """
    out = bytearray()
    in_string = escaped = False
    for byte in data:
        if in_string:
            out.append(byte)
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
            out.append(byte)
        elif byte not in b" \t\r\n":
            out.append(byte)
    return bytes(out)


def jwt_parts(token: str) -> tuple[bytes, bytes]:
    """A JWT's header and payload, as the exact JSON bytes that were signed."""
    header, payload, _ = token.split(".")
    return tuple(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)) for p in (header, payload))


@dataclass
class User:
    user_id: str
    username: str
    token: str
    refresh_token: str


def bearer(user: User) -> str:
    """The Authorization header of ``user``'s session."""
    return f"Bearer {user.token}"


def expect(answer: Answer, status: int, code: int | None, message: str | None) -> None:
    """A success answers ``{}`` (``code`` None); a refusal its code and, unless
    ``message`` is None, Nakama's exact body (None: for a wrongly typed field, where
    protojson names a line and column and we do not)."""
    assert answer.status == status, answer.body
    if code is None:
        assert answer.body == b"{}"
    elif message is None:
        assert answer.json()["code"] == code
    else:
        assert answer.body == orjson.dumps({"code": code, "message": message})


async def new_user(target: Target, prefix: str = "c") -> User:
    """A fresh account (custom id), with a unique username."""
    username = f"{prefix}{uuid.uuid4().hex[:12]}"
    answer = await call(
        target,
        "POST",
        f"/v2/account/authenticate/custom?username={username}",
        {"id": f"conf-{uuid.uuid4()}"},
        auth=basic(),
    )
    assert answer.status == 200, answer
    session = answer.json()
    claims = orjson.loads(jwt_parts(session["token"])[1])
    return User(claims["uid"], username, session["token"], session["refresh_token"])


# WebSocket -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Frame:
    binary: bool
    payload: bytes


class RawSocket(WebSocketClientProtocol):
    """A client socket that queues every frame as received: exact bytes and type."""

    def __init__(self) -> None:
        super().__init__()
        self.frames: DeferredQueue = DeferredQueue()
        self.close_info: Deferred = Deferred()

    def onOpen(self):  # noqa: N802
        self.factory.opened.callback(self)

    def onMessage(self, payload, isBinary):  # noqa: N802, N803
        if self.factory.compact and not isBinary:
            payload = compact_json(payload)
        self.frames.put(Frame(isBinary, payload))

    def onCloseFrame(self, code, reasonRaw):  # noqa: N802, N803
        # The server's close frame, as soon as it arrives (the TCP close may come later:
        # Nakama drops the connection only after its close-ack wait).
        self._closed(code, reasonRaw.decode() if reasonRaw is not None else None)
        return super().onCloseFrame(code, reasonRaw)

    def onClose(self, wasClean, code, reason):  # noqa: N802, N803
        if not self.factory.opened.called:
            self.factory.opened.errback(ConnectionError(f"refused: {code} {reason}"))
        self._closed(code, reason)

    def _closed(self, code, reason) -> None:
        if not self.close_info.called:
            self.close_info.callback((code, reason))
        while self.frames.waiting:  # nothing more will arrive
            self.frames.waiting.pop(0).errback(ConnectionError(f"closed: {code} {reason}"))

    def send_json(self, text: str | bytes) -> None:
        self.sendMessage(text.encode() if isinstance(text, str) else text, isBinary=False)

    def send_envelope(self, message: dict) -> None:
        """Send an envelope (proto field names) in this socket's format."""
        if self.factory.fmt == "protobuf":
            self.sendMessage(_envelope(message).SerializeToString(), isBinary=True)
        else:
            self.sendMessage(orjson.dumps(message), isBinary=False)

    async def next(self, timeout: float = 5.0) -> Frame:
        if self.close_info.called and not self.frames.pending:
            raise ConnectionError(f"closed: {self.close_info.result}")
        d = self.frames.get()
        d.addTimeout(timeout, reactor)
        return await d

    async def quiet(self, seconds: float = 0.3) -> list[Frame]:
        """Wait, then return (and take) whatever arrived meanwhile."""
        await deferLater(reactor, seconds, lambda: None)
        arrived = list(self.frames.pending)
        self.frames.pending.clear()
        return arrived

    async def until_close(self, timeout: float = 10.0) -> tuple[list[Frame], tuple]:
        """Frames received until the server's close, and the close (code, reason)."""
        d = self.close_info
        d.addTimeout(timeout, reactor)
        closed = await d
        arrived = list(self.frames.pending)
        self.frames.pending.clear()
        return arrived, closed


def _envelope(message: dict) -> realtime_pb2.Envelope:
    from google.protobuf import json_format

    return json_format.ParseDict(message, realtime_pb2.Envelope())


async def open_socket(
    target: Target,
    token: str | None,
    fmt: str = "json",
    status: bool = False,
) -> RawSocket:
    """Open ``/ws``; raises ConnectionError when the upgrade is refused."""
    query = {"token": token} if token is not None else {}
    if fmt != "json":
        query["format"] = fmt
    if status:
        query["status"] = "true"
    url = f"ws://{target.host}:{target.port}/ws?{urlencode(query)}"
    factory = WebSocketClientFactory(url)
    factory.setProtocolOptions(maxMessagePayloadSize=1 << 20, maxFramePayloadSize=1 << 20)
    factory.protocol = RawSocket
    factory.fmt = fmt
    factory.compact = target.name == "reference"
    factory.opened = Deferred()
    await TCP4ClientEndpoint(reactor, target.host, target.port).connect(factory)
    return await factory.opened


# Expected frames -----------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.]+)>")


@dataclass
class Wire:
    """Expected envelopes, written as dicts with ``<name>`` placeholders, as exact bytes.

    JSON frames are compact protojson with proto field names in field order, which is
    what ``orjson.dumps`` of the dict gives when the dict is written in that order;
    protobuf frames are the serialized Envelope.
    """

    values: dict[str, str] = field(default_factory=dict)

    def fill(self, message: Any) -> Any:
        if isinstance(message, dict):
            return {k: self.fill(v) for k, v in message.items()}
        if isinstance(message, list):
            return [self.fill(v) for v in message]
        if isinstance(message, str):
            return _PLACEHOLDER.sub(lambda m: self.values[m.group(1)], message)
        return message

    def frame(self, message: dict, fmt: str = "json") -> Frame:
        filled = self.fill(message)
        if fmt == "protobuf":
            return Frame(True, _envelope(filled).SerializeToString())
        return Frame(False, orjson.dumps(filled))


def decode(frame: Frame) -> dict:
    """A received frame as a dict of proto field names (for learning ids from it)."""
    if frame.binary:
        from google.protobuf import json_format

        envelope = realtime_pb2.Envelope.FromString(frame.payload)
        return json_format.MessageToDict(envelope, preserving_proto_field_name=True)
    return orjson.loads(frame.payload)
