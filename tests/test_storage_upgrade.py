"""A database made by an earlier release opens with this code, on both backends.

The earlier storage package is taken from git (``BEFORE``, the last commit before the
storage was rewritten around one SQL seam) and run in a subprocess: it creates a
database and fills it. This code then opens it, reads back exactly what the earlier
code read, and writes to it; the migrations added since (:data:`ADDED_SINCE`) are all
it applies, leaving what was there unchanged. A database this code creates from
nothing has the same schema, to the letter.

Run as a script (``write ADDRESS``), this file is that subprocess's program.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
import sqlite3
import subprocess
import sys
import tarfile
import uuid
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from storage_fixtures import ShiftedReactor, _admin, postgres_address, start_test_storage
from twisted.internet import task, threads
from twisted.internet.defer import ensureDeferred

from nakama_rt.storage import open_storage
from nakama_rt.storage.chat import StoredMessage, StoredNotification, StreamKey
from nakama_rt.storage.social import FRIEND, INVITE_SENT

#: The schema versions added since ``BEFORE``: an upgrade applies these, and only these.
ADDED_SINCE = [4, 5]  # storage objects, leaderboards (issue 16)
#: The last commit of the storage package before the one SQL seam (issue 14).
BEFORE = "c8f04a94bba1a460371143965a2d81dcbe023a99"
REPOSITORY = Path(__file__).resolve().parent.parent
ROOM = StreamKey(2, "", "", "room")
NOW = 1_700_000_000.25


# What both versions run: the same calls, the same interface ---------------------------------


async def fill(storage: Any) -> dict[str, str]:
    """Accounts, a device, an invite, a group with a member, a message, a notification."""
    alice = await storage.create_user(
        "alice",
        custom_id="alice-custom",
        device_id="alice-device",
        email="Alice@Example.com",
        password_hash=b"\x00hash",
    )
    bob = await storage.create_user("bob")
    await storage.add_friends(alice.id, [bob.id], '{"met": "online"}')
    group = await storage.create_group(alice.id, "Knights", description="Ni", open=True)
    await storage.join_group(group.id, bob.id)
    sent = int(NOW * 1_000_000)
    await storage.add_message(
        StoredMessage(str(uuid.UUID(int=1)), 0, alice.id, "alice", ROOM, '{"a":1}', sent, sent)
    )
    await storage.add_notifications(
        [StoredNotification(str(uuid.UUID(int=2)), bob.id, "hi", "{}", 1, alice.id, sent)]
    )
    return {"alice": alice.id, "bob": bob.id, "group": group.id}


def _plain(value: Any) -> Any:
    """JSON-able, exactly: records as dicts, bytes as hex."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, bytes):
        return value.hex()
    return value


async def read(storage: Any, ids: dict[str, str]) -> Any:
    """Everything ``fill`` wrote, read back through the interface."""
    alice, bob, group = ids["alice"], ids["bob"], ids["group"]
    return _plain(
        [
            await storage.get_user(alice),
            await storage.get_user_by_device_id("alice-device"),
            await storage.get_user_by_email("alice@example.com"),
            sorted(await storage.get_users(ids=[alice, bob]), key=lambda user: user.id),
            await storage.list_friends(alice, 10),
            await storage.list_friends(bob, 10),
            await storage.get_group(group),
            await storage.list_group_users(group, 10),
            await storage.list_user_groups(bob, 10),
            await storage.list_groups(10, name="knights"),
            await storage.list_messages(ROOM, 10, True, None),
            await storage.list_notifications(bob, 10, None),
        ]
    )


async def _write(reactor: Any, address: str) -> None:
    storage = open_storage(address, ShiftedReactor(reactor, now=NOW))
    await storage.start()
    try:
        ids = await fill(storage)
        code = sys.modules[open_storage.__module__].__file__
        print(json.dumps({"code": code, "ids": ids, "read": await read(storage, ids)}))
    finally:
        await storage.stop()


