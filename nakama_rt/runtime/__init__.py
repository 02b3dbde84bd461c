"""Game logic in Python: modules with ``init_module(ctx, logger, nk, initializer)``.

A module in ``runtime.path`` registers its functions (RPCs, message hooks, match
handlers, session events) with the :class:`Initializer`; the server calls them with
a :class:`RuntimeContext`, a :class:`RuntimeLogger` and the :class:`NakamaModule`
(``nk``). See ``examples/runtime/echo.py`` and :mod:`nakama_rt.testing`.
"""

from __future__ import annotations

from .context import Event, ExecutionMode, RuntimeContext
from .core import Runtime
from .initializer import HOOKABLE_MESSAGES, Initializer
from .invoke import NakamaError, invoke
from .loader import RuntimeLoadError, load_modules
from .logger import RuntimeLogger
from .nk import NK_FUNCTIONS, NakamaModule

__all__ = [
    "HOOKABLE_MESSAGES",
    "NK_FUNCTIONS",
    "Event",
    "ExecutionMode",
    "Initializer",
    "NakamaError",
    "NakamaModule",
    "Runtime",
    "RuntimeContext",
    "RuntimeLoadError",
    "RuntimeLogger",
    "invoke",
    "load_modules",
]
