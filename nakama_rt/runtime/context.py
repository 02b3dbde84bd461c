"""What runtime code knows about the call it serves: the ``ctx`` of every function.

Nakama hands each runtime function a ``context.Context`` holding values under keys
such as ``RUNTIME_CTX_USER_ID``. Python code gets one frozen :class:`RuntimeContext`
with the same facts as attributes, ``None`` where a fact does not apply (no user for
a server-to-server RPC, no match outside match handlers), so a function can neither
mistake a missing value for an empty one nor change what other callbacks see.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from nakama_rt._version import __version__


class ExecutionMode(enum.StrEnum):
    """Why runtime code runs (``RUNTIME_CTX_MODE``), with Nakama's names."""

    EVENT = "event"
    RUN_ONCE = "run_once"
    RPC = "rpc"
    BEFORE = "before"
    AFTER = "after"
    MATCH = "match"
    MATCHMAKER = "matchmaker"
    MATCHMAKER_OVERRIDE = "matchmaker_override"
    MATCH_CREATE = "match_create"
    SHUTDOWN = "shutdown"


@dataclass(frozen=True, slots=True, kw_only=True)
class RuntimeContext:
    """The ``ctx`` argument. Immutable; mappings are read-only views.

    ``env`` is ``runtime.env`` of the config; ``headers`` and ``query_params`` are set
    for RPCs over HTTP only (lists of values, the ``http_key`` parameter removed);
    ``expiry`` is the session token's expiry (UNIX seconds; Nakama's
    ``user_session_exp``, also readable under that name); ``version`` is this server's.
    """

    env: Mapping[str, str] = field(default_factory=dict)
    execution_mode: ExecutionMode = ExecutionMode.RUN_ONCE
    node: str = ""
    version: str = __version__
    headers: Mapping[str, list[str]] = field(default_factory=dict)
    query_params: Mapping[str, list[str]] = field(default_factory=dict)
    user_id: str | None = None
    username: str | None = None
    vars: Mapping[str, str] = field(default_factory=dict)
    expiry: int | None = None
    session_id: str | None = None
    lang: str | None = None
    client_ip: str | None = None
    client_port: str | None = None
    match_id: str | None = None
    match_node: str | None = None
    match_label: str | None = None
    match_tick_rate: int | None = None
    #: The API request's trace id (HTTP RPCs and API hooks; a new UUID per request).
    trace_id: str | None = None

    @property
    def user_session_exp(self) -> int | None:
        """Nakama's name for :attr:`expiry`."""
        return self.expiry

    def __post_init__(self) -> None:
        for name in ("env", "headers", "query_params", "vars"):
            value = getattr(self, name)
            if not isinstance(value, MappingProxyType):
                object.__setattr__(self, name, MappingProxyType(dict(value or {})))


@dataclass(frozen=True, slots=True)
class Event:
    """An event given to session and custom event functions (Nakama's ``api.Event``)."""

    name: str
    properties: Mapping[str, str] = field(default_factory=dict)
    #: UNIX seconds.
    timestamp: float = 0.0
    external: bool = False


def match_context(
    env: Mapping[str, str], node: str, match_id: str, match_node: str, label: str, tick_rate: int
) -> RuntimeContext:
    """The ``ctx`` of a match handler callback (``functools.partial`` over ``env`` and
    ``node`` is a match registry's context factory)."""
    return RuntimeContext(
        env=env,
        execution_mode=ExecutionMode.MATCH,
        node=node,
        match_id=match_id,
        match_node=match_node,
        match_label=label,
        match_tick_rate=tick_rate,
    )
