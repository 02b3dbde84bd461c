"""The pipeline: one envelope in, the handler the dispatch table names for its message
type, the handler's answer out, and Nakama's rules for what cannot be handled.

A handler is called with the request envelope and its :class:`Requester` (who asked:
ids and facts, never the socket) and *returns* its answer, so that the pipeline alone
answers the socket, the after hook sees exactly what was sent, and the handler can
run where the socket is not (the cluster's next step). The answer is:

* a reply (an ``Envelope``, sent with the request's ``cid``, or an already encoded
  :class:`~nakama_rt.wire.codec.OutgoingEnvelope`, sent as it is and carrying its cid);
* None: nothing to answer (``match_data_send``, ``pong``);
* :class:`ReplyFirst`: a reply and a change to make once it is sent, for joins and
  leaves whose presence events reach the requester after its reply, as Nakama's
  asynchronous tracker makes them arrive;
* a Deferred of one of these; a session's later requests wait for it.

A refusal is raised: :class:`RealtimeError` is answered with Nakama's ``Error``
envelope, :class:`Dropped` with nothing (Nakama's ``return false, nil``), and
:class:`LimitExceeded` (one of :mod:`nakama_rt.core.limits`) with an ``Error`` and,
when the client kept exceeding the limit, a close with 1008 after it. As in Nakama,
a refused request keeps the socket open and runs no after hook; only a missing or
unrecognized message closes the socket. Anything else raised is a bug: the socket
closes (the lifecycle logs it). Everything a handler sends to anyone but the
requester's reply goes through the router.

With hooks (the runtime), a message with a before hook is handled as the hook returns
it, or rejected when it returns None (and, as in Nakama, the socket closes); a failing
hook answers ``RUNTIME_FUNCTION_EXCEPTION``. An after hook runs once the request
succeeded, with the reply that was sent.

Every envelope is counted by type and every handler timed (until its Deferred fires,
for asynchronous ones) in the server's :class:`RealtimeCounts`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from time import perf_counter
from typing import Any, Protocol

from twisted.internet.defer import Deferred, fail, succeed
from twisted.python.failure import Failure

from nakama_rt.counters import RealtimeCounts
from nakama_rt.logs import Logger
from nakama_rt.wire.close_reasons import CLOSE_NORMAL, CLOSE_POLICY_VIOLATION
from nakama_rt.wire.codec import Format, OutgoingEnvelope
from nakama_rt.wire.proto import realtime_pb2

DISABLED_MESSAGE = "Requested resource was not found."
#: The ``type`` counted for an envelope that carries no message.
MISSING = "missing"


class ErrorCode(IntEnum):
    """``Error.code`` values of Nakama's realtime protocol."""

    RUNTIME_EXCEPTION = 0
    UNRECOGNIZED_PAYLOAD = 1
    MISSING_PAYLOAD = 2
    BAD_INPUT = 3
    MATCH_NOT_FOUND = 4
    MATCH_JOIN_REJECTED = 5
    RUNTIME_FUNCTION_NOT_FOUND = 6
    RUNTIME_FUNCTION_EXCEPTION = 7


@dataclass(frozen=True, slots=True)
class Requester:
    """Who sent a request: what handlers and runtime hooks read of a session. Plain
    values, so a handler can neither write to the socket nor care where it is."""

    session_id: str
    user_id: str
    username: str
    format: Format
    vars: Mapping[str, str] | None
    lang: str
    #: The session token's expiry (UNIX seconds).
    expiry: int
    client_ip: str
    client_port: str


class Refusal(Exception):
    """A request the handler refuses; the socket stays open and no after hook runs."""


class RealtimeError(Refusal):
    """Refuse with Nakama's ``Error`` envelope: ``code`` and ``message``, with the
    request's ``cid`` unless ``with_cid`` is False (Nakama leaves it out in places)."""

    def __init__(self, code: ErrorCode, message: str, *, with_cid: bool = True) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.with_cid = with_cid


class LimitExceeded(RealtimeError):
    """Refused by one of the server's limits (:mod:`nakama_rt.core.limits`): answered
    with ``BAD_INPUT`` and ``message``, counted under ``limit``. With a
    ``close_reason`` (the client kept exceeding it), the socket is then closed with
    that reason and 1008."""

    def __init__(self, limit: str, message: str, close_reason: str = "") -> None:
        super().__init__(ErrorCode.BAD_INPUT, message)
        self.limit = limit
        self.close_reason = close_reason


