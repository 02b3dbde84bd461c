"""Loading game logic: every Python module in ``runtime.path`` that has an ``init_module``.

What is loaded: each ``*.py`` file and each package (a directory with
``__init__.py``) directly in the directory, in name order, except names starting
with ``_`` or ``.``, ``test_*`` files and ``conftest.py`` (tests may live beside the
modules). The directory goes on ``sys.path``, so modules import each other by name.
A module without ``init_module`` is imported and otherwise ignored (a helper).

Any error, a syntax error, an exception while importing or in
``init_module(ctx, logger, nk, initializer)``, a bad registration, fails the whole
load with a :class:`RuntimeLoadError` naming the module and holding its traceback:
a server must not start with half its game logic.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
import traceback
from typing import Any

from nakama_rt.logs import Logger

from .context import RuntimeContext
from .initializer import Initializer
from .logger import RuntimeLogger

log = Logger()

#: Directories modules were loaded from in this process, so that loading another one
#: (tests start many servers) replaces the modules of the same names it loaded.
_loaded_from: set[str] = set()


class RuntimeLoadError(Exception):
    """The runtime modules could not be loaded; the message names the module and why."""


def module_names(path: str) -> list[str]:
    """The importable modules directly in ``path``, sorted."""
    if not os.path.isdir(path):
        raise RuntimeLoadError(f"runtime.path {path!r} is not a directory")
    names = []
    for entry in sorted(os.listdir(path)):
        full = os.path.join(path, entry)
        if entry.endswith(".py") and os.path.isfile(full):
            name = entry[: -len(".py")]
        elif os.path.isfile(os.path.join(full, "__init__.py")):
            name = entry
        else:
            continue
        if name.startswith(("_", ".", "test_")) or name == "conftest":
            continue
        if not name.isidentifier():
            raise RuntimeLoadError(f"runtime module file {entry!r} is not a valid module name")
        names.append(name)
    return names


def load_modules(
    path: str, ctx: RuntimeContext, logger: RuntimeLogger, nk: Any, initializer: Initializer
) -> list[str]:
    """Import the modules in ``path`` and run their ``init_module``; the names of the
    modules that had one."""
    path = os.path.abspath(path)
    names = module_names(path)
    _forget_other_loads(path, names)
    if path in sys.path:
        sys.path.remove(path)
    sys.path.insert(0, path)
    _loaded_from.add(path)
    importlib.invalidate_caches()
    initialised = []
    for name in names:
        try:
            module = importlib.import_module(name)
            if not _is_within(module, path):
                raise RuntimeLoadError(
                    f"it has the name of the already imported module {module.__name__!r} "
                    f"({getattr(module, '__file__', None) or 'built in'}); rename it"
                )
            init = getattr(module, "init_module", None)
            if init is None:
                log.debug("runtime module {name} has no init_module", name=name)
                continue
            result = init(ctx, logger.with_field("module", name), nk, initializer)
            if inspect.isawaitable(result):
                getattr(result, "close", lambda: None)()
                raise RuntimeLoadError("init_module must be a plain function, not async")
        except Exception as error:
            where = os.path.join(path, name + ".py")
            if not os.path.isfile(where):
                where = os.path.join(path, name, "__init__.py")
            raise RuntimeLoadError(
                f"runtime module {name!r} ({where}) failed to load: {error}\n"
                + "".join(traceback.format_exception(error))
            ) from None  # the traceback is in the message, printed once
        initialised.append(name)
        log.info("runtime module {name} loaded", name=name)
    return initialised


def _is_within(module: Any, path: str) -> bool:
    file = getattr(module, "__file__", None)
    if not file:
        return False
    return os.path.abspath(file).startswith(path + os.sep)


def _forget_other_loads(path: str, names: list[str]) -> None:
    """Drop modules of these names imported from another runtime directory earlier in
    this process, so this directory's own are imported."""
    for key, module in list(sys.modules.items()):
        if key.split(".", 1)[0] not in names or module is None:
            continue
        if any(_is_within(module, other) for other in _loaded_from if other != path):
            del sys.modules[key]
