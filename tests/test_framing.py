"""Server frames written by hand are exactly what Autobahn would write."""

from __future__ import annotations

import pytest
from autobahn.websocket.protocol import PreparedMessage

from nakama_rt.wire.codec import Format, OutgoingEnvelope, encode, websocket_frame
from nakama_rt.wire.proto import realtime_pb2


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 70000])
@pytest.mark.parametrize("binary", [False, True])
def test_frames_match_autobahns(size: int, binary: bool) -> None:
    payload = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    expected = PreparedMessage(payload, binary, False, True).payloadHybi
    assert websocket_frame(payload, binary) == expected


@pytest.mark.parametrize("fmt", list(Format))
def test_an_envelope_is_framed_once_per_format(fmt: Format) -> None:
    envelope = realtime_pb2.Envelope(cid="7", pong=realtime_pb2.Pong())
    outgoing = OutgoingEnvelope(envelope)
    frame = outgoing.frame(fmt)
    assert frame == websocket_frame(encode(fmt, envelope), fmt is Format.PROTOBUF)
    assert outgoing.frame(fmt) is frame
    assert outgoing.payload(fmt) == encode(fmt, envelope)
