"""The socket lifecycle machine, driven with a Clock and fakes of the wire and server."""

from __future__ import annotations

import pytest
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from nakama_rt.config import SocketConfig
from nakama_rt.socket.lifecycle import ERROR_PROCESSING, PONG_TIMEOUT, SocketCore, SocketMachine
from nakama_rt.socket.session import Session
from tests.helpers import make_session


class FakeWire:
    def __init__(self) -> None:
        self.pings = 0
        self.closes: list[tuple[int, str]] = []
        self.paused = 0
        self.resumed = 0
        self.frames: list[bytes] = []
        self.aborted = 0

    def send_ping(self) -> None:
        self.pings += 1

    def send_close(self, code: int, reason: str) -> None:
        self.closes.append((code, reason))

    def pause_reading(self) -> None:
        self.paused += 1

    def resume_reading(self) -> None:
        self.resumed += 1

    def abort(self) -> None:
        self.aborted += 1

    def write_frame(self, envelope, fmt) -> None:
        self.frames.append(envelope.payload(fmt))


class FakeHooks:
    def __init__(self) -> None:
        self.opened: list[Session] = []
        self.closed: list[Session] = []
        self.resumed: list[Session] = []
        #: The reason each close gave session_closed.
        self.reasons: list[str] = []
        self.seen: list[str] = []
        self.verdicts: dict[str, object] = {}

    def session_opened(self, session: Session) -> None:
        self.opened.append(session)

    def process(self, session: Session, envelope):
        self.seen.append(envelope.cid)
        return self.verdicts.get(envelope.cid, True)

    def session_resumed(self, session: Session) -> None:
        self.resumed.append(session)

    def resumable(self, session: Session) -> bool:
        return True

    def session_closed(self, session: Session, reason: str = "") -> None:
        self.closed.append(session)
        self.reasons.append(reason)


class Harness:
    def __init__(self, **socket_options) -> None:
        self.clock = Clock()
        self.wire = FakeWire()
        self.hooks = FakeHooks()
        self.session = make_session(
            "alice",
            self.wire,
            session_id="s1",
            user_id="u1",
            token_id="t",
            client_ip="127.0.0.1",
            client_port="1",
            outgoing_queue_size=4,
            clock=self.clock,
            write_wait_ms=5000,
            # As the socket protocol does: the server's close goes through the lifecycle.
            on_close=lambda reason, code: self.machine.close(reason, code),
        )
        self.config = SocketConfig(**socket_options)
        self.machine = SocketMachine(
            SocketCore(
                clock=self.clock,
                config=self.config,
                session=self.session,
                wire=self.wire,
                hooks=self.hooks,
            )
        )

    def message(self, cid: str) -> None:
        self.machine.frame_received(b'{"cid":"%s","ping":{}}' % cid.encode(), False)


@pytest.fixture
def h() -> Harness:
    harness = Harness()
    harness.machine.opened()
    return harness


def test_open_registers_the_session(h: Harness) -> None:
    assert h.hooks.opened == [h.session]
    assert h.wire.closes == []


def test_pings_every_period_and_closes_a_silent_client(h: Harness) -> None:
    h.clock.advance(14.9)
    assert h.wire.pings == 0
    h.clock.advance(0.1)
    assert h.wire.pings == 1
    h.clock.advance(9.9)
    assert h.wire.closes == []
    h.clock.advance(0.1)  # 25 s without a pong
    assert h.wire.closes == [(1000, PONG_TIMEOUT)]
    assert h.hooks.closed == [h.session]
    assert h.hooks.reasons == [PONG_TIMEOUT], "session_end gets the close reason"
    assert h.session.closed
    h.clock.advance(60)
    assert h.wire.pings == 1, "no timers survive the close"


def test_a_pong_renews_the_deadline_and_the_ping_period(h: Harness) -> None:
    h.clock.advance(15)
    assert h.wire.pings == 1
    h.clock.advance(5)
    h.machine.pong_received()  # t=20: next ping at 35, deadline at 45
    h.clock.advance(14.9)
    assert h.wire.pings == 1
    h.clock.advance(0.1)
    assert h.wire.pings == 2
    h.machine.pong_received()  # t=35
    h.clock.advance(24.9)
    assert h.wire.closes == []
    h.clock.advance(0.2)
    assert h.wire.closes == [(1000, PONG_TIMEOUT)]


def test_a_busy_client_is_not_pinged(h: Harness) -> None:
    # Every ping_backoff_threshold (20) messages renew the ping timer and the deadline.
    for second in range(100):
        for n in range(2):
            h.message(f"{second}-{n}")
        h.clock.advance(1)
    assert h.wire.pings == 0
    assert h.wire.closes == []
    assert len(h.hooks.seen) == 200


def test_an_open_socket_holds_one_timer(h: Harness) -> None:
    assert len(h.clock.getDelayedCalls()) == 1
    h.clock.advance(15)  # the ping went out; the deadline is next
    assert (h.wire.pings, len(h.clock.getDelayedCalls())) == (1, 1)
    h.machine.pong_received()
    for n in range(50):
        h.message(f"m{n}")
    assert len(h.clock.getDelayedCalls()) == 1
    h.machine.close("bye", 1000)
    assert [call.func for call in h.clock.getDelayedCalls()] == [h.wire.abort]


