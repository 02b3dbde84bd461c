"""The server's loggers, filtered by ``logger.level``.

Every module logs through :func:`Logger` from here instead of twisted.logger's own,
so one predicate decides which of the server's events reach the process's log
observers (twistd's log file, or whatever an embedding app set up). Twisted's own
events are left alone.
"""

from __future__ import annotations

from twisted.logger import (
    FilteringLogObserver,
    LogLevel,
    LogLevelFilterPredicate,
    globalLogPublisher,
)
from twisted.logger import Logger as _TwistedLogger

#: Nakama's level names.
LEVELS = {
    "debug": LogLevel.debug,
    "info": LogLevel.info,
    "warn": LogLevel.warn,
    "error": LogLevel.error,
}

_predicate = LogLevelFilterPredicate(defaultLogLevel=LogLevel.info)
_observer = FilteringLogObserver(globalLogPublisher, [_predicate])


def Logger(namespace: str | None = None) -> _TwistedLogger:  # noqa: N802 (reads as a class)
    """A twisted.logger ``Logger`` whose events pass the ``logger.level`` filter."""
    return _TwistedLogger(namespace=namespace, observer=_observer)


def set_level(name: str) -> None:
    """Log the server's events at ``name`` (debug, info, warn, error) and above."""
    _predicate.setLogLevelForNamespace("", LEVELS[name])
