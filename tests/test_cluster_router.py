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
