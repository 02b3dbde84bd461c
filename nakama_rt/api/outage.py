"""One log line per database outage, not one per request that meets it.

While another process holds SQLite's write lock, or the database is damaged or
unreachable, every request that needs it fails the same way: a traceback each
would flood the log for as long as the lock lasts, and say nothing new after the
first. The API answers each such request (Nakama's 500 for its endpoint) and
tells :class:`OutageLog` why it failed; the log gets a warning when the reason
changes, and while it stays the same, one a minute at most, counting the
requests it did not log.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from twisted.logger import Logger as TwistedLogger

from nakama_rt.logs import Logger
from nakama_rt.storage import StorageUnavailable

#: The shortest time between two lines about the same reason.
QUIET_SEC = 60.0

log = Logger()


class OutageLog:
    """Logs the requests failed by an unavailable database, a line per change of reason
    and a line per :data:`QUIET_SEC` at most while it stays. ``now`` reads the time in
    seconds (the reactor's ``seconds``)."""

    def __init__(self, now: Callable[[], float]) -> None:
        self.now = now
        #: The reason last logged; None before the first outage.
        self._reason: str | None = None
        self._logged_at = 0.0
        #: Requests failed for ``_reason`` since its last line.
        self._unlogged = 0

    def failed(self, reason: str, method: str, path: str, status: int) -> None:
        """``method path`` was answered ``status`` because the database is unavailable
        for ``reason`` (one line, naming no host, user or path of the database)."""
        now = self.now()
        if reason == self._reason and now - self._logged_at < QUIET_SEC:
            self._unlogged += 1
            return
        if reason == self._reason and self._unlogged:
            log.warn(
                "database unavailable: {reason}: {method} {path} answered {status}; "
                "{unlogged} more since this was last logged, {ago:.0f} s ago",
                reason=reason,
                method=method,
                path=path,
                status=status,
                unlogged=self._unlogged,
                ago=now - self._logged_at,
            )
        else:
            log.warn(
                "database unavailable: {reason}: {method} {path} answered {status}",
                reason=reason,
                method=method,
                path=path,
                status=status,
            )
        self._reason, self._logged_at, self._unlogged = reason, now, 0


async def best_effort(
    logger: TwistedLogger, what: str, work: Callable[..., Awaitable[Any]], *args: Any
) -> None:
    """Await ``work(*args)``, whose failure must not fail the request it serves (a
    notification, a channel message after the change was made): it is logged as
    ``what``, a database outage in one line, anything else with its traceback."""
    try:
        await work(*args)
    except StorageUnavailable as error:
        logger.warn("{what}: database unavailable: {reason}", what=what, reason=str(error))
    except Exception:
        logger.failure(what)
