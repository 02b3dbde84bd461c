"""JSON over twisted.web the way Nakama's grpc-gateway speaks it.

Nakama serves REST through grpc-gateway with protojson (proto field names,
unpopulated fields left out) and maps gRPC status codes to HTTP statuses. This
module holds that mapping, the error body, request-body decoding, the
server-key and bearer checks, CORS, and :class:`JsonResource`, which routes a
request to an ``async`` handler and turns every outcome into a JSON answer.

Each API module declares its routes beside its handlers, in a ``ROUTES`` table of
:class:`Route`: method, path, authentication, message shape, how the handler's
exceptions are answered (``errors`` by exception type, ``internal`` for a failed
query), as klein's ``handle_errors`` does, but per route, as Nakama words them, and the
name of Nakama's API call whose before and after hooks run around it (``hook``, see
:mod:`.hooks`).

Why our own router and not klein
--------------------------------
klein 24.8.0 (with werkzeug 3.1.9) was evaluated as a replacement for
:class:`JsonResource`'s routing and kept out, for speed and for compatibility.

Speed: a Site fed raw HTTP/1.1 requests on one keep-alive connection in-process
(``StringTransport``), both routers holding every route of :func:`build_api`'s
tables and running the same handler work (our decoding and checks, ``write_json``);
CPU time per request, median of 7 runs of 20000 requests each, 2 shared cores::

    PYTHONPATH=<klein installed apart>:. .venv/bin/python benchmarks/klein_routing.py 20000 7

    route                                     JsonResource       klein   klein/ours
    GET  /v2/probe (no auth, answers {})        58 us 17.2k/s   109 us  9.2k/s   1.88x
    POST /v2/account/authenticate/custom       236 us  4.2k/s   311 us  3.2k/s   1.32x
    POST /v2/group/{group_id}/join              80 us 12.6k/s   144 us  6.9k/s   1.81x

twisted.web itself (a leaf answering ``{}``, no routing) takes 38 us: our routing
and dispatch add about 20 us a request, klein's (a werkzeug ``MapAdapter`` bound per
request, its adapters and Deferred chain) about 70.

Compatibility: with klein's error handlers mapping werkzeug's ``NotFound`` to our
404 and ``MethodNotAllowed`` to our 501, these still answer otherwise than here:

* ``HEAD`` on a ``GET`` route runs the handler (werkzeug adds HEAD to every GET
  rule, unconditionally); here, as in grpc-gateway, it is a 501;
* ``/v2//account`` is a 308 redirect with an HTML body (werkzeug merges slashes),
  ``/v2/group//join`` a 501 (the merged path matches ``/group/{group_id}``); here
  both are 404, and grpc-gateway writes JSON bodies only;
* klein rebuilds the path from twisted.web's already-decoded segments: ``%2F`` in
  a path parameter splits it (404, where here the handler judges ``a/b``), and a
  segment that is not UTF-8 (``%FF``) is a text/plain 400 with a traceback logged
  per request: a log flood any client can cause, which issue 13 closed elsewhere;
* error handlers are the app's, not a route's: each endpoint's own message for a
  failed query would need a lookup of the matched rule in every handler anyway.

The check order (route, body, query, path, auth, handler), Nakama's error bodies,
CORS before routing, the body size limit and ``/v2/rpc/{id}`` would all stay ours;
klein would add four packages (klein, werkzeug, markupsafe, tubes) and take over
only the path match.
"""

from __future__ import annotations

import base64
import binascii
import enum
import io
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any, BinaryIO, Literal, Protocol
from urllib.parse import unquote

import orjson
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure
from twisted.web import server
from twisted.web.resource import Resource

from nakama_rt.auth.tokens import InvalidToken, SessionClaims, parse_session_token
from nakama_rt.counters import RealtimeCounts
from nakama_rt.logs import Logger
from nakama_rt.storage import StorageUnavailable
from nakama_rt.wire.go_json import go_quote

from .outage import OutageLog

log = Logger()


