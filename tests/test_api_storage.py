"""``/v2/storage`` over a real listening Site, on both storage backends, answering as
Nakama 3.40 answers (each message and status below was seen on it, unless it says
otherwise)."""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
import pytest_twisted
from test_api import MAX_BODY, Server, error
from test_social_api import Player, Social, social  # noqa: F401 (social: a fixture)

from nakama_rt.api import Code
from nakama_rt.api.storage import precise_timestamp
from nakama_rt.storage import SYSTEM_USER_ID
from nakama_rt.storage.jsonb import object_value
from nakama_rt.storage.objects import StorageWrite

ACK_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3}|\.\d{6})?Z$")
READ_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
BAD = Code.INVALID_ARGUMENT
NOT_SET = "Invalid collection or key value supplied. They must be set."
BAD_USER = "Invalid user ID - make sure user ID is a valid UUID."
BAD_LIMIT = "Invalid limit - limit must be between 1 and 100."
VERSION = "Storage write rejected - version check failed."
PERMISSION = "Storage write rejected - permission denied."
DELETE = "Storage delete rejected - not found, version check failed, or permission denied."


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


@dataclass
class Api:
    """The social API tests' harness (a real Site on both backends), with storage calls."""

    social: Social

    @property
    def server(self) -> Server:
        return self.social.server

    async def player(self, name: str) -> Player:
        return await self.social.player(name)

    async def call(self, method: str, path: str, who: Player | None, body: Any = None):
        return await self.server.call(method, path, body, auth=who.auth if who else None)

    async def ok(self, method: str, path: str, who: Player, body: Any = None) -> Any:
        reply = await self.call(method, path, who, body)
        assert reply.status == 200, reply.body
        return reply.body

    async def refused(self, method, path, who, body, message, status=400, code=BAD) -> None:
        reply = await self.call(method, path, who, body)
        assert (reply.status, reply.body) == (status, error(code, message))

    async def write(self, who: Player, *objects: dict) -> Any:
        return await self.ok("PUT", "/v2/storage", who, {"objects": list(objects)})

    async def read(self, who: Player, *ids: dict) -> list[dict]:
        return (await self.ok("POST", "/v2/storage", who, {"object_ids": list(ids)})).get(
            "objects", []
        )

    async def keys(self, who: Player, path: str) -> list[tuple[str, str]]:
        listed = await self.ok("GET", path, who)
        return [(o["key"], o["user_id"]) for o in listed.get("objects", [])]


@pytest.fixture
def api(social: Social) -> Api:  # noqa: F811 (the fixture imported above)
    return Api(social)


OBJ = {"collection": "c", "key": "k", "value": "{}"}


# The round trip ----------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_write_read_list_delete(api):
    alice = await api.player("alice")
    value = '{"b":1,"a":{"y":[1,2.50,1e2]}}'
    written = await api.write(alice, {**OBJ, "value": value, "permission_read": 2})
    (ack,) = written["acks"]
    assert list(ack) == ["collection", "key", "version", "user_id", "create_time", "update_time"]
    assert (ack["collection"], ack["key"], ack["version"]) == ("c", "k", md5(value))
    assert ack["user_id"] == alice.id
    assert ACK_TIME.match(ack["create_time"]) and ack["update_time"] == ack["create_time"]
    (stored,) = await api.read(alice, {"collection": "c", "key": "k", "user_id": alice.id})
    assert list(stored) == [
        "collection",
        "key",
        "user_id",
        "value",
        "version",
        "permission_read",
        "permission_write",
        "create_time",
        "update_time",
    ]
    assert stored["value"] == '{"a": {"y": [1, 2.50, 100]}, "b": 1}'
    assert (stored["permission_read"], stored["permission_write"]) == (2, 1)
    assert READ_TIME.match(stored["create_time"])
    assert stored["create_time"] == ack["create_time"][:19] + "Z"
    listed = await api.ok("GET", "/v2/storage/c", alice)
    assert listed == {"objects": [stored]}
    assert await api.ok("PUT", "/v2/storage/delete", alice, {"object_ids": [OBJ]}) == {}
    assert await api.read(alice, {"collection": "c", "key": "k", "user_id": alice.id}) == []


def test_ack_times_keep_microseconds_as_protojson_writes_them():
    assert precise_timestamp(1_700_000_000) == "2023-11-14T22:13:20Z"
    assert precise_timestamp(1_700_000_000.5) == "2023-11-14T22:13:20.500Z"
    assert precise_timestamp(1_700_000_000.757086) == "2023-11-14T22:13:20.757086Z"
    assert precise_timestamp(1_700_000_000.0000004) == "2023-11-14T22:13:20Z"


