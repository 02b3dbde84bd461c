"""The socket lifecycle as an explicit state machine: connecting -> open -> closing -> closed.

The Autobahn protocol only forwards events here. Keeping the rules in one machine,
with time from an injected clock, makes every timer and every ordering testable:

- open: the session is registered and tracked; the server pings every
  ``socket.ping_period_ms``; a client that neither answers a ping nor sends
  ``socket.ping_backoff_threshold`` messages within ``socket.pong_wait_ms`` is closed,
  and a busy client is not pinged at all (Nakama's ping backoff);
- frames are decoded and handed to the pipeline one at a time; while an
  asynchronous handler runs, later frames wait (and the transport stops reading),
  so a session's replies keep the order of its requests, as in Nakama;
- closing: the session is cleaned up (presences untracked, leave events sent)
  before the close frame goes out; a client that does not answer the close frame
  within ``socket.close_ack_wait_ms`` has its connection dropped;
- closed: every later event is ignored.

With ``socket.max_messages_per_sec`` set, a frame over the socket's rate is answered
with an ``Error`` and not processed; a socket that keeps at it is closed with 1008
(:mod:`nakama_rt.core.limits`).

With resume on (:mod:`nakama_rt.socket.resume`), a connection that drops without a
close frame, or misses its pong deadline, parks its session instead of cleaning it
up; a socket that resumes a parked session replays what it missed when it opens.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Concatenate, Protocol

from automat import TypeMachineBuilder
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.python.failure import Failure

from nakama_rt.config import SocketConfig
from nakama_rt.core.limits import MESSAGE_RATE, MessageRate
from nakama_rt.core.pipeline import ErrorCode
from nakama_rt.counters import RealtimeCounts
from nakama_rt.logs import Logger
from nakama_rt.socket.resume import RESUME_BUFFER_FULL, ParkedSessions
from nakama_rt.socket.session import Session
from nakama_rt.wire import codec
from nakama_rt.wire.close_reasons import (
    CLOSE_NORMAL,
    CLOSE_POLICY_VIOLATION,
    CONNECTION_DROPPED,
    ERROR_OPENING,
    ERROR_PROCESSING,
    MESSAGE_RATE_EXCEEDED,
    PONG_TIMEOUT,
)
from nakama_rt.wire.codec import OutgoingEnvelope
from nakama_rt.wire.proto import realtime_pb2

#: The pipeline's answer for one envelope: keep going (True), close (False), or later.
Verdict = bool | Deferred


class SocketInputs(Protocol):
    """Events fed to the machine by the protocol and by its own timers."""

    def opened(self) -> None:
        """The WebSocket handshake completed."""

    def frame_received(self, payload: bytes, is_binary: bool) -> None:
        """A complete data message arrived."""

    def pong_received(self) -> None:
        """The client answered a WebSocket ping."""

    def timer_due(self) -> None:
        """The socket's timer fired: a ping is due, or the pong deadline passed."""

    def close(self, reason: str, code: int) -> None:
        """The server decided to close this socket."""

    def connection_lost(self, reason: str = "") -> None:
        """The TCP connection is gone; ``reason`` says why when the client ended it
        (:func:`~nakama_rt.wire.close_reasons.client_close_reason`)."""


class Wire(Protocol):
    """What the machine asks of the WebSocket connection."""

    def send_ping(self) -> None: ...

    def send_close(self, code: int, reason: str) -> None: ...

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...
    def abort(self) -> None: ...


class SessionHooks(Protocol):
    """What the server does when a session opens, receives and closes."""

    #: Where the socket counts what it refuses itself (a message over its rate).
    counts: RealtimeCounts

    def session_opened(self, session: Session) -> None: ...

    def process(self, session: Session, envelope: realtime_pb2.Envelope) -> Verdict: ...

    def session_resumed(self, session: Session) -> None:
        """A new socket took over a session parked after its connection dropped."""

    def resumable(self, session: Session) -> bool:
        """Whether the session may be parked when its connection drops (with resume
        on): a session of this node's, not one relayed to another node."""

    def session_closed(self, session: Session, reason: str = "") -> None:
        """The session is over: ``reason`` is the one the server closed it with, or
        why the client's side ended it ("" for a normal close), as Nakama's
        session_end event gives it."""