class Dropped(Refusal):
    """Refuse without an answer, as Nakama ignores data from outside a match."""


#: A reply: an envelope the pipeline gives the request's cid, or one already wrapped.
Reply = realtime_pb2.Envelope | OutgoingEnvelope


@dataclass(frozen=True, slots=True)
class ReplyFirst:
    """A reply, and what to do once it is sent: a track or untrack whose presence
    events must reach the requester after its reply, or news for the others that
    follows it (a party's matchmaker ticket)."""

    reply: Reply
    then: Callable[[], object]


#: What a handler returns, or what its Deferred fires with; None answers nothing.
Answer = Reply | ReplyFirst | None
#: ``handler(request, requester)``. Its Deferred is typed ``Deferred[Any]`` only because
#: Deferred is invariant: a ``Deferred[Envelope]`` is no ``Deferred[Answer]`` to mypy.
Handler = Callable[[realtime_pb2.Envelope, Requester], "Answer | Deferred[Any]"]


class Requesting(Protocol):
    """The socket a request came from, as the pipeline answers it (the session)."""

    requester: Requester

    def send_reply(self, outgoing: OutgoingEnvelope) -> bool: ...

    def close(self, reason: str = "", code: int = CLOSE_NORMAL) -> None: ...


class Hooks(Protocol):
    """Before/after hooks by message type (implemented by the runtime)."""

    def has_before(self, message: str) -> bool: ...

    def has_after(self, message: str) -> bool: ...

    def run_before(
        self, message: str, requester: Requester, envelope: realtime_pb2.Envelope
    ) -> Deferred[realtime_pb2.Envelope | None]: ...

    def run_after(
        self,
        message: str,
        requester: Requester,
        out: realtime_pb2.Envelope | None,
        envelope: realtime_pb2.Envelope,
    ) -> Deferred[None]: ...


