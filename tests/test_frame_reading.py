"""Incoming frames: whole unfragmented data frames are read by the protocol itself,
everything else by Autobahn; either way every frame is answered once, in order."""

from __future__ import annotations

import importlib.util
import os
import struct
from pathlib import Path

import pytest

from nakama_rt.wire.codec import Format

_HOTPATH = Path(__file__).resolve().parent.parent / "benchmarks" / "hotpath.py"
_spec = importlib.util.spec_from_file_location("hotpath_benchmark", _HOTPATH)
assert _spec is not None and _spec.loader is not None
hotpath = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(hotpath)

TEXT, BINARY, CONTINUATION, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA


def frame(payload: bytes, opcode: int = TEXT, fin: bool = True, mask: bytes | None = None) -> bytes:
    """A client frame, masked with ``mask`` (random by default)."""
    mask = os.urandom(4) if mask is None else mask
    return hotpath.client_frame(payload, opcode=opcode, fin=fin, mask=mask)


server_frames = hotpath.server_frames


def ping(cid: str) -> bytes:
    return b'{"cid":"' + cid.encode() + b'","ping":{}}'


def pong(cid: str) -> tuple[int, bytes]:
    return (TEXT, b'{"cid":"' + cid.encode() + b'","pong":{}}')


@pytest.fixture
def socket():
    harness = hotpath.Harness(Format.JSON)
    harness.open(1)
    protocol, transport = harness.sockets[0]

    def feed(*chunks: bytes) -> list[tuple[int, bytes]]:
        for chunk in chunks:
            protocol.dataReceived(chunk)
        answer = server_frames(transport.value())
        transport.clear()
        return answer

    return feed


def test_several_frames_in_one_read_are_answered_in_order(socket) -> None:
    data = b"".join(frame(ping(str(n))) for n in range(5))
    assert socket(data) == [pong(str(n)) for n in range(5)]


def test_a_frame_split_anywhere_is_answered_once(socket) -> None:
    data = frame(ping("split")) + frame(ping("next"))
    for cut in range(1, len(data)):
        assert socket(data[:cut], data[cut:]) == [pong("split"), pong("next")], cut


def test_a_16_bit_length_and_an_empty_mask(socket) -> None:
    cid = "x" * 300
    assert socket(frame(ping(cid), mask=b"\0\0\0\0")) == [pong(cid)]


def test_fragmented_messages_and_control_frames_between_data_frames(socket) -> None:
    whole = ping("frag")
    data = (
        frame(ping("1"))
        + frame(whole[:7], fin=False)
        + frame(b"hi", opcode=PING)  # control frames may come between fragments
        + frame(whole[7:], opcode=CONTINUATION)
        + frame(ping("2"))
    )
    assert socket(data) == [pong("1"), (PONG, b"hi"), pong("frag"), pong("2")]


def test_an_oversize_frame_closes_with_1009(socket) -> None:
    """With a text saying which limit (gorilla/websocket sends none)."""
    big = ping("x" * 4100)
    assert socket(frame(ping("before")) + frame(big)) == [
        pong("before"),
        (CLOSE, struct.pack("!H", 1009) + b"message too big: over 4096 bytes"),
    ]


def test_an_unmasked_frame_is_a_protocol_error(socket) -> None:
    unmasked = bytes([0x81, len(ping("u"))]) + ping("u")
    (close,) = socket(unmasked)
    assert close[0] == CLOSE and struct.unpack("!H", close[1][:2]) == (1002,)


def test_nothing_is_answered_after_a_frame_that_closes_the_socket(socket) -> None:
    data = frame(ping("a")) + frame(ping("b"), opcode=BINARY) + frame(ping("c"))
    assert socket(data) == [
        pong("a"),
        (CLOSE, struct.pack("!H", 1000) + b"received unexpected WebSocket message type"),
    ]


def test_a_message_of_more_frames_than_allowed_closes_with_1009(socket) -> None:
    """Empty continuation frames add no bytes; a message's frames are counted too (64
    at the default 4,096 bytes: framing.message_frame_limit)."""
    empty = frame(b"", opcode=CONTINUATION, fin=False)
    assert socket(frame(b"{", fin=False) + empty * 62 + frame(b"x", opcode=PING)) == [
        (PONG, b"x")  # 63 frames in: still reading
    ]
    assert socket(empty + empty) == [
        (CLOSE, struct.pack("!H", 1009) + b"message too big: over 64 frames")
    ]


def test_a_close_code_a_client_may_not_send_is_a_protocol_error(socket) -> None:
    """Answered as gorilla/websocket answers it, instead of a reset."""
    assert socket(frame(struct.pack("!H", 1005), opcode=CLOSE)) == [
        (CLOSE, struct.pack("!H", 1002) + b"bad close code 1005")
    ]
