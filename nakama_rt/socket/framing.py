"""Frames on the wire, the fast way: reading whole client frames, and writing each
socket's frames once per reactor turn.

Autobahn and Twisted handle every case of the WebSocket and TCP protocols through
general machinery that costs more than everything else a small message does. The
cases a game server sees nearly all the time (a client message in one masked
frame; a few server frames for a socket whose buffer is empty) are handled here in
a few lines; every other case is left to them, unchanged. The server's own frames
are built by :func:`nakama_rt.wire.codec.websocket_frame`.
"""

from __future__ import annotations

from typing import Protocol

from twisted.internet.interfaces import IReactorTime


def whole_frames(data: bytes, limit: int) -> tuple[list[tuple[int, int, bool]], int]:
    """The complete, unfragmented, masked data frames at the head of ``data`` as
    ``(payload start, payload end, is binary)``, and how many bytes they take. The
    payload is still masked, with the four bytes before it (:func:`frame_payload`):
    unmasked only if read, so frames after one that closes the socket cost nothing
    more (a flood's read holds thousands).

    This is the whole of Autobahn's work for the frames clients send all the time
    (a message of at most 64 KiB in one frame), instead of its general frame
    machine (a third of the CPU a small message costs). It stops at the first other
    frame (control, fragment, unmasked, over ``limit`` bytes when ``limit`` is set,
    reserved bits, 64-bit or non-minimal length, incomplete): that frame and what
    follows are for Autobahn, which checks them as before.
    """
    frames: list[tuple[int, int, bool]] = []
    at, end = 0, len(data)
    while end - at >= 6:
        opcode = data[at]
        if opcode != 0x81 and opcode != 0x82:  # FIN, no RSV bits, text or binary
            break
        size = data[at + 1]
        if not size & 0x80:  # clients must mask; Autobahn fails the connection
            break
        size &= 0x7F
        head = at + 2
        if size == 126:
            size = int.from_bytes(data[head : head + 2], "big")
            head += 2
            if size < 126:  # not minimal: Autobahn's violation to report
                break
        elif size == 127:
            break
        if 0 < limit < size:
            break  # Autobahn closes with 1009
        start = head + 4
        stop = start + size
        if stop > end:
            break
        frames.append((start, stop, opcode == 0x82))
        at = stop
    return frames, at


def frame_payload(data: bytes, start: int, stop: int) -> bytes:
    """The unmasked payload of a frame :func:`whole_frames` found in ``data``."""
    return unmask(data[start:stop], data[start - 4 : start])


#: The fewest frames a message may always have, whatever the byte limit.
MIN_MESSAGE_FRAMES = 64


def message_frame_limit(max_message_size: int) -> int:
    """How many frames one message may have: one per KiB of ``max_message_size``,
    and never fewer than :data:`MIN_MESSAGE_FRAMES` (64 at Nakama's 4,096 bytes).

    The byte limit alone does not bound a message: empty continuation frames add no
    bytes, so a client that never finishes its message could send them for ever, each
    one costing the server work (and, in Autobahn's own reading, a list entry). Nakama's
    clients and browsers never fragment what they send; libraries that do use fragments
    of about a kilobyte or more (websocket-sharp: 1,016 bytes), which this allows at any
    limit, and at the default even fragments of 64 bytes.
    """
    return max(MIN_MESSAGE_FRAMES, max_message_size // 1024)


def unmask(payload: bytes, mask: bytes) -> bytes:
    """RFC 6455 5.3: XOR with the 4-byte key, as one big-integer operation."""
    size = len(payload)
    if not size:
        return payload
    key = (mask * ((size >> 2) + 1))[:size]
    unmasked = int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")
    return unmasked.to_bytes(size, "little")


class Flushable(Protocol):
    def flush_frames(self) -> None: ...


class TurnWriter:
    """Sends what each socket was written during one reactor turn, together, at the
    end of the turn: one ``send`` per socket however many frames it got.

    Sending every frame the moment it is written costs a system call and a TCP
    segment per frame; a busy chat room would send each member several small
    segments per turn, and their receivers would wake up for each one (at 3,000
    messages a second into 25-member rooms that cost the clients enough to push
    delivery p99 from about 20 ms to 500 ms in the load benchmark). Collecting a
    turn's frames keeps Twisted's batching without its per-write ``epoll_ctl`` calls.
    """

    __slots__ = ("_clock", "_scheduled", "_waiting")

    def __init__(self, clock: IReactorTime) -> None:
        self._clock = clock
        self._waiting: list[Flushable] = []
        self._scheduled = False

    def waiting(self, protocol: Flushable) -> None:
        """``protocol`` has frames to send at the end of this turn."""
        self._waiting.append(protocol)
        if not self._scheduled:
            self._scheduled = True
            self._clock.callLater(0, self._flush)

    def _flush(self) -> None:
        self._scheduled = False
        waiting, self._waiting = self._waiting, []
        for protocol in waiting:
            protocol.flush_frames()
