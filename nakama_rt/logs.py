"""The server's loggers, filtered by ``logger.level``, and the JSON log format.

Every module logs through :func:`Logger` from here instead of twisted.logger's own,
so one predicate decides which of the server's events reach the process's log
observers (twistd's log file, or whatever an embedding app set up). Twisted's own
events are left alone.

:func:`json_file_observer` writes events as one JSON object a line, for log
collectors that parse fields rather than text (``--log-format json``).
"""

from __future__ import annotations

import datetime
import sys
from collections.abc import Mapping
from typing import IO, Any

import orjson
from twisted.logger import (
    FileLogObserver,
    FilteringLogObserver,
    LogEvent,
    LogLevel,
    LogLevelFilterPredicate,
    formatEvent,
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
_ORDER = (LogLevel.debug, LogLevel.info, LogLevel.warn, LogLevel.error, LogLevel.critical)
#: The levels ``logger.level`` lets through.
_enabled = set(_ORDER[1:])


class _ServerLogger(_TwistedLogger):
    """A twisted.logger ``Logger`` that drops events below ``logger.level`` before
    building them: a filtered debug line otherwise still costs a whole event (a
    dict, the time, the observer chain), which showed on every socket's open."""

    def emit(self, level: LogLevel, format: str | None = None, **kwargs: Any) -> None:  # noqa: A002
        if level in _enabled:
            super().emit(level, format, **kwargs)


def Logger(namespace: str | None = None) -> _TwistedLogger:  # noqa: N802 (reads as a class)
    """A twisted.logger ``Logger`` whose events pass the ``logger.level`` filter.

    Without a namespace it is the calling module's, as with twisted.logger's own
    ``Logger()`` (which, called from here, would name this module instead); one made
    as a class attribute takes the class's name when first used, as Twisted's does.
    """
    if namespace is None:
        namespace = sys._getframe(1).f_globals.get("__name__", "nakama_rt")
    return _ServerLogger(namespace=namespace, observer=_observer)


def set_level(name: str) -> None:
    """Log the server's events at ``name`` (debug, info, warn, error) and above."""
    level = LEVELS[name]
    _predicate.setLogLevelForNamespace("", level)
    _enabled.clear()
    _enabled.update(_ORDER[_ORDER.index(level) :])


#: Keys of events from twisted.python.log (the legacy API) that restate what the
#: record already says.
_LEGACY_KEYS = frozenset({"message", "format", "isError", "system", "time", "why", "failure"})


def format_json(event: LogEvent) -> str:
    """One event as one line of JSON: ``time`` (UTC, ISO 8601), ``level``,
    ``namespace``, ``msg`` (the formatted message), ``traceback`` when a failure is
    logged, then the event's own fields (``sid``, ``uid``...) for filtering."""
    when = datetime.datetime.fromtimestamp(event.get("log_time") or 0, datetime.UTC)
    level = event.get("log_level", LogLevel.info)
    record: dict[str, Any] = {
        "time": when.isoformat(timespec="microseconds").replace("+00:00", "Z"),
        "level": getattr(level, "name", "info"),
        "namespace": event.get("log_namespace", ""),
        "msg": formatEvent(event),
    }
    failure = event.get("log_failure")
    if failure is not None:
        record["traceback"] = failure.getTraceback()
    for key, value in event.items():
        if not key.startswith("log_") and key not in _LEGACY_KEYS:
            record.setdefault(key, value)
    option = orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS
    try:
        return orjson.dumps(record, default=_json_value, option=option).decode()
    except (TypeError, orjson.JSONEncodeError):
        # A field that cannot be written must not cost the event itself.
        fields = ("time", "level", "namespace", "msg", "traceback")
        return orjson.dumps({k: record[k] for k in fields if k in record}, option=option).decode()


def _json_value(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (set, frozenset)):
        return list(value)
    return str(value)


def json_file_observer(out_file: IO[Any]) -> FileLogObserver:
    """An observer writing :func:`format_json` lines to ``out_file`` (text or binary)."""
    return FileLogObserver(out_file, format_json)