@dataclass(slots=True)
class SocketCore:
    """The machine's data: collaborators, timers and the incoming backlog."""

    clock: IReactorTime
    config: SocketConfig
    session: Session
    wire: Wire
    hooks: SessionHooks
    #: One timer per open socket, for whichever of ping_at and deadline_at is first.
    timer: IDelayedCall | None = None
    ping_at: float = 0.0
    deadline_at: float = 0.0
    close_ack_call: IDelayedCall | None = None
    messages_until_reset: int = 0
    backlog: deque[realtime_pb2.Envelope] = field(default_factory=deque)
    busy: bool = False
    cleaned_up: bool = False
    #: True exactly while the machine is open: frames may go to :func:`receive_frame`.
    receiving: bool = False
    #: Where a dropped session is kept for a new socket (None: resume is off).
    parking: ParkedSessions | None = None
    #: The session was parked and this socket took it over: replay, don't open anew.
    resumed: bool = False
    #: The close under way may park the session (a missed pong, not a refusal).
    park_on_close: bool = False
    #: ``socket.max_messages_per_sec``'s allowance (None: no limit).
    rate: MessageRate | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.rate = MessageRate.for_socket(self.config, self.clock.seconds())


log = Logger(namespace="nakama_rt.socket.lifecycle")

builder = TypeMachineBuilder(SocketInputs, SocketCore)
Connecting = builder.state("connecting")
Open = builder.state("open")
Closing = builder.state("closing")
Closed = builder.state("closed")


# connecting


@Connecting.upon(SocketInputs.opened).to(Open)
def _open(inputs: SocketInputs, core: SocketCore) -> None:
    core.receiving = True
    core.messages_until_reset = core.config.ping_backoff_threshold
    _reset_ping(inputs, core)
    if core.resumed:
        _reopen(inputs, core)
        return
    try:
        core.hooks.session_opened(core.session)
    except Exception:
        log.failure("session {sid} could not open", sid=core.session.id)
        inputs.close(ERROR_OPENING, CLOSE_NORMAL)


def _reopen(inputs: SocketInputs, core: SocketCore) -> None:
    """The socket of a resumed session is open: the missed frames go out first."""
    assert core.parking is not None
    try:
        core.hooks.session_resumed(core.session)
    except Exception:
        log.failure("session {sid} could not resume", sid=core.session.id)
    core.parking.resumed(core.session)
    if core.session.closed:
        # Its buffer overflowed between the upgrade and now: it ends as parked ones do.
        _end_taken(core, RESUME_BUFFER_FULL)
        inputs.close(RESUME_BUFFER_FULL, CLOSE_NORMAL)


def _end_taken(core: SocketCore, reason: str) -> None:
    """A resumed session whose new socket goes before it opened: it ends here (it is
    no longer parked), with the server's clean-up, once."""
    core.cleaned_up = True
    core.session.mark_closed()
    if core.resumed:
        try:
            core.hooks.session_closed(core.session, reason)
        except Exception:
            log.failure("session {sid}: clean-up failed", sid=core.session.id)


@Connecting.upon(SocketInputs.connection_lost).to(Closed)
def _lost_before_open(inputs: SocketInputs, core: SocketCore, reason: str = "") -> None:
    _end_taken(core, reason)


@Connecting.upon(SocketInputs.close).to(Closed)
def _close_before_open(inputs: SocketInputs, core: SocketCore, reason: str, code: int) -> None:
    _end_taken(core, reason)
    core.wire.send_close(code, reason)


#: An input a state ignores, in the loops that say so (each input takes its own
#: arguments after the machine's).
_input: Callable[Concatenate[SocketInputs, ...], None]

for _input in (
    SocketInputs.frame_received,
    SocketInputs.pong_received,
    SocketInputs.timer_due,
):
    Connecting.upon(_input).loop().returns(None)


# open


@Open.upon(SocketInputs.frame_received).loop()
def _frame(inputs: SocketInputs, core: SocketCore, payload: bytes, is_binary: bool) -> None:
    receive_frame(inputs, core, payload, is_binary)


