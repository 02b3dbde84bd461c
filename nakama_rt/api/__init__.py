"""Nakama's REST API (the part this server implements) as twisted.web resources.

Mount :func:`build_api` as the ``v2`` child of the root resource and
:class:`HealthcheckResource` as ``healthcheck``. For the request size limit to
stop buffering early, build the Site with
``requestFactory=body_limited_request_factory(config.socket.max_request_size_bytes)``;
the resources enforce the limit either way.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure
from twisted.web.resource import IResource

from nakama_rt.logs import Logger
from nakama_rt.runtime import Runtime
from nakama_rt.storage.interface import IStorage, StorageUnavailable

from . import (
    account,
    authenticate,
    chat,
    friends,
    groups,
    leaderboard,
    link,
    match,
    matchmaker,
    party,
    session_tokens,
    storage,
    users,
)
from .context import BCRYPT_COST, ApiContext
from .hooks import ApiHooks
from .http import (
    ApiError,
    Call,
    Code,
    JsonResource,
    Route,
    body_limited_request_factory,
)
from .rpc import ApiRoot, RpcResource

__all__ = [
    "BCRYPT_COST",
    "ApiContext",
    "ApiError",
    "Code",
    "HealthcheckResource",
    "body_limited_request_factory",
    "build_api",
]


def build_api(context: ApiContext, runtime: Runtime | None = None) -> IResource:
    """The resource answering everything under ``/v2/``; ``/v2/rpc/{id}`` calls the
    functions of ``runtime`` and its API hooks run around the calls (none when it is
    None)."""
    routes = [*authenticate.ROUTES, *session_tokens.ROUTES, *account.ROUTES]
    routes += [*friends.ROUTES, *groups.ROUTES, *chat.ROUTES, *match.ROUTES, *party.ROUTES]
    routes += [*storage.ROUTES, *matchmaker.ROUTES, *leaderboard.ROUTES]
    routes += link.ROUTES
    routes += users.ROUTES
    runtime = runtime or Runtime()
    api = JsonResource(
        context,
        routes,
        context.config.socket.max_request_size_bytes,
        context.counts,
        clock=context.reactor,
        hooks=ApiHooks(context, runtime),
    )
    return ApiRoot(api, RpcResource(context, runtime))


DATABASE_DOWN = "Database unavailable."
#: How long the healthcheck waits for the database before answering 503.
HEALTHCHECK_TIMEOUT_SEC = 1.0
_log = Logger()


class DatabaseHealth:
    """Whether the database answers, as the healthcheck asks it: within
    :data:`HEALTHCHECK_TIMEOUT_SEC`, with one ping in flight at most, and a log
    line per change of state rather than per request.

    A ping can be stuck behind a slow call (SQLite has one worker thread) or a
    dead connection: healthchecks meanwhile wait on that same ping instead of
    queueing more, each for its own second at most.
    """

    def __init__(self, storage: IStorage | None, reactor: IReactorTime) -> None:
        self.storage = storage
        self.reactor = reactor
        #: Who waits for the ping in flight; None when none is.
        self._waiting: list[Deferred[str | None]] | None = None
        #: The reason last logged since the database stopped answering; None while it answers.
        self._down: str | None = None
        self._down_since = 0.0

    def check(self) -> Deferred[str | None]:
        """Fires with None when the database answered in time, else with the message
        for the client, which names no host, user or path."""
        answer: Deferred[str | None] = Deferred()
        if self.storage is None:
            answer.callback(None)
            return answer
        answer.addTimeout(HEALTHCHECK_TIMEOUT_SEC, self.reactor, self._timed_out)
        if self._waiting is not None:
            self._waiting.append(answer)
            return answer
        self._waiting = [answer]
        maybeDeferred(self.storage.ping).addBoth(self._answered)
        return answer

    def _timed_out(self, result: object, timeout: float) -> str:
        reason = f"no answer within {timeout:g} s"
        self._record(f"{reason} (busy, locked or unreachable)", timed_out=True)
        return f"{DATABASE_DOWN[:-1]}: {reason}."

    def _answered(self, result: object) -> None:
        message: str | None = None
        if not isinstance(result, Failure):
            self._record(None)
        elif isinstance(result.value, StorageUnavailable):
            # Our own words, one line: they name what is wrong, not where.
            self._record(str(result.value))
            message = f"{DATABASE_DOWN[:-1]}: {str(result.value).rstrip('.')}."
        else:
            # A driver's words may name hosts and users: for the log only.
            self._record(f"{type(result.value).__name__}: {result.value}")
            message = DATABASE_DOWN
        waiting, self._waiting = self._waiting or [], None
        for answer in waiting:
            if not answer.called:  # Not timed out yet.
                answer.callback(message)

    def _record(self, reason: str | None, timed_out: bool = False) -> None:
        """Log when the database stops answering, when the reason it gives changes
        (a timeout only says it is still down), and when it answers again."""
        if reason is None:
            if self._down is not None:
                _log.info(
                    "healthcheck: the database answers again (unavailable for {sec:.0f} s)",
                    sec=self.reactor.seconds() - self._down_since,
                )
            self._down = None
            return
        if self._down is None:
            self._down_since = self.reactor.seconds()
        elif timed_out or reason == self._down:
            return
        _log.warn("healthcheck: database unavailable: {reason}", reason=reason)
        self._down = reason


async def _healthcheck(health: DatabaseHealth, call: Call) -> dict[str, Any]:
    message = await health.check()
    if message is not None:
        raise ApiError(Code.UNAVAILABLE, message)
    return {}


class HealthcheckResource(JsonResource):
    """``GET /healthcheck``: ``{}`` with 200 while the server runs and its database
    answers within a second; 503 naming the reason when it does not (a load
    balancer then stops sending players here). No authentication.

    ``reactor`` times the wait; the global reactor when not given."""

    def __init__(
        self, storage: IStorage | None = None, reactor: IReactorTime | None = None
    ) -> None:
        if reactor is None:
            from twisted.internet import reactor as default_reactor

            reactor = default_reactor
        self.health = DatabaseHealth(storage, reactor)
        routes = [Route(b"GET", (), _healthcheck, auth="none")]
        super().__init__(self.health, routes, None, clock=reactor)