@pytest_twisted.ensureDeferred
async def test_nothing_asked_nothing_answered(api):
    alice = await api.player("alice")
    for method, path in (("PUT", "/v2/storage"), ("POST", "/v2/storage")):
        for body in (b"", b" ", b"{}", {"objects": None, "object_ids": None}, {"x": 1}):
            assert await api.ok(method, path, alice, body) == {}
    for body in (b"", {"object_ids": []}):
        assert await api.ok("PUT", "/v2/storage/delete", alice, body) == {}


@pytest_twisted.ensureDeferred
async def test_camel_case_names_and_quoted_permissions_are_protojson(api):
    alice, bob = await api.player("alice"), await api.player("bob")
    await api.write(alice, {**OBJ, "permissionRead": "2", "permissionWrite": 0.0})
    (stored,) = await api.read(bob, {"collection": "c", "key": "k", "userId": alice.id})
    assert (stored["permission_read"], "permission_write" in stored) == (2, False)
    listed = await api.ok("POST", "/v2/storage", bob, {"objectIds": [{**OBJ, "user_id": alice.id}]})
    assert listed["objects"] == [stored]


@pytest_twisted.ensureDeferred
async def test_storage_needs_a_session(api):
    for method, path in (
        ("PUT", "/v2/storage"),
        ("POST", "/v2/storage"),
        ("PUT", "/v2/storage/delete"),
        ("GET", "/v2/storage/c"),
        ("GET", f"/v2/storage/c/{SYSTEM_USER_ID}"),
    ):
        await api.refused(
            method, path, None, None, "Auth token required", 401, Code.UNAUTHENTICATED
        )


# Bad writes --------------------------------------------------------------------------------

# label, objects of one write, message (all 400, code 3)
WRITE_REFUSALS = [
    ("no collection", [{**OBJ, "collection": ""}], NOT_SET),
    ("no key", [{"collection": "c", "value": "{}"}], NOT_SET),
    ("no value", [{"collection": "c", "key": "k"}], NOT_SET),
    ("read permission 3", [{**OBJ, "permission_read": 3}],
     "Invalid Read permission supplied. It must be either 0, 1 or 2."),
    ("read permission -1", [{**OBJ, "permission_read": -1}],
     "Invalid Read permission supplied. It must be either 0, 1 or 2."),
    ("write permission 2", [{**OBJ, "permission_write": 2}],
     "Invalid Write permission supplied. It must be either 0 or 1."),
    ("an array", [{**OBJ, "value": "[]"}], "Value must be a JSON object."),
    ("blank", [{**OBJ, "value": " "}], "Value must be a JSON object."),
    ("not JSON", [{**OBJ, "value": "{"}], "Value must be a JSON object."),
    ("NaN", [{**OBJ, "value": '{"a":NaN}'}], "Value must be a JSON object."),
    ("trailing text", [{**OBJ, "value": '{"a":1} x'}], "Value must be a JSON object."),
    # Checked object by object: the first object's fault is the answer.
    ("first fault first", [{**OBJ, "value": "[]"}, {**OBJ, "permission_read": 9}],
     "Value must be a JSON object."),
    ("create-only, taken", [{**OBJ, "version": "*"}, {**OBJ, "version": "*"}], VERSION),
    ("a version, no object", [{**OBJ, "version": md5("{}")}], VERSION),
    # Refused by PostgreSQL in Nakama (a 500 there); here a 400, alike on both backends,
    # after all of Nakama's own checks.
    ("a long collection", [{**OBJ, "collection": "c" * 129}],
     'Invalid value for field "collection": longer than 128 characters.'),
    ("a long key", [{**OBJ, "key": "k" * 129}],
     'Invalid value for field "key": longer than 128 characters.'),
    ("a long key, then Nakama's own check", [{**OBJ, "key": "k" * 129}, {**OBJ, "key": ""}],
     NOT_SET),
    ("a NUL escape", [{**OBJ, "value": '{"a":"\\u0000"}'}],
     'Invalid value for field "value": contains a NUL character.'),
    ("a lone surrogate", [{**OBJ, "value": '{"a":"\\ud800"}'}],
     'Invalid value for field "value": not valid Unicode.'),
    ("past numeric", [{**OBJ, "value": '{"a":1e131072}'}],
     'Invalid value for field "value": a number is out of range.'),
    # Our wording where grpc-gateway's own decoder answers (its text is protojson's).
    ("a number for a string", [{**OBJ, "collection": 1}],
     'Invalid value for field "collection": not a string.'),
    ("an object for the value", [{**OBJ, "value": {"a": 1}}],
     'Invalid value for field "value": not a string.'),
    ("a fraction for a permission", [{**OBJ, "permission_read": 2.5}],
     'Invalid value for field "permission_read": not a 32-bit integer.'),
    ("text for a permission", [{**OBJ, "permission_write": "x"}],
     'Invalid value for field "permission_write": not a 32-bit integer.'),
    ("a signed quoted permission", [{**OBJ, "permission_write": "+1"}],
     'Invalid value for field "permission_write": not a 32-bit integer.'),
    ("a NUL in a name", [{**OBJ, "key": "a\x00b"}],
     'Invalid value for field "key": contains a NUL character.'),
]  # fmt: skip