def receive_frame(inputs: SocketInputs, core: SocketCore, payload: bytes, is_binary: bool) -> None:
    """What the open machine does with a frame; callable directly while
    ``core.receiving`` is true.

    Frames are the one input on the hot path. Going through Automat's dispatch costs
    about a sixth of a ping round trip, so the protocol calls this directly while the
    machine is open (``receiving`` is set on entering open and cleared by the
    clean-up that every way out of open runs first); in any other state the frame
    goes to the machine, which ignores it.
    """
    try:
        envelope = codec.decode(core.session.format, payload, is_binary)
    except codec.CodecError as exc:
        log.debug("session {sid}: {reason}", sid=core.session.id, reason=exc.reason)
        inputs.close(exc.reason, CLOSE_NORMAL)
        return
    core.messages_until_reset -= 1
    if core.messages_until_reset <= 0:
        core.messages_until_reset = core.config.ping_backoff_threshold
        _reset_ping(inputs, core)
    rate = core.rate
    if rate is not None and not rate.admit(core.clock.seconds()):
        _over_rate(inputs, core, rate, envelope.cid)
        return
    receive_envelope(inputs, core, envelope)


def receive_envelope(
    inputs: SocketInputs, core: SocketCore, envelope: realtime_pb2.Envelope
) -> None:
    """A decoded envelope for the session: processed now, or after the ones before it
    (also how a session whose socket is on another node gets its requests)."""
    if core.busy:
        core.backlog.append(envelope)
        return
    _process(inputs, core, envelope)


def _over_rate(inputs: SocketInputs, core: SocketCore, rate: MessageRate, cid: str) -> None:
    """A message over ``socket.max_messages_per_sec`` is answered with an Error at
    once and not processed. Once the refusals are used up too, the socket is closed
    with 1008 and not read any more (see :mod:`nakama_rt.core.limits`)."""
    counts = core.hooks.counts
    counts.limit_refusals[MESSAGE_RATE] += 1
    counts.errors[ErrorCode.BAD_INPUT] += 1
    error = realtime_pb2.Error(code=ErrorCode.BAD_INPUT, message=rate.message)
    core.session.send_reply(OutgoingEnvelope(realtime_pb2.Envelope(cid=cid, error=error)))
    if not rate.refusal_allowed(core.clock.seconds()):
        log.debug("session {sid} kept over its message rate", sid=core.session.id)
        inputs.close(MESSAGE_RATE_EXCEEDED, CLOSE_POLICY_VIOLATION)
        core.wire.pause_reading()


@Open.upon(SocketInputs.pong_received).loop()
def _pong(inputs: SocketInputs, core: SocketCore) -> None:
    _reset_ping(inputs, core)


@Open.upon(SocketInputs.timer_due).loop()
def _timer(inputs: SocketInputs, core: SocketCore) -> None:
    core.timer = None
    now = core.clock.seconds()
    if now + _DUE_SLACK >= core.deadline_at:
        log.debug("session {sid} missed its pong deadline", sid=core.session.id)
        core.park_on_close = True  # the network may have dropped it: may resume
        inputs.close(PONG_TIMEOUT, CLOSE_NORMAL)
        return
    if now + _DUE_SLACK >= core.ping_at:
        core.ping_at = now + _seconds(core.config.ping_period_ms)
        core.wire.send_ping()
    _schedule(inputs, core, now)


@Open.upon(SocketInputs.close).to(Closing)
def _close(inputs: SocketInputs, core: SocketCore, reason: str, code: int) -> None:
    _clean_up(core, reason, may_park=core.park_on_close)
    core.wire.send_close(code, reason)
    core.close_ack_call = core.clock.callLater(
        _seconds(core.config.close_ack_wait_ms), core.wire.abort
    )


@Open.upon(SocketInputs.connection_lost).to(Closed)
def _lost(inputs: SocketInputs, core: SocketCore, reason: str = "") -> None:
    # Gone without a close frame from the client: it may come back.
    _clean_up(core, reason, may_park=reason == CONNECTION_DROPPED)


