"""What both backends share: a private thread pool, row decoding, id helpers.

Database drivers block, so every call is shipped to a worker thread and comes
back as a Deferred; the guard in :meth:`ThreadedStorage._in_worker` makes a
call that somehow lands on the reactor thread fail loudly instead of stalling it.
Every call is timed, by operation, for the metrics.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from time import perf_counter
from typing import Any, TypeVar

from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThreadPool
from twisted.python.threadable import isInIOThread
from twisted.python.threadpool import ThreadPool

from ..counters import DATABASE_BUCKETS, Histograms
from .interface import User

T = TypeVar("T")

#: Columns every user query selects, in the order :func:`user_from_row` reads them.
USER_FIELDS = (
    "id",
    "username",
    "display_name",
    "avatar_url",
    "lang_tag",
    "location",
    "timezone",
    "metadata",
    "wallet",
    "email",
    "password",
    "custom_id",
    "edge_count",
    "create_time",
    "update_time",
    "verify_time",
    "disable_time",
)


def new_user_id() -> str:
    return str(uuid.uuid4())


def normalise_email(email: str | None) -> str | None:
    """Nakama lowercases emails before storing or comparing them."""
    return email.lower() if email else None


def _time_or_none(value: Any) -> float | None:
    return float(value) if value else None


def user_from_row(row: Sequence[Any], device_ids: Iterable[str] = ()) -> User:
    (
        user_id,
        username,
        display_name,
        avatar_url,
        lang_tag,
        location,
        timezone,
        metadata,
        wallet,
        email,
        password,
        custom_id,
        edge_count,
        create_time,
        update_time,
        verify_time,
        disable_time,
    ) = row
    return User(
        id=str(user_id),
        username=username,
        display_name=display_name,
        avatar_url=avatar_url,
        lang_tag=lang_tag,
        location=location,
        timezone=timezone,
        metadata=metadata,
        wallet=wallet,
        email=email,
        password_hash=bytes(password) if password is not None else None,
        custom_id=custom_id,
        edge_count=edge_count,
        create_time=float(create_time),
        update_time=float(update_time),
        verify_time=_time_or_none(verify_time),
        disable_time=_time_or_none(disable_time),
        device_ids=tuple(sorted(device_ids)),
    )


def _operation(fn: Callable[..., Any], args: tuple[Any, ...]) -> str:
    """The name a call is timed under: the function the worker runs or, for the chat
    and social transaction wrappers (``_chat_tx``, ``_social_tx``), the one they wrap."""
    name = getattr(fn, "__name__", "call")
    if name.endswith("_tx") and args:
        name = getattr(args[0], "__name__", name)
    return name.lstrip("_")


class ThreadedStorage:
    """Runs blocking callables on a private thread pool; records which threads ran them."""

    def __init__(self, address: str, reactor: Any, threads: int, name: str) -> None:
        self.address = address
        self._reactor = reactor
        self._pool = ThreadPool(minthreads=0, maxthreads=threads, name=name)
        self._shutdown_trigger: Any = None
        #: Ident of every thread that ran a storage call (tests check the reactor's is absent).
        self.worker_thread_ids: set[int] = set()
        #: How long calls take, queueing for a thread included, by operation.
        self.latency = Histograms(DATABASE_BUCKETS)

    def _now(self) -> float:
        """Wall time from the injected reactor, read on the reactor thread."""
        return self._reactor.seconds()

    def _in_worker(self, fn: Callable[..., T], *args: Any) -> T:
        if isInIOThread():
            raise RuntimeError("storage call attempted on the reactor thread")
        self.worker_thread_ids.add(threading.get_ident())
        return fn(*args)

    def _run(self, fn: Callable[..., T], *args: Any) -> Deferred[T]:
        started = perf_counter()
        called = deferToThreadPool(self._reactor, self._pool, self._in_worker, fn, *args)
        return called.addBoth(self._timed, _operation(fn, args), started)

    def _timed(self, result: Any, operation: str, started: float) -> Any:
        self.latency.observe(operation, perf_counter() - started)
        return result

    def _start_pool(self) -> None:
        self._pool.start()
        self._shutdown_trigger = self._reactor.addSystemEventTrigger(
            "during", "shutdown", self._stop_pool
        )

    def _stop_pool(self) -> None:
        if self._shutdown_trigger is not None:
            try:
                self._reactor.removeSystemEventTrigger(self._shutdown_trigger)
            except (ValueError, KeyError):
                pass  # Already fired: we are being called by it.
            self._shutdown_trigger = None
        if self._pool.started:
            self._pool.stop()