@pytest.mark.parametrize(
    "label, objects, message", WRITE_REFUSALS, ids=[case[0] for case in WRITE_REFUSALS]
)
@pytest_twisted.ensureDeferred
async def test_bad_writes_are_refused_in_nakamas_words(api, label, objects, message):
    alice = await api.player("alice")
    await api.refused("PUT", "/v2/storage", alice, {"objects": objects}, message)
    # Nothing of a refused batch was written.
    assert await api.ok("GET", f"/v2/storage/c/{alice.id}?limit=100", alice) == {}


# grpc-gateway's own refusals (protojson's text there, ours here): the status is Nakama's.
@pytest.mark.parametrize(
    "body, message",
    [
        ({"objects": {}}, 'Invalid value for field "objects": not an array of objects.'),
        ({"objects": "x"}, 'Invalid value for field "objects": not an array of objects.'),
        ({"objects": [None]}, 'Invalid value for field "objects": not an array of objects.'),
        (b"[]", "Invalid JSON request body: expected an object."),
        (b"null", "Invalid JSON request body: expected an object."),
    ],
)
@pytest_twisted.ensureDeferred
async def test_bodies_of_the_wrong_shape_are_refused(api, body, message):
    alice = await api.player("alice")
    await api.refused("PUT", "/v2/storage", alice, body, message)


@pytest_twisted.ensureDeferred
async def test_large_values_are_checked_off_the_reactor_thread(api, monkeypatch):
    from nakama_rt.api import storage as storage_api

    monkeypatch.setattr(storage_api, "INLINE_CHECK_CHARS", 0)
    threads: list[int] = []
    checked = storage_api._checked_writes

    def checking(*args):
        threads.append(threading.get_ident())
        return checked(*args)

    monkeypatch.setattr(storage_api, "_checked_writes", checking)
    alice = await api.player("alice")
    (ack,) = (await api.write(alice, {**OBJ, "value": '{"a":1}'}))["acks"]
    assert ack["version"] == md5('{"a":1}')
    await api.refused("PUT", "/v2/storage", alice, {"objects": [{**OBJ, "value": "[]"}]},
                      "Value must be a JSON object.")  # fmt: skip
    assert len(threads) == 2 and threading.get_ident() not in threads


@pytest_twisted.ensureDeferred
async def test_a_body_over_the_limit_is_refused(api):
    alice = await api.player("alice")
    big = {**OBJ, "value": orjson.dumps({"a": "x" * MAX_BODY}).decode()}
    await api.refused(
        "PUT", "/v2/storage", alice, {"objects": [big]}, "http: request body too large"
    )


@pytest_twisted.ensureDeferred
async def test_versions_and_write_permissions(api):
    alice = await api.player("alice")
    await api.write(alice, {**OBJ, "value": '{"v":1}'})
    stale = {**OBJ, "value": '{"v":2}', "version": md5("{}")}
    await api.refused("PUT", "/v2/storage", alice, {"objects": [stale]}, VERSION)
    current = {**OBJ, "value": '{"v":2}', "version": md5('{"v":1}'), "permission_write": 0}
    (ack,) = (await api.write(alice, current))["acks"]
    assert ack["version"] == md5('{"v":2}')
    for attempt in ({**OBJ}, {**OBJ, "value": '{"v":2}', "permission_write": 0}):
        await api.refused("PUT", "/v2/storage", alice, {"objects": [attempt]}, PERMISSION)
    # The batch is applied in key order: "a" is refused before "k".
    batch = [{**OBJ, "key": "z", "version": "*"}, {**OBJ}, {**OBJ, "key": "a", "version": "x"}]
    await api.refused("PUT", "/v2/storage", alice, {"objects": batch}, VERSION)
    assert await api.keys(alice, f"/v2/storage/c/{alice.id}?limit=100") == [("k", alice.id)]


