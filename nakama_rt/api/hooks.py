"""Nakama's before and after hooks on the HTTP API calls (its ``RegisterBeforeWriteStorageObjects``,
``RegisterAfterAuthenticateDevice``...), around every route that names its call
(:attr:`~.http.Route.hook`), as Nakama's api_*.go run them:

1. The request is decoded and authenticated as always: a malformed request is refused
   before any hook runs.
2. The before hook gets the request message as protojson with proto field names: one
   dict of the path, query and body fields, as grpc-gateway fills one message (where
   the body fills one field, ``body: "account"`` in Nakama's api.proto, the body sits
   under that name). The dict it returns replaces the request: written back into the
   call (path values, query parameters, body), which the handler then decodes and
   checks as it would a client's. ``None`` disables the call (404 "Requested resource
   was not found."); a :class:`~nakama_rt.runtime.NakamaError` refuses it with its code
   and message, any other exception with code 13 and its message (Nakama's rule for an
   error without a code); what is not a request (not a dict, or a field of the wrong
   type) is a 500, logged. Calls whose request is ``google.protobuf.Empty``
   (``GetAccount``, ``GetMatchmakerStats``) give the hook ``None`` and keep no result:
   only an error counts, as in Nakama.
3. The after hook gets the reply message (``None`` where Nakama answers
   ``google.protobuf.Empty``) and the request as served, once the reply is written: it
   never delays the answer, and its errors are only logged.

Each hook's ``ctx`` has the execution mode (before, after), the caller's user id,
username, vars and session expiry on routes with a session (none before authenticating
or refreshing a session; after it, the new session's) and the client's address; no
headers, query parameters or session id, as Nakama gives none.

A route whose call has no hook registered costs one dict lookup per request.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from twisted.python.failure import Failure

from nakama_rt.auth.tokens import InvalidToken, parse_session_token
from nakama_rt.logs import Logger
from nakama_rt.runtime import Runtime
from nakama_rt.runtime.core import InvalidHookResult
from nakama_rt.runtime.initializer import API_HOOKS
from nakama_rt.runtime.invoke import error_code, error_message

from .context import ApiContext
from .http import (
    INTERNAL_ERROR,
    NO_BODY,
    ApiError,
    Call,
    Code,
    Route,
    check_text,
    client_address,
    decode_fields,
    decode_query,
    param_names,
    parse_bool,
    parse_integer,
)
from .social_http import query_list, query_one

log = Logger()

# Request messages ----------------------------------------------------------------------------

#: A scalar field by its proto type: wrappers (``Int32Value``...) are emitted whenever
#: set, plain scalars only when not zero, as protojson does; 64-bit integers are
#: JSON strings.
Scalar = Literal[
    "string",
    "StringValue",
    "bool",
    "BoolValue",
    "int32",
    "Int32Value",
    "UInt32Value",
    "int64",
    "Int64Value",
    "repeated string",
    "map<string, string>",
]


@dataclass(frozen=True)
class Message:
    """A message's fields, in proto order."""

    fields: Mapping[str, Kind]


@dataclass(frozen=True)
class Repeated:
    """A repeated message field."""

    message: Message


@dataclass(frozen=True)
class Enum:
    """An enum field: its value names, by number."""

    names: tuple[str, ...]


Kind = Scalar | Message | Repeated | Enum


@dataclass(frozen=True)
class Method:
    """What hooks see of one of Nakama's API calls."""

    #: The request message; None for ``google.protobuf.Empty``.
    request: Message | None
    #: grpc-gateway's ``body``: ``"*"`` (the body is the message, less the path
    #: fields), a field's name (the body fills it; other fields come from the query),
    #: or None (every field but the path's comes from the query).
    body: str | None = None
    #: Nakama answers ``google.protobuf.Empty``: the after hook's ``out`` is None.
    empty_reply: bool = False
    #: Nakama answers a ``Session``: the after hook's ctx is the new session's.
    session_reply: bool = False


