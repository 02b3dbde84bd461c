"""Calling runtime code the one way the server can wait on: a Deferred.

A game developer writes a plain function, an ``async def`` (awaiting Deferreds), or
one returning a Deferred; the server must not care which. :func:`invoke` runs any of
them on the reactor thread and always gives back a Deferred, and an exception,
raised at once or later, becomes that Deferred's failure, traceback included.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from twisted.internet.defer import Deferred, fail, succeed
from twisted.python.failure import Failure

#: gRPC's INTERNAL, what Nakama answers for an error that names no valid code.
INTERNAL = 13


class NakamaError(Exception):
    """Raise from runtime code to fail with a message and a gRPC ``code`` the client sees,
    as Nakama's ``runtime.NewError(message, code)``: an HTTP RPC answers the code's
    status (3 is 400, 5 is 404, 7 is 403, ...); a code outside 1-16 counts as 13."""

    def __init__(self, message: str, code: int = INTERNAL) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def invoke(fn: Callable[..., Any], *args: Any) -> Deferred[Any]:
    """Call ``fn(*args)``; its result (or awaited result) or its exception, as a Deferred."""
    try:
        result = fn(*args)
    except Exception:
        return fail()
    return as_deferred(result)


def as_deferred(result: Any) -> Deferred[Any]:
    """A value, a Deferred, a coroutine or another awaitable, as a Deferred."""
    if isinstance(result, Deferred):
        return result
    if inspect.iscoroutine(result):
        return Deferred.fromCoroutine(result)
    if inspect.isawaitable(result):
        return Deferred.fromCoroutine(_wait(result))
    return succeed(result)


async def _wait(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def error_message(failure: Failure) -> str:
    """What the client is told: the exception's message."""
    return failure.getErrorMessage()


def error_code(failure: Failure) -> int:
    """The gRPC code of a failure: a :class:`NakamaError`'s valid code, else 13."""
    error = failure.value
    if isinstance(error, NakamaError) and 0 < error.code < 17:
        return error.code
    return INTERNAL