class Code(enum.IntEnum):
    """gRPC status codes, which Nakama puts in every error body."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


#: grpc-gateway's HTTPStatusFromCode.
HTTP_STATUS: dict[Code, int] = {
    Code.OK: 200,
    Code.CANCELLED: 499,
    Code.UNKNOWN: 500,
    Code.INVALID_ARGUMENT: 400,
    Code.DEADLINE_EXCEEDED: 504,
    Code.NOT_FOUND: 404,
    Code.ALREADY_EXISTS: 409,
    Code.PERMISSION_DENIED: 403,
    Code.UNAUTHENTICATED: 401,
    Code.RESOURCE_EXHAUSTED: 429,
    Code.FAILED_PRECONDITION: 400,
    Code.ABORTED: 409,
    Code.OUT_OF_RANGE: 400,
    Code.UNIMPLEMENTED: 501,
    Code.INTERNAL: 500,
    Code.UNAVAILABLE: 503,
    Code.DATA_LOSS: 500,
}


class ApiError(Exception):
    """An expected failure, answered with its gRPC code and client-facing message."""

    def __init__(self, code: Code, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        return HTTP_STATUS.get(self.code, 500)


# Headers grpc-gateway adds to every answer of Nakama's API.
_CACHE_CONTROL = b"no-store, no-cache, must-revalidate"
_JSON = b"application/json"


def error_body(error: ApiError) -> dict[str, Any]:
    """The error JSON exactly as Nakama 3.x (grpc-gateway v2) writes it: ``code`` and
    ``message``. (grpc-gateway v1, in early 3.x releases, also wrote ``error``.)"""
    return {"code": int(error.code), "message": error.message}


def write_json(request: server.Request, status: int, body: Mapping[str, Any]) -> None:
    """Answer ``request`` with ``body`` as JSON and finish it."""
    payload = orjson.dumps(body)
    request.setResponseCode(status)
    request.setHeader(b"content-type", _JSON)
    request.setHeader(b"cache-control", _CACHE_CONTROL)
    request.setHeader(b"content-length", b"%d" % len(payload))
    request.write(payload)
    request.finish()


def write_error(request: server.Request, error: ApiError) -> None:
    if error.code == Code.UNAUTHENTICATED:
        # grpc-gateway names the failure in this header too.
        request.setHeader(b"www-authenticate", error.message.encode("utf-8"))
    write_json(request, error.http_status, error_body(error))


# Text inputs -------------------------------------------------------------------------------

#: How :func:`check_text` names where a value came from.
Source = Literal["field", "query parameter", "path parameter"]


def check_text(value: str, name: str, source: Source = "field") -> str:
    """``value``, unless it holds a NUL character.

    PostgreSQL stores no NUL in text (nor a ``\\u0000`` in JSONB), so the API takes
    none in any text it decodes: bodies, query and path parameters are checked here,
    as they are decoded, and the answer is the same 400 on every backend instead of
    a database error.
    """
    if "\x00" in value:
        raise nul_refused(name, source)
    return value


def nul_refused(name: str, source: Source = "field") -> ApiError:
    """The answer to text with a NUL in it, naming where it came from."""
    return ApiError(
        Code.INVALID_ARGUMENT, f'Invalid value for {source} "{name}": contains a NUL character.'
    )


def holds_nul(value: Any) -> bool:
    """Whether decoded JSON holds a NUL in any string or key (a ``\\u0000`` escape)."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
    return False


# Request bodies ----------------------------------------------------------------------------

#: Kind of a body field: a string, or a ``map<string, string>`` such as ``vars``.
FieldKind = Literal["string", "map"]


def _json_name(proto_name: str) -> str:
    """protojson also accepts the lowerCamelCase name of each field."""
    head, *rest = proto_name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def decode_body(
    raw: bytes, fields: Mapping[str, FieldKind], check_nul: bool = True
) -> dict[str, Any] | None:
    """Parse a JSON message body the way grpc-gateway does.

    Empty (or ``null``) means no message: None. Unknown fields are ignored; ``null``
    fields are absent; a wrong type, or text with a NUL (unless ``check_nul`` is
    false), is an InvalidArgument error.
    """
    if not raw.strip():
        return None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise ApiError(Code.INVALID_ARGUMENT, f"Invalid JSON request body: {error}.") from None
    if data is None:
        return None
    if not isinstance(data, dict):
        raise ApiError(Code.INVALID_ARGUMENT, "Invalid JSON request body: expected an object.")
    return decode_fields(data, fields, check_nul)