_INT_RANGES: dict[str, tuple[int, int, str]] = {
    "int32": (-(2**31), 2**31, "a 32-bit integer"),
    "Int32Value": (-(2**31), 2**31, "a 32-bit integer"),
    "UInt32Value": (0, 2**32, "a 32-bit unsigned integer"),
    "int64": (-(2**63), 2**63, "a 64-bit integer"),
    "Int64Value": (-(2**63), 2**63, "a 64-bit integer"),
}
_WRAPPERS = frozenset({"StringValue", "BoolValue", "Int32Value", "UInt32Value", "Int64Value"})


def _group_users() -> Method:
    return Method(Message({"group_id": "string", "user_ids": "repeated string"}), empty_reply=True)


def _group_only() -> Method:
    return Method(Message({"group_id": "string"}), empty_reply=True)


_ID_ACCOUNT = Message({"id": "string", "vars": "map<string, string>"})
_EMAIL_ACCOUNT = Message({"email": "string", "password": "string", "vars": "map<string, string>"})


def _authenticate(account: Message) -> Method:
    fields: dict[str, Kind] = {"account": account, "create": "BoolValue", "username": "string"}
    return Method(Message(fields), body="account", session_reply=True)


def _link(account: Message) -> Method:
    return Method(account, body="*", empty_reply=True)


_FRIENDS = Message({"ids": "repeated string", "usernames": "repeated string"})
_PAGE: dict[str, Kind] = {"limit": "Int32Value", "state": "Int32Value", "cursor": "string"}

