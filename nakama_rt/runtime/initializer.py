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
``session_start(ctx, logger, nk, event)`` / ``session_end(ctx, logger, nk, event)``
    ``event`` is an :class:`~nakama_rt.runtime.context.Event`.
``matchmaker_matched(ctx, logger, nk, entries) -> str | None``
    A match id to send the matched users to (used once the matchmaker exists).
"""

from __future__ import annotations

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
        self.matches: dict[str, Callable[[], Any]] = {}
        self.matchmaker_matched: Callable[..., Any] | None = None
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
        self._hook(self.before_rt, "before", message_name, fn)

    def register_after_rt(self, message_name: str, fn: Callable[..., Any]) -> None:
        """A function run after the server handled a client message successfully."""
        self._hook(self.after_rt, "after", message_name, fn)

    def _hook(self, table: dict, kind: str, name: str, fn: Callable[..., Any]) -> None:
        key = hook_message_name(name)
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