def decode_fields(
    data: Mapping[str, Any], fields: Mapping[str, FieldKind], check_nul: bool = True
) -> dict[str, Any]:
    """The known ``fields`` of a decoded JSON object, as :func:`decode_body` checks them."""
    message: dict[str, Any] = {}
    for name, kind in fields.items():
        value = data.get(name)
        if value is None:
            value = data.get(_json_name(name))
        if value is None:
            continue
        if kind == "string" and not isinstance(value, str):
            raise ApiError(
                Code.INVALID_ARGUMENT, f'Invalid value for field "{name}": not a string.'
            )
        if kind == "map" and not (
            isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
        ):
            raise ApiError(
                Code.INVALID_ARGUMENT,
                f'Invalid value for field "{name}": not an object of string values.',
            )
        if check_nul:
            for text in (value,) if kind == "string" else (*value, *value.values()):
                check_text(text, name)
        message[name] = value
    return message


#: Kind of a query parameter: text, or a ``google.protobuf.BoolValue``.
QueryKind = Literal["string", "bool"]

# Go's strconv.ParseBool, which grpc-gateway uses for boolean parameters.
_BOOLS = {
    "1": True,
    "t": True,
    "T": True,
    "TRUE": True,
    "true": True,
    "True": True,
    "0": False,
    "f": False,
    "F": False,
    "FALSE": False,
    "false": False,
    "False": False,
}


def too_many_values(name: str, values: list[str]) -> ApiError:
    """grpc-gateway's refusal of a repeated parameter that takes one value."""
    return ApiError(
        Code.INVALID_ARGUMENT, f'too many values for field "{name}": {", ".join(values)}'
    )


def unparsable(name: str, parser: str, value: str, why: str = "invalid syntax") -> ApiError:
    """grpc-gateway's refusal of a value Go's ``strconv`` cannot parse (``parser`` is
    ``ParseInt``, ``ParseUint`` or ``ParseBool``; ``why``, Go's reason)."""
    return ApiError(
        Code.INVALID_ARGUMENT,
        f'parsing field "{name}": strconv.{parser}: parsing {go_quote(value)}: {why}',
    )


#: Go's ``strconv`` syntax in base 10: ``ParseInt`` takes a sign, ``ParseUint`` none.
_SIGNED_DIGITS = re.compile(r"[+-]?[0-9]+")
_DIGITS = re.compile(r"[0-9]+")


def parse_integer(name: str, text: str, low: int, high: int) -> int:
    """An integer parameter as grpc-gateway parses it: Go's ``strconv.ParseUint`` when
    ``low`` is 0, else ``ParseInt``, into a field that holds ``low`` to ``high - 1``."""
    parser, syntax = ("ParseUint", _DIGITS) if low == 0 else ("ParseInt", _SIGNED_DIGITS)
    if syntax.fullmatch(text) is None:
        raise unparsable(name, parser, text)
    value = int(text, 10)
    if not low <= value < high:
        raise unparsable(name, parser, text, "value out of range")
    return value


def parse_bool(name: str, text: str) -> bool:
    """A boolean parameter as grpc-gateway parses it (Go's ``strconv.ParseBool``)."""
    value = _BOOLS.get(text)
    if value is None:
        raise unparsable(name, "ParseBool", text)
    return value


def decode_query(
    args: Mapping[bytes, list[bytes]], params: Mapping[str, QueryKind], check_nul: bool = True
) -> dict:
    """Typed values of the known query parameters; unknown ones are ignored. Text with a
    NUL is an InvalidArgument error unless ``check_nul`` is false."""
    values: dict[str, Any] = {}
    for name, kind in params.items():
        raw = args.get(name.encode("ascii"))
        if raw is None:
            continue
        try:
            texts = [value.decode("utf-8") for value in raw]
        except UnicodeDecodeError:
            raise ApiError(
                Code.INVALID_ARGUMENT, f'Invalid value for query parameter "{name}".'
            ) from None
        if len(texts) != 1:
            raise too_many_values(name, texts)
        text = texts[0]
        if kind == "bool":
            values[name] = parse_bool(name, text)
        else:
            values[name] = check_text(text, name, "query parameter") if check_nul else text
    return values


# Authentication ---------------------------------------------------------------------------


def _authorization(request: server.Request) -> list[str]:
    return [v.decode("latin-1") for v in request.requestHeaders.getRawHeaders(b"authorization", [])]


