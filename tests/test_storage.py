"""The storage contract, run identically against SQLite and PostgreSQL."""

from __future__ import annotations

import importlib
import sqlite3
import sys
import threading
import uuid
from contextlib import closing

import pytest
import pytest_twisted
from storage_fixtures import ShiftedReactor, start_test_storage
from twisted.internet import threads
from zope.interface.verify import verifyObject

import nakama_rt.storage
from nakama_rt.storage import (
    SYSTEM_USER_ID,
    CustomIdTaken,
    DeviceIdTaken,
    EmailTaken,
    IStorage,
    StorageUnavailable,
    UsernameTaken,
    UserNotFound,
    open_storage,
    schema,
)

NOW = 1_700_000_000.25


@pytest.fixture
def clock() -> ShiftedReactor:
    return ShiftedReactor(now=NOW)


@pytest_twisted.async_yield_fixture
async def handle(storage_kind, tmp_path, clock):
    opened = await start_test_storage(storage_kind, tmp_path, clock)
    yield opened
    await opened.close()


@pytest.fixture
def storage(handle):
    return handle.storage


def test_provides_interface(storage):
    assert verifyObject(IStorage, storage)


@pytest_twisted.ensureDeferred
async def test_create_and_get_user(storage):
    user = await storage.create_user("alice", custom_id="custom-alice")
    assert uuid.UUID(user.id).version == 4
    assert user.username == "alice"
    assert user.custom_id == "custom-alice"
    assert user.lang_tag == "en"
    assert user.metadata == "{}" and user.wallet == "{}"
    assert user.email is None and user.password_hash is None
    assert user.device_ids == ()
    assert user.create_time == pytest.approx(NOW) and user.update_time == pytest.approx(NOW)
    assert user.verify_time is None and user.disable_time is None and not user.disabled

    assert await storage.get_user(user.id) == user
    assert await storage.get_user(user.id.upper()) == user
    assert await storage.get_user_by_username("alice") == user
    assert await storage.get_user_by_custom_id("custom-alice") == user
    assert await storage.get_user(str(uuid.uuid4())) is None
    assert await storage.get_user("not-a-uuid") is None
    assert await storage.get_user_by_username("Alice") is None
    assert await storage.get_user_by_custom_id("nope") is None


@pytest_twisted.ensureDeferred
async def test_given_user_id(storage):
    wanted = str(uuid.uuid4())
    user = await storage.create_user("given", user_id=wanted.upper())
    assert user.id == wanted


@pytest_twisted.ensureDeferred
async def test_system_user_exists(storage):
    system = await storage.get_user(SYSTEM_USER_ID)
    assert system is not None and system.username == ""


@pytest_twisted.ensureDeferred
async def test_device_created_with_user(storage):
    user = await storage.create_user("dev", device_id="device-000001")
    assert user.device_ids == ("device-000001",)
    assert await storage.get_user_by_device_id("device-000001") == user
    assert await storage.get_user_by_device_id("device-unknown") is None


@pytest_twisted.ensureDeferred
async def test_email_is_case_insensitive(storage):
    user = await storage.create_user("mail", email="Mixed@Example.COM", password_hash=b"$2b$h")
    assert user.email == "mixed@example.com"
    assert user.password_hash == b"$2b$h"
    assert await storage.get_user_by_email("MIXED@example.com") == user
    with pytest.raises(EmailTaken):
        await storage.create_user("mail2", email="mixed@EXAMPLE.com")


@pytest_twisted.ensureDeferred
async def test_unique_violations(storage):
    await storage.create_user("taken", custom_id="custom-1", device_id="device-000001")
    with pytest.raises(UsernameTaken):
        await storage.create_user("taken")
    with pytest.raises(CustomIdTaken):
        await storage.create_user("other", custom_id="custom-1")
    with pytest.raises(DeviceIdTaken):
        await storage.create_user("other", device_id="device-000001")
    # The failed inserts left nothing behind.
    assert await storage.get_user_by_username("other") is None
    assert (await storage.create_user("other")).username == "other"


@pytest_twisted.ensureDeferred
async def test_get_users(storage):
    a = await storage.create_user("a")
    b = await storage.create_user("b")
    c = await storage.create_user("c")
    found = await storage.get_users(ids=[a.id, str(uuid.uuid4()), "junk"], usernames=["b", "zz"])
    assert sorted(u.username for u in found) == ["a", "b"]
    # A user named by both id and username comes back once.
    found = await storage.get_users(ids=[c.id], usernames=["c"])
    assert [u.id for u in found] == [c.id]
    assert await storage.get_users() == []
    assert await storage.get_users(ids=["junk"]) == []
    assert b in await storage.get_users(usernames=["b"])


