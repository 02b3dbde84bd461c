"""Hostile clients at the WebSocket layer (issue 13): each attack is sent byte for byte
over a real socket to a real server on 127.0.0.1, and the answer checked against what
Nakama (gorilla/websocket v1.5.3) answers, while a control client on the same server
keeps being served.

- A message that never ends: a first fragment, then empty continuation frames for
  ever. They add no bytes, so the byte limit never saw them, and Autobahn kept a list
  entry for each one. A message may now have
  :func:`~nakama_rt.socket.framing.message_frame_limit` frames (64 at 4,096 bytes); one more
  closes with 1009, as an oversize message does (with a text saying which limit, where
  gorilla's 1009 has none). Nakama keeps reading (it holds nothing per frame).
- A close frame with a code a peer may not send (RFC 6455 7.4) or a reason that is not
  UTF-8: the server reset the connection. It now answers as gorilla does, a 1002 close
  frame saying what was wrong, and closes the connection.
"""

from __future__ import annotations

import struct
import uuid

import orjson
import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from wsclient import authenticate, connect

from nakama_rt.socket.framing import message_frame_limit
from nakama_rt.wire.close_reasons import READ_LIMIT_EXCEEDED
from nakama_rt.wire.proto import realtime_pb2
from tests.bytesocket import (
    BINARY,
    CLOSE,
    CONTINUATION,
    PING,
    PONG,
    TEXT,
    RawSocket,
    close_payload,
    frame,
    raw_socket,
)

#: Frames a message may have at the default 4,096-byte limit.
CAP = message_frame_limit(4096)
#: The close frame past it: 1009 and which limit.
TOO_MANY_FRAMES_CLOSE = close_payload(1009, f"message too big: over {CAP} frames".encode())


@pytest.fixture
def server_options() -> dict:
    # The server pings often (the attacker answers, so it stays); a client that does
    # not answer the server's close frame is dropped soon.
    return {"socket": {"ping_period_ms": 200, "pong_wait_ms": 2000, "close_ack_wait_ms": 500}}


# The server's side ---------------------------------------------------------------------------


async def attacker(server, fmt: str = "json") -> tuple[str, RawSocket]:
    """A new user's raw socket, and its username."""
    username = f"h{uuid.uuid4().hex[:12]}"
    session = await authenticate(server.port, f"custom-{uuid.uuid4()}", username=username)
    return username, await raw_socket(server.port, session["token"], fmt)


def server_side(server, username: str):
    """The server's protocol object for ``username``'s socket."""
    (protocol,) = [
        p for p in server.app.socket_factory.open_protocols if p.session.username == username
    ]
    return protocol


def sizes(protocol) -> dict[str, int]:
    """The length of everything sized the protocol object holds: a list, buffer or
    mapping kept per frame shows up here as a length that grows with the frames."""
    return {
        name: len(value)
        for name, value in vars(protocol).items()
        if isinstance(value, (list, tuple, dict, set, bytes, bytearray, str))
    }


@pytest.fixture
def session_ends(server, monkeypatch) -> dict[str, list[str]]:
    """The reason of every session_end, by username, as the runtime is told it."""
    ends: dict[str, list[str]] = {}
    original = server.server.runtime.session_end

    def session_end(session, reason: str = "") -> None:
        ends.setdefault(session.username, []).append(reason)
        original(session, reason)

    monkeypatch.setattr(server.server.runtime, "session_end", session_end)
    return ends


@pytest_twisted.async_yield_fixture
async def control(server):
    """A well-behaved client on the same server; call it to check it is still answered."""
    session = await authenticate(server.port, f"custom-{uuid.uuid4()}", username="control")
    client = await connect(server.port, session["token"])
    count = 0

    async def still_answered() -> None:
        nonlocal count
        count += 1
        cid = f"c{count}"
        assert await client.request({"cid": cid, "ping": {}}) == {"cid": cid, "pong": {}}

    yield still_answered
    await still_answered()
    client.sendClose()
    await client.closed()


async def quiet(seconds: float) -> None:
    d: Deferred = Deferred()
    reactor.callLater(seconds, d.callback, None)
    await d


# A message that never ends -------------------------------------------------------------------

PING_JSON = b'{"cid":"f","ping":{}}'
PONG_JSON = (TEXT, b'{"cid":"f","pong":{}}')


