"""The ``initializer`` each module's ``init_module`` registers its functions with.

It only records: it has no side effects and no server behind it, which is why the
same class serves the real server and a developer's unit tests. Names are checked
as they are registered, so a typo fails startup naming the module instead of
silently never being called.

Function signatures (each may be plain, ``async def`` or return a Deferred):

``rpc(ctx, logger, nk, payload: str) -> str | None``
    The reply payload; ``None`` means ``""``.
``before(ctx, logger, nk, envelope) -> Envelope | None``
    The envelope to process (changed or not), or ``None`` to reject the message.
``after(ctx, logger, nk, out, in_) -> None``
    ``out`` is the reply the client got (``None`` if there was none); errors are logged.
``before_api(ctx, logger, nk, in_: dict) -> dict | None``
    A hook on an HTTP API call (``register_before_api("WriteStorageObjects", fn)``, or
    ``register_before_write_storage_objects(fn)``): ``in_`` is the request message as
    protojson with proto field names (path, query and body fields in one dict, as
    Nakama's ``in``); the dict returned replaces it, ``None`` disables the call (404
    "Requested resource was not found."), and a :class:`~.invoke.NakamaError` refuses it
    with its code. For the calls whose request is empty (``GetAccount``,
    ``GetMatchmakerStats``) ``in_`` is ``None`` and only an error counts.
``after_api(ctx, logger, nk, out: dict | None, in_: dict | None) -> None``
    Run once the reply is sent: ``out`` is the reply message (``None`` where Nakama
    answers ``google.protobuf.Empty``), ``in_`` the request as it was served; errors are
    logged. ``ctx`` has the caller's session facts, none for server-key calls
    (authenticate, session refresh) before them; after them, the new session's.
``session_start(ctx, logger, nk, event)`` / ``session_end(ctx, logger, nk, event)``
    ``event`` is an :class:`~nakama_rt.runtime.context.Event`.
``matchmaker_matched(ctx, logger, nk, entries) -> str | None``
    A match id to send the matched users to (used once the matchmaker exists).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

#: Client messages a before/after hook can intercept, by Envelope field name (the
#: ones Nakama's pipeline routes; ``rpc`` has no hooks there either).
HOOKABLE_MESSAGES = frozenset(
    {
        "channel_join",
        "channel_leave",
        "channel_message_send",
        "channel_message_update",
        "channel_message_remove",
        "match_create",
        "match_data_send",
        "match_join",
        "match_leave",
        "matchmaker_add",
        "matchmaker_remove",
        "party_create",
        "party_join",
        "party_leave",
        "party_promote",
        "party_accept",
        "party_remove",
        "party_close",
        "party_join_request_list",
        "party_matchmaker_add",
        "party_matchmaker_remove",
        "party_data_send",
        "party_update",
        "ping",
        "pong",
        "status_follow",
        "status_unfollow",
        "status_update",
    }
)
_BY_SQUASHED = {name.replace("_", ""): name for name in HOOKABLE_MESSAGES}


def hook_message_name(name: str) -> str:
    """The Envelope field name for ``channel_join``, Nakama's ``ChannelJoin`` or
    ``channeljoin``; ValueError for anything else."""
    if not isinstance(name, str) or not name:
        raise ValueError("a message name must be a non-empty string")
    found = _BY_SQUASHED.get(name.replace("_", "").lower())
    if found is None:
        raise ValueError(
            f"{name!r} is not a client message that hooks can intercept; "
            f"one of: {', '.join(sorted(HOOKABLE_MESSAGES))}"
        )
    return found


#: Nakama's API calls (the rpc names of its ``service Nakama``) that before/after hooks
#: can intercept here: one per route of :func:`nakama_rt.api.build_api` that has a
#: hook in Nakama (the API layer checks that each of its routes' names is listed).
API_HOOKS = frozenset(
    {
        "AddFriends",
        "AddGroupUsers",
        "AuthenticateCustom",
        "AuthenticateDevice",
        "AuthenticateEmail",
        "BanGroupUsers",
        "BlockFriends",
        "CreateGroup",
        "DeleteFriends",
        "DeleteGroup",
        "DeleteLeaderboardRecord",
        "DeleteNotifications",
        "DeleteStorageObjects",
        "DemoteGroupUsers",
        "GetAccount",
        "GetMatchmakerStats",
        "GetUsers",
        "JoinGroup",
        "KickGroupUsers",
        "LeaveGroup",
        "LinkCustom",
        "LinkDevice",
        "LinkEmail",
        "ListChannelMessages",
        "ListFriends",
        "ListGroupUsers",
        "ListGroups",
        "ListLeaderboardRecords",
        "ListLeaderboardRecordsAroundOwner",
        "ListMatches",
        "ListNotifications",
        "ListParties",
        "ListStorageObjects",
        "ListUserGroups",
        "PromoteGroupUsers",
        "ReadStorageObjects",
        "SessionLogout",
        "SessionRefresh",
        "UnlinkCustom",
        "UnlinkDevice",
        "UnlinkEmail",
        "UpdateAccount",
        "UpdateGroup",
        "WriteLeaderboardRecord",
        "WriteStorageObjects",
    }
)


def _snake_case(name: str) -> str:
    """``write_storage_objects`` for ``WriteStorageObjects``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


_API_BY_SQUASHED = {name.lower(): name for name in API_HOOKS}
_API_BY_SNAKE = {_snake_case(name): name for name in API_HOOKS}


def api_hook_name(name: str) -> str:
    """Nakama's name of an API call for ``WriteStorageObjects`` or ``write_storage_objects``
    (any case, underscores or not); ValueError, listing them, for anything else."""
    if not isinstance(name, str) or not name:
        raise ValueError("an API call name must be a non-empty string")
    found = _API_BY_SQUASHED.get(name.replace("_", "").lower())
    if found is None:
        raise ValueError(
            f"{name!r} is not an API call that hooks can intercept; "
            f"one of: {', '.join(sorted(API_HOOKS))}"
        )
    return found