class Pipeline:
    """Message type (the ``Envelope`` oneof field name) -> handler, from one table."""

    log = Logger()

    def __init__(
        self,
        handlers: Mapping[str, Handler],
        counts: RealtimeCounts | None = None,
        hooks: Hooks | None = None,
    ) -> None:
        fields = realtime_pb2.Envelope.DESCRIPTOR.fields_by_name
        unknown = sorted(message for message in handlers if message not in fields)
        if unknown:
            raise ValueError(f"not Envelope messages: {', '.join(unknown)}")
        self._handlers = dict(handlers)
        self._hooks = hooks
        self.counts = counts if counts is not None else RealtimeCounts()
        self._received = self.counts.messages_in
        self._latency = self.counts.handler_latency
        self._errors = self.counts.errors

    def handles(self, message: str) -> bool:
        return message in self._handlers

    def process(
        self, session: Requesting, envelope: realtime_pb2.Envelope
    ) -> bool | Deferred[bool]:
        """Handle one envelope; whether the socket stays open (or a Deferred of it)."""
        message = envelope.WhichOneof("message")
        if message is None:
            self._received[MISSING] += 1
            self._refuse(
                session, envelope.cid, RealtimeError(ErrorCode.MISSING_PAYLOAD, "Missing message.")
            )
            return False
        self._received[message] += 1
        handler = self._handlers.get(message)
        if handler is None:
            self.log.debug(
                "unrecognized message {message} from {sid}",
                message=message,
                sid=session.requester.session_id,
            )
            unrecognized = RealtimeError(ErrorCode.UNRECOGNIZED_PAYLOAD, "Unrecognized message.")
            self._refuse(session, envelope.cid, unrecognized)
            return False
        hooks = self._hooks
        if hooks is not None:
            if hooks.has_before(message):
                checked = hooks.run_before(message, session.requester, envelope)
                return checked.addCallbacks(
                    self._before_done,
                    self._before_failed,
                    callbackArgs=(session, message, handler, envelope.cid),
                    errbackArgs=(session, envelope.cid),
                )
            if hooks.has_after(message):
                return self._handle_then_after(session, message, handler, envelope, hooks)
        return self._handle(session, message, handler, envelope)

    def _before_done(
        self,
        envelope: realtime_pb2.Envelope | None,
        session: Requesting,
        message: str,
        handler: Handler,
        cid: str,
    ) -> bool | Deferred[bool]:
        if envelope is None:
            self.log.warn(
                "before hook disabled {message} for {sid}",
                message=message,
                sid=session.requester.session_id,
            )
            self._refuse(
                session, cid, RealtimeError(ErrorCode.UNRECOGNIZED_PAYLOAD, DISABLED_MESSAGE)
            )
            return False
        hooks = self._hooks
        if hooks is not None and hooks.has_after(message):
            return self._handle_then_after(session, message, handler, envelope, hooks)
        return self._handle(session, message, handler, envelope)

    def _before_failed(self, failure: Failure, session: Requesting, cid: str) -> bool:
        """A failing before hook answers an Error and, as in Nakama, keeps the socket."""
        error = RealtimeError(ErrorCode.RUNTIME_FUNCTION_EXCEPTION, failure.getErrorMessage())
        self._refuse(session, cid, error)
        return True

    def _handle(
        self,
        session: Requesting,
        message: str,
        handler: Handler,
        envelope: realtime_pb2.Envelope,
    ) -> bool | Deferred[bool]:
        """Run a handler and send its answer (no after hook: the hot path)."""
        started = perf_counter()
        try:
            answer = handler(envelope, session.requester)
        except Refusal as refusal:
            self._refuse(session, envelope.cid, refusal)
        else:
            # The commonest answers first: an encoded reply (pong), none (match data).
            if isinstance(answer, OutgoingEnvelope):
                session.send_reply(answer)
            elif answer is not None:
                cid = envelope.cid
                if isinstance(answer, Deferred):
                    answer.addCallbacks(
                        self._send,
                        self._refused,
                        callbackArgs=(session, cid),
                        errbackArgs=(session, cid),
                    )
                    return answer.addBoth(self._timed, message, started).addCallback(_keep_open)
                self._send(answer, session, cid)
        self._latency.observe(message, perf_counter() - started)
        return True

    def _handle_then_after(
        self,
        session: Requesting,
        message: str,
        handler: Handler,
        envelope: realtime_pb2.Envelope,
        hooks: Hooks,
    ) -> Deferred[bool]:
        """Run a handler, send its answer, then the after hook with the reply sent."""
        started = perf_counter()
        cid = envelope.cid
        outcome: Deferred[Any]
        try:
            answered = handler(envelope, session.requester)
        except Refusal as refusal:
            outcome = fail(refusal)
        else:
            outcome = answered if isinstance(answered, Deferred) else succeed(answered)
        outcome.addCallbacks(
            self._send, self._refused, callbackArgs=(session, cid), errbackArgs=(session, cid)
        )
        outcome.addBoth(self._timed, message, started)

        def after(sent: OutgoingEnvelope | Refusal | None) -> Deferred[None] | None:
            if isinstance(sent, Refusal):
                return None
            out = sent.envelope if sent is not None else None
            return hooks.run_after(message, session.requester, out, envelope)

        return outcome.addCallback(after).addCallback(_keep_open)

    def _send(self, answer: Answer, session: Requesting, cid: str) -> OutgoingEnvelope | None:
        """Send a handler's answer; the reply that went out, if any."""
        if answer is None:
            return None
        if isinstance(answer, OutgoingEnvelope):
            outgoing = answer
        elif isinstance(answer, ReplyFirst):
            sent = self._send(answer.reply, session, cid)
            answer.then()
            return sent
        else:
            # Not isinstance(answer, Envelope): protobuf's metaclass makes that slow.
            answer.cid = cid
            outgoing = OutgoingEnvelope(answer)
        session.send_reply(outgoing)
        return outgoing

    def _refused(self, failure: Failure, session: Requesting, cid: str) -> Refusal | Failure:
        """An asynchronous handler's refusal is answered; anything else passes on."""
        refusal = failure.value
        if not isinstance(refusal, Refusal):
            return failure
        self._refuse(session, cid, refusal)
        return refusal

    def _refuse(self, session: Requesting, cid: str, refusal: Refusal) -> None:
        if not isinstance(refusal, RealtimeError):
            return
        self._errors[refusal.code] += 1
        error = realtime_pb2.Error(code=refusal.code, message=refusal.message)
        envelope = realtime_pb2.Envelope(cid=cid if refusal.with_cid else "", error=error)
        session.send_reply(OutgoingEnvelope(envelope))
        if isinstance(refusal, LimitExceeded):
            self.counts.limit_refusals[refusal.limit] += 1
            if refusal.close_reason:
                session.close(refusal.close_reason, CLOSE_POLICY_VIOLATION)

    def _timed(self, result: object, message: str, started: float) -> object:
        """Time an asynchronous handler once it is done; its result passes through."""
        self._latency.observe(message, perf_counter() - started)
        return result


def _keep_open(result: object) -> bool:
    return True