@pytest_twisted.ensureDeferred
async def test_a_write_acks_the_times_the_database_keeps(api):
    """At this instant PostgreSQL's ``to_timestamp`` of the raw clock reading lands a
    microsecond away from Python's rounding of it (found by trying instants): the ack
    must still show what a later read shows."""
    alice = await api.player("alice")
    api.server.clock.fixed = 1796602000.1507006
    (first,) = (await api.write(alice, OBJ))["acks"]
    api.server.clock.advance(2)
    (again,) = (await api.write(alice, OBJ))["acks"]
    assert again == first


@pytest_twisted.ensureDeferred
async def test_writing_the_same_object_again_keeps_its_times(api):
    alice = await api.player("alice")
    (first,) = (await api.write(alice, OBJ))["acks"]
    api.server.clock.advance(2)
    (again,) = (await api.write(alice, OBJ))["acks"]
    assert again == first
    (changed,) = (await api.write(alice, {**OBJ, "permission_read": 2}))["acks"]
    assert changed["create_time"] == first["create_time"] != changed["update_time"]


# Reads -------------------------------------------------------------------------------------


async def three_objects(api: Api, owner: Player) -> None:
    """Objects r0, r1, r2 with read permission 0, 1, 2."""
    await api.write(owner, *({**OBJ, "key": f"r{p}", "permission_read": p} for p in range(3)))


@pytest_twisted.ensureDeferred
async def test_who_reads_what(api):
    alice, bob = await api.player("alice"), await api.player("bob")
    await three_objects(api, alice)
    ids = [{"collection": "c", "key": f"r{p}", "user_id": alice.id} for p in range(3)]
    assert [o["key"] for o in await api.read(alice, *ids)] == ["r1", "r2"]
    assert [o["key"] for o in await api.read(bob, *ids)] == ["r2"]
    # No owner: the system's objects, public ones only for a client.
    storage = api.server.context.storage
    await storage.write_objects(
        None,
        [StorageWrite("c", f"s{p}", SYSTEM_USER_ID, object_value("{}"), "", p) for p in (1, 2)],
    )
    found = await api.read(bob, {"collection": "c", "key": "s1"}, {"collection": "c", "key": "s2"})
    assert [(o["key"], o["user_id"]) for o in found] == [("s2", SYSTEM_USER_ID)]


@pytest.mark.parametrize(
    "object_id, message",
    [
        ({"collection": "c", "key": "k", "user_id": "notauuid"}, BAD_USER),
        ({"collection": "c", "key": "k", "user_id": SYSTEM_USER_ID}, BAD_USER),
        ({"collection": "c", "key": "", "user_id": SYSTEM_USER_ID}, NOT_SET),
        ({"key": "k"}, NOT_SET),
        ({"collection": "c", "key": 5}, 'Invalid value for field "key": not a string.'),
    ],
)
@pytest_twisted.ensureDeferred
async def test_bad_reads_are_refused(api, object_id, message):
    alice = await api.player("alice")
    await api.refused("POST", "/v2/storage", alice, {"object_ids": [object_id]}, message)


@pytest_twisted.ensureDeferred
async def test_a_user_id_in_any_form_uuid_takes(api):
    alice = await api.player("alice")
    await api.write(alice, {**OBJ, "permission_read": 2})
    for form in (alice.id.upper(), "{" + alice.id + "}", alice.id.replace("-", "")):
        (found,) = await api.read(alice, {"collection": "c", "key": "k", "user_id": form})
        assert found["user_id"] == alice.id


# Deletes -----------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_deletes_are_checked_and_all_or_nothing(api):
    alice = await api.player("alice")
    await api.write(
        alice, {**OBJ, "value": '{"v":1}'}, {**OBJ, "key": "locked", "permission_write": 0}
    )
    for object_ids in (
        [OBJ, {**OBJ, "key": "missing"}],
        [OBJ, {**OBJ, "key": "locked"}],
        [{**OBJ, "version": "nomatch"}],
        [{**OBJ, "version": "*"}],
        [{**OBJ, "key": "k" * 200}],
    ):
        await api.refused("PUT", "/v2/storage/delete", alice, {"object_ids": object_ids}, DELETE)
    await api.refused(
        "PUT", "/v2/storage/delete", alice, {"object_ids": [OBJ, {"key": "k"}]}, NOT_SET
    )
    assert len(await api.read(alice, {**OBJ, "user_id": alice.id})) == 1
    guarded = {**OBJ, "version": md5('{"v":1}')}
    assert await api.ok("PUT", "/v2/storage/delete", alice, {"object_ids": [guarded]}) == {}
    assert await api.read(alice, {**OBJ, "user_id": alice.id}) == []


