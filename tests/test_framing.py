"""Server frames written by hand are exactly what Autobahn would write."""

from __future__ import annotations

import pytest
from autobahn.websocket.protocol import PreparedMessage

from nakama_rt.codec import Format
from nakama_rt.protocol import frame_for


class _Payload:
    """An outgoing envelope reduced to its payload and frame cache."""

    def __init__(self, payload: bytes) -> None:
        self.frames: dict[Format, bytes] = {}
        self._payload = payload

    def payload(self, fmt: Format) -> bytes:
        return self._payload


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 70000])
@pytest.mark.parametrize("fmt", list(Format))
def test_frames_match_autobahns(size: int, fmt: Format) -> None:
    payload = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    expected = PreparedMessage(payload, fmt is Format.PROTOBUF, False, True).payloadHybi
    envelope = _Payload(payload)
    assert frame_for(envelope, fmt) == expected
    assert envelope.frames[fmt] is frame_for(envelope, fmt)  # built once per format
