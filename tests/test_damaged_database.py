"""Databases that are damaged or busy: a damaged, foreign or locked SQLite file fails
the start with one line; while running, the healthcheck answers within a second,
names what is wrong and logs it once per change, and a request waiting on another
process's lock gets its answer (Nakama's, for its endpoint) in bounded time, logged
as one line per change of reason rather than a traceback per request."""

from __future__ import annotations

import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from storage_fixtures import ShiftedReactor, start_test_storage
from twisted.internet import reactor, threads
from twisted.internet.defer import Deferred, fail, gatherResults, succeed
from twisted.internet.task import Clock, deferLater
from twisted.logger import LogLevel, formatEvent, globalLogPublisher

from nakama_rt.api import HEALTHCHECK_TIMEOUT_SEC, DatabaseHealth
from nakama_rt.api.outage import QUIET_SEC, OutageLog
from nakama_rt.storage import StorageUnavailable, open_storage
from nakama_rt.storage import sqlite as sqlite_storage
from nakama_rt.storage.sqlite import (
    BUSY_TIMEOUT_SEC,
    OPEN_BUSY_TIMEOUT_SEC,
    PING_BUSY_TIMEOUT_SEC,
)
from tests.conftest import make_config, start_server, stop_server
from tests.processes import TWISTD, Watch, child_env, failed_start, free_port, wait_healthy
from tests.wsclient import SERVER_KEY, http

LOCKED = "the database file is locked by another process"
TIMED_OUT = "Database unavailable: no answer within 1 s."


@contextmanager
def logged() -> Iterator[list[str]]:
    """The server's log lines (warn and up, and info) while the block runs."""
    lines: list[str] = []

    def observe(event: dict[str, Any]) -> None:
        if event.get("log_level", LogLevel.info) >= LogLevel.info:
            lines.append(formatEvent(event))

    globalLogPublisher.addObserver(observe)
    try:
        yield lines
    finally:
        globalLogPublisher.removeObserver(observe)


# The healthcheck's bookkeeping, on a Clock ---------------------------------------------------


class FakeStorage:
    """Answers pings with whatever the test queued; counts them."""

    def __init__(self) -> None:
        self.pings = 0
        self.answers: list[Deferred[None]] = []

    def ping(self) -> Deferred[None]:
        self.pings += 1
        return self.answers.pop(0) if self.answers else succeed(None)


def outcome(checked: Deferred[str | None]) -> list[str | None]:
    seen: list[str | None] = []
    checked.addCallback(seen.append)
    return seen


def test_one_ping_in_flight_and_every_healthcheck_answers_within_a_second() -> None:
    clock, storage = Clock(), FakeStorage()
    stuck: Deferred[None] = Deferred()
    storage.answers.append(stuck)
    health = DatabaseHealth(storage, clock)
    with logged() as lines:
        first, second = outcome(health.check()), outcome(health.check())
        clock.advance(0.5)
        third = outcome(health.check())
        assert storage.pings == 1  # The later ones wait on the stuck ping.
        clock.advance(0.5)
        assert first == second == [TIMED_OUT]
        assert third == []
        clock.advance(0.5)
        assert third == [TIMED_OUT]
        clock.advance(2.5)
        stuck.callback(None)  # The database answers at last, 3 s after the first timeout.
        assert outcome(health.check()) == [None]
    assert storage.pings == 2
    assert lines == [
        "healthcheck: database unavailable: no answer within 1 s (busy, locked or unreachable)",
        "healthcheck: the database answers again (unavailable for 3 s)",
    ]


def test_the_reason_is_named_and_logged_once_per_change() -> None:
    clock, storage = Clock(), FakeStorage()
    health = DatabaseHealth(storage, clock)
    locked = StorageUnavailable(f"{LOCKED} (waited 0.5 s)")
    with logged() as lines:
        for _ in range(3):
            storage.answers.append(fail(locked))
            assert outcome(health.check()) == [f"Database unavailable: {LOCKED} (waited 0.5 s)."]
            clock.advance(5)
        # A driver's own words (which may name a host) stay in the log.
        storage.answers.append(fail(RuntimeError("no route to db.internal:5432")))
        assert outcome(health.check()) == ["Database unavailable."]
        storage.answers.append(Deferred())  # A ping that hangs: a timeout adds no line.
        hanging = outcome(health.check())
        clock.advance(HEALTHCHECK_TIMEOUT_SEC)
        assert hanging == [TIMED_OUT]
    assert lines == [
        f"healthcheck: database unavailable: {LOCKED} (waited 0.5 s)",
        "healthcheck: database unavailable: RuntimeError: no route to db.internal:5432",
    ]