# closing and closed: the session is already cleaned up; nothing more happens.

for _input in (
    SocketInputs.frame_received,
    SocketInputs.pong_received,
    SocketInputs.timer_due,
    SocketInputs.close,
):
    Closing.upon(_input).loop().returns(None)
    Closed.upon(_input).loop().returns(None)


@Closing.upon(SocketInputs.connection_lost).to(Closed)
def _closed(inputs: SocketInputs, core: SocketCore, reason: str = "") -> None:
    if core.close_ack_call is not None and core.close_ack_call.active():
        core.close_ack_call.cancel()
    core.close_ack_call = None


Closed.upon(SocketInputs.connection_lost).loop().returns(None)
Closed.upon(SocketInputs.opened).loop().returns(None)
Closing.upon(SocketInputs.opened).loop().returns(None)
Open.upon(SocketInputs.opened).loop().returns(None)

SocketMachine: Callable[[SocketCore], SocketInputs] = builder.build()


def _seconds(ms: int) -> float:
    return ms / 1000.0


#: Float arithmetic may fire a timer a hair before the time it was set for.
_DUE_SLACK = 1e-6


def _reset_ping(inputs: SocketInputs, core: SocketCore) -> None:
    """Push the next ping a full period away and renew the pong deadline."""
    now = core.clock.seconds()
    core.ping_at = now + _seconds(core.config.ping_period_ms)
    core.deadline_at = now + _seconds(core.config.pong_wait_ms)
    _schedule(inputs, core, now)


def _schedule(inputs: SocketInputs, core: SocketCore, now: float) -> None:
    """Set the socket's one timer for the next ping or the deadline, whichever is
    first (one DelayedCall a socket instead of two: less memory, and one reactor
    call fewer at every connect)."""
    delay = max(0.0, min(core.ping_at, core.deadline_at) - now)
    timer = core.timer
    if timer is not None and timer.active():
        timer.reset(delay)
    else:
        core.timer = core.clock.callLater(delay, inputs.timer_due)


def _process(inputs: SocketInputs, core: SocketCore, envelope: realtime_pb2.Envelope) -> None:
    """Run envelopes through the pipeline in order until one goes asynchronous."""
    while True:
        try:
            verdict = core.hooks.process(core.session, envelope)
        except Exception:
            log.failure("session {sid}: pipeline failed", sid=core.session.id)
            verdict = False
        if isinstance(verdict, Deferred):
            core.busy = True
            core.wire.pause_reading()
            verdict.addCallbacks(
                lambda ok: _resume(inputs, core, ok),
                lambda failure: _resume_failed(inputs, core, failure),
            )
            return
        if not verdict:
            inputs.close(ERROR_PROCESSING, CLOSE_NORMAL)
            return
        if not core.backlog or core.session.closed:
            return
        envelope = core.backlog.popleft()


def _resume(inputs: SocketInputs, core: SocketCore, ok: Any) -> None:
    core.busy = False
    if core.session.closed or not core.receiving:
        return
    if not ok:
        inputs.close(ERROR_PROCESSING, CLOSE_NORMAL)
        return
    core.wire.resume_reading()
    if core.backlog:
        _process(inputs, core, core.backlog.popleft())


def _resume_failed(inputs: SocketInputs, core: SocketCore, failure: Failure) -> None:
    log.failure("session {sid}: pipeline failed", failure, sid=core.session.id)
    _resume(inputs, core, False)


def _clean_up(core: SocketCore, reason: str, *, may_park: bool = False) -> None:
    """This socket is done: its session ends (leave events...), or, when ``may_park``
    and resume is on, is parked for a new socket."""
    if core.cleaned_up:
        return
    core.cleaned_up = True
    core.receiving = False
    core.backlog.clear()
    if core.timer is not None and core.timer.active():
        core.timer.cancel()
    core.timer = None
    if (
        may_park
        and core.parking is not None
        and core.hooks.resumable(core.session)
        and core.parking.park(core.session, reason)
    ):
        return
    core.session.mark_closed()
    try:
        core.hooks.session_closed(core.session, reason)
    except Exception:
        log.failure("session {sid}: clean-up failed", sid=core.session.id)
