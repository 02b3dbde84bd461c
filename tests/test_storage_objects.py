"""The storage engine's contract (Nakama's storage objects), identical on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import uuid

import pytest
import pytest_twisted
from storage_fixtures import clock_and_storage, create_users
from twisted.internet.defer import DeferredList, gatherResults
from zope.interface.verify import verifyObject

from nakama_rt.storage import SYSTEM_USER_ID
from nakama_rt.storage.jsonb import InvalidValue, object_value
from nakama_rt.storage.objects import (
    DeleteRejected,
    IObjectStorage,
    ObjectId,
    PermissionRejected,
    StorageAck,
    StorageWrite,
    VersionRejected,
)
from nakama_rt.storage.objects_cursor import ListPosition, decode_cursor, encode_cursor
from nakama_rt.storage.social import InvalidCursor

NOW = 1_700_000_000.25


clock, storage = clock_and_storage(NOW)


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def put(user_id: str, key: str, value: str = "{}", collection: str = "c", **fields) -> StorageWrite:
    return StorageWrite(collection, key, user_id, object_value(value), **fields)


async def keys(deferred) -> list[str]:
    return [o.key for o in await deferred]


async def expect(failure_type, deferred):
    """The failure ``deferred`` fails with, of ``failure_type``."""
    with pytest.raises(failure_type) as raised:
        await deferred
    return raised.value


def test_provides_interface(storage):
    assert verifyObject(IObjectStorage, storage)


# Writes and reads --------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_write_then_read_back(storage):
    (alice,) = await create_users(storage, "alice")
    acks = await storage.write_objects(alice, [put(alice, "k", '{"b":1,"a":[1,2]}')])
    version = md5('{"b":1,"a":[1,2]}')
    assert acks == [StorageAck("c", "k", alice, version, NOW, NOW)]
    (stored,) = await storage.read_objects(alice, [ObjectId("c", "k", alice)])
    assert (stored.collection, stored.key, stored.user_id) == ("c", "k", alice)
    assert (stored.value, stored.version) == ('{"a": [1, 2], "b": 1}', version)
    assert (stored.permission_read, stored.permission_write) == (1, 1)
    assert (stored.create_time, stored.update_time) == (NOW, NOW)


VALUES = [
    ('{"bb":1,"a":2,"ab":3,"é":4,"a":5}', '{"a": 5, "ab": 3, "bb": 1, "é": 4}'),
    ('{"n":[1e2,-0,-0.0,2.50,1.5E-3,12345678901234567890123]}',
     '{"n": [100, 0, 0.0, 2.50, 0.0015, 12345678901234567890123]}'),
    ('{"s":"\\u00e9\\n\\u001f/\\"\\ud83d\\ude00"}', '{"s": "é\\n\\u001f/\\"😀"}'),
    ('  {"t":true,"f":false,"z":null,"o":{},"l":[]}  ',
     '{"f": false, "l": [], "o": {}, "t": true, "z": null}'),
]  # fmt: skip


@pytest.mark.parametrize("written, stored", VALUES)
@pytest_twisted.ensureDeferred
async def test_values_read_back_as_postgresql_jsonb_writes_them(storage, written, stored):
    (alice,) = await create_users(storage, "alice")
    await storage.write_objects(None, [put(alice, "k", written)])
    (read,) = await storage.read_objects(None, [ObjectId("c", "k", alice)])
    assert (read.value, read.version) == (stored, md5(written))


@pytest.mark.parametrize(
    "value, reason",
    [
        ("[]", "not_object"),
        ('"x"', "not_object"),
        ("{", "not_object"),
        ('{"a":1} {}', "not_object"),
        ('{"a":NaN}', "not_object"),
        ("", "not_object"),
        ('{"a":"\\u0000"}', "nul"),
        ('{"\\u0000":1}', "nul"),
        ('{"a":"\\ud800"}', "unicode"),
        ('{"a":1e131072}', "number"),
        ('{"a":1e-16384}', "number"),
        ('{"a":' + "[" * 5000 + "]" * 5000 + "}", "not_object"),
    ],
)
def test_values_postgresql_would_refuse_are_refused(value, reason):
    with pytest.raises(InvalidValue) as refused:
        object_value(value)
    assert refused.value.reason == reason


def test_a_value_may_not_grow_past_its_bound(monkeypatch):
    from nakama_rt.storage import jsonb

    monkeypatch.setattr(jsonb, "MAX_VALUE_CHARS", 100)
    assert object_value('{"a":1e90}').text == '{"a": 1' + "0" * 90 + "}"
    with pytest.raises(InvalidValue) as refused:
        object_value('{"a":1e100}')
    assert refused.value.reason == "too_large"


@pytest_twisted.ensureDeferred
async def test_create_only_and_a_failed_batch_writes_nothing(storage, clock):
    (alice,) = await create_users(storage, "alice")
    await storage.write_objects(alice, [put(alice, "k", '{"v":1}', version="*")])
    clock.advance(5)
    await expect(VersionRejected, storage.write_objects(alice, [put(alice, "k", version="*")]))
    batch = [put(alice, "new"), put(alice, "k", '{"v":2}', version="*")]
    refused = await expect(VersionRejected, storage.write_objects(alice, batch))
    assert str(refused) == "Storage write rejected - version check failed."
    assert await storage.read_objects(alice, [ObjectId("c", "new", alice)]) == []
    (kept,) = await storage.read_objects(alice, [ObjectId("c", "k", alice)])
    assert (kept.value, kept.update_time) == ('{"v": 1}', NOW)


@pytest_twisted.ensureDeferred
async def test_a_given_version_must_match(storage, clock):
    (alice,) = await create_users(storage, "alice")
    await storage.write_objects(alice, [put(alice, "k", '{"v":1}')])
    stale = put(alice, "k", '{"v":2}', version=md5("{}"))
    await expect(VersionRejected, storage.write_objects(alice, [stale]))
    missing = put(alice, "other", version=md5("{}"))
    await expect(VersionRejected, storage.write_objects(alice, [missing]))
    clock.advance(10)
    current = put(alice, "k", '{"v":2}', version=md5('{"v":1}'))
    (ack,) = await storage.write_objects(alice, [current])
    assert (ack.version, ack.create_time, ack.update_time) == (md5('{"v":2}'), NOW, NOW + 10)
    (stored,) = await storage.read_objects(alice, [ObjectId("c", "k", alice)])
    assert (stored.value, stored.create_time, stored.update_time) == ('{"v": 2}', NOW, NOW + 10)


@pytest_twisted.ensureDeferred
async def test_writing_the_same_object_again_changes_nothing(storage, clock):
    (alice,) = await create_users(storage, "alice")
    await storage.write_objects(alice, [put(alice, "k", '{"v":1}')])
    clock.advance(3)
    (same,) = await storage.write_objects(alice, [put(alice, "k", '{"v":1}')])
    assert (same.create_time, same.update_time) == (NOW, NOW)
    # The same value with other permissions, or written otherwise, is a change.
    (public,) = await storage.write_objects(alice, [put(alice, "k", '{"v":1}', permission_read=2)])
    assert (public.create_time, public.update_time) == (NOW, NOW + 3)
    clock.advance(3)
    (spaced,) = await storage.write_objects(alice, [put(alice, "k", '{"v": 1}', permission_read=2)])
    assert (spaced.version, spaced.update_time) == (md5('{"v": 1}'), NOW + 6)


@pytest_twisted.ensureDeferred
async def test_write_permission_0_keeps_clients_out_but_not_the_server(storage, clock):
    (alice,) = await create_users(storage, "alice")
    locked = put(alice, "k", '{"v":1}', permission_write=0)
    await storage.write_objects(alice, [locked])
    for attempt in (
        put(alice, "k", '{"v":2}'),
        put(alice, "k", '{"v":1}', permission_write=0),  # even unchanged
        put(alice, "k", version=md5('{"v":1}')),  # even with its version
        put(alice, "k", version="nomatch"),  # before the version is looked at
    ):
        refused = await expect(PermissionRejected, storage.write_objects(alice, [attempt]))
        assert str(refused) == "Storage write rejected - permission denied."
    # "*" only creates, so a version refusal whatever the permission.
    await expect(VersionRejected, storage.write_objects(alice, [put(alice, "k", version="*")]))
    (ack,) = await storage.write_objects(None, [put(alice, "k", '{"v":3}')])
    assert ack.version == md5('{"v":3}')


@pytest_twisted.ensureDeferred
async def test_a_batch_runs_in_key_order_and_reports_the_first_refusal(storage):
    (alice,) = await create_users(storage, "alice")
    await storage.write_objects(
        alice, [put(alice, "a", permission_write=0), put(alice, "b", version="*")]
    )
    # "a" (permission) comes before "b" (version) whatever the order given.
    batch = [put(alice, "b", version="*"), put(alice, "a")]
    await expect(PermissionRejected, storage.write_objects(alice, batch))
    # The collection comes first: ("0", "b") before ("c", "a").
    await storage.write_objects(alice, [put(alice, "b", collection="0")])
    batch = [put(alice, "a"), put(alice, "b", version="*", collection="0")]
    await expect(VersionRejected, storage.write_objects(alice, batch))


@pytest_twisted.ensureDeferred
async def test_acks_follow_the_order_given_and_a_repeated_object_keeps_the_last(storage):
    (alice,) = await create_users(storage, "alice")
    batch = [put(alice, "z", '{"n":1}'), put(alice, "a"), put(alice, "z", '{"n":2}')]
    acks = await storage.write_objects(alice, batch)
    assert [(a.key, a.version) for a in acks] == [
        ("z", md5('{"n":1}')),
        ("a", md5("{}")),
        ("z", md5('{"n":2}')),
    ]
    (stored,) = await storage.read_objects(alice, [ObjectId("c", "z", alice)])
    assert stored.value == '{"n": 2}'
    twice = [put(alice, "y", version="*"), put(alice, "y", version="*")]
    await expect(VersionRejected, storage.write_objects(alice, twice))


@pytest_twisted.ensureDeferred
async def test_arguments_nakama_words_elsewhere_are_programming_errors_here(storage):
    alice, bob = await create_users(storage, "alice", "bob")
    for bad in (
        put(bob, "k"),  # someone else's
        put(alice, "k", collection=""),
        put(alice, "x" * 129),
        put(alice, "k", permission_read=3),
        put(alice, "k", permission_write=-1),
        put("nope", "k"),
    ):
        await expect(ValueError, storage.write_objects(alice, [bad]))
    await expect(ValueError, storage.delete_objects(alice, [ObjectId("c", "k", bob)]))
    await expect(ValueError, storage.list_objects(alice, "nope", "c", 10))
    assert await storage.write_objects(alice, []) == []
    # The longest names fit on both backends.
    (ack,) = await storage.write_objects(alice, [put(alice, "k" * 128, collection="c" * 128)])
    assert ack.key == "k" * 128


@pytest_twisted.ensureDeferred
async def test_the_server_writes_for_anyone_but_an_owner_must_exist(storage):
    (alice,) = await create_users(storage, "alice")
    acks = await storage.write_objects(None, [put(alice, "k"), put(SYSTEM_USER_ID, "k")])
    assert [a.user_id for a in acks] == [alice, SYSTEM_USER_ID]
    with pytest.raises(Exception):  # noqa: B017 (each driver's foreign key error)
        await storage.write_objects(None, [put(str(uuid.uuid4()), "k")])


@pytest_twisted.ensureDeferred
async def test_concurrent_batches_neither_deadlock_nor_lose_a_create_only_race(storage):
    (alice,) = await create_users(storage, "alice")
    forward = [put(alice, "a", '{"n":1}'), put(alice, "b", '{"n":1}')]
    backward = [put(alice, "b", '{"n":2}'), put(alice, "a", '{"n":2}')]
    batches = [storage.write_objects(alice, forward if i % 2 else backward) for i in range(8)]
    assert len(await gatherResults(batches)) == 8
    racing = [storage.write_objects(alice, [put(alice, "new", version="*")]) for _ in range(8)]
    outcomes = await DeferredList(racing, consumeErrors=True)
    failures = [result for succeeded, result in outcomes if not succeeded]
    assert len(failures) == 7 and all(f.check(VersionRejected) for f in failures)


# Read permissions --------------------------------------------------------------------------


async def three_objects(storage, owner_id: str, collection: str = "c") -> None:
    """Objects ``r0``, ``r1``, ``r2`` with read permission 0, 1, 2."""
    await storage.write_objects(
        None,
        [put(owner_id, f"r{p}", collection=collection, permission_read=p) for p in range(3)],
    )


@pytest_twisted.ensureDeferred
async def test_who_reads_what(storage):
    alice, bob = await create_users(storage, "alice", "bob")
    await three_objects(storage, alice)
    ids = [ObjectId("c", f"r{p}", alice) for p in range(3)]
    assert await keys(storage.read_objects(alice, ids)) == ["r1", "r2"]
    assert await keys(storage.read_objects(bob, ids)) == ["r2"]
    assert await keys(storage.read_objects(None, ids)) == ["r0", "r1", "r2"]


@pytest_twisted.ensureDeferred
async def test_reads_follow_the_order_asked_each_object_once(storage):
    (alice,) = await create_users(storage, "alice")
    await three_objects(storage, alice)
    await storage.write_objects(None, [put(SYSTEM_USER_ID, "s", permission_read=2)])
    asked = [
        ObjectId("c", "r2", alice.upper()),
        ObjectId("c", "missing", alice),
        ObjectId("c", "s"),  # no owner: the system's
        ObjectId("c", "r1", alice),
        ObjectId("c", "r2", alice),
        ObjectId("c", "r1", "not-a-uuid"),
    ]
    found = await storage.read_objects(alice, asked)
    assert [(o.key, o.user_id) for o in found] == [
        ("r2", alice),
        ("s", SYSTEM_USER_ID),
        ("r1", alice),
    ]
    assert await storage.read_objects(alice, []) == []


# Deletes -----------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_deletes_are_checked_and_all_or_nothing(storage):
    (alice,) = await create_users(storage, "alice")
    await storage.write_objects(
        alice,
        [put(alice, "a", '{"v":1}'), put(alice, "b"), put(alice, "locked", permission_write=0)],
    )
    for refused_batch in (
        [ObjectId("c", "a", alice), ObjectId("c", "missing", alice)],
        [ObjectId("c", "a", alice), ObjectId("c", "locked", alice)],
        [ObjectId("c", "a", alice, version="nomatch")],
        [ObjectId("c", "a", alice, version="*")],
        [ObjectId("c", "a", alice), ObjectId("c", "a", alice)],
    ):
        refused = await expect(DeleteRejected, storage.delete_objects(alice, refused_batch))
        assert str(refused) == (
            "Storage delete rejected - not found, version check failed, or permission denied."
        )
    assert await keys(storage.read_objects(alice, [ObjectId("c", "a", alice)])) == ["a"]
    await storage.delete_objects(
        alice, [ObjectId("c", "a", alice, version=md5('{"v":1}')), ObjectId("c", "b", alice)]
    )
    assert await storage.read_objects(None, [ObjectId("c", k, alice) for k in "ab"]) == []


@pytest_twisted.ensureDeferred
async def test_the_server_deletes_anything_and_missing_is_no_error(storage):
    (alice,) = await create_users(storage, "alice")
    await storage.write_objects(None, [put(alice, "locked", permission_write=0)])
    await storage.delete_objects(
        None, [ObjectId("c", "locked", alice), ObjectId("c", "missing", alice)]
    )
    assert await storage.read_objects(None, [ObjectId("c", "locked", alice)]) == []
    guarded = [ObjectId("c", "missing", alice, version=md5("{}"))]
    await expect(DeleteRejected, storage.delete_objects(None, guarded))


# Listings ----------------------------------------------------------------------------------


async def listed(storage, caller, owner_id, limit=100, collection="c", cursor=""):
    page = await storage.list_objects(caller, owner_id, collection, limit, cursor)
    return [(o.key, o.user_id, o.permission_read) for o in page.objects], page.cursor


@pytest_twisted.ensureDeferred
async def test_each_listing_filters_and_orders_as_nakama(storage):
    # Fixed ids, so that the owner order is known.
    alice = (await storage.create_user("alice", user_id="10000000-0000-4000-8000-000000000000")).id
    bob = (await storage.create_user("bob", user_id="20000000-0000-4000-8000-000000000000")).id
    await three_objects(storage, alice)
    await three_objects(storage, bob)
    await storage.write_objects(None, [put(alice, "a", permission_read=2)])
    await storage.write_objects(None, [put(bob, "other", collection="d", permission_read=2)])
    # Everyone's public objects, by key then owner.
    everyone = [("a", alice, 2), ("r2", alice, 2), ("r2", bob, 2)]
    assert await listed(storage, bob, None) == (everyone, "")
    # Everyone's objects, for the server: by read permission, key, owner.
    every = [("r0", alice, 0), ("r0", bob, 0), ("r1", alice, 1), ("r1", bob, 1), *everyone]
    assert await listed(storage, None, None) == (every, "")
    # One's own: what one may read, by read permission then key.
    assert await listed(storage, alice, alice) == ([("r1", alice, 1), *everyone[:2]], "")
    # Another's: public only, by key.
    assert await listed(storage, bob, alice) == (everyone[:2], "")
    # The server's view of one owner: every object.
    assert (await listed(storage, None, alice))[0] == [("r0", alice, 0), ("r1", alice, 1)] + (
        everyone[:2]
    )
    assert await listed(storage, alice, None, collection="nothing") == ([], "")
    assert await listed(storage, alice, None, limit=0) == ([], "")


@pytest_twisted.ensureDeferred
@pytest.mark.parametrize("who", ["public", "server", "own", "theirs", "server-owner"])
async def test_cursors_page_through_every_listing(storage, who):
    alice, bob = await create_users(storage, "alice", "bob")
    for owner_id in (alice, bob):
        await storage.write_objects(
            None, [put(owner_id, f"k{i}", permission_read=i % 3) for i in range(7)]
        )
    caller, owner_id = {
        "public": (alice, None),
        "server": (None, None),
        "own": (alice, alice),
        "theirs": (bob, alice),
        "server-owner": (None, alice),
    }[who]
    everything, _ = await listed(storage, caller, owner_id)
    assert everything
    pages, cursor = [], ""
    while True:
        page, cursor = await listed(storage, caller, owner_id, limit=2, cursor=cursor)
        assert 1 <= len(page) <= 2
        pages += page
        if not cursor:
            break
    assert pages == everything


@pytest_twisted.ensureDeferred
async def test_a_full_last_page_has_no_cursor_and_a_cursor_is_exclusive(storage):
    (alice,) = await create_users(storage, "alice")
    await storage.write_objects(alice, [put(alice, k, permission_read=2) for k in ("a", "b")])
    assert await listed(storage, alice, alice, limit=2) == (
        [("a", alice, 2), ("b", alice, 2)],
        "",
    )
    first, cursor = await listed(storage, alice, alice, limit=1)
    assert decode_cursor(cursor) == ListPosition("a", alice, 2)
    assert await listed(storage, alice, alice, limit=5, cursor=cursor) == ([("b", alice, 2)], "")


@pytest_twisted.ensureDeferred
async def test_a_cursor_made_by_nakama_pages_here(storage):
    # Written by Nakama 3.40 after listing key "k1" of 40c44ef9-... with read permission 2.
    cursor = (
        "N38DAQENc3RvcmFnZUN1cnNvcgH_gAABAwEDS2V5AQwAAQZVc2VySUQB_4IAAQRSZWFkAQQAAAAQ_4EGAQEE"
        "VVVJRAH_ggAAABv_gAECazEBEEDETvnFv0_DvRpTnb0GIscBBAA"
    )
    (alice,) = await create_users(storage, "alice")
    await storage.write_objects(alice, [put(alice, f"k{i}", permission_read=2) for i in range(3)])
    assert await listed(storage, alice, alice, cursor=cursor) == ([("k2", alice, 2)], "")


@pytest_twisted.ensureDeferred
@pytest.mark.parametrize("cursor", ["garbage!", "abc", "QUJD", "N38D", "a=", "+/+/"])
async def test_a_malformed_cursor_is_refused(storage, cursor):
    (alice,) = await create_users(storage, "alice")
    await expect(InvalidCursor, storage.list_objects(alice, None, "c", 10, cursor))


# Cursors: Go's gob, byte for byte ----------------------------------------------------------

# Made by Go's encoding/gob (Nakama's own code path), with the key, owner and read shown.
GO_CURSORS = [
    (
        ListPosition("k", "6ba7b810-9dad-11d1-80b4-00c04fd430c8", 2),
        "N38DAQENc3RvcmFnZUN1cnNvcgH_gAABAwEDS2V5AQwAAQZVc2VySUQB_4IAAQRSZWFkAQQAAAAQ_4EGAQEE"
        "VVVJRAH_ggAAABr_gAEBawEQa6e4EJ2tEdGAtADAT9QwyAEEAA",
    ),
    (
        ListPosition(),
        "N38DAQENc3RvcmFnZUN1cnNvcgH_gAABAwEDS2V5AQwAAQZVc2VySUQB_4IAAQRSZWFkAQQAAAAQ_4EGAQEE"
        "VVVJRAH_ggAAAAP_gAA",
    ),
    (
        ListPosition("key-2", read=1),
        "N38DAQENc3RvcmFnZUN1cnNvcgH_gAABAwEDS2V5AQwAAQZVc2VySUQB_4IAAQRSZWFkAQQAAAAQ_4EGAQEE"
        "VVVJRAH_ggAAAAz_gAEFa2V5LTICAgA",
    ),
]


@pytest.mark.parametrize("position, cursor", GO_CURSORS)
def test_cursors_are_written_as_go_writes_them(position, cursor):
    assert encode_cursor(position) == cursor
    assert decode_cursor(cursor) == position


U = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
ZERO = SYSTEM_USER_ID


@pytest.mark.parametrize(
    "cursor, position",
    [
        # A Go process that had numbered other types first (type ids 66 and 67).
        (
            "OP-DAwEBDXN0b3JhZ2VDdXJzb3IB_4QAAQMBA0tleQEMAAEGVXNlcklEAf-GAAEEUmVhZAEEAAAAEP-FBgEB"
            "BFVVSUQB_4YAAAAg_4QBB3NoaWZ0ZWQBEGunuBCdrRHRgLQAwE_UMMgBCQA",
            ListPosition("shifted", U, -5),
        ),
        # Another struct with more fields of every kind: matched by name, the rest skipped.
        (
            "ef-HAwEBBHdpZGUB_4gAAQ0BBUV4dHJhAf-KAAEDS2V5AQwAAQFNAf-MAAEDQXJyAf-OAAEGVXNlcklEAf-G"
            "AAEBTgH_ggABAUYBCAABAkJzAQoAAQRSZWFkAQQAAQJOcwH_kAABAUMBDgABAVUBBgABAkJvAQIAAAAT_4kC"
            "AQEFW11pbnQB_4oAAQQAAB7_iwQBAQ5tYXBbc3RyaW5nXWludAH_jAABDAEEAAAZ_40BAQEJWzJdc3RyaW5n"
            "Af-OAAEMAQQAABD_hQYBAQRVVUlEAf-GAAAAIP-BAwEBBm5lc3RlZAH_ggABAgEBQQEEAAEBQgEMAAAAHP-P"
            "AgEBDVtdbWFpbi5uZXN0ZWQB_5AAAf-CAABN_4gBAgIEAQR3aWRlAQEBYQIBAgF4AXkBEGunuBCdrRHRgLQA"
            "wE_UMMgBAQYBAXoAAf74PwECaGkBDgECAQIBAWEAAAH-8D9AAQkBAQA",
            ListPosition("wide", U, 7),
        ),
        # A struct with a Key alone, and one with no fields at all.
        ("Hf-RAwEBB29ubHlLZXkB_5IAAQEBA0tleQEMAAAACf-SAQRvbmx5AA", ListPosition("only", ZERO)),
        ("Ef-VAwEBBWVtcHR5Af-WAAAAA_-WAA", ListPosition()),
    ],
)
def test_any_gob_stream_go_would_decode_is_read(cursor, position):
    assert decode_cursor(cursor) == position


@pytest.mark.parametrize(
    "cursor",
    [
        # A struct whose fields all have other names.
        "GH8DAQEFb3RoZXIB_4AAAQEBAVgBBAAAAAX_gAEGAA",
        # Key of another type.
        "HP-TAwEBBmJhZEtleQH_lAABAQEDS2V5AQQAAAAF_5QBBgA",
        # A plain string, not a struct.
        "EAwADWp1c3QgYSBzdHJpbmc",
        # Read past int32.
        "Hf-XAwEC_5gAAQIBA0tleQEMAAEEUmVhZAEEAAAAEP-YAQNiaWcB-gIAAAAAAAA",
        # UserID as a []byte, not a uuid.UUID.
        "H_-ZAwEC_5oAAQIBA0tleQEMAAEGVXNlcklEAQoAAAAc_5oBBWJ5dGVzARAwMTIzNDU2Nzg5YWJjZGVmAA",
        # A key holding a NUL (Go reads it; no database can compare with it).
        "OP-DAwEBDXN0b3JhZ2VDdXJzb3IB_4QAAQMBA0tleQEMAAEGVXNlcklEAf-GAAEEUmVhZAEEAAAAEP-FBgEB"
        "BFVVSUQB_4YAAAAT_4QBCMO8bWxhdXQAAvz____-AA",
        # Cut short, padded, or not base64url.
        "OP-DAwEBDXN0b3JhZ2VDdXJzb3IB_4QAAQMBA0tleQEMAAEGVXNlcklEAf-G",
        "OP-DAwEBDXN0b3JhZ2VDdXJzb3IB_4QAAQMBA0tleQEMAAEGVXNlcklEAf-GAAEEUmVhZAEEAAAAEP-FBgEBBFVVSUQB_4YAAAAa_4QBAWsBEGunuBCdrRHRgLQAwE_UMMgBBAA=",
        "OP-DAwEBDXN0b3JhZ2VDdXJzb3IB/4QAAQMBA0tleQEMAAEGVXNlcklEAf-GAAEEUmVhZAEEAAAAEP-FBgEBBFVVSUQB/4YAAAAa/4QBAWsBEGunuBCdrRHRgLQAwE/UMMgBBAA",
        "\n",
    ],
)
def test_what_go_would_refuse_is_refused(cursor):
    with pytest.raises(InvalidCursor):
        decode_cursor(cursor)


def test_go_skips_line_breaks_in_base64():
    position, cursor = GO_CURSORS[0]
    assert decode_cursor(cursor[:20] + "\r\n" + cursor[20:]) == position
