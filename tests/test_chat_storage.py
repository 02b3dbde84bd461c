"""Channel messages and notifications in storage: the same tests on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import uuid

import pytest_twisted
from storage_fixtures import ShiftedReactor, start_test_storage
from twisted.internet.defer import gatherResults
from zope.interface.verify import verifyObject

from nakama_rt.storage.chat import IChatStorage, StoredMessage, StoredNotification, StreamKey

ROOM = StreamKey(2, "", "", "lobby")
OTHER_ROOM = StreamKey(2, "", "", "other")


@pytest_twisted.async_yield_fixture
async def storage(storage_kind, tmp_path):
    opened = await start_test_storage(storage_kind, tmp_path, ShiftedReactor(now=1_700_000_000))
    yield opened.storage
    await opened.close()


def message(n: int, stream: StreamKey = ROOM, sender: str = "s1", at: int | None = None):
    return StoredMessage(
        id=str(uuid.UUID(int=n)),
        code=0,
        sender_id=sender,
        username="alice",
        stream=stream,
        content=f'{{"n":{n}}}',
        create_time_us=at if at is not None else 1000 + n,
        update_time_us=at if at is not None else 1000 + n,
    )


def test_provides_the_chat_interface(storage) -> None:
    assert verifyObject(IChatStorage, storage)


@pytest_twisted.ensureDeferred
async def test_messages_list_in_order_both_ways_with_positions(storage) -> None:
    for n in range(1, 8):
        await storage.add_message(message(n))
    await storage.add_message(message(100, OTHER_ROOM))
    forward = await storage.list_messages(ROOM, 3, True, None)
    assert [m.content for m in forward] == ['{"n":1}', '{"n":2}', '{"n":3}']
    after = await storage.list_messages(
        ROOM, 10, True, (forward[-1].create_time_us, forward[-1].id)
    )
    assert [m.content for m in after] == [f'{{"n":{n}}}' for n in range(4, 8)]
    backward = await storage.list_messages(ROOM, 2, False, None)
    assert [m.content for m in backward] == ['{"n":7}', '{"n":6}']
    before = await storage.list_messages(
        ROOM, 10, False, (backward[-1].create_time_us, backward[-1].id)
    )
    assert [m.content for m in before] == [f'{{"n":{n}}}' for n in range(5, 0, -1)]
    assert forward[0].stream == ROOM


@pytest_twisted.ensureDeferred
async def test_equal_times_order_by_id_and_positions_stay_stable(storage) -> None:
    for n in (5, 3, 9):
        await storage.add_message(message(n, at=42))
    page = await storage.list_messages(ROOM, 2, True, None)
    assert [m.id for m in page] == [str(uuid.UUID(int=n)) for n in (3, 5)]
    await storage.add_message(message(1, at=41))  # inserted before the position: not seen
    rest = await storage.list_messages(ROOM, 10, True, (42, page[-1].id))
    assert [m.id for m in rest] == [str(uuid.UUID(int=9))]


@pytest_twisted.ensureDeferred
async def test_only_the_sender_updates_or_removes(storage) -> None:
    await storage.add_message(message(1))
    mid = str(uuid.UUID(int=1))
    assert await storage.update_message(mid, "intruder", "{}", "x", 5000) is None
    assert await storage.update_message(mid, "s1", '{"v":2}', "alice2", 5000) == 1001
    (updated,) = await storage.list_messages(ROOM, 10, True, None)
    assert (updated.content, updated.username, updated.update_time_us) == (
        '{"v":2}',
        "alice2",
        5000,
    )
    assert await storage.remove_message(mid, "intruder") is None
    assert await storage.remove_message(mid, "s1") == (1001, 5000)
    assert await storage.list_messages(ROOM, 10, True, None) == []
    assert await storage.remove_message(mid, "s1") is None


@pytest_twisted.ensureDeferred
async def test_concurrent_inserts_lose_nothing(storage) -> None:
    await gatherResults([storage.add_message(message(n, at=7)) for n in range(1, 51)])
    listed = await storage.list_messages(ROOM, 100, True, None)
    assert len(listed) == 50
    assert len({m.id for m in listed}) == 50


@pytest_twisted.ensureDeferred
async def test_notifications_add_list_page_and_delete(storage) -> None:
    def note(n: int, user: str = "u1") -> StoredNotification:
        return StoredNotification(
            id=str(uuid.UUID(int=n)),
            user_id=user,
            subject=f"s{n}",
            content="{}",
            code=n,
            sender_id="",
            create_time_us=100 + n,
        )

    await storage.add_notifications([note(n) for n in range(1, 6)] + [note(9, "u2")])
    first = await storage.list_notifications("u1", 2, None)
    assert [n.code for n in first] == [1, 2]
    rest = await storage.list_notifications("u1", 10, (first[-1].create_time_us, first[-1].id))
    assert [n.code for n in rest] == [3, 4, 5]
    await storage.delete_notifications("u1", [str(uuid.UUID(int=2)), str(uuid.UUID(int=9))])
    assert [n.code for n in await storage.list_notifications("u1", 10, None)] == [1, 3, 4, 5]
    assert [n.code for n in await storage.list_notifications("u2", 10, None)] == [9]


@pytest_twisted.ensureDeferred
async def test_chat_calls_never_run_on_the_reactor_thread(storage) -> None:
    seen = []
    database = storage._db
    original = database.transaction

    def spy(fn, *args):
        seen.append(threading.get_ident())
        return original(fn, *args)

    database.transaction = spy
    await storage.add_message(message(1))
    await storage.list_messages(ROOM, 1, True, None)
    assert seen and threading.get_ident() not in seen
