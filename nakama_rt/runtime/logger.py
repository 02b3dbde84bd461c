"""The ``logger`` runtime code gets: Nakama's level methods and fields, on twisted.logger.

Runtime messages are the developer's text, not twisted.logger format strings, so a
brace in them is printed as is; ``%`` arguments are applied as Nakama's printf-style
``Infof`` does. Fields (``rpc_id``, ``mode``, ...) are appended as ``key=value`` and
carried on the event as ``runtime_fields``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from twisted.logger import LogLevel

from nakama_rt.logs import Logger

_NO_FIELDS: Mapping[str, Any] = MappingProxyType({})


class RuntimeLogger:
    """``debug``/``info``/``warn``/``error(message, *args)`` plus ``with_field(s)``."""

    def __init__(
        self, namespace: str = "nakama_rt.runtime", fields: Mapping[str, Any] = _NO_FIELDS
    ) -> None:
        self.namespace = namespace
        self.fields: Mapping[str, Any] = MappingProxyType(dict(fields))
        self._log = Logger(namespace)

    def with_field(self, key: str, value: Any) -> RuntimeLogger:
        """A logger adding one field to every message."""
        return self.with_fields({key: value})

    def with_fields(self, fields: Mapping[str, Any]) -> RuntimeLogger:
        """A logger adding these fields to every message."""
        child = type(self).__new__(type(self))
        child.__dict__.update(self.__dict__)
        child.fields = MappingProxyType({**self.fields, **fields})
        return child

    def debug(self, message: str, *args: Any) -> None:
        self._emit(LogLevel.debug, message, args)

    def info(self, message: str, *args: Any) -> None:
        self._emit(LogLevel.info, message, args)

    def warn(self, message: str, *args: Any) -> None:
        self._emit(LogLevel.warn, message, args)

    warning = warn

    def error(self, message: str, *args: Any) -> None:
        self._emit(LogLevel.error, message, args)

    def _emit(self, level: LogLevel, message: str, args: tuple[Any, ...]) -> None:
        text = str(message) % args if args else str(message)
        if self.fields:
            text += " " + " ".join(f"{k}={v}" for k, v in self.fields.items())
        self.write(level, text)

    def write(self, level: LogLevel, text: str) -> None:
        """Where a finished line goes; a test logger overrides this to keep it."""
        self._log.emit(level, "{runtime_text}", runtime_text=text, runtime_fields=self.fields)