def _check_function(what: str, fn: Any) -> None:
    if not callable(fn):
        raise TypeError(f"{what} must be callable, not {type(fn).__name__}")


def _check_name(what: str, name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{what} must be a non-empty string, not {name!r}")
    return name


class Initializer:
    """Registries filled by ``init_module``; read by the server once loading is done."""

    def __init__(self) -> None:
        self.rpcs: dict[str, Callable[..., Any]] = {}
        self.before_rt: dict[str, Callable[..., Any]] = {}
        self.after_rt: dict[str, Callable[..., Any]] = {}
        #: API call hooks by Nakama's name of the call (``WriteStorageObjects``).
        self.before_api: dict[str, Callable[..., Any]] = {}
        self.after_api: dict[str, Callable[..., Any]] = {}
        self.matches: dict[str, Callable[[], Any]] = {}
        self.matchmaker_matched: Callable[..., Any] | None = None
        self.matchmaker_override: Callable[..., Any] | None = None
        self.session_start: list[Callable[..., Any]] = []
        self.session_end: list[Callable[..., Any]] = []
        self.events: list[Callable[..., Any]] = []

    def register_rpc(self, id: str, fn: Callable[..., Any]) -> None:
        """An RPC callable by its id, case-insensitively (Nakama lowercases ids)."""
        key = _check_name("an RPC id", id).lower()
        _check_function(f"RPC {id!r}", fn)
        if key in self.rpcs:
            raise ValueError(f"RPC {key!r} is already registered")
        self.rpcs[key] = fn

    def register_before_rt(self, message_name: str, fn: Callable[..., Any]) -> None:
        """A function run before the server handles a client message (``channel_join``...)."""
        self._hook(self.before_rt, "before", hook_message_name(message_name), fn)

    def register_after_rt(self, message_name: str, fn: Callable[..., Any]) -> None:
        """A function run after the server handled a client message successfully."""
        self._hook(self.after_rt, "after", hook_message_name(message_name), fn)

    def register_before_api(self, name: str, fn: Callable[..., Any]) -> None:
        """A function run before the server serves an HTTP API call, by Nakama's name of
        the call (``"WriteStorageObjects"``) or its snake form (``"write_storage_objects"``)."""
        self._hook(self.before_api, "before", api_hook_name(name), fn)

    def register_after_api(self, name: str, fn: Callable[..., Any]) -> None:
        """A function run after the server answered an HTTP API call successfully."""
        self._hook(self.after_api, "after", api_hook_name(name), fn)

    def __getattr__(self, attribute: str) -> Callable[[Callable[..., Any]], None]:
        """Nakama's spellings: ``register_before_write_storage_objects(fn)`` is
        ``register_before_api("WriteStorageObjects", fn)``; ``register_after_...`` alike."""
        for prefix, register in (
            ("register_before_", self.register_before_api),
            ("register_after_", self.register_after_api),
        ):
            if attribute.startswith(prefix):
                name = _API_BY_SNAKE.get(attribute[len(prefix) :])
                if name is not None:
                    return functools.partial(register, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {attribute!r}")

    def _hook(self, table: dict, kind: str, key: str, fn: Callable[..., Any]) -> None:
        _check_function(f"{kind} hook for {key!r}", fn)
        if key in table:
            raise ValueError(f"a {kind} hook for {key!r} is already registered")
        table[key] = fn

    def register_match(self, name: str, handler_factory: Callable[[], Any]) -> None:
        """A match handler: ``handler_factory()`` (typically the handler class) makes a
        fresh handler object for each match created under ``name``."""
        _check_name("a match handler name", name)
        _check_function(f"match handler factory {name!r}", handler_factory)
        if name in self.matches:
            raise ValueError(f"match handler {name!r} is already registered")
        self.matches[name] = handler_factory

    def register_matchmaker_matched(self, fn: Callable[..., Any]) -> None:
        """The one function deciding where matchmaker results go."""
        _check_function("the matchmaker matched function", fn)
        if self.matchmaker_matched is not None:
            raise ValueError("a matchmaker matched function is already registered")
        self.matchmaker_matched = fn

    def register_matchmaker_override(self, fn: Callable[..., Any]) -> None:
        """The one function choosing which of a pass's candidate matches form (Nakama's
        ``RegisterMatchmakerOverride``): ``fn(ctx, logger, nk, candidates)``, once per
        pass that found any, with every match the pass could form (each a list of
        matchmaker entries, as ``matchmaker_matched`` gets them); it returns the
        matches to form, in order, each a list of the entries it was given. A match
        reusing a ticket matched earlier in the pass is skipped; tickets not chosen
        stay in the pool."""
        _check_function("the matchmaker override function", fn)
        if self.matchmaker_override is not None:
            raise ValueError("a matchmaker override function is already registered")
        self.matchmaker_override = fn

    def register_event(self, fn: Callable[..., Any]) -> None:
        """A function told of every event game code sends with ``nk.event`` (several may
        be registered): ``fn(ctx, logger, nk, event)``, after the sender has gone on."""
        _check_function("an event function", fn)
        self.events.append(fn)

    def register_event_session_start(self, fn: Callable[..., Any]) -> None:
        """A function told of every socket session that starts (several may be registered)."""
        _check_function("a session start function", fn)
        self.session_start.append(fn)

    def register_event_session_end(self, fn: Callable[..., Any]) -> None:
        """A function told of every socket session that ends (several may be registered)."""
        _check_function("a session end function", fn)
        self.session_end.append(fn)
