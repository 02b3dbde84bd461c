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


class TimedPublisher:
    """Keeps when each PUBLISH went, on which channel, with how many messages."""

    def __init__(self, clock) -> None:
        self._clock = clock
        self.published: list[tuple[float, bytes, int]] = []

    def publish(self, channel: bytes, batch: bytes) -> None:
        from nakama_rt.cluster.bus import split

        self.published.append((self._clock.seconds(), channel, len(split(batch))))

    def ping(self):
        from twisted.internet.defer import succeed

        return succeed(b"PONG")

    def on_lost(self, listener) -> None:
        pass


def test_a_busy_channel_gathers_messages_into_one_publish() -> None:
    """An idle channel is published to at the end of the turn; one published to less
    than PUBLISH_GAP ago waits out the gap, gathering what comes meanwhile."""
    from twisted.internet.task import Clock

    from nakama_rt.cluster.bus import PUBLISH_GAP, ClusterBus

    clock = Clock()
    bus = ClusterBus("a", clock)
    publisher = TimedPublisher(clock)
    bus.attach(publisher, lambda kind, sender, body: None)
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


def test_a_bus_without_a_gap_publishes_at_the_end_of_every_turn() -> None:
    """``gap`` 0 (``cluster.publish_gap_ms: 0``): no channel waits for its last PUBLISH;
    what one turn sends a channel still goes together."""
    from twisted.internet.task import Clock

    from nakama_rt.cluster.bus import ClusterBus

    clock = Clock()
    bus = ClusterBus("a", clock, gap=0)
    publisher = TimedPublisher(clock)
    bus.attach(publisher, lambda kind, sender, body: None)
    bus.send("b", b"X", b"1")
    bus.send("b", b"X", b"2")
    clock.advance(0)
    bus.send("b", b"X", b"3")
    clock.advance(0)
    channel = bus.channel("b")
    assert publisher.published == [(0, channel, 2), (0, channel, 1)]


def test_a_stopping_bus_publishes_what_waits_and_waits_for_its_answer_a_while() -> None:
    """Its goodbye must leave before the connection closes: the stop waits for a PING
    sent after it (PUBLISH gets no reply), one STOP_WAIT at most from a silent Redis."""
    from twisted.internet.defer import Deferred, ensureDeferred
    from twisted.internet.task import Clock

    from nakama_rt.cluster.bus import STOP_WAIT, ClusterBus

    class Slow:
        def __init__(self, answers: bool) -> None:
            self.sent: list[bytes] = []
            self.pong: Deferred[object] = Deferred()
            self.answers = answers

        def publish(self, channel: bytes, batch: bytes) -> None:
            self.sent.append(channel)

        def ping(self) -> Deferred[object]:
            self.sent.append(b"PING")
            if self.answers:
                clock.callLater(0.1, self.pong.callback, b"PONG")
            return self.pong

        def on_lost(self, listener) -> None:
            pass

    for answers, waited in ((True, 0.1), (False, STOP_WAIT)):
        clock = Clock()
        bus = ClusterBus("a", clock)
        publisher = Slow(answers)
        bus.attach(publisher, lambda kind, sender, body: None)
        bus.send("b", b"B", b"")
        stopped = ensureDeferred(bus.stop())
        assert publisher.sent == [bus.channel("b"), b"PING"]  # at once, not next turn
        clock.advance(waited - 0.01)
        assert not stopped.called
        clock.advance(0.01)
        assert stopped.called


def test_a_lost_connection_fails_what_was_published_and_a_refused_publish_fails() -> None:
    """A PUBLISH gets no answer: a connection that goes may have taken some with it,
    so every channel published to is told of a failure (the calls waiting fail at
    once), as is one that could not be sent; the next that is sent ends the failing."""
    from twisted.internet.task import Clock

    from nakama_rt.cluster.bus import ClusterBus
    from nakama_rt.cluster.redis import ClusterUnavailable

    class Flaky:
        def __init__(self) -> None:
            self.up = True
            self.lost: list = []

        def publish(self, channel: bytes, batch: bytes) -> None:
            if not self.up:
                raise ClusterUnavailable("cluster Redis redis://x is not connected")

        def ping(self):
            raise AssertionError("not stopping")

        def on_lost(self, listener) -> None:
            self.lost.append(listener)

    clock = Clock()
    bus = ClusterBus("a", clock)
    publisher = Flaky()
    told: list[tuple[bytes, str]] = []
    bus.on_publish_failure(lambda channel, failure: told.append((channel, str(failure.value))))
    bus.attach(publisher, lambda kind, sender, body: None)
    bus.send("b", b"X", b"1")
    bus.send("c", b"X", b"2")
    clock.advance(0)
    assert not bus.failing and told == []
    for listener in publisher.lost:  # the connection went
        listener("Redis connection lost (redis://x)")
    assert bus.failing
    assert sorted(told) == [
        (bus.channel("b"), "Redis connection lost (redis://x)"),
        (bus.channel("c"), "Redis connection lost (redis://x)"),
    ]
    told.clear()
    publisher.up = False
    clock.advance(1)
    bus.send("b", b"X", b"3")
    clock.advance(0)
    assert told == [(bus.channel("b"), "cluster Redis redis://x is not connected")]
    publisher.up = True
    clock.advance(1)
    bus.send("b", b"X", b"4")
    clock.advance(0)
    assert not bus.failing


