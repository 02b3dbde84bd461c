"""The loaded game logic as the server uses it: RPCs, message hooks, session events.

One :class:`Runtime` per server, created empty with the server's ``nk`` and filled
once by :meth:`Runtime.load`. Everything that calls runtime code goes through here,
so the ``ctx`` each function gets, the logger fields and the failure handling are
the same whether the call came from a socket, HTTP or a session event.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from twisted.internet.defer import Deferred, succeed
from twisted.python.failure import Failure

from nakama_rt.logs import Logger
from nakama_rt.wire.proto import realtime_pb2

from .context import Event, ExecutionMode, RuntimeContext, match_context
from .initializer import Initializer
from .invoke import NakamaError, invoke
from .loader import load_modules
from .logger import RuntimeLogger

INVALID_RPC_RESULT = (
    "Runtime function returned invalid data - only allowed one return value of type string."
)


class SessionFacts(Protocol):
    """What a ``ctx`` tells of the session a call serves: the pipeline's
    :class:`~nakama_rt.core.pipeline.Requester`, or a test's stand-in."""

    @property
    def session_id(self) -> str | None: ...
    @property
    def user_id(self) -> str | None: ...
    @property
    def username(self) -> str | None: ...
    @property
    def vars(self) -> Mapping[str, str] | None: ...
    @property
    def expiry(self) -> int | None: ...
    @property
    def lang(self) -> str | None: ...
    @property
    def client_ip(self) -> str | None: ...
    @property
    def client_port(self) -> str | None: ...


