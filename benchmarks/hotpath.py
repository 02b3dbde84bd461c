"""CPU cost of the server's hot paths, in process, without the kernel or a client.

    python benchmarks/hotpath.py [--profile SCENARIO] [--format json|protobuf]

Real sockets' protocols (the server's own factory, lifecycle, pipeline, codec and
tracker) are fed masked client frames through ``dataReceived`` and write to
in-memory transports, so the figures are the Python work per message that a load
test's server CPU-seconds are made of, minus the system calls. Scenarios:

* ``ping``: one ping in, one pong out;
* ``chat``: one ``channel_message_send`` in a room of 25 (persistence off), 25
  out and the sender's ack;
* ``match``: one relayed ``match_data_send`` in a match of 4, 3 out;
* ``match-2-nodes``: the same match with two players on each of two cluster nodes
  in this process: 1 out on the sender's node, 2 on the other, which gets the
  message as the bus's batch (one PUBLISH a message, as at low load), so the
  difference from ``match`` is the Python a message costs for crossing nodes,
  without Redis, its system calls or the reactor turns it wakes;
* ``connect``: one ``GET /ws`` upgrade through the server's twisted.web site, to an
  open socket (each stays open).

``--profile NAME`` prints cProfile's top entries for one scenario.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import pstats
import struct
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path

import orjson
from twisted.internet import reactor
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nakama_rt.app import NakamaRT  # noqa: E402
from nakama_rt.auth.tokens import issue_session  # noqa: E402
from nakama_rt.cluster.bus import PUBLISH_GAP, ClusterBus  # noqa: E402
from nakama_rt.config import ClusterConfig, Config  # noqa: E402
from nakama_rt.service import tune_garbage_collection  # noqa: E402
from nakama_rt.wire.codec import Format, decode, encode  # noqa: E402
from nakama_rt.wire.proto import realtime_pb2  # noqa: E402


def client_frame(
    payload: bytes,
    binary: bool = False,
    *,
    opcode: int | None = None,
    fin: bool = True,
    mask: bytes = b"\0\0\0\0",
) -> bytes:
    """A masked client frame (by default a whole text or binary message, with the
    mask key zero, so the payload reads as is)."""
    code = opcode if opcode is not None else (0x2 if binary else 0x1)
    head = bytes([(0x80 if fin else 0) | code])
    size = len(payload)
    if size < 126:
        head += bytes([0x80 | size])
    elif size < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", size)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", size)
    if mask != b"\0\0\0\0":
        payload = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    return head + mask + payload


def server_frames(data: bytes) -> list[tuple[int, bytes]]:
    """Split what the server wrote (unmasked frames) into (opcode, payload)."""
    out, at = [], 0
    while at < len(data):
        opcode, size = data[at] & 0x0F, data[at + 1] & 0x7F
        at += 2
        if size == 126:
            (size,) = struct.unpack_from("!H", data, at)
            at += 2
        elif size == 127:
            (size,) = struct.unpack_from("!Q", data, at)
            at += 8
        out.append((opcode, data[at : at + size]))
        at += size
    return out


def server_payloads(data: bytes) -> list[bytes]:
    return [payload for _, payload in server_frames(data)]


class Harness:
    """One server and its in-memory sockets."""

    def __init__(self, fmt: Format, clock=None, node: str | None = None) -> None:
        self.fmt = fmt
        self.clock = clock if clock is not None else Clock()
        config = Config(data_dir=tempfile.mkdtemp(prefix="nakama-rt-hotpath-"))
        if node is not None:
            # A cluster node; its Redis is never reached (see InProcessBus). Its clock
            # moves a bus gap a message: no ping falls due while it is measured.
            days = 86_400_000
            config = replace(
                config,
                name=node,
                cluster=ClusterConfig(redis="redis://-/0"),
                socket=replace(config.socket, ping_period_ms=days, pong_wait_ms=2 * days),
            )
        self.app = NakamaRT(config, self.clock)
        self.factory = self.app.socket_factory
        self.sockets: list[tuple[object, StringTransport]] = []

    def open(self, count: int) -> None:
        session_config = self.app.config.session
        for n in range(count):
            user_id = str(uuid.uuid4())
            issued = issue_session(session_config, user_id, f"user{n}", None, time.time())
            protocol = self.factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000 + n))
            transport = StringTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", 40000 + n))
            protocol.makeConnection(transport)
            protocol.dataReceived(
                f"GET /ws?token={issued.token}&format={self.fmt.value} HTTP/1.1\r\n"
                "Host: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n".encode()
            )
            assert b"101 Switching Protocols" in transport.value(), transport.value()[:200]
            transport.clear()
            self.sockets.append((protocol, transport))

    def frame(self, envelope: realtime_pb2.Envelope) -> bytes:
        return client_frame(encode(self.fmt, envelope), self.fmt is Format.PROTOBUF)

    def request(self, at: int, envelope: realtime_pb2.Envelope) -> realtime_pb2.Envelope:
        protocol, transport = self.sockets[at]
        protocol.dataReceived(self.frame(envelope))
        payloads = server_payloads(transport.value())
        transport.clear()
        replies = [self.decode(payload) for payload in payloads]
        reply = next(r for r in replies if r.cid == envelope.cid)
        if reply.HasField("error"):
            raise RuntimeError(f"{envelope.WhichOneof('message')} failed: {reply.error}")
        return reply

    def decode(self, payload: bytes) -> realtime_pb2.Envelope:
        return decode(self.fmt, payload, self.fmt is Format.PROTOBUF)

    def clear(self) -> None:
        for _, transport in self.sockets:
            transport.clear()


def ping_scenario(fmt: Format):
    harness = Harness(fmt)
    harness.open(1)
    protocol, transport = harness.sockets[0]
    frame = harness.frame(realtime_pb2.Envelope(cid="1", ping=realtime_pb2.Ping()))

    def once() -> int:
        protocol.dataReceived(frame)
        transport.clear()
        return 1

    return once


def chat_scenario(fmt: Format, members: int = 25):
    harness = Harness(fmt)
    harness.open(members)
    join = realtime_pb2.Envelope(cid="j")
    join.channel_join.target = "bench"
    join.channel_join.type = 1
    join.channel_join.persistence.value = False
    channel_id = ""
    for at in range(members):
        channel_id = harness.request(at, join).channel.id
    harness.clear()
    send = realtime_pb2.Envelope()
    send.channel_message_send.channel_id = channel_id
    send.channel_message_send.content = orjson.dumps({"t": time.time(), "seq": 1}).decode()
    frame = harness.frame(send)
    protocol = harness.sockets[0][0]
    transports = [transport for _, transport in harness.sockets]

    protocol.dataReceived(frame)
    for transport in transports:  # every member gets it (the sender an ack as well)
        kinds = [
            harness.decode(p).WhichOneof("message") for p in server_payloads(transport.value())
        ]
        assert "channel_message" in kinds, kinds
        transport.clear()

    def once() -> int:
        protocol.dataReceived(frame)
        for transport in transports:
            transport.clear()
        return members + 1

    return once


def match_data(match_id: str) -> realtime_pb2.Envelope:
    """The relayed message the match scenarios send: 10 bytes, op code 1."""
    send = realtime_pb2.Envelope()
    send.match_data_send.match_id = match_id
    send.match_data_send.op_code = 1
    send.match_data_send.data = base64.b64decode(b"AAECAwQFBgcICQ==")
    return send


def match_scenario(fmt: Format, players: int = 4):
    harness = Harness(fmt)
    harness.open(players)
    created = harness.request(0, realtime_pb2.Envelope(cid="c", match_create={}))
    match_id = created.match.match_id
    join = realtime_pb2.Envelope(cid="j")
    join.match_join.match_id = match_id
    for at in range(1, players):
        harness.request(at, join)
    harness.clear()
    frame = harness.frame(match_data(match_id))
    protocol = harness.sockets[0][0]
    transports = [transport for _, transport in harness.sockets]

    protocol.dataReceived(frame)
    for at, transport in enumerate(transports):
        delivered = server_payloads(transport.value())
        assert len(delivered) == (1 if at else 0), delivered
        transport.clear()

    def once() -> int:
        protocol.dataReceived(frame)
        for transport in transports:
            transport.clear()
        return players - 1

    return once


class InProcessBus:
    """Publishes what one node's bus sends straight to the other's, as Redis would."""

    def __init__(self, buses: list[ClusterBus]) -> None:
        self._buses = buses

    def publish(self, channel: bytes, message: bytes) -> None:
        for bus in self._buses:
            if channel in (bus.channel(bus.node), bus.all_channel):
                bus.deliver(channel, message)

    def ping(self) -> Deferred[object]:
        return succeed(b"PONG")

    def on_lost(self, listener: object) -> None:
        pass  # nothing between the buses to lose


def two_node_match_scenario(fmt: Format, players: int = 4):
    nodes = [Harness(fmt, node="a"), Harness(fmt, node="b")]
    clusters = [h.app.cluster for h in nodes]
    link = InProcessBus([c.bus for c in clusters])
    for cluster in clusters:
        cluster.bus.attach(link, cluster.received)
        cluster.start(["a", "b"])

    def settle() -> None:
        # Past every bus's gap: what waits is published (and handled there) now.
        for _ in range(3):
            for harness in nodes:
                harness.clock.advance(PUBLISH_GAP)

    settle()
    a, b = nodes
    a.open(players // 2)
    b.open(players - players // 2)
    settle()
    created = a.request(0, realtime_pb2.Envelope(cid="c", match_create={}))
    match_id = created.match.match_id
    join = realtime_pb2.Envelope(cid="j")
    join.match_join.match_id = match_id
    for harness, first in ((a, 1), (b, 0)):
        for at in range(first, len(harness.sockets)):
            settle()
            harness.request(at, join)
    settle()
    a.clear()
    b.clear()
    frame = a.frame(match_data(match_id))
    protocol = a.sockets[0][0]
    transports = [transport for h in nodes for _, transport in h.sockets]
    clock = a.clock

    protocol.dataReceived(frame)
    clock.advance(PUBLISH_GAP)
    for at, transport in enumerate(transports):
        delivered = server_payloads(transport.value())
        assert len(delivered) == (1 if at else 0), (at, delivered)
        transport.clear()
    assert clusters[0].bus.published, "nothing crossed to node b"

    def once() -> int:
        protocol.dataReceived(frame)
        clock.advance(PUBLISH_GAP)  # the bus publishes; b delivers
        for transport in transports:
            transport.clear()
        return players - 1

    return once


def connect_scenario(fmt: Format):
    # Clock re-sorts every pending call on each callLater, which thousands of open
    # sockets' timers would make the cost; the reactor (not running here: its
    # timers never fire) keeps them in a heap, as in production.
    harness = Harness(fmt, clock=reactor)
    site = harness.app.site()
    issued = issue_session(harness.app.config.session, str(uuid.uuid4()), "u", None, time.time())
    request = (
        f"GET /ws?lang=en&status=false&token={issued.token}&format={fmt.value} HTTP/1.1\r\n"
        "Host: 127.0.0.1:7350\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    address = IPv4Address("TCP", "127.0.0.1", 40000)

    def once() -> int:
        channel = site.buildProtocol(address)
        transport = StringTransport(peerAddress=address)
        transport.protocol = channel  # as a TCP transport has it
        channel.makeConnection(transport)
        channel.dataReceived(request)
        return 1

    once()
    assert len(harness.factory.open_protocols) == 1, "the upgrade did not open a socket"
    return once


SCENARIOS = {
    "ping": ping_scenario,
    "chat": chat_scenario,
    "match": match_scenario,
    "match-2-nodes": two_node_match_scenario,
    "connect": connect_scenario,
}


def measure(once, seconds: float = 2.0) -> tuple[float, float]:
    """(microseconds of CPU per incoming message, deliveries per CPU-second)."""
    for _ in range(200):
        once()
    messages = deliveries = 0
    start = time.process_time()
    while time.process_time() - start < seconds:
        for _ in range(100):
            deliveries += once()
        messages += 100
    spent = time.process_time() - start
    return spent / messages * 1e6, deliveries / spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--format", choices=("json", "protobuf"), default="json")
    parser.add_argument("--profile", choices=tuple(SCENARIOS))
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    fmt = Format(args.format)
    tune_garbage_collection()  # as ``twistd nakama-rt`` runs
    if args.profile:
        once = SCENARIOS[args.profile](fmt)
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(20_000):
            once()
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        return
    print(f"Server CPU per incoming message, in process ({fmt.value})")
    for name, build in SCENARIOS.items():
        per_message, per_cpu_second = measure(build(fmt), args.seconds)
        print(f"{name:>13}: {per_message:6.1f} us per message in, {per_cpu_second:9,.0f} out/CPU-s")


if __name__ == "__main__":
    main()