def test_no_storage_is_healthy() -> None:
    assert outcome(DatabaseHealth(None, Clock()).check()) == [None]


def test_the_api_logs_an_outage_once_per_reason_and_minute() -> None:
    clock = Clock()
    outages = OutageLog(clock.seconds)
    locked = f"{LOCKED} (waited 2 s)"
    with logged() as lines:
        for _ in range(5):
            outages.failed(locked, "POST", "/v2/group", 500)
            clock.advance(1)
        outages.failed("the database file is damaged (x): restore it", "GET", "/v2/friend", 500)
        outages.failed(locked, "POST", "/v2/group", 500)
        clock.advance(QUIET_SEC - 1)
        outages.failed(locked, "POST", "/v2/friend", 500)  # Still within the minute.
        clock.advance(1)
        outages.failed(locked, "DELETE", "/v2/friend", 500)
        clock.advance(QUIET_SEC)
        outages.failed(locked, "POST", "/v2/group", 500)  # Nothing unlogged since.
    assert lines == [
        f"database unavailable: {locked}: POST /v2/group answered 500",
        "database unavailable: the database file is damaged (x): restore it: "
        "GET /v2/friend answered 500",
        f"database unavailable: {locked}: POST /v2/group answered 500",
        f"database unavailable: {locked}: DELETE /v2/friend answered 500; "
        "1 more since this was last logged, 60 s ago",
        f"database unavailable: {locked}: POST /v2/group answered 500",
    ]


# SQLite under another process's lock, and damage found while running -------------------------