def test_frames_of_the_wrong_type_or_malformed_close_with_nakamas_reason() -> None:
    for payload, binary, reason in [
        (b'{"ping":{}}', True, "received unexpected WebSocket message type"),
        (b'{"ping":', False, "received malformed payload"),
        (b'{"no_such_field":{}}', False, "received malformed payload"),
    ]:
        h = Harness()
        h.machine.opened()
        h.machine.frame_received(payload, binary)
        assert h.wire.closes == [(1000, reason)]
        assert h.hooks.seen == []
        assert h.hooks.closed == [h.session]


def test_a_failed_request_closes_with_error_processing_message(h: Harness) -> None:
    h.hooks.verdicts["bad"] = False
    h.message("bad")
    h.message("after")
    assert h.wire.closes == [(1000, ERROR_PROCESSING)]
    assert h.hooks.seen == ["bad"], "nothing is processed after the failure"


def test_a_handler_that_raises_closes_the_socket(h: Harness) -> None:
    def explode(session, envelope):
        raise RuntimeError("boom")

    h.hooks.process = explode
    h.message("1")
    assert h.wire.closes == [(1000, ERROR_PROCESSING)]


def test_asynchronous_requests_are_processed_in_order(h: Harness) -> None:
    pending: Deferred = Deferred()
    h.hooks.verdicts["slow"] = pending
    h.message("slow")
    h.message("next")
    h.message("last")
    assert h.hooks.seen == ["slow"]
    assert h.wire.paused == 1
    pending.callback(True)
    assert h.hooks.seen == ["slow", "next", "last"]
    assert h.wire.resumed == 1
    assert h.wire.closes == []


def test_an_asynchronous_failure_closes_and_drops_the_backlog(h: Harness) -> None:
    pending: Deferred = Deferred()
    h.hooks.verdicts["slow"] = pending
    h.message("slow")
    h.message("next")
    pending.callback(False)
    assert h.hooks.seen == ["slow"]
    assert h.wire.closes == [(1000, ERROR_PROCESSING)]


def test_close_is_idempotent_and_cleans_up_once(h: Harness) -> None:
    h.session.close("first", 1001)
    h.session.close("second")
    h.machine.close("third", 1000)
    h.machine.connection_lost()
    h.machine.connection_lost()
    assert h.wire.closes == [(1001, "first")]
    assert h.hooks.closed == [h.session]
    assert h.hooks.reasons == ["first"]


def test_connection_lost_cleans_up_and_ignores_later_events(h: Harness) -> None:
    h.machine.connection_lost("websocket: close 4000: bye")
    assert h.hooks.closed == [h.session]
    assert h.hooks.reasons == ["websocket: close 4000: bye"], "why the client ended it"
    h.message("late")
    h.machine.pong_received()
    h.clock.advance(100)
    assert h.hooks.seen == []
    assert h.wire.pings == 0
    assert h.wire.closes == []


def test_close_before_open_never_opens() -> None:
    h = Harness()
    h.machine.close("refused", 1000)
    h.machine.opened()
    assert h.hooks.opened == []
    assert h.wire.closes == [(1000, "refused")]


def test_outgoing_queue_bound_disconnects_a_slow_reader(h: Harness) -> None:
    from nakama_rt.wire.codec import OutgoingEnvelope
    from nakama_rt.wire.proto import realtime_pb2

    out = OutgoingEnvelope(realtime_pb2.Envelope(pong=realtime_pb2.Pong()))
    h.session.pause_writing()
    for _ in range(4):
        assert h.session.send(out)
    assert h.wire.frames == []
    assert not h.session.send(out)  # the fifth overflows outgoing_queue_size=4
    assert h.wire.closes == [(1000, "session outgoing queue full")]
    assert h.hooks.closed == [h.session]


def test_queued_frames_flow_when_the_transport_drains(h: Harness) -> None:
    from nakama_rt.wire.codec import OutgoingEnvelope
    from nakama_rt.wire.proto import realtime_pb2

    h.session.pause_writing()
    for n in range(3):
        h.session.send(
            OutgoingEnvelope(realtime_pb2.Envelope(cid=str(n), pong=realtime_pb2.Pong()))
        )
    h.session.resume_writing()
    assert h.wire.frames == [b'{"cid":"%d","pong":{}}' % n for n in range(3)]


def test_an_unanswered_close_is_dropped_after_close_ack_wait(h: Harness) -> None:
    h.session.close("bye")
    h.clock.advance(1.999)
    assert h.wire.aborted == 0
    h.clock.advance(0.001)
    assert h.wire.aborted == 1


def test_an_answered_close_cancels_the_drop(h: Harness) -> None:
    h.session.close("bye")
    h.clock.advance(0.5)
    h.machine.connection_lost()
    h.clock.advance(10)
    assert h.wire.aborted == 0
    assert h.clock.getDelayedCalls() == []


def test_a_transport_that_stays_full_past_write_wait_is_closed(h: Harness) -> None:
    h.session.pause_writing()
    h.clock.advance(4.9)
    h.session.resume_writing()  # progress: the timer starts over
    h.session.pause_writing()
    h.clock.advance(4.9)
    assert h.wire.closes == []
    h.clock.advance(0.1)
    assert h.wire.closes == [(1000, "session write timeout")]
    assert h.hooks.closed == [h.session]
