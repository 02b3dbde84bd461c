"""``rpc`` over the socket: call a runtime function, answer its payload (pipeline_rpc.go).

The reply is an ``rpc`` envelope with the request's ``cid``, its ``id`` as sent and
the function's payload. An unknown id answers ``RUNTIME_FUNCTION_NOT_FOUND``; a
function that fails answers ``RUNTIME_FUNCTION_EXCEPTION`` with its message (the
traceback goes to the log). None of these closes the socket.
"""

from __future__ import annotations

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from nakama_rt.pipeline import ErrorCode, Pipeline
from nakama_rt.proto import api_pb2, realtime_pb2
from nakama_rt.runtime import ExecutionMode, Runtime
from nakama_rt.runtime.invoke import error_message
from nakama_rt.session import Session

ID_REQUIRED = "RPC ID must be set"
NOT_FOUND = "RPC function not found"


class RpcHandler:
    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def register(self, pipeline: Pipeline) -> None:
        pipeline.register("rpc", self.rpc)

    def rpc(self, session: Session, envelope: realtime_pb2.Envelope) -> bool | Deferred[bool]:
        request, cid = envelope.rpc, envelope.cid
        if not request.id:
            session.send_error(cid, ErrorCode.BAD_INPUT, ID_REQUIRED)
            return False
        if not self._runtime.has_rpc(request.id):
            session.send_error(cid, ErrorCode.RUNTIME_FUNCTION_NOT_FOUND, NOT_FOUND)
            return False
        ctx = self._runtime.session_context(session, ExecutionMode.RPC)
        called = self._runtime.call_rpc(request.id, ctx, request.payload)

        def answer(payload: str) -> bool:
            reply = api_pb2.Rpc(id=request.id, payload=payload)
            session.send_envelope(realtime_pb2.Envelope(cid=cid, rpc=reply))
            return True

        def failed(failure: Failure) -> bool:
            session.send_error(cid, ErrorCode.RUNTIME_FUNCTION_EXCEPTION, error_message(failure))
            return False

        return called.addCallbacks(answer, failed)