HOLD_LOCK = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=5)
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.read()  # Until the test closes this pipe (or ends).
"""


class LockHolder:
    """Another process holding the write lock of a SQLite file until released."""

    def __init__(self, path: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", HOLD_LOCK, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        assert self.process.stdout.readline() == "locked\n"

    def release(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        assert self.process.stdout is not None
        self.process.stdout.close()


@contextmanager
def locked_by_another_process(path: Path) -> Iterator[LockHolder]:
    holder = LockHolder(path)
    try:
        yield holder
    finally:
        holder.release()


async def make_database(path: Path, users: int = 300) -> None:
    """A database as the server writes it, closed (so its WAL is folded in)."""
    storage = open_storage(f"sqlite:{path}", ShiftedReactor())
    await storage.start()
    try:
        for n in range(users):
            await storage.create_user(f"player{n}", custom_id=f"custom-{n:04d}-{'x' * 24}")
    finally:
        await storage.stop()


def damage_a_page_in_the_middle(path: Path) -> None:
    """Overwrite one page in the middle of the file with garbage. With no free pages,
    every page is part of a b-tree, so the damage is one ``quick_check`` sees."""
    with closing(sqlite3.connect(path)) as db:
        (page_size,) = db.execute("PRAGMA page_size").fetchone()
        (pages,) = db.execute("PRAGMA page_count").fetchone()
        assert db.execute("PRAGMA freelist_count").fetchone() == (0,)
    assert pages > 20
    with open(path, "r+b") as file:
        file.seek(pages // 2 * page_size)
        file.write(b"\xff" * page_size)


async def elapsed(call: Any) -> tuple[Any, float]:
    """What ``call()`` fired with (or the exception it failed with), and how long it took."""
    started = time.monotonic()
    try:
        result = await call()
    except Exception as error:
        result = error
    return result, time.monotonic() - started


@pytest_twisted.ensureDeferred
async def test_a_lock_held_by_another_process_fails_calls_in_bounded_time(tmp_path) -> None:
    path = tmp_path / "db.sqlite3"
    await make_database(path, users=3)
    storage = open_storage(f"sqlite:{path}", ShiftedReactor())
    await storage.start()
    try:
        holder = await threads.deferToThread(LockHolder, path)
        try:
            pinged, took = await elapsed(storage.ping)
            assert isinstance(pinged, StorageUnavailable)
            assert str(pinged) == f"{LOCKED} (waited {PING_BUSY_TIMEOUT_SEC:g} s)"
            assert took < HEALTHCHECK_TIMEOUT_SEC
            created, took = await elapsed(lambda: storage.create_user("newcomer"))
            assert isinstance(created, StorageUnavailable)
            assert str(created) == f"{LOCKED} (waited {BUSY_TIMEOUT_SEC:g} s)"
            assert BUSY_TIMEOUT_SEC - 0.1 < took < BUSY_TIMEOUT_SEC + 1.5
            # Readers are not held up (WAL).
            found = await storage.get_user_by_username("player1")
            assert found is not None
        finally:
            await threads.deferToThread(holder.release)
        await storage.ping()
        assert (await storage.create_user("newcomer")).username == "newcomer"
    finally:
        await storage.stop()


def internal(message: str) -> tuple[int, dict[str, Any]]:
    """Nakama's answer to a query that failed: 500, code 13, the endpoint's words."""
    return 500, {"code": 13, "message": message}


@pytest_twisted.ensureDeferred
async def test_api_requests_meet_a_lock_held_by_another_process(tmp_path, monkeypatch) -> None:
    """Every request that writes gets its endpoint's 500 after the busy timeout, those
    that read are answered as ever (WAL), and the log holds one line, not a traceback
    per request."""
    busy = 0.3
    monkeypatch.setattr(sqlite_storage, "BUSY_TIMEOUT_SEC", busy)
    running = await start_server(make_config(tmp_path))
    port = running.port
    try:
        (_, alice), _ = await authenticate(port, "lock-alice-000")
        (_, bob), _ = await authenticate(port, "lock-bob-00000")
        alice, bob = alice["token"], bob["token"]
        bob_id = (await http(port, "GET", "/v2/account", bearer=bob)).json()["user"]["id"]
        account = (await http(port, "GET", "/v2/account", bearer=alice)).json()

        async def answer(method: str, path: str, **sent: Any) -> tuple[Any, float]:
            started = time.monotonic()
            got = await http(port, method, path, **sent)
            return (got.status, got.json()), time.monotonic() - started

        custom = "/v2/account/authenticate/custom"
        requests = [
            (
                answer("POST", custom, body={"id": "lock-newcomer"}, basic=(SERVER_KEY, "")),
                internal("Error finding or creating user account."),
            ),
            (
                answer("POST", "/v2/group", body={"name": "Lockers"}, bearer=alice),
                internal("Error while trying to create group."),
            ),
            (
                answer("POST", f"/v2/friend?ids={bob_id}", bearer=alice),
                internal("Error while trying to add friends."),
            ),
            (
                answer("DELETE", f"/v2/notification?ids={bob_id}", bearer=alice),
                internal("Error while deleting notifications."),
            ),
            (answer("GET", "/v2/account", bearer=alice), (200, account)),
        ]
        holder = await threads.deferToThread(LockHolder, tmp_path / "nakama-rt.sqlite3")
        events: list[dict[str, Any]] = []
        globalLogPublisher.addObserver(events.append)
        try:
            answered = await gatherResults([Deferred.fromCoroutine(c) for c, _ in requests])
        finally:
            globalLogPublisher.removeObserver(events.append)
            await threads.deferToThread(holder.release)
        assert [got for got, _ in answered] == [expected for _, expected in requests]
        # One worker thread: the writes wait out the busy timeout one after another.
        assert max(took for _, took in answered) < 4 * busy + 1.5
        ours = [e for e in events if e.get("log_namespace", "").startswith("nakama_rt")]
        assert [e for e in ours if e.get("log_failure") is not None] == []
        lines = [formatEvent(e) for e in ours if e["log_level"] >= LogLevel.info]
        assert len(lines) == 1, lines
        assert re.fullmatch(
            rf"database unavailable: {LOCKED} \(waited {busy:g} s\): "
            r"(POST|DELETE) /v2/\S+ answered 500",
            lines[0],
        ), lines
        created = await http(port, "POST", "/v2/group", body={"name": "Lockers"}, bearer=alice)
        assert created.status == 200
    finally:
        await stop_server(running)


@pytest_twisted.ensureDeferred
async def test_damage_a_call_finds_is_named_and_fails_the_ping(tmp_path) -> None:
    path = tmp_path / "db.sqlite3"
    await make_database(path, users=30)
    storage = open_storage(f"sqlite:{path}", ShiftedReactor())
    await storage.start()
    damaged = "the database file is damaged (database disk image is malformed): "
    damaged += "restore it from a backup"
    try:
        await storage.ping()

        def damage_the_users_table() -> None:
            with closing(sqlite3.connect(path, isolation_level=None)) as other:
                (root,) = other.execute(
                    "SELECT rootpage FROM sqlite_master WHERE name = 'users'"
                ).fetchone()
                (page_size,) = other.execute("PRAGMA page_size").fetchone()
                other.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                with open(path, "r+b") as file:
                    file.seek((root - 1) * page_size)
                    file.write(b"\xff" * page_size)
                # Another process's write: the server's cached pages go stale.
                other.execute("CREATE TABLE poke (x)")

        await threads.deferToThread(damage_the_users_table)
        with pytest.raises(StorageUnavailable) as raised:
            await storage.get_user_by_username("player1")
        assert str(raised.value) == damaged
        with pytest.raises(StorageUnavailable) as raised:
            await storage.ping()
        assert str(raised.value) == damaged
    finally:
        await storage.stop()


@pytest_twisted.ensureDeferred
async def test_a_file_too_big_to_check_in_time_starts_with_a_warning(tmp_path, monkeypatch):
    path = tmp_path / "db.sqlite3"
    await make_database(path, users=3)
    damage_a_page_in_the_middle(path)  # Not found: the check is skipped.
    monkeypatch.setattr(sqlite_storage, "CHECK_READ_BUDGET_SEC", -1.0)
    storage = open_storage(f"sqlite:{path}", ShiftedReactor())
    with logged() as lines:
        await storage.start()
    await storage.stop()
    assert lines == [
        "database file not checked at start: reading its 0.0 GB took more than -1 s; "
        f"check it offline with sqlite3 {path} 'PRAGMA quick_check'"
    ]


@pytest_twisted.ensureDeferred
async def test_the_healthcheck_is_bounded_while_the_storage_is_busy(storage_kind, tmp_path):
    """Every worker busy (SQLite: its one thread; PostgreSQL: every pooled connection):
    the healthcheck answers 503 within a second, and sends one ping, not one each."""
    opened = await start_test_storage(storage_kind, tmp_path, ShiftedReactor())
    storage: Any = opened.storage
    health = DatabaseHealth(storage, reactor)
    try:
        if storage_kind == "sqlite":
            busy = storage._run(time.sleep, 2.5)
            expected = TIMED_OUT
        else:
            held = [await threads.deferToThread(storage._db.pool.getconn) for _ in range(8)]
            expected = (
                "Database unavailable: no database connection within 0.8 s "
                "(all in use, or the server does not answer)."
            )
        started = time.monotonic()
        answers = [health.check() for _ in range(3)]
        assert [await answer for answer in answers] == [expected] * 3
        assert time.monotonic() - started < 1.5
        if storage_kind == "sqlite":
            await busy
        else:
            for conn in held:
                storage._db.pool.putconn(conn)
        for _ in range(50):  # The one ping lands once the worker is free.
            if "ping" in storage.latency.series:
                break
            await deferLater(reactor, 0.02, lambda: None)
        assert sum(storage.latency.series["ping"][:-1]) == 1
        assert await health.check() is None
    finally:
        await opened.close()


# twistd: one line at start, and a healthcheck that says what is wrong ------------------------


def startup_failure(tmp_path: Path) -> tuple[str, float]:
    started = time.monotonic()
    line = failed_start(cwd=tmp_path)
    return line, time.monotonic() - started


DATABASE = "database sqlite:./data/nakama-rt.sqlite3"


@pytest_twisted.ensureDeferred
async def test_a_damaged_file_fails_the_start_with_one_line(tmp_path) -> None:
    path = tmp_path / "data" / "nakama-rt.sqlite3"
    await make_database(path)
    damage_a_page_in_the_middle(path)
    line, _ = await threads.deferToThread(startup_failure, tmp_path)
    assert re.search(
        rf"nakama-rt could not start: {re.escape(DATABASE)}: the database file is damaged "
        r"\(PRAGMA quick_check: [^;]+\): restore it from a backup$",
        line,
    ), line


def test_a_file_that_is_not_a_database_fails_the_start_with_one_line(tmp_path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "nakama-rt.sqlite3").write_text("player,score\n" * 500)
    line = failed_start(cwd=tmp_path)
    assert line.endswith(
        f"nakama-rt could not start: {DATABASE}: "
        "the file is not a SQLite database (file is not a database)"
    )


@pytest_twisted.ensureDeferred
async def test_a_file_locked_by_another_process_fails_the_start_within_seconds(tmp_path):
    path = tmp_path / "data" / "nakama-rt.sqlite3"
    await make_database(path, users=3)
    holder = await threads.deferToThread(LockHolder, path)
    try:
        line, took = await threads.deferToThread(startup_failure, tmp_path)
    finally:
        await threads.deferToThread(holder.release)
    assert line.endswith(
        f"nakama-rt could not start: {DATABASE}: {LOCKED} (waited {OPEN_BUSY_TIMEOUT_SEC:g} s)"
    )
    assert took < OPEN_BUSY_TIMEOUT_SEC + 7  # The interpreter's start, then the wait.


async def call(port: int, method: str, path: str, body: Any = None) -> tuple[Any, float]:
    """The answer's status and JSON body, and how long it took."""
    started = time.monotonic()
    answer = await http(port, method, path, body=body, basic=(SERVER_KEY, ""))
    return (answer.status, answer.json() if answer.body else None), time.monotonic() - started


