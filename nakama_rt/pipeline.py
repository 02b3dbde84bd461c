"""The pipeline: one envelope in, the handler for its message type, and Nakama's rules
for what cannot be handled.

A handler takes ``(session, envelope)`` and answers the session itself. It returns
whether the request succeeded (True/False, or a Deferred of it); as in Nakama, a
request that fails keeps the socket open (its ``Error`` is the answer), and only
a missing or unrecognized message closes it. The result will decide whether
after-hooks run once the runtime exists.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import IntEnum

from twisted.internet.defer import Deferred

from nakama_rt.logs import Logger
from nakama_rt.proto import realtime_pb2
from nakama_rt.session import Session

Handler = Callable[[Session, realtime_pb2.Envelope], "bool | Deferred[bool]"]


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


class Pipeline:
    """Message type (the ``Envelope`` oneof field name) -> handler."""

    log = Logger()

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}

    def register(self, message: str, handler: Handler) -> None:
        if message not in realtime_pb2.Envelope.DESCRIPTOR.fields_by_name:
            raise ValueError(f"{message!r} is not an Envelope message")
        self._handlers[message] = handler

    def handles(self, message: str) -> bool:
        return message in self._handlers

    def process(self, session: Session, envelope: realtime_pb2.Envelope) -> bool | Deferred:
        message = envelope.WhichOneof("message")
        if message is None:
            session.send_error(envelope.cid, ErrorCode.MISSING_PAYLOAD, "Missing message.")
            return False
        handler = self._handlers.get(message)
        if handler is None:
            self.log.debug(
                "unrecognized message {message} from {sid}", message=message, sid=session.id
            )
            session.send_error(
                envelope.cid, ErrorCode.UNRECOGNIZED_PAYLOAD, "Unrecognized message."
            )
            return False
        outcome = handler(session, envelope)
        if isinstance(outcome, Deferred):
            return outcome.addCallback(_keep_open)
        return True


def _keep_open(succeeded: object) -> bool:
    return True
