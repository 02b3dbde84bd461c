"""A worker's log events, carried to its supervisor's log.

The worker writes each event as one :func:`nakama_rt.logs.format_json` line (message
formatted, traceback rendered, fields kept) on :data:`~nakama_rt.workers.brief.LOG_FD`;
the supervisor turns each line back into an event for its own observers, marked with
the worker's node name: a ``worker`` field (in the JSON log) and the system in brackets
(``[nakama-2 nakama_rt.app.NakamaRT#info]`` in the text log).
"""

from __future__ import annotations

import datetime
import time
from typing import Any

import orjson
from twisted.logger import InvalidLogLevelError, LogEvent, LogLevel

#: The keys of a format_json record that are not the event's own fields.
_RECORD_KEYS = frozenset({"time", "level", "namespace", "msg", "traceback"})


class RenderedTraceback:
    """A failure's traceback as the worker wrote it: what log observers ask of a
    ``log_failure`` (its text), without the objects that stayed in the worker."""

    def __init__(self, text: str) -> None:
        self._text = text

    def getTraceback(self) -> str:  # noqa: N802 (Failure's name)
        return self._text


def relayed_event(line: bytes, worker: str) -> LogEvent:
    """The event a worker logged as ``line``; a line that is no such record (output
    that bypassed the log) becomes a warning with the line as its text."""
    try:
        record: dict[str, Any] = orjson.loads(line)
        when = datetime.datetime.fromisoformat(record["time"].replace("Z", "+00:00"))
        level = LogLevel.levelWithName(record["level"])
        namespace, text = str(record["namespace"]), str(record["msg"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, InvalidLogLevelError):
        return raw_event(line, worker, LogLevel.warn)
    event: LogEvent = {k: v for k, v in record.items() if k not in _RECORD_KEYS}
    event.update(
        log_time=when.timestamp(),
        log_level=level,
        log_namespace=namespace,
        log_format="{log_text}",
        log_text=text,
        log_system=f"{worker} {namespace}#{level.name}",
        worker=worker,
    )
    if record.get("traceback"):
        event["log_failure"] = RenderedTraceback(str(record["traceback"]))
    return event


def raw_event(line: bytes, worker: str, level: LogLevel, stream: str = "output") -> LogEvent:
    """A line a worker wrote outside its log (on its stdout or stderr, say a crash of
    the interpreter), as an event of the supervisor's log."""
    return {
        "log_time": time.time(),
        "log_level": level,
        "log_namespace": "nakama_rt.workers",
        "log_format": "{log_text}",
        "log_text": line.decode("utf-8", "replace").rstrip(),
        "log_system": f"{worker} {stream}",
        "worker": worker,
    }
