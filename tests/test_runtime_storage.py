"""``nk.storage_*``: the storage engine as the runtime reaches it (no permission applies),
on both backends."""

from __future__ import annotations

import hashlib

import pytest
import pytest_twisted
from storage_fixtures import ShiftedReactor, start_test_storage
from twisted.internet.defer import succeed

from nakama_rt.runtime import NakamaModule
from nakama_rt.storage import SYSTEM_USER_ID
from nakama_rt.storage.objects import DeleteRejected, VersionRejected
from nakama_rt.testing import FakeNakama

NOW = 1_700_000_000.0


class NoNotifications:
    def send(self, notifications):
        return succeed(None)


@pytest_twisted.async_yield_fixture
async def nk(storage_kind, tmp_path):
    opened = await start_test_storage(storage_kind, tmp_path, ShiftedReactor(now=NOW))
    yield NakamaModule(opened.storage, NoNotifications())
    await opened.close()


async def user(nk: NakamaModule, name: str) -> str:
    return (await nk._storage.create_user(name)).id


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


@pytest_twisted.ensureDeferred
async def test_write_read_list_delete_as_the_server(nk):
    alice = await user(nk, "alice")
    acks = await nk.storage_write(
        [
            {"collection": "c", "key": "a", "user_id": alice, "value": {"b": 1, "a": [1]}},
            {"collection": "c", "key": "s", "value": '{"x":1}', "permission_read": 0},
            {"collection": "c", "key": "w", "user_id": alice, "value": {}, "permission_write": 0},
        ]
    )
    assert [(a.key, a.user_id, a.version) for a in acks] == [
        ("a", alice, md5('{"a":[1],"b":1}')),
        ("s", SYSTEM_USER_ID, md5('{"x":1}')),
        ("w", alice, md5("{}")),
    ]
    found = await nk.storage_read(
        [
            {"collection": "c", "key": "s"},
            {"collection": "c", "key": "a", "user_id": alice},
            {"collection": "c", "key": "missing"},
        ]
    )
    assert [(o.key, o.value, o.permission_read) for o in found] == [
        ("s", '{"x": 1}', 0),
        ("a", '{"a": [1], "b": 1}', 1),
    ]
    # Write permission 0 does not stop the server.
    (ack,) = await nk.storage_write(
        [{"collection": "c", "key": "w", "user_id": alice, "value": {"v": 2}}]
    )
    assert ack.version == md5('{"v":2}')
    objects, cursor = await nk.storage_list(None, "c")
    assert [(o.key, o.user_id) for o in objects] == [
        ("s", SYSTEM_USER_ID),
        ("a", alice),
        ("w", alice),
    ]
    assert cursor == ""
    await nk.storage_delete(
        [
            {"collection": "c", "key": "w", "user_id": alice},
            {"collection": "c", "key": "missing"},
        ]
    )
    assert [o.key for o in (await nk.storage_list(alice, "c"))[0]] == ["a"]


@pytest_twisted.ensureDeferred
async def test_versions_guard_the_runtime_too(nk):
    await nk.storage_write([{"collection": "c", "key": "k", "value": {}, "version": "*"}])
    with pytest.raises(VersionRejected):
        await nk.storage_write([{"collection": "c", "key": "k", "value": {}, "version": "*"}])
    with pytest.raises(DeleteRejected):
        await nk.storage_delete([{"collection": "c", "key": "k", "version": md5("[]")}])
    await nk.storage_delete([{"collection": "c", "key": "k", "version": md5("{}")}])
    assert await nk.storage_read([{"collection": "c", "key": "k"}]) == []


@pytest_twisted.ensureDeferred
async def test_a_listing_for_a_caller_sees_what_the_caller_may(nk):
    alice, bob = await user(nk, "alice"), await user(nk, "bob")
    await nk.storage_write(
        [
            {"collection": "c", "key": f"r{p}", "user_id": alice, "value": {}, "permission_read": p}
            for p in range(3)
        ]
    )
    assert [o.key for o in (await nk.storage_list(alice, "c"))[0]] == ["r0", "r1", "r2"]
    assert [o.key for o in (await nk.storage_list(alice, "c", caller_id=alice))[0]] == ["r1", "r2"]
    assert [o.key for o in (await nk.storage_list(alice, "c", caller_id=bob))[0]] == ["r2"]
    assert [o.key for o in (await nk.storage_list(None, "c", caller_id=bob))[0]] == ["r2"]
    assert await nk.storage_list(alice, "c", 0) == ([], "")
    first, cursor = await nk.storage_list(alice, "c", 2)
    rest, last = await nk.storage_list(alice, "c", 2, cursor)
    assert [o.key for o in first + rest] == ["r0", "r1", "r2"] and last == ""


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda nk: nk.storage_read([{"collection": "", "key": "k"}]),
         "expects collection to be a non-empty string"),
        (lambda nk: nk.storage_read([{"collection": "c", "key": 1}]),
         "expects key to be a non-empty string"),
        (lambda nk: nk.storage_read([{"collection": "c", "key": "k", "user_id": "x"}]),
         "expects an empty or valid user id"),
        (lambda nk: nk.storage_read(["c/k"]), "expects each object to be a mapping"),
        (lambda nk: nk.storage_write([{"collection": "c", "key": "k", "value": [1]}]),
         "value must be a JSON-encoded object"),
        (lambda nk: nk.storage_write([{"collection": "c", "key": "k", "value": "[1]"}]),
         "value must be a JSON-encoded object"),
        (lambda nk: nk.storage_write([{"collection": "c", "key": "k"}]),
         "value must be a JSON-encoded object"),
        (lambda nk: nk.storage_write([{"collection": "c", "key": "k", "value": '{"a":"\\u0000"}'}]),
         "value cannot be stored (nul)"),
        (lambda nk: nk.storage_write([{"collection": "c", "key": "k", "value": {},
                                       "permission_read": 3}]),
         "expects permission_read to be 0, 1 or 2"),
        (lambda nk: nk.storage_write([{"collection": "c", "key": "k", "value": {},
                                       "permission_write": True}]),
         "expects permission_write to be 0 or 1"),
        (lambda nk: nk.storage_write([{"collection": "c" * 129, "key": "k", "value": {}}]),
         "expects collection and key of at most 128 characters"),
        (lambda nk: nk.storage_delete([{"collection": "c", "key": "k", "version": 1}]),
         "expects version to be a string"),
        (lambda nk: nk.storage_list(None, "c", caller_id="x"),
         "expects an empty or valid caller id"),
        (lambda nk: nk.storage_list("x", "c"), "expects an empty or valid user id"),
        (lambda nk: nk.storage_list(None, "c", -1), "limit must not be negative"),
    ],
)  # fmt: skip
def test_bad_arguments_raise_at_once(call, message):
    nk = NakamaModule(None, NoNotifications())  # never reached: the checks come first
    with pytest.raises(ValueError) as raised:
        call(nk)
    assert str(raised.value) == message


def test_nothing_to_do_needs_no_storage():
    nk = NakamaModule(None, NoNotifications())
    assert nk.storage_read([]).result == []
    assert nk.storage_write([]).result == []
    assert nk.storage_delete([]).result is None


def test_the_fake_nk_has_no_storage_engine():
    nk = FakeNakama()
    with pytest.raises(RuntimeError, match="storage engine"):
        nk.storage_read([{"collection": "c", "key": "k"}])
    assert [call.name for call in nk.calls] == ["storage_read"]
