"""Writing to sockets: a turn's frames go out together at its end (TurnWriter),
straight to the socket when nothing is buffered (send_now)."""

from __future__ import annotations

import errno

from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from nakama_rt.library_internals import can_send_now, send_now
from nakama_rt.socket.framing import TurnWriter


class FakeSocket:
    def __init__(self, accept: int | None = None, error: int | None = None) -> None:
        self.accept = accept
        self.error = error
        self.sent: list[bytes] = []

    def send(self, data: bytes) -> int:
        if self.error is not None:
            raise OSError(self.error, "fake")
        taken = data if self.accept is None else data[: self.accept]
        self.sent.append(bytes(taken))
        return len(taken)


class FakeConnection:
    """The write state of a Twisted TCP connection that send_now reads."""

    def __init__(self, sock: FakeSocket) -> None:
        self.socket = sock
        self.dataBuffer = b""
        self.offset = 0
        self._tempDataLen = 0
        self.connected = True
        self.disconnecting = False
        self._writeDisconnected = False


def test_an_idle_connection_sends_the_whole_frame_at_once() -> None:
    connection = FakeConnection(FakeSocket())
    assert send_now(connection, b"frame") == b""
    assert connection.socket.sent == [b"frame"]


def test_what_the_kernel_does_not_take_is_left_for_the_buffer() -> None:
    connection = FakeConnection(FakeSocket(accept=2))
    assert send_now(connection, b"frame") == b"ame"


def test_nothing_is_sent_ahead_of_buffered_data() -> None:
    for change in (
        {"_tempDataLen": 3},
        {"dataBuffer": b"abc"},
        {"connected": False},
        {"disconnecting": True},
        {"_writeDisconnected": True},
    ):
        connection = FakeConnection(FakeSocket())
        vars(connection).update(change)
        assert send_now(connection, b"frame") == b"frame"
        assert connection.socket.sent == []


def test_a_socket_error_leaves_the_frame_to_twisted() -> None:
    for code in (errno.EAGAIN, errno.EPIPE, errno.ECONNRESET):
        connection = FakeConnection(FakeSocket(error=code))
        assert send_now(connection, b"frame") == b"frame"


def test_only_plain_tcp_connections_are_written_directly() -> None:
    assert not can_send_now(StringTransport())
    assert not can_send_now(FakeConnection(FakeSocket()))


class FakeProtocol:
    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self.log = log

    def flush_frames(self) -> None:
        self.log.append(self.name)


def test_a_turns_frames_are_flushed_once_at_its_end() -> None:
    clock = Clock()
    writer = TurnWriter(clock)
    flushed: list[str] = []
    first, second = FakeProtocol("a", flushed), FakeProtocol("b", flushed)
    writer.waiting(first)
    writer.waiting(second)
    assert flushed == [] and len(clock.getDelayedCalls()) == 1  # one flush per turn
    clock.advance(0)
    assert flushed == ["a", "b"]
    writer.waiting(first)  # the next turn schedules again
    clock.advance(0)
    assert flushed == ["a", "b", "a"]