def pieces(message: bytes, frames: int) -> list[bytes]:
    """``message`` as ``frames`` data frames: its first byte, empty continuations, the
    rest last."""
    assert frames >= 2
    return (
        [frame(message[:1], TEXT, fin=False)]
        + [frame(b"", CONTINUATION, fin=False)] * (frames - 2)
        + [frame(message[1:], CONTINUATION)]
    )


@pytest_twisted.ensureDeferred
async def test_a_message_of_the_most_frames_allowed_is_read(server, control) -> None:
    """A message of exactly the cap (64) frames, nearly all empty, is read and
    answered; while it is unfinished, the server holds nothing per frame."""
    username, client = await attacker(server)
    first, *empties, last = pieces(PING_JSON, CAP)
    client.send(first, *empties[:9], frame(b"a", PING))
    assert await client.next() == (PONG, b"a")  # 10 frames in, the socket is open
    before = sizes(server_side(server, username))
    client.send(*empties[9:], frame(b"b", PING))
    assert await client.next() == (PONG, b"b")  # 63 frames in
    assert sizes(server_side(server, username)) == before, "something grew per frame"
    await control()
    client.send(last)
    assert await client.next() == PONG_JSON


@pytest_twisted.ensureDeferred
async def test_one_frame_more_closes_with_1009(server, control, session_ends) -> None:
    """Frame 65 of one message closes the socket as an oversize message does: 1009
    (gorilla's ErrReadLimit close, which has no text; ours says which limit);
    session_end gets gorilla's error."""
    username, client = await attacker(server)
    client.send(*pieces(PING_JSON, CAP + 1))
    assert await client.next() == (CLOSE, TOO_MANY_FRAMES_CLOSE)
    client.send(frame(struct.pack("!H", 1009), CLOSE))  # the client answers the close
    await client.end()  # (reset: Autobahn's server aborts once the handshake is done)
    assert session_ends[username] == [READ_LIMIT_EXCEEDED]
    assert [s for s in server.server.sessions if s.username == username] == []
    await control()


@pytest_twisted.ensureDeferred
async def test_thousands_of_empty_continuation_frames(server, control, session_ends) -> None:
    """The attack as seen: a first fragment, then 5,000 empty continuation frames, the
    server's pings answered throughout. The server closes with 1009 at frame 65, holds
    nothing for the frames after it, drops the client that never answers its close,
    and the control client is answered between every batch."""
    username, client = await attacker(server)
    protocol = server_side(server, username)
    before = sizes(protocol)
    client.send(frame(b'{"cid":', TEXT, fin=False))
    for _ in range(5):
        client.send(*[frame(b"", CONTINUATION, fin=False)] * 1000)
        await control()
    assert await client.next() == (CLOSE, TOO_MANY_FRAMES_CLOSE)
    assert await client.end() is False  # reset after close_ack_wait_ms: it never answered
    grown = {name: size - before.get(name, 0) for name, size in sizes(protocol).items()}
    assert max(grown.values()) < 100, grown  # a list per frame would hold 5,001 entries
    assert session_ends[username] == [READ_LIMIT_EXCEEDED]
    assert client.frames.pending == []  # nothing but the close frame came
    await control()


def envelope_ping(fmt: str, cid: str, size: int | None = None) -> bytes:
    """A ping envelope in ``fmt``, with its cid padded to ``size`` bytes in all."""
    if fmt == "json":
        pad = 0 if size is None else size - len(b'{"cid":"","ping":{}}') - len(cid)
        return b'{"cid":"' + cid.encode() + b"x" * pad + b'","ping":{}}'
    envelope = realtime_pb2.Envelope(cid=cid, ping=realtime_pb2.Ping())
    if size is not None:
        envelope.cid += "x" * (size - envelope.ByteSize() - 1)  # one byte more of length
    return envelope.SerializeToString()


def answered_cid(fmt: str, answer: tuple[int, bytes]) -> str:
    """The cid of the pong ``answer`` is, in ``fmt``'s frame type."""
    opcode, payload = answer
    if fmt == "json":
        assert opcode == TEXT
        decoded = orjson.loads(payload)
        assert set(decoded) == {"cid", "pong"}, decoded
        return decoded["cid"]
    assert opcode == BINARY
    envelope = realtime_pb2.Envelope.FromString(payload)
    assert envelope.WhichOneof("message") == "pong"
    return envelope.cid