#: Nakama's API calls that routes here serve, with their request messages (from
#: api.proto) and their HTTP mapping (from apigrpc.proto's ``google.api.http``).
METHODS: dict[str, Method] = {
    "AuthenticateCustom": _authenticate(_ID_ACCOUNT),
    "AuthenticateDevice": _authenticate(_ID_ACCOUNT),
    "AuthenticateEmail": _authenticate(_EMAIL_ACCOUNT),
    "SessionRefresh": Method(
        Message({"token": "string", "vars": "map<string, string>"}),
        body="*",
        session_reply=True,
    ),
    "SessionLogout": Method(
        Message({"token": "string", "refresh_token": "string"}), body="*", empty_reply=True
    ),
    "GetAccount": Method(None),
    "UpdateAccount": Method(
        Message(
            {
                name: "StringValue"
                for name in (
                    "username",
                    "display_name",
                    "avatar_url",
                    "lang_tag",
                    "location",
                    "timezone",
                )
            }
        ),
        body="*",
        empty_reply=True,
    ),
    "GetUsers": Method(
        Message(
            {
                "ids": "repeated string",
                "usernames": "repeated string",
                "facebook_ids": "repeated string",
            }
        )
    ),
    "LinkCustom": _link(_ID_ACCOUNT),
    "LinkDevice": _link(_ID_ACCOUNT),
    "LinkEmail": _link(_EMAIL_ACCOUNT),
    "UnlinkCustom": _link(_ID_ACCOUNT),
    "UnlinkDevice": _link(_ID_ACCOUNT),
    "UnlinkEmail": _link(_EMAIL_ACCOUNT),
    "ListFriends": Method(Message(dict(_PAGE))),
    "AddFriends": Method(Message({**_FRIENDS.fields, "metadata": "string"}), empty_reply=True),
    "DeleteFriends": Method(_FRIENDS, empty_reply=True),
    "BlockFriends": Method(_FRIENDS, empty_reply=True),
    "CreateGroup": Method(
        Message(
            {
                "name": "string",
                "description": "string",
                "lang_tag": "string",
                "avatar_url": "string",
                "open": "bool",
                "max_count": "int32",
            }
        ),
        body="*",
    ),
    "UpdateGroup": Method(
        Message(
            {
                "group_id": "string",
                "name": "StringValue",
                "description": "StringValue",
                "lang_tag": "StringValue",
                "avatar_url": "StringValue",
                "open": "BoolValue",
            }
        ),
        body="*",
        empty_reply=True,
    ),
    "DeleteGroup": _group_only(),
    "JoinGroup": _group_only(),
    "LeaveGroup": _group_only(),
    "AddGroupUsers": _group_users(),
    "BanGroupUsers": _group_users(),
    "KickGroupUsers": _group_users(),
    "PromoteGroupUsers": _group_users(),
    "DemoteGroupUsers": _group_users(),
    "ListGroupUsers": Method(Message({"group_id": "string", **_PAGE})),
    "ListUserGroups": Method(Message({"user_id": "string", **_PAGE})),
    "ListGroups": Method(
        Message(
            {
                "name": "string",
                "cursor": "string",
                "limit": "Int32Value",
                "lang_tag": "string",
                "members": "Int32Value",
                "open": "BoolValue",
            }
        )
    ),
    "ListChannelMessages": Method(
        Message(
            {
                "channel_id": "string",
                "limit": "Int32Value",
                "forward": "BoolValue",
                "cursor": "string",
            }
        )
    ),
    "ListNotifications": Method(Message({"limit": "Int32Value", "cacheable_cursor": "string"})),
    "DeleteNotifications": Method(Message({"ids": "repeated string"}), empty_reply=True),
    "ListMatches": Method(
        Message(
            {
                "limit": "Int32Value",
                "authoritative": "BoolValue",
                "label": "StringValue",
                "min_size": "Int32Value",
                "max_size": "Int32Value",
                "query": "StringValue",
            }
        )
    ),
    "ListParties": Method(
        Message(
            {
                "limit": "Int32Value",
                "open": "BoolValue",
                "query": "StringValue",
                "cursor": "StringValue",
            }
        )
    ),
    "GetMatchmakerStats": Method(None),
    "WriteStorageObjects": Method(
        Message(
            {
                "objects": Repeated(
                    Message(
                        {
                            "collection": "string",
                            "key": "string",
                            "value": "string",
                            "version": "string",
                            "permission_read": "Int32Value",
                            "permission_write": "Int32Value",
                        }
                    )
                )
            }
        ),
        body="*",
    ),
    "ReadStorageObjects": Method(
        Message(
            {
                "object_ids": Repeated(
                    Message({"collection": "string", "key": "string", "user_id": "string"})
                )
            }
        ),
        body="*",
    ),
    "DeleteStorageObjects": Method(
        Message(
            {
                "object_ids": Repeated(
                    Message({"collection": "string", "key": "string", "version": "string"})
                )
            }
        ),
        body="*",
        empty_reply=True,
    ),
    "ListStorageObjects": Method(
        Message(
            {
                "user_id": "string",
                "collection": "string",
                "limit": "Int32Value",
                "cursor": "string",
            }
        )
    ),
    "WriteLeaderboardRecord": Method(
        Message(
            {
                "leaderboard_id": "string",
                "record": Message(
                    {
                        "score": "int64",
                        "subscore": "int64",
                        "metadata": "string",
                        "operator": Enum(("NO_OVERRIDE", "BEST", "SET", "INCREMENT", "DECREMENT")),
                    }
                ),
            }
        ),
        body="record",
    ),
    "DeleteLeaderboardRecord": Method(Message({"leaderboard_id": "string"}), empty_reply=True),
    "ListLeaderboardRecords": Method(
        Message(
            {
                "leaderboard_id": "string",
                "owner_ids": "repeated string",
                "limit": "Int32Value",
                "cursor": "string",
                "expiry": "Int64Value",
            }
        )
    ),
    "ListLeaderboardRecordsAroundOwner": Method(
        Message(
            {
                "leaderboard_id": "string",
                "limit": "UInt32Value",
                "owner_id": "string",
                "expiry": "Int64Value",
                "cursor": "string",
            }
        )
    ),
}


# Reading a request -------------------------------------------------------------------------


