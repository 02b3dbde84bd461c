"""``GET``/``POST /v2/rpc/{id}``: runtime functions over HTTP, as Nakama's ``RpcFuncHttp``.

Nakama serves this route outside grpc-gateway, with its own rules, kept here:

* authentication: an ``http_key`` query parameter (server to server, no user), else
  an ``Authorization`` header: Basic with the HTTP key as username, or a Bearer
  session token; each failure is a 401 with its own message;
* the id is everything after ``/v2/rpc/`` (lowercased); empty is a 400, unknown a 404;
* a POST body is a JSON string holding the payload, unless the ``unwrap`` query
  parameter is present (any value): then the body is the payload, and the reply is
  the function's payload as is, typed as the request was; a GET has no payload;
* success is ``{"payload": ...}``; a failing function answers the status of its
  gRPC code (13, a 500, unless it raised a :class:`~nakama_rt.runtime.NakamaError`).

Error bodies carry ``error``, ``message`` and ``code``, as Nakama writes them here.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qs, unquote

import orjson
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure
from twisted.web import server
from twisted.web.resource import Resource

from nakama_rt.auth.tokens import InvalidToken, parse_session_token
from nakama_rt.logs import Logger
from nakama_rt.runtime import ExecutionMode, NakamaError, Runtime
from nakama_rt.runtime.invoke import error_code, error_message
from nakama_rt.wire.go_json import go_json

from .context import ApiContext
from .http import (
    HTTP_STATUS,
    ApiError,
    Code,
    apply_cors,
    client_address,
    count_client_error,
    parse_basic_auth,
    read_body,
    write_error,
)


def _answer(code: int, message: str) -> bytes:
    return orjson.dumps({"error": message, "message": message, "code": code})


HTTP_KEY_INVALID = _answer(16, "HTTP key invalid")
AUTH_TOKEN_INVALID = _answer(16, "Auth token invalid")
NO_AUTH = _answer(16, "Auth token or HTTP key required")
ID_REQUIRED = _answer(3, "RPC ID must be set")
NOT_FOUND = _answer(5, "RPC function not found")
INTERNAL_ERROR = _answer(13, "Internal Server Error")
BAD_JSON = _answer(3, "json: cannot unmarshal object into Go value of type string")
# Byte for byte Nakama's, space included.
BODY_TOO_LARGE = b'{"code":3, "message":"http: request body too large"}'

_JSON = b"application/json"

log = Logger()


class _Refused(Exception):
    def __init__(self, status: int, body: bytes) -> None:
        self.status = status
        self.body = body


class RpcResource(Resource):
    """The leaf under ``/v2/rpc/``; ``request.postpath`` is ``[b"rpc", ...id parts]``."""

    isLeaf = True

    def __init__(self, context: ApiContext, runtime: Runtime) -> None:
        super().__init__()
        self.context = context
        self.runtime = runtime

    def render(self, request: server.Request) -> int:
        if apply_cors(request):
            return server.NOT_DONE_YET
        if request.method not in (b"GET", b"POST"):
            write_error(request, ApiError(Code.UNIMPLEMENTED, "Method Not Allowed"))
            return server.NOT_DONE_YET
        over: list[Any] = []
        request.notifyFinish().addBoth(over.append)
        try:
            called = self._call(request)
        except _Refused as refused:
            _write(request, refused.status, refused.body, _JSON)
            count_client_error(self.context.counts, refused.status)
            return server.NOT_DONE_YET
        except Exception:
            log.failure("Unexpected error serving an RPC")
            _write(request, 500, INTERNAL_ERROR, _JSON)
            return server.NOT_DONE_YET
        unwrap = "unwrap" in query_params(request)
        called.addCallbacks(
            self._succeeded,
            self._failed,
            callbackArgs=(request, over, unwrap),
            errbackArgs=(request, over),
        )
        called.addErrback(lambda failure: log.failure("Could not answer an RPC", failure))
        return server.NOT_DONE_YET

    def _call(self, request: server.Request) -> Deferred[str]:
        facts = self._authenticate(request)
        raw_id = b"/".join((request.postpath or [])[1:]).decode("latin-1")
        rpc_id = unquote(raw_id, errors="replace")
        if not rpc_id:
            raise _Refused(400, ID_REQUIRED)
        if not self.runtime.has_rpc(rpc_id):
            raise _Refused(404, NOT_FOUND)
        args = query_params(request)
        payload = ""
        if request.method == b"POST":
            payload = _payload(request, self.context.config.socket.max_request_size_bytes, args)
        client_ip, client_port = client_address(request)
        ctx = self.runtime.context(
            ExecutionMode.RPC,
            headers={
                name.decode("latin-1"): [v.decode("latin-1") for v in values]
                for name, values in request.requestHeaders.getAllRawHeaders()
                if name.lower() != b"grpc-timeout"
            },
            query_params={name: values for name, values in args.items() if name != "http_key"},
            **facts,
            client_ip=client_ip,
            client_port=client_port,
            trace_id=str(uuid.uuid4()),
        )
        return self.runtime.call_rpc(rpc_id, ctx, payload)

    def _authenticate(self, request: server.Request) -> dict[str, Any]:
        """The user facts for ``ctx`` (none with the HTTP key), or a 401."""
        http_key = self.context.config.runtime.http_key
        given = query_params(request).get("http_key", [""])[0]
        if given:
            if given != http_key:
                raise _Refused(401, HTTP_KEY_INVALID)
            return {}
        headers = request.requestHeaders.getRawHeaders(b"authorization") or []
        if not headers:
            raise _Refused(401, NO_AUTH)
        header = headers[0].decode("latin-1")
        basic_user = parse_basic_auth(header)
        if basic_user is not None:
            if basic_user != http_key:
                raise _Refused(401, HTTP_KEY_INVALID)
            return {}
        if not header.startswith("Bearer "):
            raise _Refused(401, AUTH_TOKEN_INVALID)
        ctx = self.context
        try:
            claims = parse_session_token(
                header[len("Bearer ") :], ctx.config.session.encryption_key, ctx.reactor.seconds()
            )
        except InvalidToken:
            raise _Refused(401, AUTH_TOKEN_INVALID) from None
        if not ctx.session_cache.is_valid_session(
            claims.user_id, claims.expires_at, claims.token_id
        ):
            raise _Refused(401, AUTH_TOKEN_INVALID)
        return {
            "user_id": claims.user_id,
            "username": claims.username,
            "vars": claims.vars or {},
            "expiry": claims.expires_at,
        }

    def _succeeded(self, payload: str, request: server.Request, over: list, unwrap: bool) -> None:
        if over:
            return
        if not unwrap:
            _write(request, 200, go_json({"payload": payload}), _JSON)
            return
        content_type = request.requestHeaders.getRawHeaders(b"content-type") or [b"text/plain"]
        _write(request, 200, payload.encode("utf-8"), content_type[0])

    def _failed(self, failure: Failure, request: server.Request, over: list) -> None:
        if over:
            return
        code = error_code(failure)
        error = failure.value
        detail = (
            {"Message": error.message, "Code": error.code} if isinstance(error, NakamaError) else {}
        )
        body = go_json({"error": detail, "message": error_message(failure), "code": code})
        status = HTTP_STATUS.get(Code(code), 500)
        _write(request, status, body, _JSON)
        count_client_error(self.context.counts, status)


def query_params(request: server.Request) -> dict[str, list[str]]:
    """The query as Go's ``url.ParseQuery`` reads it: ``?unwrap`` is ``unwrap`` with an
    empty value (twisted.web's ``request.args`` leaves such a parameter out)."""
    _, _, query = request.uri.partition(b"?")
    return parse_qs(query.decode("utf-8", "replace"), keep_blank_values=True)


def _payload(request: server.Request, limit: int, args: dict) -> str:
    try:
        raw = read_body(request, limit)
    except ApiError:
        raise _Refused(400, BODY_TOO_LARGE) from None
    if not raw or "unwrap" in args:
        return raw.decode("utf-8", "replace")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise _Refused(400, BAD_JSON) from None
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _Refused(400, BAD_JSON)
    return value


def _write(request: server.Request, status: int, body: bytes, content_type: bytes) -> None:
    request.setResponseCode(status)
    request.setHeader(b"content-type", content_type)
    request.setHeader(b"cache-control", b"no-store, no-cache, must-revalidate")
    request.setHeader(b"content-length", b"%d" % len(body))
    request.write(body)
    request.finish()


class ApiRoot(Resource):
    """``/v2``: ``rpc/...`` goes to :class:`RpcResource`, everything else to ``api``."""

    isLeaf = True

    def __init__(self, api: Resource, rpc: RpcResource) -> None:
        super().__init__()
        self.api = api
        self.rpc = rpc

    def render(self, request: server.Request) -> bytes | int:
        path = request.postpath or []
        if len(path) > 1 and path[0] == b"rpc":
            return self.rpc.render(request)
        return self.api.render(request)
