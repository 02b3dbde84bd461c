"""Nakama's storage engine on the wire, on our server and, when configured, on real Nakama.

Every expectation here was observed on a reference Nakama 3.40 (PostgreSQL) built from
heroiclabs/nakama; ``NAKAMA_RT_REFERENCE=127.0.0.1:17350`` runs each case there too.
Ours runs on the embedded SQLite, so what PostgreSQL's ``jsonb`` does to a stored value
(its canonical text) is checked here for both.
"""

from __future__ import annotations

import hashlib
import re
import uuid

import pytest_twisted

from tests.targets import bearer, call, cases_on_targets, expect, new_user, on_targets

STORAGE = "/v2/storage"
#: A write's ack stamps microseconds; a read's object, seconds.
ACK_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
READ_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def version(value: str) -> str:
    """Nakama's version of a value: the md5 of its bytes as the client sent them."""
    return hashlib.md5(value.encode()).hexdigest()


async def write(target, user, *objects: dict):
    return await call(target, "PUT", STORAGE, {"objects": list(objects)}, bearer(user))


async def read(target, user, *ids: dict):
    return await call(target, "POST", STORAGE, {"object_ids": list(ids)}, bearer(user))


def without_times(objects: list[dict], pattern: re.Pattern) -> list[dict]:
    """The objects with their two times checked against ``pattern`` and taken out."""
    for o in objects:
        assert pattern.match(o.pop("create_time")) and pattern.match(o.pop("update_time")), o
    return objects


# value as written, the value as every read gives it back (PostgreSQL's jsonb text)
VALUES = [
    ("compact", '{"a":1}', '{"a": 1}'),
    ("empty", "{ }", "{}"),
    ("keys by length, then bytes", '{"bb":1,"a":2,"ab":{"z":[1,2]}}',
     '{"a": 2, "ab": {"z": [1, 2]}, "bb": 1}'),
    ("a repeated key keeps the last", '{"a":1,"a":2}', '{"a": 2}'),
    ("numbers as written, exponents spelled out", '{"f":0.1000,"e":1e2,"z":-0,"d":2.50}',
     '{"d": 2.50, "e": 100, "f": 0.1000, "z": 0}'),
    ("a big integer", '{"n":12345678901234567890123}', '{"n": 12345678901234567890123}'),
    ("escapes", '{"s":"a\\"b\\\\c/d\\n","u":"\\u00e9\\u4e2d"}',
     '{"s": "a\\"b\\\\c/d\\n", "u": "\u00e9\u4e2d"}'),
    ("literals", '{"y":true,"x":null,"n":false}', '{"n": false, "x": null, "y": true}'),
]  # fmt: skip


@cases_on_targets("label, written, stored", VALUES)
@pytest_twisted.ensureDeferred
async def test_a_value_reads_back_as_postgresql_keeps_it(target, label, written, stored):
    user = await new_user(target)
    key = f"k{uuid.uuid4().hex[:8]}"
    acked = await write(target, user, {"collection": "fmt", "key": key, "value": written})
    assert acked.status == 200, acked.body
    (ack,) = without_times(acked.json()["acks"], ACK_TIME)
    assert ack == {"collection": "fmt", "key": key, "version": version(written),
                   "user_id": user.user_id}  # fmt: skip
    got = await read(target, user, {"collection": "fmt", "key": key, "user_id": user.user_id})
    assert got.status == 200
    (obj,) = without_times(got.json()["objects"], READ_TIME)
    assert obj == {
        "collection": "fmt",
        "key": key,
        "user_id": user.user_id,
        "value": stored,
        "version": version(written),
        "permission_read": 1,
        "permission_write": 1,
    }
    assert got.body.startswith(b'{"objects":[{"collection":"fmt","key":')


OBJ = {"collection": "c", "key": "k", "value": "{}"}

# label, objects of one write, status, gRPC code, message
WRITE_ERRORS = [
    ("an array", [{**OBJ, "value": "[1]"}], 400, 3, "Value must be a JSON object."),
    ("not JSON", [{**OBJ, "value": "nope"}], 400, 3, "Value must be a JSON object."),
    ("no collection", [{**OBJ, "collection": ""}], 400, 3,
     "Invalid collection or key value supplied. They must be set."),
    ("no key", [{**OBJ, "key": ""}], 400, 3,
     "Invalid collection or key value supplied. They must be set."),
    ("read permission 3", [{**OBJ, "permission_read": 3}], 400, 3,
     "Invalid Read permission supplied. It must be either 0, 1 or 2."),
    ("write permission 2", [{**OBJ, "permission_write": 2}], 400, 3,
     "Invalid Write permission supplied. It must be either 0 or 1."),
    ("create-only, new", [{**OBJ, "key": "<new>", "version": "nomatch"}], 400, 3,
     "Storage write rejected - version check failed."),
    ("a value that is an object, not a string", [{**OBJ, "value": {"a": 1}}], 400, 3, None),
]  # fmt: skip


@cases_on_targets("label, objects, status, code, message", WRITE_ERRORS)
@pytest_twisted.ensureDeferred
async def test_a_bad_write_is_refused_as_nakama_words_it(target, label, objects, status, code,
                                                         message):  # fmt: skip
    user = await new_user(target)
    new = uuid.uuid4().hex
    objects = [{**o, "key": o["key"].replace("<new>", new)} for o in objects]
    expect(await write(target, user, *objects), status, code, message)