@pytest_twisted.ensureDeferred
async def test_a_client_deletes_only_its_own(api):
    alice, bob = await api.player("alice"), await api.player("bob")
    await api.write(alice, OBJ)
    await api.refused("PUT", "/v2/storage/delete", bob, {"object_ids": [OBJ]}, DELETE)
    assert len(await api.read(alice, {**OBJ, "user_id": alice.id})) == 1


# Listings ----------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_listings_as_nakama_filters_and_orders_them(api):
    alice, bob = await api.player("alice"), await api.player("bob")
    await three_objects(api, alice)
    await three_objects(api, bob)
    public = sorted([("r2", alice.id), ("r2", bob.id)])
    assert await api.keys(alice, "/v2/storage/c?limit=100") == public
    assert await api.keys(alice, f"/v2/storage/c/{alice.id}?limit=100") == [
        ("r1", alice.id),
        ("r2", alice.id),
    ]
    assert await api.keys(alice, f"/v2/storage/c/{bob.id}?limit=100") == [("r2", bob.id)]
    assert await api.keys(alice, f"/v2/storage/c?limit=100&user_id={bob.id}") == [("r2", bob.id)]
    # The path's owner wins over the query's.
    path = f"/v2/storage/c/{alice.id}?limit=100&user_id={bob.id}"
    assert await api.keys(alice, path) == [("r1", alice.id), ("r2", alice.id)]
    assert await api.keys(alice, "/v2/storage/other") == []


@pytest_twisted.ensureDeferred
async def test_one_object_a_page_by_default_then_cursors(api):
    alice = await api.player("alice")
    await api.write(alice, *({**OBJ, "key": f"k{i}", "permission_read": 2} for i in range(5)))
    first = await api.ok("GET", "/v2/storage/c", alice)
    assert [o["key"] for o in first["objects"]] == ["k0"] and first["cursor"]
    keys, cursor = [], ""
    while True:
        page = await api.ok("GET", f"/v2/storage/c/{alice.id}?limit=2&cursor={cursor}", alice)
        keys += [o["key"] for o in page["objects"]]
        cursor = page.get("cursor", "")
        if not cursor:
            break
    assert keys == [f"k{i}" for i in range(5)]
    assert "cursor" not in await api.ok("GET", "/v2/storage/c?limit=5", alice)


@pytest_twisted.ensureDeferred
async def test_get_storage_delete_lists_a_collection_named_delete(api):
    alice = await api.player("alice")
    assert await api.ok("GET", "/v2/storage/delete", alice) == {}
    await api.write(alice, {**OBJ, "collection": "delete", "permission_read": 2})
    assert await api.keys(alice, "/v2/storage/delete") == [("k", alice.id)]
    assert await api.keys(alice, f"/v2/storage/delete/{alice.id}") == [("k", alice.id)]


@pytest.mark.parametrize(
    "path, message",
    [
        ("/v2/storage/c?limit=0", BAD_LIMIT),
        ("/v2/storage/c?limit=101", BAD_LIMIT),
        ("/v2/storage/c/<me>?limit=-1", BAD_LIMIT),
        ("/v2/storage/c/notauuid", BAD_USER),
        ("/v2/storage/c?user_id=notauuid", BAD_USER),
        ("/v2/storage/c?limit=0&user_id=notauuid", BAD_LIMIT),
        ("/v2/storage/c?cursor=garbage", "Malformed cursor was used."),
        ("/v2/storage/c?cursor=abc%3D", "Malformed cursor was used."),
        ("/v2/storage/c/<me>?cursor=AAAA", "Malformed cursor was used."),
        ("/v2/storage/c?user_id=notauuid&cursor=garbage", BAD_USER),
    ],
)
@pytest_twisted.ensureDeferred
async def test_bad_listings_are_refused(api, path, message):
    alice = await api.player("alice")
    await api.refused("GET", path.replace("<me>", alice.id), alice, None, message)


@pytest_twisted.ensureDeferred
async def test_the_system_users_public_objects_are_listed_by_its_id(api):
    alice = await api.player("alice")
    storage = api.server.context.storage
    await storage.write_objects(
        None, [StorageWrite("c", "s", SYSTEM_USER_ID, object_value("{}"), "", 2)]
    )
    assert await api.keys(alice, f"/v2/storage/c/{SYSTEM_USER_ID}") == [("s", SYSTEM_USER_ID)]