def authenticate(port: int, custom_id: str) -> Deferred:
    return Deferred.fromCoroutine(
        call(port, "POST", "/v2/account/authenticate/custom?create=true", {"id": custom_id})
    )


@pytest_twisted.ensureDeferred
async def test_a_running_server_whose_database_gets_locked(tmp_path) -> None:
    port = free_port()
    watch = Watch()
    args = [*TWISTD, "-n", "--pidfile=", "--logfile=-", "nakama-rt"]
    args += ["--listen", f"tcp:{port}:interface=127.0.0.1", "--data-dir", str(tmp_path / "d")]
    process = reactor.spawnProcess(watch, sys.executable, args, env=child_env(), path=str(tmp_path))
    try:
        await wait_healthy(port, watch)
        (status, _), _ = await authenticate(port, "before-the-lock-000")
        assert status == 200
        holder = await threads.deferToThread(LockHolder, tmp_path / "d" / "nakama-rt.sqlite3")
        try:
            answer, took = await call(port, "GET", "/healthcheck")
            assert answer == (
                503,
                {
                    "code": 14,
                    "message": f"Database unavailable: {LOCKED} "
                    f"(waited {PING_BUSY_TIMEOUT_SEC:g} s).",
                },
            )
            assert took < 2
            # A request that writes waits out the busy timeout, holding the one worker
            # thread: a healthcheck meanwhile answers on its own after a second.
            control = authenticate(port, "during-the-lock-0000")
            await deferLater(reactor, 0.2, lambda: None)
            answer, took = await call(port, "GET", "/healthcheck")
            assert answer == (503, {"code": 14, "message": TIMED_OUT})
            assert took < 2
            answer, took = await control
            # The API's own answer to a failed write (500, Nakama's words), in bounded time.
            status, body = answer
            assert status >= 500 and body["message"], answer
            assert took < BUSY_TIMEOUT_SEC + 2
        finally:
            await threads.deferToThread(holder.release)
        for _ in range(40):  # A ping already waiting on the lock may answer first.
            answer, took = await call(port, "GET", "/healthcheck")
            assert took < 2
            if answer[0] == 200:
                break
            await deferLater(reactor, 0.1, lambda: None)
        assert answer == (200, {})
        (status, _), _ = await authenticate(port, "after-the-lock-00000")
        assert status == 200
        process.signalProcess(signal.SIGTERM)
        assert await watch.ended == 0
    finally:
        if not watch.ended.called:
            process.signalProcess(signal.SIGKILL)
            await watch.ended
    log = watch.output.decode()
    assert log.count("healthcheck: database unavailable: ") == 1, log
    assert f"healthcheck: database unavailable: {LOCKED} (waited 0.5 s)\n" in log
    assert log.count("healthcheck: the database answers again") == 1, log


_OPEN_AT = """
import sys, time
from nakama_rt.storage import StorageUnavailable
from nakama_rt.storage.sqlite import SqliteDatabase
path, at = sys.argv[1], float(sys.argv[2])
database = SqliteDatabase(path)
time.sleep(max(0.0, at - time.time()))
try:
    database.open(time.time())
except StorageUnavailable as error:
    print(error)
"""


def _open_together(path, count: int) -> list[str]:
    """``count`` processes opening one new file at the same moment, as the workers of
    ``--workers`` do; what each of them failed with."""
    at = time.time() + 1.5  # after every interpreter has started
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _OPEN_AT, str(path), str(at)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=child_env(),
            text=True,
        )
        for _ in range(count)
    ]
    return [line for child in children for line in child.communicate(timeout=30)[0].splitlines()]


def test_workers_that_open_a_new_file_together_all_start(tmp_path) -> None:
    """SQLite refuses one of two connections that both read and then want to write
    (it would be a deadlock) without waiting: that one opens again."""
    for attempt in range(4):
        assert _open_together(tmp_path / f"new-{attempt}.sqlite3", 4) == []