@on_targets()
@pytest_twisted.ensureDeferred
async def test_versions_guard_writes_and_a_failing_batch_writes_nothing(target):
    user = await new_user(target)
    first = await write(target, user, {**OBJ, "value": '{"a":1}', "version": "*"})
    assert first.status == 200
    again = await write(target, user, {**OBJ, "value": '{"a":2}', "version": "*"})
    assert again.body == b'{"code":3,"message":"Storage write rejected - version check failed."}'
    stale = await write(target, user, {**OBJ, "value": '{"a":2}', "version": version("{}")})
    assert stale.status == 400
    current = await write(target, user, {**OBJ, "value": '{"a":2}', "version": version('{"a":1}')})
    assert current.status == 200
    batch = await write(
        target, user, {**OBJ, "key": "other"}, {**OBJ, "value": "{}", "version": "nomatch"}
    )
    assert batch.status == 400
    missing = await read(target, user, {"collection": "c", "key": "other", "user_id": user.user_id})
    assert missing.body == b"{}"


@on_targets()
@pytest_twisted.ensureDeferred
async def test_permissions_decide_who_reads_lists_writes_and_deletes(target):
    owner, other = await new_user(target), await new_user(target)
    for read_permission in (0, 1, 2):
        written = await write(
            target,
            owner,
            {"collection": "perm", "key": f"r{read_permission}", "value": "{}",
             "permission_read": read_permission, "permission_write": 0},
        )  # fmt: skip
        assert written.status == 200
    ids = [{"collection": "perm", "key": f"r{p}", "user_id": owner.user_id} for p in (0, 1, 2)]
    mine = await read(target, owner, *ids)
    assert [o["key"] for o in mine.json()["objects"]] == ["r1", "r2"]
    # permission_write 0 is left out, as proto3 leaves out every zero.
    assert "permission_write" not in mine.json()["objects"][0]
    theirs = await read(target, other, *ids)
    assert [o["key"] for o in theirs.json()["objects"]] == ["r2"]
    listed = await call(target, "GET", f"{STORAGE}/perm/{owner.user_id}", None, bearer(other))
    assert [o["key"] for o in listed.json()["objects"]] == ["r2"]
    assert "cursor" not in listed.json()

    refused = await write(target, owner, {"collection": "perm", "key": "r1", "value": "{}"})
    assert refused.body == b'{"code":3,"message":"Storage write rejected - permission denied."}'
    deleted = await call(
        target, "PUT", f"{STORAGE}/delete", {"object_ids": [{"collection": "perm", "key": "r1"}]},
        bearer(owner),
    )  # fmt: skip
    assert deleted.body == (
        b'{"code":3,"message":"Storage delete rejected - not found, version check failed, '
        b'or permission denied."}'
    )


@on_targets()
@pytest_twisted.ensureDeferred
async def test_listing_pages_with_a_cursor_one_object_by_default(target):
    user, other = await new_user(target), await new_user(target)
    collection = f"page{uuid.uuid4().hex[:8]}"
    for i in range(5):
        obj = {"collection": collection, "key": f"k{i}", "value": "{}", "permission_read": 2}
        assert (await write(target, user, obj)).status == 200
    path = f"{STORAGE}/{collection}/{user.user_id}"
    first = (await call(target, "GET", path, None, bearer(user))).json()
    assert [o["key"] for o in first["objects"]] == ["k0"] and first["cursor"]
    keys, cursor = [], ""
    while True:
        page = await call(target, "GET", f"{path}?limit=2&cursor={cursor}", None, bearer(user))
        assert page.status == 200
        keys += [o["key"] for o in page.json().get("objects", [])]
        cursor = page.json().get("cursor", "")
        if not cursor:
            break
    assert keys == ["k0", "k1", "k2", "k3", "k4"]
    everyone = await call(target, "GET", f"{STORAGE}/{collection}?limit=100", None, bearer(other))
    assert [o["key"] for o in everyone.json()["objects"]] == keys
    assert "cursor" not in everyone.json()


# label, method, path (<me> is the caller's id), body, status, gRPC code, message
OTHER_ERRORS = [
    ("read a bad user id", "POST", STORAGE,
     {"object_ids": [{"collection": "c", "key": "k", "user_id": "notauuid"}]}, 400, 3,
     "Invalid user ID - make sure user ID is a valid UUID."),
    ("list a bad user id", "GET", f"{STORAGE}/c/notauuid", None, 400, 3,
     "Invalid user ID - make sure user ID is a valid UUID."),
    ("list limit 0", "GET", f"{STORAGE}/c/<me>?limit=0", None, 400, 3,
     "Invalid limit - limit must be between 1 and 100."),
    ("list limit 101", "GET", f"{STORAGE}/c/<me>?limit=101", None, 400, 3,
     "Invalid limit - limit must be between 1 and 100."),
    ("list a bad cursor", "GET", f"{STORAGE}/c/<me>?cursor=garbage", None, 400, 3,
     "Malformed cursor was used."),
    ("delete what is not there", "PUT", f"{STORAGE}/delete",
     {"object_ids": [{"collection": "c", "key": "nothere"}]}, 400, 3,
     "Storage delete rejected - not found, version check failed, or permission denied."),
    ("nothing to write", "PUT", STORAGE, {}, 200, None, None),
    ("nothing to read", "POST", STORAGE, {"object_ids": []}, 200, None, None),
    ("nothing to delete", "PUT", f"{STORAGE}/delete", {"object_ids": []}, 200, None, None),
    ("read without an owner", "POST", STORAGE,
     {"object_ids": [{"collection": "c", "key": "k"}]}, 200, None, None),
]  # fmt: skip


@cases_on_targets("label, method, path, body, status, code, message", OTHER_ERRORS)
@pytest_twisted.ensureDeferred
async def test_reads_lists_and_deletes_answer_as_nakama(target, label, method, path, body, status,
                                                        code, message):  # fmt: skip
    user = await new_user(target)
    answer = await call(target, method, path.replace("<me>", user.user_id), body, bearer(user))
    expect(answer, status, code, message)
