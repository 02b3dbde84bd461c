"""The pipeline: one envelope in, the handler for its message type, and Nakama's rules
for what cannot be handled.

A handler takes ``(session, envelope)`` and answers the session itself. It returns
whether the request succeeded (True/False, or a Deferred of it); as in Nakama, a
request that fails keeps the socket open (its ``Error`` is the answer), and only
a missing or unrecognized message closes it.

With :attr:`Pipeline.hooks` set (the runtime), a message with a before hook is
handled as the hook returns it, or rejected when it returns None (and, as in
Nakama, the socket closes); a failing hook answers ``RUNTIME_FUNCTION_EXCEPTION``.
An after hook runs once the request succeeded, with the reply the handler sent.

Every envelope is counted by type and every handler timed (until its Deferred
fires, for asynchronous ones) in the server's :class:`RealtimeCounts`.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import IntEnum
from time import perf_counter
from typing import Any, Protocol

from twisted.internet.defer import Deferred, succeed
from twisted.python.failure import Failure

from nakama_rt.counters import RealtimeCounts
from nakama_rt.logs import Logger
from nakama_rt.proto import realtime_pb2
from nakama_rt.session import Session

Handler = Callable[[Session, realtime_pb2.Envelope], "bool | Deferred[bool]"]

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


class Hooks(Protocol):
    """Before/after hooks by message type (implemented by the runtime)."""

    def has_before(self, message: str) -> bool: ...

    def has_after(self, message: str) -> bool: ...

    def run_before(
        self, message: str, session: Session, envelope: realtime_pb2.Envelope
    ) -> Deferred[realtime_pb2.Envelope | None]: ...

    def run_after(
        self,
        message: str,
        session: Session,
        out: realtime_pb2.Envelope | None,
        envelope: realtime_pb2.Envelope,
    ) -> Deferred[None]: ...


class Pipeline:
    """Message type (the ``Envelope`` oneof field name) -> handler."""

    log = Logger()

    def __init__(self, counts: RealtimeCounts | None = None) -> None:
        self._handlers: dict[str, Handler] = {}
        self.hooks: Hooks | None = None
        self.counts = counts if counts is not None else RealtimeCounts()
        self._received = self.counts.messages_in
        self._latency = self.counts.handler_latency

    def register(self, message: str, handler: Handler) -> None:
        if message not in realtime_pb2.Envelope.DESCRIPTOR.fields_by_name:
            raise ValueError(f"{message!r} is not an Envelope message")
        self._handlers[message] = handler

    def handles(self, message: str) -> bool:
        return message in self._handlers

    def process(self, session: Session, envelope: realtime_pb2.Envelope) -> bool | Deferred:
        message = envelope.WhichOneof("message")
        if message is None:
            self._received[MISSING] += 1
            session.send_error(envelope.cid, ErrorCode.MISSING_PAYLOAD, "Missing message.")
            return False
        self._received[message] += 1
        handler = self._handlers.get(message)
        if handler is None:
            self.log.debug(
                "unrecognized message {message} from {sid}", message=message, sid=session.id
            )
            session.send_error(
                envelope.cid, ErrorCode.UNRECOGNIZED_PAYLOAD, "Unrecognized message."
            )
            return False
        hooks = self.hooks
        if hooks is not None and hooks.has_before(message):
            checked = hooks.run_before(message, session, envelope)
            return checked.addCallbacks(
                self._before_done,
                _before_failed,
                callbackArgs=(session, message, handler, envelope.cid),
                errbackArgs=(session, envelope.cid),
            )
        return self._handle(session, message, handler, envelope)

    def _before_done(
        self,
        envelope: realtime_pb2.Envelope | None,
        session: Session,
        message: str,
        handler: Handler,
        cid: str,
    ) -> bool | Deferred:
        if envelope is None:
            self.log.warn(
                "before hook disabled {message} for {sid}", message=message, sid=session.id
            )
            session.send_error(cid, ErrorCode.UNRECOGNIZED_PAYLOAD, DISABLED_MESSAGE)
            return False
        return self._handle(session, message, handler, envelope)

    def _handle(
        self, session: Session, message: str, handler: Handler, envelope: realtime_pb2.Envelope
    ) -> bool | Deferred:
        hooks = self.hooks
        if hooks is None or not hooks.has_after(message):
            started = perf_counter()
            outcome = handler(session, envelope)
            if isinstance(outcome, Deferred):
                return outcome.addBoth(self._timed, message, started).addCallback(_keep_open)
            self._latency.observe(message, perf_counter() - started)
            return True
        capture = _ReplyCapture(session, envelope.cid)
        started = perf_counter()
        outcome = handler(capture, envelope)  # type: ignore[arg-type]
        handled = outcome if isinstance(outcome, Deferred) else succeed(outcome)
        handled.addBoth(self._timed, message, started)

        def after(succeeded: object) -> Deferred | None:
            if not succeeded:
                return None
            return hooks.run_after(message, session, capture.reply, envelope)

        return handled.addCallback(after).addCallback(_keep_open)

    def _timed(self, result: object, message: str, started: float) -> object:
        """Time an asynchronous handler once it is done; its result passes through."""
        self._latency.observe(message, perf_counter() - started)
        return result


def _keep_open(succeeded: object) -> bool:
    return True


def _before_failed(failure: Failure, session: Session, cid: str) -> bool:
    """A failing before hook answers an Error and, as in Nakama, keeps the socket."""
    session.send_error(cid, ErrorCode.RUNTIME_FUNCTION_EXCEPTION, failure.getErrorMessage())
    return True


class _ReplyCapture:
    """The session as a handler sees it while an after hook waits for the reply: every
    call goes to the session; the first envelope sent with the request's cid is kept,
    as Nakama's pipeline functions return their reply for after hooks."""

    def __init__(self, session: Session, cid: str) -> None:
        self._session = session
        self._cid = cid
        self.reply: realtime_pb2.Envelope | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)

    def send(self, envelope: Any) -> bool:
        self._keep(envelope.envelope)
        return self._session.send(envelope)

    def send_envelope(self, envelope: realtime_pb2.Envelope) -> bool:
        self._keep(envelope)
        return self._session.send_envelope(envelope)

    def send_reply(self, outgoing: Any) -> bool:
        self._keep(outgoing.envelope)
        return self._session.send_reply(outgoing)

    def _keep(self, envelope: realtime_pb2.Envelope) -> None:
        if self.reply is None and envelope.cid == self._cid and not envelope.HasField("error"):
            self.reply = envelope
