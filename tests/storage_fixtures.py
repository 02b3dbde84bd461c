"""Helpers to run tests against both storage backends.

A test module gets both backends through the ``storage_kind`` fixture (conftest.py
makes it every module's), requested by the module's own storage fixture, which
passes it to :func:`start_test_storage`.

Each PostgreSQL test gets its own schema (created here, dropped afterwards) so
reruns and parallel sessions never see each other's rows. When PostgreSQL cannot
be used (no server, no ``test`` database, no psycopg) the PostgreSQL tests are
skipped, except under CI (``CI`` set), where they fail.
"""

from __future__ import annotations

import functools
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import reactor as global_reactor
from twisted.internet import threads

from nakama_rt.storage import IStorage, open_storage

POSTGRES_URL = os.environ.get(
    "NAKAMA_RT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)
BACKENDS = ["sqlite", "postgresql"]


class ShiftedReactor:
    """The real reactor, but ``seconds()`` is under the test's control.

    Threads, calls from threads and everything else go to the real reactor, so
    storage and bcrypt behave as in production while the test moves time.
    """

    def __init__(self, real: Any = global_reactor, now: float | None = None) -> None:
        self._real = real
        self.offset = 0.0
        self.fixed = now

    def seconds(self) -> float:
        if self.fixed is not None:
            return self.fixed
        return self._real.seconds() + self.offset

    def advance(self, amount: float) -> None:
        if self.fixed is not None:
            self.fixed += amount
        else:
            self.offset += amount

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def _admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=3) as conn:
        conn.execute(sql)


@functools.cache
def _postgres_problem() -> str | None:
    """Why PostgreSQL at POSTGRES_URL cannot be used, or None; asked once per session."""
    try:
        _admin("SELECT 1")
    except Exception as error:  # No server, no `test` database, no psycopg: all the same.
        return " ".join(str(error).split()) or type(error).__name__  # on one line
    return None


def require_postgres() -> None:
    """Skip the calling test when PostgreSQL cannot be used; under CI, fail it.

    Call it only from a plain (synchronous) fixture or test. Raised from inside an
    async fixture (pytest_twisted), pytest's skip leaves that fixture half set up on
    pytest 9, and every later test using the fixture errors instead of skipping.
    """
    problem = _postgres_problem()
    if problem is None:
        return
    if os.environ.get("CI"):
        pytest.fail(
            f"PostgreSQL at {POSTGRES_URL} is required when CI is set: {problem}", pytrace=False
        )
    pytest.skip(f"PostgreSQL at {POSTGRES_URL} cannot be used: {problem}")


@pytest.fixture(params=BACKENDS)
def storage_kind(request: pytest.FixtureRequest) -> str:
    """The backend, "sqlite" or "postgresql", for :func:`start_test_storage`.

    PostgreSQL is checked here, synchronously: see :func:`require_postgres`.
    """
    if request.param == "postgresql":
        require_postgres()
    return request.param


@dataclass
class TestStorage:
    storage: IStorage
    address: str
    schema: str | None = None

    async def close(self) -> None:
        await self.storage.stop()
        if self.schema is not None:
            await threads.deferToThread(_admin, f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")


TestStorage.__test__ = False  # type: ignore[attr-defined]


def postgres_address(schema: str) -> str:
    separator = "&" if "?" in POSTGRES_URL else "?"
    return f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"


async def start_test_storage(kind: str, tmp_path: Path, reactor: Any) -> TestStorage:
    """A started storage of ``kind`` ("sqlite" or "postgresql") in a fresh namespace.

    ``kind`` comes from the ``storage_kind`` fixture, which has already skipped (or
    failed) the test if PostgreSQL cannot be used.
    """
    if kind == "sqlite":
        address = f"sqlite:{tmp_path / 'db' / 'nakama-rt.sqlite3'}"
        storage = open_storage(address, reactor)
        await storage.start()
        return TestStorage(storage, address)
    schema = f"nrt_test_{uuid.uuid4().hex}"
    await threads.deferToThread(_admin, f"CREATE SCHEMA {schema}")
    address = postgres_address(schema)
    storage = open_storage(address, reactor)
    try:
        await storage.start()
    except BaseException:
        await threads.deferToThread(_admin, f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        raise
    return TestStorage(storage, address, schema)


def clock_and_storage(now: float) -> tuple[Any, Any]:
    """A module's ``clock`` (a :class:`ShiftedReactor` at ``now``) and ``storage`` (a
    started storage of each backend on that clock) fixtures::

        clock, storage = clock_and_storage(NOW)
    """

    @pytest.fixture
    def clock() -> ShiftedReactor:
        return ShiftedReactor(now=now)

    @pytest_twisted.async_yield_fixture
    async def storage(storage_kind, tmp_path, clock):
        opened = await start_test_storage(storage_kind, tmp_path, clock)
        yield opened.storage
        await opened.close()

    return clock, storage


async def create_users(storage: IStorage, *names: str) -> list[str]:
    """The ids of new accounts with these usernames."""
    return [(await storage.create_user(name)).id for name in names]