def check_server_key(request: server.Request, server_key: str) -> None:
    """HTTP Basic auth whose username is the server key (the password is ignored)."""
    values = _authorization(request)
    if len(values) != 1:
        raise ApiError(Code.UNAUTHENTICATED, "Server key required")
    username = parse_basic_auth(values[0])
    if username is None or username != server_key:
        raise ApiError(Code.UNAUTHENTICATED, "Server key invalid")


def parse_basic_auth(value: str) -> str | None:
    """The username of a ``Basic`` credential, or None if it is malformed."""
    prefix = "Basic "
    if not value.startswith(prefix):
        return None
    try:
        decoded = base64.b64decode(value[len(prefix) :], validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    username, colon, _password = decoded.partition(":")
    return username if colon else None


def check_bearer(
    request: server.Request, key: str, now: float, is_valid: Callable[[str, int, str], bool]
) -> SessionClaims:
    """The claims of the ``Bearer`` session token, if it is valid and not revoked."""
    values = _authorization(request)
    if not values:
        raise ApiError(Code.UNAUTHENTICATED, "Auth token required")
    if len(values) != 1 or not values[0].startswith("Bearer "):
        raise ApiError(Code.UNAUTHENTICATED, "Auth token invalid")
    try:
        claims = parse_session_token(values[0][len("Bearer ") :], key, now)
    except InvalidToken:
        raise ApiError(Code.UNAUTHENTICATED, "Auth token invalid") from None
    if not is_valid(claims.user_id, claims.expires_at, claims.token_id):
        raise ApiError(Code.UNAUTHENTICATED, "Auth token invalid")
    return claims


# CORS, as Nakama's gorilla/handlers configuration allows it ---------------------------------

_CORS_METHODS = {b"GET", b"HEAD", b"POST", b"PUT", b"DELETE"}
_CORS_HEADERS = {
    "authorization",
    "content-type",
    "user-agent",
    # Always allowed by gorilla/handlers.
    "accept",
    "accept-language",
    "content-language",
    "origin",
}


def apply_cors(request: server.Request) -> bool:
    """Add CORS headers; return True when this was a preflight, answered here."""
    if request.getHeader(b"origin") is None:
        return False
    wanted_method = request.getHeader(b"access-control-request-method")
    if request.method != b"OPTIONS" or wanted_method is None:
        request.setHeader(b"access-control-allow-origin", b"*")
        return False
    wanted_headers = [
        h.strip()
        for h in (request.getHeader(b"access-control-request-headers") or b"").split(b",")
        if h.strip()
    ]
    if wanted_method.upper() not in _CORS_METHODS:
        request.setResponseCode(405)
    elif any(h.decode("latin-1").lower() not in _CORS_HEADERS for h in wanted_headers):
        request.setResponseCode(403)
    else:
        request.setResponseCode(200)
        request.setHeader(b"access-control-allow-origin", b"*")
        request.setHeader(b"access-control-allow-methods", wanted_method.upper())
        if wanted_headers:
            request.setHeader(b"access-control-allow-headers", b", ".join(wanted_headers))
    request.setHeader(b"content-length", b"0")
    request.finish()
    return True


# Body size ---------------------------------------------------------------------------------


class NakamaRequest(server.Request):
    """A twisted.web Request that answers without a ``Server`` header, as Nakama's
    Go HTTP server does (twisted.web names itself and its version on every answer)."""

    def setHeader(self, name: bytes | str, value: bytes | str) -> None:  # noqa: N802
        if name != b"Server":  # only twisted.web's process() sets this one
            super().setHeader(name, value)


class BodyLimitedRequest(NakamaRequest):
    """A Request that stops storing its body past ``max_body_bytes``.

    twisted.web otherwise buffers any body in full before a resource sees it;
    with this factory an oversized body is read and dropped, and the resource
    answers it as too large. Use :func:`body_limited_request_factory`.
    """

    max_body_bytes: int | None = None
    body_too_large = False
    _body_bytes = 0
    #: The body file, which gotLength sets (twisted.web's ``content = None`` types it None).
    content: BinaryIO  # type: ignore[assignment]  # twisted's stub: Request.content is None

    def gotLength(self, length: int | None) -> None:
        if self.max_body_bytes is not None and length is not None and length > self.max_body_bytes:
            self.body_too_large = True
            self.content = io.BytesIO()
            return
        super().gotLength(length)

    def handleContentChunk(self, data: bytes) -> None:
        if self.body_too_large:
            return
        self._body_bytes += len(data)
        if self.max_body_bytes is not None and self._body_bytes > self.max_body_bytes:
            self.body_too_large = True
            self.content.close()
            self.content = io.BytesIO()
            return
        super().handleContentChunk(data)


def body_limited_request_factory(max_body_bytes: int) -> type[BodyLimitedRequest]:
    """A ``Site(requestFactory=...)`` that drops request bodies over ``max_body_bytes``."""
    return type("BodyLimitedRequest", (BodyLimitedRequest,), {"max_body_bytes": max_body_bytes})


BODY_TOO_LARGE = "http: request body too large"


def read_body(request: server.Request, max_body_bytes: int | None) -> bytes:
    """The request body, or InvalidArgument if it is over the limit (as Nakama answers)."""
    if getattr(request, "body_too_large", False):
        raise ApiError(Code.INVALID_ARGUMENT, BODY_TOO_LARGE)
    content = request.content
    if content is None:
        return b""
    content.seek(0, io.SEEK_END)
    size = content.tell()
    if max_body_bytes is not None and size > max_body_bytes:
        raise ApiError(Code.INVALID_ARGUMENT, BODY_TOO_LARGE)
    content.seek(0)
    return content.read()


# Routing -----------------------------------------------------------------------------------


INTERNAL_ERROR = "Internal Server Error"


class _Marker:
    """A value that stands for no value (its name as its repr)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


#: What :meth:`Call.json_body` gives for an empty body (nothing but whitespace).
NO_BODY: Any = _Marker("NO_BODY")
_UNREAD: Any = _Marker("<unread>")

#: The query of a request with none. (twisted.web types ``Request.args`` as its ``= None``
#: class default, so ``args or {}`` would read as an empty dict of nothing.)
NO_ARGS: Mapping[bytes, list[bytes]] = MappingProxyType({})


@dataclass
class Call:
    """One decoded API request, as a handler sees it.

    A handler reads the query as :attr:`args` and a body it decodes itself through
    :meth:`json_body`, not from ``request``: what a before hook changed (:mod:`.hooks`)
    is then what the handler serves."""

    request: server.Request
    #: The message body's known fields, or None when the body was empty.
    body: dict[str, Any] | None
    query: dict[str, Any]
    #: Claims of the bearer token, for routes with ``auth="bearer"``.
    session: SessionClaims | None = None
    #: The message of a 500 should the handler fail from here on: the route's
    #: :attr:`Route.internal`, until a handler that fails in Nakama's words per step
    #: names the step it enters (authentication: finding, then creating the account).
    internal: str = INTERNAL_ERROR
    #: The query parameters when a before hook rewrote them (None: the request's).
    rewritten_args: Mapping[bytes, list[bytes]] | None = None
    #: The body's JSON value once read (:meth:`json_body`), or as a before hook left it.
    _json: Any = field(default=_UNREAD, init=False, repr=False)

    @cached_property
    def trace_id(self) -> str:
        """The request's trace id (a new UUID, as Nakama gives each API request), for
        the ``ctx`` of the runtime code it runs; made when first asked."""
        return str(uuid.uuid4())

    @property
    def args(self) -> Mapping[bytes, list[bytes]]:
        """The query parameters, raw, as ``Request.args`` holds them."""
        if self.rewritten_args is not None:
            return self.rewritten_args
        return self.request.args or NO_ARGS

    def json_body(self, max_body_bytes: int | None) -> Any:
        """The body's JSON value (:data:`NO_BODY` when empty), read and parsed when first
        asked; InvalidArgument, in grpc-gateway's words, if it is over ``max_body_bytes``
        or not JSON. Handlers that decode their message themselves start here."""
        if self._json is _UNREAD:
            raw = read_body(self.request, max_body_bytes)
            if not raw.strip():
                self._json = NO_BODY
            else:
                try:
                    self._json = orjson.loads(raw)
                except orjson.JSONDecodeError as error:
                    raise ApiError(
                        Code.INVALID_ARGUMENT, f"Invalid JSON request body: {error}."
                    ) from None
        return self._json

    @property
    def body_empty(self) -> bool:
        """Whether the request has no body (nothing but whitespace), or a before hook left
        it none: grpc-gateway then leaves the message field the body fills unset."""
        if self._json is _UNREAD:
            return not read_body(self.request, None).strip()
        return self._json is NO_BODY

    def rewrite(self, json_body: Any, args: Mapping[bytes, list[bytes]]) -> None:
        """Serve a before hook's request: its body (a JSON value, or :data:`NO_BODY`) and
        query parameters replace the client's."""
        self._json = json_body
        self.rewritten_args = args


#: ``handler(context, call, *path_values)``: the reply message as JSON.
Handler = Callable[..., Awaitable[Mapping[str, Any]]]

#: How a route answers the exceptions its handler lets through, by type (the most
#: specific class of the exception wins): with an :class:`ApiError`, or with the one
#: a function makes of the exception.
ErrorMap = Mapping[type[Exception], ApiError | Callable[[Exception], ApiError]]


def mapped_error(errors: ErrorMap, error: Exception) -> ApiError | None:
    """The answer ``errors`` gives to ``error``, or None when it names none of its types."""
    for kind in type(error).__mro__:
        answer = errors.get(kind)
        if answer is not None:
            return answer if isinstance(answer, ApiError) else answer(error)
    return None


@dataclass(frozen=True)
class Route:
    """One endpoint: method, path under the resource, auth, and message shape."""

    method: bytes
    path: tuple[bytes, ...]
    handler: Handler
    auth: Literal["server_key", "bearer", "none"]
    body: Mapping[str, FieldKind] | None = None
    query: Mapping[str, QueryKind] = field(default_factory=dict)
    #: Refuse text with a NUL in the body, query and path (:func:`check_text`). False
    #: only where Nakama's own rules answer NUL first (ids, usernames) or the text never
    #: reaches the database (passwords, tokens, vars), so Nakama's answers stay.
    check_nul: bool = True
    #: Expected exceptions (a storage refusal such as ``GroupNotFound``) and their
    #: answers in Nakama's words; see :class:`JsonResource` for the rest.
    errors: ErrorMap = field(default_factory=dict)
    #: The message of the route's 500 (code 13) when the database is unavailable or the
    #: handler fails unexpectedly: Nakama's words for a failed query at this endpoint.
    internal: str = INTERNAL_ERROR
    #: Nakama's name of the API call (the rpc of its ``service Nakama``, such as
    #: ``"WriteStorageObjects"``) whose before and after hooks run around this route;
    #: None where Nakama has none.
    hook: str | None = None
    #: Request fields a literal path stands for, handed to the handler as keywords
    #: (``GET /storage/delete`` is grpc-gateway's ``/storage/{collection}``, which the
    #: literal ``PUT /storage/delete`` shadows here).
    path_values: Mapping[str, str] = field(default_factory=dict)


class Hooks(Protocol):
    """Nakama's before and after hooks around the routes that name one
    (:class:`~nakama_rt.api.hooks.ApiHooks`)."""

    def check(self, routes: list[Route]) -> None:
        """Refuse routes naming a call hooks do not know (ValueError)."""

    def hooked(self, name: str) -> bool:
        """Whether a before or after hook is registered for API call ``name``."""

    async def before(
        self, route: Route, call: Call, values: list[str]
    ) -> tuple[list[str], dict[str, str], Any]:
        """Run the before hook (raising ApiError to refuse the call) and rewrite ``call``
        with its request: the path values and keywords to serve, and the request for
        :meth:`after`."""

    def after(self, route: Route, call: Call, request: Any, reply: Mapping[str, Any]) -> None:
        """Start the after hook with the reply sent; never fails."""


def _is_param(segment: bytes) -> bool:
    return segment.startswith(b"{") and segment.endswith(b"}")


def param_names(pattern: tuple[bytes, ...]) -> list[str]:
    """The names of ``pattern``'s ``{name}`` segments, in order."""
    return [segment[1:-1].decode("ascii") for segment in pattern if _is_param(segment)]


def _match(pattern: tuple[bytes, ...], path: tuple[bytes, ...]) -> list[str] | None:
    """The percent-decoded values of ``pattern``'s ``{name}`` segments in ``path``."""
    if len(pattern) != len(path):
        return None
    values: list[str] = []
    for expected, actual in zip(pattern, path, strict=True):
        if _is_param(expected):
            if not actual:
                return None
            values.append(unquote(actual.decode("latin-1"), errors="replace"))
        elif expected != actual:
            return None
    return values


def count_client_error(counts: RealtimeCounts | None, status: int) -> None:
    """Count an answer of ``status`` if it is a 4xx: a request the client got wrong."""
    if counts is not None and 400 <= status < 500:
        counts.http_client_errors[status] += 1


def client_address(request: server.Request) -> tuple[str, str]:
    """The client's (ip, port): the first X-Forwarded-For address when a proxy set
    one (its port unknown), else the connection's peer."""
    forwarded = request.getHeader(b"x-forwarded-for")
    if forwarded:
        first = forwarded.decode("latin-1").split(",")[0].strip()
        if first:
            return first, ""
    peer = request.getClientAddress()
    return str(getattr(peer, "host", "")), str(getattr(peer, "port", ""))


def client_label(request: server.Request) -> str:
    """The client's address for a log line: ``ip:port``, or the forwarded ip alone."""
    ip, port = client_address(request)
    return f"{ip}:{port}" if port else ip


class JsonResource(Resource):
    """A leaf resource routing on the remaining path to ``async`` JSON handlers.

    Route paths may hold ``{name}`` segments (``/group/{group_id}/join``): each
    matches one non-empty, percent-decoded path segment, handed to the handler as
    a positional argument after ``(context, call)``; a literal path wins.

    Checks run in grpc-gateway's order: route (404, or 501 for a known path with
    another method), body, query and path decoding (400), authentication (401),
    then the handler. Where the route names an API call that game code hooks
    (``hooks``, :class:`~nakama_rt.api.hooks.ApiHooks`), its before hook runs just
    before the handler and its after hook once the answer is written.

    What a handler raises or lets through is answered here, once for every route:

    * an :class:`ApiError`, or an exception its route maps (:attr:`Route.errors`), is
      a refusal or an expected failure: answered, counted in ``counts`` when 4xx and
      logged as one debug line with the client's address, so a flood of bad requests
      cannot flood the log;
    * :class:`~nakama_rt.storage.StorageUnavailable` (the database is locked, damaged
      or unreachable) is answered as Nakama answers a failed query there, a 500 with
      the route's message (:attr:`Call.internal`), and told to an :class:`OutageLog`:
      a warning per change of reason, not a traceback per request;
    * any other exception is ours: logged with its traceback under the handler's
      module and answered the same 500, without details.

    ``clock`` times the outage log's quiet period (the reactor; the monotonic clock
    when not given).
    """

    isLeaf = True

    def __init__(
        self,
        context: Any,
        routes: list[Route],
        max_body_bytes: int | None,
        counts: RealtimeCounts | None = None,
        clock: IReactorTime | None = None,
        hooks: Hooks | None = None,
    ) -> None:
        super().__init__()
        self.context = context
        self.max_body_bytes = max_body_bytes
        self.counts = counts
        if hooks is not None:
            hooks.check(routes)
        self.hooks = hooks
        self.outages = OutageLog(clock.seconds if clock is not None else time.monotonic)
        self._routes: dict[tuple[bytes, ...], dict[bytes, Route]] = {}
        for route in routes:
            self._routes.setdefault(route.path, {})[route.method] = route
        self._patterns = [
            (path, methods)
            for path, methods in self._routes.items()
            if any(_is_param(segment) for segment in path)
        ]
        #: Where a handler's unexpected failure is logged: under its own module.
        self._handler_logs = {
            module: Logger(module) for module in {route.handler.__module__ for route in routes}
        }

    def _find(self, path: tuple[bytes, ...]) -> tuple[dict[bytes, Route] | None, list[str]]:
        """The routes of ``path`` by method, and its path values."""
        methods = self._routes.get(path)
        if methods is not None:
            return methods, []
        for pattern, methods in self._patterns:
            values = _match(pattern, path)
            if values is not None:
                return methods, values
        return None, []

    def render(self, request: server.Request) -> bytes | int:
        if apply_cors(request):
            return server.NOT_DONE_YET
        methods, values = self._find(tuple(request.postpath or ()))
        route = methods.get(request.method) if methods else None
        if route is None:
            if methods:
                error = ApiError(Code.UNIMPLEMENTED, "Method Not Allowed")
            else:
                error = ApiError(Code.NOT_FOUND, "Not Found")
            self._refuse(request, error)
            return server.NOT_DONE_YET
        # Set once the request is finished or its connection lost: write nothing after.
        over: list[Failure | None] = []
        request.notifyFinish().addBoth(over.append)
        done = Deferred.fromCoroutine(self._serve(request, route, values, over))
        done.addErrback(self._unexpected, request, over)
        return server.NOT_DONE_YET

    def _check_auth(self, request: server.Request, route: Route) -> SessionClaims | None:
        ctx = self.context
        if route.auth == "server_key":
            check_server_key(request, ctx.config.socket.server_key)
        elif route.auth == "bearer":
            return check_bearer(
                request,
                ctx.config.session.encryption_key,
                ctx.reactor.seconds(),
                ctx.session_cache.is_valid_session,
            )
        return None

    async def _serve(
        self,
        request: server.Request,
        route: Route,
        values: list[str],
        over: list[Failure | None],
    ) -> None:
        call: Call | None = None
        hooked, served, fixed = False, None, route.path_values
        try:
            body, check_nul = None, route.check_nul
            if route.body is not None:
                raw = read_body(request, self.max_body_bytes)
                body = decode_body(raw, route.body, check_nul)
            query = decode_query(request.args or {}, route.query, check_nul)
            call = Call(request, body, query, internal=route.internal)
            if check_nul:
                for name, value in zip(param_names(route.path), values, strict=True):
                    check_text(value, name, "path parameter")
            call.session = self._check_auth(request, route)
            hooks = self.hooks
            if route.hook is not None and hooks is not None and hooks.hooked(route.hook):
                hooked = True
                values, fixed, served = await hooks.before(route, call, values)
            result = await route.handler(self.context, call, *values, **fixed)
        except ApiError as error:
            if not over:
                self._refuse(request, error)
            return
        except Exception as error:
            self._failed(request, route, call.internal if call else route.internal, error, over)
            return
        if not over:
            write_json(request, 200, result)
        if hooked and self.hooks is not None and call is not None:
            self.hooks.after(route, call, served, result)

    def _failed(
        self,
        request: server.Request,
        route: Route,
        internal: str,
        error: Exception,
        over: list[Failure | None],
    ) -> None:
        """Answer what the handler let through, unless the request is ``over``: as its
        route maps it, else a 500; log an outage or an unexpected failure either way."""
        answer = mapped_error(route.errors, error)
        if answer is not None:
            if not over:
                self._refuse(request, answer, error)
            return
        answer = ApiError(Code.INTERNAL, internal)
        if not over:
            write_error(request, answer)
        method = request.method.decode("latin-1", "replace")
        if isinstance(error, StorageUnavailable):
            path = request.path.decode("latin-1", "replace")
            self.outages.failed(str(error), method, path, answer.http_status)
            return
        self._handler_logs[route.handler.__module__].failure(
            "Unexpected error serving {method} {uri}",
            Failure(error),
            method=method,
            uri=request.uri.decode("latin-1", "replace"),
        )

    def _refuse(
        self, request: server.Request, error: ApiError, cause: Exception | None = None
    ) -> None:
        """Answer an ApiError. A 4xx is the client's mistake: counted, one debug line;
        a 5xx a route maps (``cause``) is expected: one debug line naming the cause."""
        write_error(request, error)
        status = error.http_status
        client_error = 400 <= status < 500
        if client_error:
            count_client_error(self.counts, status)
        elif cause is None:
            return
        log.debug(
            "{method} {path} from {client}: {status} {message!r}{cause}",
            method=request.method.decode("latin-1", "replace"),
            path=request.path.decode("latin-1", "replace"),
            client=client_label(request),
            status=status,
            message=error.message,
            cause="" if client_error else f" ({type(cause).__name__}: {cause})",
        )

    def _unexpected(
        self, failure: Failure, request: server.Request, over: list[Failure | None]
    ) -> None:
        log.failure(
            "Unexpected error serving {method} {uri}",
            failure,
            method=request.method.decode("latin-1", "replace"),
            uri=request.uri.decode("latin-1", "replace"),
        )
        if not over:
            write_error(request, ApiError(Code.INTERNAL, INTERNAL_ERROR))