# The test --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def before(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package as it was at ``BEFORE``, in a directory of its own."""
    try:
        archive = subprocess.run(
            ["git", "-C", str(REPOSITORY), "archive", "--format=tar", BEFORE, "nakama_rt"],
            capture_output=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as error:
        pytest.skip(f"the earlier storage is not in git here: {error}")
    root = tmp_path_factory.mktemp("before")
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(root, filter="data")
    return root


def run_before(root: Path, address: str) -> dict[str, Any]:
    """Create and fill a database at ``address`` with the earlier code."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run(
        [sys.executable, __file__, "write", address],
        cwd=root,  # Not this checkout: its nakama_rt would come first.
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def describe(address: str) -> dict[str, Any]:
    """The database's schema as the catalog has it, and the versions recorded."""
    if address.startswith("sqlite:"):
        with closing(sqlite3.connect(address[len("sqlite:") :])) as db:
            found = {
                "objects": db.execute(
                    "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
                ).fetchall(),
                "versions": db.execute("SELECT version FROM nakama_rt_schema").fetchall(),
            }
        return json.loads(json.dumps(found))
    import psycopg

    queries = {
        "columns": "SELECT table_name, column_name, data_type, character_maximum_length, "
        "column_default, is_nullable FROM information_schema.columns "
        "WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position",
        "constraints": "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
        "FROM pg_constraint WHERE connamespace = current_schema()::regnamespace "
        "ORDER BY 1, 2",
        "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes "
        "WHERE schemaname = current_schema() ORDER BY 1, 2",
        "versions": "SELECT version FROM nakama_rt_schema ORDER BY version",
    }
    with psycopg.connect(address) as conn:
        schema = conn.execute("SELECT current_schema()").fetchone()[0]
        found = {name: conn.execute(sql).fetchall() for name, sql in queries.items()}
    # Index definitions name their schema, which differs between two test databases.
    return json.loads(re.sub(rf"\b{schema}\.", "", json.dumps(found, default=str)))


@pytest_twisted.ensureDeferred
async def test_a_database_made_before_opens_and_only_gains_what_was_added(
    storage_kind, tmp_path, before
):
    schema = None
    if storage_kind == "sqlite":
        address = f"sqlite:{tmp_path / 'before.sqlite3'}"
    else:
        schema = f"nrt_test_{uuid.uuid4().hex}"
        await threads.deferToThread(_admin, f"CREATE SCHEMA {schema}")
        address = postgres_address(schema)
    fresh = None
    try:
        written = await threads.deferToThread(run_before, before, address)
        assert Path(written["code"]).is_relative_to(before)  # The earlier code wrote it.
        made_before = describe(address)
        assert made_before["versions"] == [[1], [2], [3]]

        storage = open_storage(address, ShiftedReactor(now=NOW + 60))
        await storage.start()
        try:
            assert await read(storage, written["ids"]) == written["read"]
            alice, bob = written["ids"]["alice"], written["ids"]["bob"]
            assert await storage.friend_state(alice, bob) == INVITE_SENT
            assert await storage.add_friends(bob, [alice]) == {alice: True}
            assert await storage.friend_state(alice, bob) == FRIEND
            carol = await storage.create_user("carol", device_id="carol-device")
            assert await storage.get_user_by_device_id("carol-device") == carol
        finally:
            await storage.stop()
        upgraded = describe(address)
        # Only the migrations added since ran: what was there is as it was, to the letter.
        assert upgraded["versions"][:3] == made_before["versions"]
        assert [v for (v,) in upgraded["versions"][3:]] == ADDED_SINCE
        for part, rows in made_before.items():
            assert all(row in upgraded[part] for row in rows), part

        fresh = await start_test_storage(storage_kind, tmp_path / "fresh", ShiftedReactor())
        await fresh.storage.stop()
        assert describe(fresh.address) == upgraded
    finally:
        if fresh is not None:
            await fresh.close()
        if schema is not None:
            await threads.deferToThread(_admin, f"DROP SCHEMA IF EXISTS {schema} CASCADE")


if __name__ == "__main__":
    mode, address = sys.argv[1:]
    assert mode == "write", mode
    task.react(lambda reactor: ensureDeferred(_write(reactor, address)))