def split(message: bytes, opcode: int, cuts: list[int]) -> list[bytes]:
    """``message`` as data frames cut at ``cuts``."""
    bounds = [0, *cuts, len(message)]
    parts = [message[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
    return [
        frame(part, opcode if n == 0 else CONTINUATION, fin=n == len(parts) - 1)
        for n, part in enumerate(parts)
    ]


@pytest.mark.parametrize("fmt", ["json", "protobuf"])
@pytest_twisted.ensureDeferred
async def test_a_fragmented_message_is_still_read(server, control, fmt) -> None:
    """Fragmented messages as a client library may send them: a few fragments with a
    ping between them, and one of 4,096 bytes (the byte limit) in four."""
    opcode = TEXT if fmt == "json" else BINARY
    _, client = await attacker(server, fmt)
    small = envelope_ping(fmt, "small")
    first, second, third = split(small, opcode, [3, 9])
    client.send(first, frame(b"p", PING), second, third)
    assert await client.next() == (PONG, b"p")
    assert answered_cid(fmt, await client.next()) == "small"
    big = envelope_ping(fmt, "big", 4096)
    assert len(big) == 4096
    client.send(*split(big, opcode, [1024, 2048, 3072]))
    assert answered_cid(fmt, await client.next()).startswith("big")
    await control()


# Close frames that are not allowed -----------------------------------------------------------


#: A client's close frame payload, and gorilla's answer to it: a 1002 close frame with
#: its words, and the error Nakama's session_end gets.
REFUSED_CLOSES = [
    *[
        pytest.param(close_payload(code), f"bad close code {code}", id=f"code-{code}")
        for code in (0, 999, 1004, 1005, 1006, 1014, 1015, 2999, 5000, 65535)
    ],
    pytest.param(
        close_payload(1000, b"bye \xff"), "invalid utf8 payload in close frame", id="utf8-ff"
    ),
    # a UTF-16 surrogate, encoded: Go's utf8.ValidString refuses it too
    pytest.param(
        close_payload(4000, b"\xed\xa0\x80"),
        "invalid utf8 payload in close frame",
        id="utf8-surrogate",
    ),
]


@pytest.mark.parametrize("payload, error", REFUSED_CLOSES)
@pytest_twisted.ensureDeferred
async def test_a_refused_close_frame_answers_1002_and_closes(
    server, control, session_ends, payload, error
) -> None:
    username, client = await attacker(server)
    await control()
    client.send(frame(payload, CLOSE))
    assert await client.next() == (CLOSE, close_payload(1002, error.encode()))
    assert await client.end() is True, "the server reset the connection"
    assert session_ends[username] == [f"websocket: {error}"]
    assert [s for s in server.server.sessions if s.username == username] == []
    assert len(server.app.socket_factory.open_protocols) == 1  # the control's
    await control()


#: A client's close frame payload that gorilla accepts, and the server's answer: the
#: client's code without its reason; session_end's reason as Nakama gives it.
ACCEPTED_CLOSES = [
    # one byte has no code: a close without a status (gorilla reads the code from two)
    pytest.param(b"\x03", b"", "", id="one-byte"),
    pytest.param(b"", b"", "", id="empty"),
    pytest.param(
        close_payload(1013, b"later"),
        close_payload(1013),
        "websocket: close 1013: later",
        id="code-1013",
    ),
    pytest.param(close_payload(3000), close_payload(3000), "websocket: close 3000", id="3000"),
    pytest.param(
        close_payload(4999, "ü".encode()),
        close_payload(4999),
        "websocket: close 4999: ü",
        id="4999-utf8",
    ),
]


@pytest.mark.parametrize("payload, answer, reason", ACCEPTED_CLOSES)
@pytest_twisted.ensureDeferred
async def test_an_accepted_close_frame_is_echoed(
    server, control, session_ends, payload, answer, reason
) -> None:
    username, client = await attacker(server)
    client.send(frame(payload, CLOSE))
    assert await client.next() == (CLOSE, answer)
    assert await client.end() is True
    assert session_ends[username] == [reason]
    await control()


@pytest_twisted.ensureDeferred
async def test_frames_after_a_refused_close_are_not_read(server, session_ends) -> None:
    """Nothing the client sends after its refused close frame is answered."""
    username, client = await attacker(server)
    client.send(frame(close_payload(999), CLOSE), frame(PING_JSON), frame(b"x", PING))
    assert await client.next() == (CLOSE, close_payload(1002, b"bad close code 999"))
    await client.end()
    assert client.frames.pending == []
    assert session_ends[username] == ["websocket: bad close code 999"]