def _envelopes_another_node_may_get() -> list[realtime_pb2.Envelope]:
    """Server envelopes with the protojson cases a JSON-only body must survive:
    timestamps, int64 as strings, bytes as base64, wrappers, repeated and map fields."""
    from google.protobuf.timestamp_pb2 import Timestamp
    from google.protobuf.wrappers_pb2 import BoolValue, Int32Value

    when = Timestamp(seconds=1_765_000_000, nanos=123_000_000)
    presence = realtime_pb2.UserPresence(user_id="u1", session_id="s1", username="ann")
    message = api_pb2.ChannelMessage(
        channel_id="2...lobby",
        message_id="m1",
        code=Int32Value(value=7),
        content='{"a": 1}',
        create_time=when,
        persistent=BoolValue(value=True),
    )
    notification = api_pb2.Notification(
        id="n1", subject="hi", content="{}", code=-5, create_time=when, persistent=True
    )
    return [
        realtime_pb2.Envelope(channel_message=message),
        realtime_pb2.Envelope(
            match_data=realtime_pb2.MatchData(
                match_id="m.",
                presence=presence,
                op_code=9_000_000_000,
                data=b"\0\1\2",
                reliable=True,
            )
        ),
        realtime_pb2.Envelope(
            notifications=realtime_pb2.Notifications(notifications=[notification])
        ),
        realtime_pb2.Envelope(
            status_presence_event=realtime_pb2.StatusPresenceEvent(
                joins=[presence], leaves=[presence]
            )
        ),
        realtime_pb2.Envelope(
            stream_data=realtime_pb2.StreamData(
                stream=realtime_pb2.Stream(mode=2, subject="s", label="l"),
                sender=presence,
                data="x",
            )
        ),
    ]


def test_only_the_json_written_here_travels_and_the_protobuf_is_made_from_it_there() -> None:
    for original in _envelopes_another_node_may_get():
        outgoing = OutgoingEnvelope(original)
        json = outgoing.payload(Format.JSON)
        body = _body(["s1"], outgoing)
        assert encode(Format.PROTOBUF, original) not in body  # not built here
        there = received(body)
        assert there.payload(Format.JSON) == json
        assert there.payload(Format.PROTOBUF) == encode(Format.PROTOBUF, original), original


def test_an_envelope_written_in_no_format_here_travels_as_protobuf() -> None:
    outgoing = OutgoingEnvelope(chat_message())
    body = _body(["s1"], outgoing)
    assert outgoing.encoded(Format.JSON) is None  # still not written here
    there = received(body)
    assert there.encoded(Format.PROTOBUF) == encode(Format.PROTOBUF, chat_message())
    assert there.payload(Format.JSON) == encode(Format.JSON, chat_message())


def test_both_formats_written_here_both_travel() -> None:
    outgoing = OutgoingEnvelope(chat_message())
    json, protobuf = outgoing.payload(Format.JSON), outgoing.payload(Format.PROTOBUF)
    there = received(_body(["s1"], outgoing))
    assert (there.encoded(Format.JSON), there.encoded(Format.PROTOBUF)) == (json, protobuf)


def test_a_forwarded_envelope_whose_sizes_lie_is_refused() -> None:
    import pytest

    router = ClusterRouter(None, None, None, None)  # type: ignore[arg-type]
    for header in (b'[["s"],"x",3,0]\n12', b'[["s"],"x",0,0]\n', b'[["s"],"x",3]\n12'):
        with pytest.raises(ValueError):
            router.received(TO_STREAM, "a", header)