class Runtime:
    """Registered runtime functions plus what calling them needs (env, node, nk, logger)."""

    log = Logger()

    def __init__(
        self,
        *,
        env: Mapping[str, str] | None = None,
        node: str = "nakama",
        nk: Any = None,
        logger: RuntimeLogger | None = None,
        initializer: Initializer | None = None,
        clock: Any = None,
    ) -> None:
        self.env = dict(env or {})
        self.node = node
        self.logger = logger or RuntimeLogger()
        self.nk = nk
        self.initializer = initializer or Initializer()
        self.modules: list[str] = []
        self._clock = clock
        self._ran_once = False

    def load(self, path: str) -> list[str]:
        """Load the modules in ``path`` (see :mod:`.loader`); RuntimeLoadError on failure."""
        ctx = self.context(ExecutionMode.RUN_ONCE)
        self.modules += load_modules(path, ctx, self.logger, self.nk, self.initializer)
        return self.modules

    # Contexts

    def context(self, mode: ExecutionMode, **facts: Any) -> RuntimeContext:
        return RuntimeContext(env=self.env, execution_mode=mode, node=self.node, **facts)

    def session_context(self, session: SessionFacts, mode: ExecutionMode) -> RuntimeContext:
        """The ``ctx`` of a call made for a socket session."""
        return self.context(
            mode,
            user_id=session.user_id,
            username=session.username,
            vars=session.vars or {},
            expiry=session.expiry,
            session_id=session.session_id,
            lang=session.lang,
            client_ip=session.client_ip,
            client_port=session.client_port,
        )

    def match_context(self, match_id: str, node: str, label: str, tick_rate: int) -> RuntimeContext:
        """The ``ctx`` of a match handler callback."""
        return match_context(self.env, self.node, match_id, node, label, tick_rate)

    # Registries, for the features that use them

    @property
    def matches(self) -> Mapping[str, Any]:
        """Match handler factories by name."""
        return self.initializer.matches

    @property
    def matchmaker_matched(self) -> Any:
        return self.initializer.matchmaker_matched

    @property
    def matchmaker_override(self) -> Any:
        return self.initializer.matchmaker_override

    # RPC

    def has_rpc(self, id: str) -> bool:
        return id.lower() in self.initializer.rpcs

    def call_rpc(self, id: str, ctx: RuntimeContext, payload: str) -> Deferred[str]:
        """Run RPC ``id`` (which must exist); its payload, or a failure that was logged."""
        key = id.lower()
        fn = self.initializer.rpcs[key]
        called = invoke(fn, ctx, self.logger.with_field("rpc_id", key), self.nk, payload)
        called.addCallback(_rpc_result)
        called.addErrback(self._logged, "RPC {id} failed", id=key)
        return called

    # Message hooks (the pipeline's Hooks)

    def has_before(self, message: str) -> bool:
        return message in self.initializer.before_rt

    def has_after(self, message: str) -> bool:
        return message in self.initializer.after_rt

    def run_before(
        self, message: str, session: SessionFacts, envelope: realtime_pb2.Envelope
    ) -> Deferred[realtime_pb2.Envelope | None]:
        """The envelope to process, None to reject it, or a (logged) failure."""
        fn = self.initializer.before_rt[message]
        ctx = self.session_context(session, ExecutionMode.BEFORE)
        return self._before(fn, ctx, message, message, envelope, _before_result)

    def run_after(
        self,
        message: str,
        session: SessionFacts,
        out: realtime_pb2.Envelope | None,
        envelope: realtime_pb2.Envelope,
    ) -> Deferred[None]:
        """Run the after hook; it never fails (errors are logged, as Nakama ignores them)."""
        fn = self.initializer.after_rt[message]
        ctx = self.session_context(session, ExecutionMode.AFTER)
        return self._after(fn, ctx, message, message, out, envelope)

    # API call hooks (the HTTP API's)

    def has_api_hook(self, name: str) -> bool:
        """Whether a before or after hook is registered for API call ``name``."""
        init = self.initializer
        return name in init.before_api or name in init.after_api

    def api_context(self, mode: ExecutionMode, facts: Mapping[str, Any]) -> RuntimeContext:
        """The ``ctx`` of an API call's hook: ``facts`` are the caller's (``user_id``,
        ``username``, ``vars``, ``expiry``, ``client_ip``, ``client_port``) and the
        request's ``trace_id``; no headers,
        query parameters, session id or language, as Nakama gives none."""
        return self.context(mode, **facts)

    def run_before_api(
        self, name: str, facts: Mapping[str, Any], request: dict[str, Any] | None
    ) -> Deferred[dict[str, Any] | None]:
        """The request to serve (the hook's dict), None to disable the call, or a failure
        (logged): the hook's error, or :class:`InvalidHookResult`. With no before hook,
        ``request`` itself. A ``request`` of None (an empty message) is never replaced."""
        fn = self.initializer.before_api.get(name)
        if fn is None:
            return succeed(request)
        ctx = self.api_context(ExecutionMode.BEFORE, facts)
        # The request of an empty message is never replaced: only an error counts.
        result = _api_before_result if request is not None else _nothing
        return self._before(fn, ctx, name.lower(), name, request, result)

    def run_after_api(
        self,
        name: str,
        facts: Mapping[str, Any],
        out: Mapping[str, Any] | None,
        request: Mapping[str, Any] | None,
    ) -> Deferred[None]:
        """Run the after hook of API call ``name``, if any; it never fails (errors are
        logged, as Nakama ignores them)."""
        fn = self.initializer.after_api.get(name)
        if fn is None:
            return succeed(None)
        ctx = self.api_context(ExecutionMode.AFTER, facts)
        return self._after(fn, ctx, name.lower(), name, out, request)

    # Session events

    def session_start(self, session: SessionFacts) -> None:
        """Tell the session start functions, without waiting for them."""
        self._event(self.initializer.session_start, session, Event("session_start"))

    def session_end(self, session: SessionFacts, reason: str = "") -> None:
        """Tell the session end functions, without waiting for them."""
        event = Event("session_end", {"reason": reason})
        self._event(self.initializer.session_end, session, event)

    # Game code's own

    def custom_event(self, event: Event) -> None:
        """Tell the event functions of ``event`` (``nk.event``) in a later reactor turn, as
        Nakama queues it: the sender goes on at once, and a failing function is logged."""
        functions = list(self.initializer.events)
        if not functions:
            return
        ctx = self.context(ExecutionMode.EVENT)

        def deliver() -> None:
            for fn in functions:
                called = invoke(fn, ctx, self.logger, self.nk, event)
                called.addErrback(self._logged, "event function for {id} failed", id=event.name)
                called.addErrback(lambda _: None)

        if self._clock is None:
            deliver()
        else:
            self._clock.callLater(0, deliver)

    def run_once(self, fn: Any) -> bool:
        """Call ``fn(ctx, logger, nk)`` if no ``nk.run_once`` function ran in this process
        yet (Nakama's: once per start, whatever reloads); True when it ran."""
        if self._ran_once:
            return False
        self._ran_once = True
        called = invoke(fn, self.context(ExecutionMode.RUN_ONCE), self.logger, self.nk)
        called.addErrback(self._logged, "run_once function failed")
        called.addErrback(lambda _: None)
        return True

    def _event(self, functions: list[Any], session: SessionFacts, event: Event) -> None:
        if not functions:
            return
        seconds = self._clock.seconds() if self._clock is not None else 0.0
        event = Event(event.name, event.properties, float(int(seconds)), event.external)
        ctx = self.session_context(session, ExecutionMode.EVENT)
        for fn in functions:
            called = invoke(fn, ctx, self.logger, self.nk, event)
            called.addErrback(self._logged, "{id} function failed", id=event.name)
            called.addErrback(lambda _: None)

    def _before(
        self,
        fn: Callable[..., Any],
        ctx: RuntimeContext,
        api_id: str,
        name: str,
        request: Any,
        result: Callable[[Any, str], Any],
    ) -> Deferred[Any]:
        """Run a before hook (logged under ``api_id``, failures under ``name``):
        ``result(returned, name)`` is what to serve; a failure is logged and passed on."""
        logger = self.logger.with_fields({"api_id": api_id, "mode": "before"})
        called = invoke(fn, ctx, logger, self.nk, request)
        called.addCallback(result, name)
        called.addErrback(self._logged, "before hook of {id} failed", id=name)
        return called

    def _after(
        self,
        fn: Callable[..., Any],
        ctx: RuntimeContext,
        api_id: str,
        name: str,
        out: Any,
        request: Any,
    ) -> Deferred[None]:
        """Run an after hook with the reply and the request: it never fails, its errors
        are logged, as Nakama ignores them."""
        logger = self.logger.with_fields({"api_id": api_id, "mode": "after"})
        called = invoke(fn, ctx, logger, self.nk, out, request)
        called.addCallback(lambda _: None)
        called.addErrback(self._logged, "after hook of {id} failed", id=name)
        called.addErrback(lambda _: None)
        return called

    def _logged(self, failure: Failure, message: str, **fields: Any) -> Failure:
        if failure.check(NakamaError):
            self.log.debug(message + ": {error}", error=failure.getErrorMessage(), **fields)
        else:
            self.log.failure(message, failure, **fields)
        return failure


def _nothing(result: Any, name: str) -> None:
    """A before hook's result where nothing replaces the request (an empty message)."""
    return None


def _rpc_result(result: Any) -> str:
    if result is None:
        return ""
    if not isinstance(result, str):
        raise TypeError(INVALID_RPC_RESULT)
    return result


class InvalidHookResult(TypeError):
    """A before hook returned what is not a request: the server's 500, not the game's
    error, so its words stay in the log."""


def _api_before_result(result: Any, name: str) -> dict[str, Any] | None:
    if result is None or isinstance(result, dict):
        return result
    raise InvalidHookResult(
        f"the before hook of {name} must return the request (a dict) or None, "
        f"not {type(result).__name__}"
    )


def _before_result(result: Any, message: str) -> realtime_pb2.Envelope | None:
    if result is None:
        return None
    if not isinstance(result, realtime_pb2.Envelope) or result.WhichOneof("message") != message:
        raise TypeError(f"the before hook of {message} must return a {message} Envelope or None")
    return result