def _json_name(name: str) -> str:
    """protojson also takes a field's lowerCamelCase name."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _invalid(name: str, noun: str) -> ApiError:
    return ApiError(Code.INVALID_ARGUMENT, f'Invalid value for field "{name}": not {noun}.')


_JSON_INTEGER = re.compile(r"-?[0-9]+")


def _decode_value(name: str, kind: Kind, value: Any) -> Any:
    """A JSON value as protojson reads it into a field of ``kind``: the typed value (an
    int for every integer, an enum's number), or InvalidArgument naming the field."""
    if isinstance(kind, Message):
        if not isinstance(value, dict):
            raise _invalid(name, "an object")
        return decode_message(value, kind)
    if isinstance(kind, Repeated):
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise _invalid(name, "an array of objects")
        return [decode_message(item, kind.message) for item in value]
    if isinstance(kind, Enum):
        if isinstance(value, str) and value in kind.names:
            return kind.names.index(value)
        if isinstance(value, int) and not isinstance(value, bool) and -(2**31) <= value < 2**31:
            return value
        raise _invalid(name, "an enum value")
    if kind in ("string", "StringValue"):
        if not isinstance(value, str):
            raise _invalid(name, "a string")
        return value
    if kind in ("bool", "BoolValue"):
        if not isinstance(value, bool):
            raise _invalid(name, "a boolean")
        return value
    if kind == "repeated string":
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise _invalid(name, "an array of strings")
        return list(value)
    if kind == "map<string, string>":
        if not isinstance(value, dict) or not all(isinstance(item, str) for item in value.values()):
            raise _invalid(name, "an object of string values")
        return dict(value)
    low, high, noun = _INT_RANGES[kind]
    number: Any = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and len(value) < 22 and _JSON_INTEGER.fullmatch(value):
        number = int(value, 10)
    if number is None or not low <= number < high:
        raise _invalid(name, noun)
    return number


def decode_message(data: Mapping[str, Any], message: Message) -> dict[str, Any]:
    """The fields of ``message`` that ``data`` (a JSON object) sets, typed: proto or
    lowerCamelCase names, ``null`` unset, unknown names ignored, as protojson reads."""
    typed: dict[str, Any] = {}
    for name, kind in message.fields.items():
        value = data.get(name)
        if value is None:
            value = data.get(_json_name(name))
        if value is not None:
            typed[name] = _decode_value(name, kind, value)
    return typed


def _query_value(call: Call, name: str, kind: Kind) -> Any:
    """A query parameter as grpc-gateway reads it into a field of ``kind`` (Go's
    ``strconv`` for booleans and integers); None when absent."""
    if kind == "repeated string":
        return query_list(call, name, check_nul=False) or None
    text = query_one(call, name, check_nul=False)
    if text is None or kind in ("string", "StringValue"):
        return text
    if kind in ("bool", "BoolValue"):
        return parse_bool(name, text)
    if isinstance(kind, str) and kind in _INT_RANGES:
        low, high, _ = _INT_RANGES[kind]
        return parse_integer(name, text, low, high)
    raise ApiError(Code.INVALID_ARGUMENT, f'Invalid value for query parameter "{name}".')


# Writing a request -------------------------------------------------------------------------


def _emitted(kind: Kind, value: Any) -> bool:
    """Whether protojson writes the field: a wrapper or message whenever set, anything
    else when not its zero value."""
    if isinstance(kind, Message) or (isinstance(kind, str) and kind in _WRAPPERS):
        return True
    return value not in ("", 0, False, [], {})


def _protojson(kind: Kind, value: Any) -> Any:
    if isinstance(kind, Message):
        return as_protojson(value, kind)
    if isinstance(kind, Repeated):
        return [as_protojson(item, kind.message) for item in value]
    if isinstance(kind, Enum):
        return kind.names[value] if 0 <= value < len(kind.names) else value
    if kind in ("int64", "Int64Value"):
        return str(value)
    if kind == "repeated string":
        return list(value)
    if kind == "map<string, string>":
        return dict(value)
    return value


def as_protojson(typed: Mapping[str, Any], message: Message) -> dict[str, Any]:
    """Typed fields (:func:`decode_message`'s) as protojson writes the message: proto
    field names, unpopulated fields left out, 64-bit integers as strings, enums by name."""
    return {
        name: _protojson(kind, typed[name])
        for name, kind in message.fields.items()
        if name in typed and _emitted(kind, typed[name])
    }


def _query_texts(kind: Kind, value: Any) -> list[str]:
    """A field's value as grpc-gateway reads it from the query."""
    if kind == "repeated string":
        return list(value)
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(kind, Enum):
        return [str(_protojson(kind, value))]
    return [str(value)]


# Routes ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Layout:
    """Where a route's request fields come from."""

    method: Method
    #: The names of the route's ``{name}`` path segments, in order.
    path: tuple[str, ...]
    #: The fields its literal path stands for (:attr:`~.http.Route.path_values`).
    fixed: tuple[str, ...]
    #: The fields the body fills: the whole body is this message (``body: "*"``), or
    #: the message of field ``body_field``; None without a body.
    body: Message | None
    body_field: str | None
    #: The fields the query fills.
    query: Mapping[str, Kind] = field(default_factory=dict)


def _layout(route: Route) -> _Layout:
    assert route.hook is not None
    method = METHODS[route.hook]
    path = tuple(param_names(route.path))
    fixed = tuple(route.path_values)
    if method.request is None:
        return _Layout(method, path, fixed, None, None)
    fields = method.request.fields
    unknown = [name for name in (*path, *fixed) if name not in fields]
    if unknown:
        raise ValueError(f"{route.hook} has no field {unknown[0]!r} (path of {route.path})")
    rest = {name: kind for name, kind in fields.items() if name not in (*path, *fixed)}
    if method.body == "*":
        return _Layout(method, path, fixed, Message(rest), None)
    query = {name: kind for name, kind in rest.items() if name != method.body}
    if method.body is None:
        return _Layout(method, path, fixed, None, None, query)
    body = fields[method.body]
    assert isinstance(body, Message)
    return _Layout(method, path, fixed, body, method.body, query)


class ApiHooks:
    """The API hooks of ``runtime`` around ``context``'s routes (see the module's
    docstring); a :class:`~.http.JsonResource`'s ``hooks``."""

    def __init__(self, context: ApiContext, runtime: Runtime) -> None:
        self.context = context
        self.runtime = runtime
        self._layouts: dict[int, _Layout] = {}

    def check(self, routes: list[Route]) -> None:
        for route in routes:
            if route.hook is None:
                continue
            if route.hook not in METHODS or route.hook not in API_HOOKS:
                raise ValueError(
                    f"route {route.method.decode()} /{'/'.join(p.decode() for p in route.path)}"
                    f" names {route.hook!r}, not an API call hooks know"
                )
            self._layouts[id(route)] = _layout(route)

    def hooked(self, name: str) -> bool:
        return self.runtime.has_api_hook(name)

    def _layout_of(self, route: Route) -> _Layout:
        layout = self._layouts.get(id(route))
        if layout is None:
            layout = self._layouts[id(route)] = _layout(route)
        return layout

    # Before

    async def before(
        self, route: Route, call: Call, values: list[str]
    ) -> tuple[list[str], dict[str, str], dict[str, Any] | None]:
        assert route.hook is not None
        name, layout = route.hook, self._layout_of(route)
        fixed = dict(route.path_values)
        request = None
        typed: dict[str, Any] | None = None
        if layout.method.request is not None:
            typed = self._read(layout, call, values, fixed)
            request = as_protojson(typed, layout.method.request)
        if name not in self.runtime.initializer.before_api:
            return values, fixed, request
        try:
            result = await self.runtime.run_before_api(name, self._facts(call), request)
        except InvalidHookResult:
            raise ApiError(Code.INTERNAL, INTERNAL_ERROR) from None
        except Exception:
            failure = Failure()
            raise ApiError(Code(error_code(failure)), error_message(failure)) from None
        if layout.method.request is None:
            return values, fixed, None
        if result is None:
            raise ApiError(Code.NOT_FOUND, "Requested resource was not found.")
        try:
            typed = decode_message(result, layout.method.request)
        except ApiError as invalid:
            log.error(
                "before hook of {id} returned an invalid request: {why}",
                id=name,
                why=invalid.message,
            )
            raise ApiError(Code.INTERNAL, INTERNAL_ERROR) from None
        return self._rewrite(route, layout, call, typed)

    def _read(
        self, layout: _Layout, call: Call, values: list[str], fixed: Mapping[str, str]
    ) -> dict[str, Any]:
        """The request's fields, typed, as grpc-gateway fills the message."""
        typed: dict[str, Any] = {}
        for name, value in zip(layout.path, values, strict=True):
            typed[name] = value
        typed.update(fixed)
        for name, kind in layout.query.items():
            value = _query_value(call, name, kind)
            if value is not None:
                typed[name] = value
        if layout.body is not None:
            data = call.json_body(self.context.config.socket.max_request_size_bytes)
            if data is not NO_BODY:
                if not isinstance(data, dict):
                    raise ApiError(
                        Code.INVALID_ARGUMENT, "Invalid JSON request body: expected an object."
                    )
                body = decode_message(data, layout.body)
                if layout.body_field is None:
                    typed.update(body)
                else:
                    typed[layout.body_field] = body
        return typed

    def _rewrite(
        self, route: Route, layout: _Layout, call: Call, typed: dict[str, Any]
    ) -> tuple[list[str], dict[str, str], dict[str, Any]]:
        """Serve ``typed`` (the before hook's request): its path values, query and body
        replace the client's, decoded again as the route decodes a client's."""
        assert layout.method.request is not None
        values = [typed.get(name, "") for name in layout.path]
        fixed = {name: typed.get(name, "") for name in layout.fixed}
        if route.check_nul:
            for name, value in zip(layout.path, values, strict=True):
                check_text(value, name, "path parameter")
        args = {
            name.encode("ascii"): [
                text.encode("utf-8", "surrogatepass") for text in _query_texts(kind, typed[name])
            ]
            for name, kind in layout.query.items()
            if name in typed and _emitted(kind, typed[name])
        }
        body: Any = NO_BODY
        if layout.body is not None:
            if layout.body_field is None:
                written = as_protojson(typed, layout.body)
                body = written or NO_BODY
            elif layout.body_field in typed:
                body = as_protojson(typed[layout.body_field], layout.body)
        call.rewrite(body, args)
        call.query = decode_query(args, route.query, route.check_nul)
        if route.body is not None:
            call.body = (
                None if body is NO_BODY else decode_fields(body, route.body, route.check_nul)
            )
        return values, fixed, as_protojson(typed, layout.method.request)

    # After

    def after(
        self,
        route: Route,
        call: Call,
        request: dict[str, Any] | None,
        reply: Mapping[str, Any],
    ) -> None:
        assert route.hook is not None
        name = route.hook
        if name not in self.runtime.initializer.after_api:
            return
        method = self._layout_of(route).method
        try:
            facts = self._facts(call, reply if method.session_reply else None)
        except Exception:
            log.failure("after hook of {id}: no context for it", id=name)
            return
        out = None if method.empty_reply else reply
        self.runtime.run_after_api(name, facts, out, request)

    # Context

    def _facts(self, call: Call, session: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """What ``ctx`` tells of the caller: the session's user, else (after a call that
        opened a ``session``) the new session's, and the client's address."""
        ip, port = client_address(call.request)
        facts: dict[str, Any] = {
            "client_ip": ip or None,
            "client_port": port or None,
            "trace_id": call.trace_id,
        }
        claims = call.session
        if claims is None and session is not None:
            config = self.context.config.session
            try:
                claims = parse_session_token(
                    session.get("token", ""), config.encryption_key, self.context.reactor.seconds()
                )
            except InvalidToken:
                claims = None
        if claims is not None:
            facts.update(
                user_id=claims.user_id,
                username=claims.username,
                vars=claims.vars or {},
                expiry=claims.expires_at,
            )
        return facts
