"""What one node sends another for its sessions: the envelope's bytes, which the other
node writes to its sockets as they are (no decoding, no second encoding)."""

from __future__ import annotations

from nakama_rt.cluster.router import TO_STREAM, ClusterRouter, Forwarded, _body
from nakama_rt.wire.codec import Format, OutgoingEnvelope, encode
from nakama_rt.wire.proto import api_pb2, realtime_pb2


def chat_message() -> realtime_pb2.Envelope:
    message = api_pb2.ChannelMessage(channel_id="2...lobby", content='{"a": 1}')
    return realtime_pb2.Envelope(channel_message=message)


def received(body: bytes) -> Forwarded:
    """What the other node's router makes of ``body`` (as ``ClusterRouter.received``)."""
    delivered = []

    class Local:
        def send_to_stream(self, stream, envelope):
            delivered.append(envelope)

    router = ClusterRouter(Local(), None, None, None)  # type: ignore[arg-type]
    assert router.received(TO_STREAM, "a", body)
    (envelope,) = delivered
    return envelope


def test_the_json_written_here_travels_and_is_sent_as_it_is_there() -> None:
    outgoing = OutgoingEnvelope(chat_message())
    json = outgoing.payload(Format.JSON)  # written for this node's own JSON sockets
    there = received(_body([2, "", "", "lobby"], outgoing))
    assert there.message_type() == "channel_message"
    assert there.encoded(Format.JSON) is not None
    assert there.payload(Format.JSON) == json
    assert there.payload(Format.PROTOBUF) == encode(Format.PROTOBUF, chat_message())
    assert there.envelope == chat_message()  # decoded only when something reads it


def test_json_not_written_here_is_written_there_once() -> None:
    there = received(_body([2, "", "", "lobby"], OutgoingEnvelope(chat_message())))
    assert there.encoded(Format.JSON) is None
    assert there.payload(Format.JSON) == encode(Format.JSON, chat_message())


def test_a_busy_channel_gathers_messages_into_one_publish() -> None:
    """An idle channel is published to at the end of the turn; one published to less
    than PUBLISH_GAP ago waits out the gap, gathering what comes meanwhile."""
    from twisted.internet.defer import succeed
    from twisted.internet.task import Clock

    from nakama_rt.cluster.bus import PUBLISH_GAP, ClusterBus, split

    class Publisher:
        def __init__(self) -> None:
            self.published: list[tuple[float, bytes, int]] = []

        def publish(self, channel: bytes, batch: bytes):
            self.published.append((clock.seconds(), channel, len(split(batch))))
            return succeed(1)

    clock = Clock()
    bus = ClusterBus("a", clock)
    bus._publisher = publisher = Publisher()  # as listen() sets it
    bus.send("b", b"X", b"1")
    clock.advance(0)
    assert publisher.published == [(0, bus.channel("b"), 1)]
    bus.send("b", b"X", b"2")
    bus.send("b", b"X", b"3")
    bus.send("c", b"X", b"4")  # another channel is not held back by b's gap
    clock.advance(0)
    assert publisher.published[1:] == [(0, bus.channel("c"), 1)]
    clock.advance(PUBLISH_GAP)
    assert publisher.published[2:] == [(PUBLISH_GAP, bus.channel("b"), 2)]
    assert (bus.sent_messages, bus.published) == (4, 3)


def test_a_stopping_bus_publishes_what_waits_and_waits_for_its_answer_a_while() -> None:
    """Its goodbye must leave before the connection closes; a Redis that does not
    answer holds the stop one STOP_WAIT at most."""
    from twisted.internet.defer import Deferred, ensureDeferred
    from twisted.internet.task import Clock

    from nakama_rt.cluster.bus import STOP_WAIT, ClusterBus

    class Silent:
        def __init__(self) -> None:
            self.published: list[bytes] = []

        def publish(self, channel: bytes, batch: bytes) -> Deferred[object]:
            self.published.append(channel)
            return Deferred()  # never answered

    clock = Clock()
    bus = ClusterBus("a", clock)
    bus._publisher = publisher = Silent()  # as listen() sets it
    bus.send("b", b"B", b"")
    stopped = ensureDeferred(bus.stop())
    assert publisher.published == [bus.channel("b")]  # sent at once, not next turn
    assert not stopped.called
    clock.advance(STOP_WAIT)
    assert stopped.called