@pytest_twisted.ensureDeferred
async def test_link_and_unlink_device(storage):
    a = await storage.create_user("a", device_id="device-a-0001")
    b = await storage.create_user("b")
    await storage.link_device(a.id, "device-a-0002")
    await storage.link_device(a.id, "device-a-0002")  # Again: no-op.
    assert (await storage.get_user(a.id)).device_ids == ("device-a-0001", "device-a-0002")
    with pytest.raises(DeviceIdTaken):
        await storage.link_device(b.id, "device-a-0001")
    with pytest.raises(UserNotFound):
        await storage.link_device(str(uuid.uuid4()), "device-x-0001")
    assert await storage.unlink_device(a.id, "device-a-0001") is True
    assert await storage.unlink_device(b.id, "device-a-0002") is False
    assert (await storage.get_user(a.id)).device_ids == ("device-a-0002",)
    assert await storage.get_user_by_device_id("device-a-0001") is None


@pytest_twisted.ensureDeferred
async def test_update_username(storage, clock):
    a = await storage.create_user("a")
    await storage.create_user("b")
    clock.advance(10)
    await storage.update_username(a.id, "a2")
    renamed = await storage.get_user(a.id)
    assert renamed.username == "a2"
    assert renamed.update_time == pytest.approx(NOW + 10)
    assert renamed.create_time == pytest.approx(NOW)
    with pytest.raises(UsernameTaken):
        await storage.update_username(a.id, "b")
    with pytest.raises(UserNotFound):
        await storage.update_username(str(uuid.uuid4()), "c")


@pytest_twisted.ensureDeferred
async def test_calls_never_run_on_the_reactor_thread(storage):
    await storage.create_user("t", custom_id="custom-t")
    await storage.get_user_by_custom_id("custom-t")
    await storage.get_users(usernames=["t"])
    assert storage.worker_thread_ids
    assert threading.get_ident() not in storage.worker_thread_ids
    # The guard refuses a call made on the reactor thread outright.
    with pytest.raises(RuntimeError, match="reactor thread"):
        storage._in_worker(lambda: None)


@pytest_twisted.ensureDeferred
async def test_restart_keeps_data_and_schema_version(handle, clock):
    user = await handle.storage.create_user("persist")
    await handle.storage.stop()
    handle.storage = open_storage(handle.address, clock)
    await handle.storage.start()  # Migrations already applied: nothing to do.
    assert await handle.storage.get_user(user.id) == user


def test_open_storage_addresses(tmp_path):
    with pytest.raises(ValueError):
        open_storage("mysql://x", ShiftedReactor())
    with pytest.raises(ValueError):
        open_storage("sqlite:", ShiftedReactor())


def test_postgresql_without_psycopg_says_how_to_install_it(monkeypatch):
    # A fresh import of the PostgreSQL module with psycopg missing; the loaded one (imported
    # first, so that there is one) is put back afterwards.
    loaded = importlib.import_module("nakama_rt.storage.postgres")
    monkeypatch.setitem(sys.modules, "psycopg", None)  # `import psycopg` raises ImportError
    monkeypatch.delitem(sys.modules, loaded.__name__)
    monkeypatch.setattr(nakama_rt.storage, "postgres", loaded)
    with pytest.raises(StorageUnavailable) as raised:
        open_storage("postgresql://postgres@127.0.0.1:1/test", ShiftedReactor())
    assert str(raised.value) == (
        "PostgreSQL storage needs psycopg and psycopg-pool: "
        "pip install '.[postgres]' in the nakama-rt checkout"
    )


@pytest_twisted.ensureDeferred
async def test_sqlite_file_wal_and_schema_version(tmp_path):
    path = tmp_path / "a" / "b" / "db.sqlite3"
    storage = open_storage(f"sqlite:{path}", ShiftedReactor())
    await storage.start()
    try:
        assert path.exists()
    finally:
        await storage.stop()

    def inspect() -> tuple[str, list]:
        with closing(sqlite3.connect(path)) as db:
            mode = db.execute("PRAGMA journal_mode").fetchone()[0]
            return mode, db.execute("SELECT version FROM nakama_rt_schema").fetchall()

    mode, versions = await threads.deferToThread(inspect)
    assert mode == "wal"
    assert [v for (v,) in versions] == [m.version for m in schema.MIGRATIONS]


def _statements(value: object) -> list[str]:
    """Every SQL string a query object holds, however deep."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _statements(item)]
    if type(value).__module__.startswith("nakama_rt.storage."):  # Not the (slotted) dialect.
        return [s for item in getattr(value, "__dict__", {}).values() for s in _statements(item)]
    return []


@pytest.mark.parametrize(
    ("address", "foreign"),
    [("sqlite:{tmp}/db.sqlite3", "%s"), ("postgresql://nobody@127.0.0.1:1/none", "?")],
)
def test_every_statement_is_rendered_once_for_its_dialect(tmp_path, address, foreign):
    """Built with the storage (no connection needed), every statement is ready to run in
    its backend's parameter marks: a call never rewrites SQL."""
    if address.startswith("postgresql"):
        pytest.importorskip("psycopg")
    storage = open_storage(address.format(tmp=tmp_path), ShiftedReactor())
    queries = [value for name, value in vars(storage).items() if name != "_db"]
    statements = [s for value in queries for s in _statements(value)]
    assert len(statements) > 60
    assert [s for s in statements if foreign in s] == []
