"""``rpc`` over the socket: call a runtime function, answer its payload (pipeline_rpc.go).

The reply is an ``rpc`` envelope with the request's ``cid``, its ``id`` as sent and
the function's payload. An unknown id answers ``RUNTIME_FUNCTION_NOT_FOUND``; a
function that fails answers ``RUNTIME_FUNCTION_EXCEPTION`` with its message (the
traceback goes to the log). None of these closes the socket.
"""

from __future__ import annotations

from typing import NoReturn

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from nakama_rt.core.pipeline import ErrorCode, RealtimeError, Requester
from nakama_rt.runtime import ExecutionMode, Runtime
from nakama_rt.runtime.invoke import error_message
from nakama_rt.wire.proto import api_pb2, realtime_pb2

ID_REQUIRED = "RPC ID must be set"
NOT_FOUND = "RPC function not found"


class RpcHandler:
    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def rpc(
        self, envelope: realtime_pb2.Envelope, requester: Requester
    ) -> Deferred[realtime_pb2.Envelope]:
        request = envelope.rpc
        if not request.id:
            raise RealtimeError(ErrorCode.BAD_INPUT, ID_REQUIRED)
        if not self._runtime.has_rpc(request.id):
            raise RealtimeError(ErrorCode.RUNTIME_FUNCTION_NOT_FOUND, NOT_FOUND)
        ctx = self._runtime.session_context(requester, ExecutionMode.RPC)
        called = self._runtime.call_rpc(request.id, ctx, request.payload)

        def answer(payload: str) -> realtime_pb2.Envelope:
            return realtime_pb2.Envelope(rpc=api_pb2.Rpc(id=request.id, payload=payload))

        def failed(failure: Failure) -> NoReturn:
            raise RealtimeError(ErrorCode.RUNTIME_FUNCTION_EXCEPTION, error_message(failure))

        return called.addCallbacks(answer, failed)
