"""``PUT /v2/account``, ``GET /v2/user`` and ``/v2/account/{link,unlink}/...`` over a real
listening Site, on both storage backends, answering as Nakama 3.40 answers (each
message and status below was seen on it)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import pytest_twisted
from test_api import TIMESTAMP, basic, error
from test_social_api import Player, Social, social  # noqa: F401 (social: a fixture)

from nakama_rt.api import Code
from nakama_rt.storage import SYSTEM_USER_ID

BAD = Code.INVALID_ARGUMENT


@pytest.fixture
def api(social: Social) -> Social:  # noqa: F811 (the fixture imported above)
    return social


LAST = "Cannot unlink last account identifier. Check profile exists and is not last link."


async def refused(
    api: Social, method: str, path: str, who: Player, body: Any, status: int, code: Code,
    message: str,
) -> None:  # fmt: skip
    reply = await api.call(method, path, who, body)
    assert (reply.status, reply.body) == (status, error(code, message)), (path, body)


async def account(api: Social, who: Player) -> dict[str, Any]:
    return await api.ok("GET", "/v2/account", who)


# PUT /v2/account ---------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_update_sets_and_clears_profile_fields(api):
    alice = await api.player("alice")
    api.server.clock.advance(5)
    changes = {
        "username": "alice two",  # Nakama's rule lets a plain space through.
        "display_name": "Alice",
        "avatar_url": "https://a.example/x.png",
        "lang_tag": "fr",
        "location": "Paris",
        "timezone": "Europe/Paris",
        "metadata": '{"ignored":true}',
    }
    assert await api.ok("PUT", "/v2/account", alice, changes) == {}
    user = (await account(api, alice))["user"]
    assert list(user) == [
        "id", "username", "display_name", "avatar_url", "lang_tag", "location", "timezone",
        "metadata", "create_time", "update_time",
    ]  # fmt: skip
    assert {k: user[k] for k in changes if k != "metadata"} == {
        k: v for k, v in changes.items() if k != "metadata"
    }
    assert user["metadata"] == "{}"
    assert TIMESTAMP.match(user["update_time"]) and user["update_time"] > user["create_time"]
    # An empty text clears a column; lowerCamelCase names are accepted; null is unset.
    body = {"displayName": "", "location": "", "timezone": None}
    assert await api.ok("PUT", "/v2/account", alice, body) == {}
    user = (await account(api, alice))["user"]
    assert "display_name" not in user and "location" not in user
    assert user["timezone"] == "Europe/Paris"
    # The new username logs in; the old one no longer exists.
    found = await api.ok("GET", "/v2/user?usernames=alice%20two&usernames=alice", alice)
    assert [u["id"] for u in found["users"]] == [alice.id]


@pytest_twisted.ensureDeferred
async def test_update_changes_nothing_when_nothing_differs(api):
    alice = await api.player("alice")
    before = (await account(api, alice))["user"]["update_time"]
    api.server.clock.advance(5)
    assert await api.ok("PUT", "/v2/account", alice, {"username": "alice"}) == {}
    assert (await account(api, alice))["user"]["update_time"] == before


# body, status, code, message
UPDATE_REFUSALS = [
    (None, 400, BAD, "No fields to update."),
    ({}, 400, BAD, "No fields to update."),
    ({"username": None, "metadata": "{}"}, 400, BAD, "No fields to update."),
    ({"username": ""}, 400, BAD, "Username invalid, must be 1-128 bytes."),
    ({"username": "x" * 129}, 400, BAD, "Username invalid, must be 1-128 bytes."),
    ({"username": "\t" * 129}, 400, BAD, "Username invalid, must be 1-128 bytes."),
    ({"username": "a\tb"}, 400, BAD, "Username invalid, no spaces or control characters allowed."),
    ({"username": "a\x00b"}, 400, BAD,
     "Username invalid, no spaces or control characters allowed."),
    ({"username": "bob"}, 400, BAD,
     "rpc error: code = AlreadyExists desc = Username is already in use."),
    ({"lang_tag": ""}, 500, Code.INTERNAL, "Error while trying to update account."),
    ({"lang_tag": "x" * 19}, 500, Code.INTERNAL, "Error while trying to update account."),
    ({"display_name": "d" * 256}, 500, Code.INTERNAL, "Error while trying to update account."),
    ({"avatar_url": "a" * 513}, 500, Code.INTERNAL, "Error while trying to update account."),
    ({"location": "a\x00"}, 500, Code.INTERNAL, "Error while trying to update account."),
    ({"display_name": 5}, 400, BAD, 'Invalid value for field "display_name": not a string.'),
]  # fmt: skip


@pytest_twisted.ensureDeferred
async def test_update_refusals(api):
    alice, _bob = await api.player("alice"), await api.player("bob")
    for body, status, code, message in UPDATE_REFUSALS:
        await refused(api, "PUT", "/v2/account", alice, body, status, code, message)
    user = (await account(api, alice))["user"]
    assert (user["username"], user["lang_tag"], "display_name" in user) == ("alice", "en", False)
    # Characters count, not bytes: 255 of them fit.
    assert await api.ok("PUT", "/v2/account", alice, {"display_name": "é" * 255}) == {}


@pytest_twisted.ensureDeferred
async def test_update_needs_a_session(api):
    reply = await api.server.call("PUT", "/v2/account", {"display_name": "x"}, auth=basic())
    assert (reply.status, reply.body) == (401, error(Code.UNAUTHENTICATED, "Auth token invalid"))


# GET /v2/user ------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_get_users_by_id_and_username(api):
    alice, bob = await api.player("alice"), await api.player("bob")
    api.online.add(bob.id)
    assert await api.ok("GET", "/v2/user", alice) == {}
    found = await api.ok(
        "GET", f"/v2/user?ids={alice.id}&ids={alice.id.upper()}&usernames=bob&usernames=nobody",
        alice,
    )  # fmt: skip
    users = sorted(found["users"], key=lambda u: u["username"])
    assert [(u["id"], u["username"], u.get("online", False)) for u in users] == [
        (alice.id, "alice", False),
        (bob.id, "bob", True),
    ]
    assert list(users[1]) == [
        "id", "username", "lang_tag", "metadata", "online", "create_time", "update_time",
    ]  # fmt: skip
    unknown = str(uuid.uuid4())
    assert await api.ok("GET", f"/v2/user?ids={unknown}", alice) == {}
    assert await api.ok("GET", "/v2/user?facebook_ids=12345", alice) == {}
    assert await api.ok("GET", "/v2/user?usernames=ALICE", alice) == {}
    braced = await api.ok("GET", f"/v2/user?ids=%7B{alice.id.replace('-', '')}%7D", alice)
    assert [u["id"] for u in braced["users"]] == [alice.id]
    # The system user has the empty username, and Nakama shows it.
    system = await api.ok("GET", "/v2/user?usernames=", alice)
    assert [u["id"] for u in system["users"]] == [SYSTEM_USER_ID]


@pytest_twisted.ensureDeferred
async def test_get_users_refusals(api):
    alice = await api.player("alice")
    cases = [
        ("ids=nope&ids=alsobad", 400, BAD, "ID 'nope' is not a valid system ID."),
        ("ids=", 400, BAD, "ID '' is not a valid system ID."),
        (f"ids={alice.id},{alice.id}", 400, BAD,
         f"ID '{alice.id},{alice.id}' is not a valid system ID."),
        ("ids=a%00b", 400, BAD, "ID 'a\x00b' is not a valid system ID."),
        ("usernames=a%00b", 500, Code.INTERNAL, "Error retrieving user accounts."),
    ]  # fmt: skip
    for query, status, code, message in cases:
        await refused(api, "GET", f"/v2/user?{query}", alice, None, status, code, message)
    reply = await api.server.call("GET", f"/v2/user?ids={alice.id}", auth=basic())
    assert (reply.status, reply.body) == (401, error(Code.UNAUTHENTICATED, "Auth token invalid"))


# Link --------------------------------------------------------------------------------------


async def login(api: Social, kind: str, body: dict[str, Any]) -> Any:
    return await api.server.call(
        "POST", f"/v2/account/authenticate/{kind}?create=false", body, auth=basic()
    )


@pytest_twisted.ensureDeferred
async def test_link_each_kind_then_log_in_with_it(api):
    alice = await api.player("alice")
    link = "/v2/account/link/"
    device = f"device-{alice.id}"
    assert await api.ok("POST", link + "device", alice, {"id": device, "vars": {"a": "b"}}) == {}
    assert await api.ok("POST", link + "device", alice, {"id": device}) == {}  # again: fine
    assert await api.ok("POST", link + "custom", alice, {"id": "custom-alice"}) == {}  # own
    assert await api.ok("POST", link + "custom", alice, {"id": "custom-new-alice"}) == {}
    body = {"email": "Alice.Smith@Example.COM", "password": "password1"}
    assert await api.ok("POST", link + "email", alice, body) == {}
    got = await account(api, alice)
    assert (got["email"], got["custom_id"]) == ("alice.smith@example.com", "custom-new-alice")
    assert got["devices"] == [{"id": device}]
    for kind, credentials in (
        ("device", {"id": device}),
        ("custom", {"id": "custom-new-alice"}),
        ("email", body),
    ):
        reply = await login(api, kind, credentials)
        assert reply.status == 200, (kind, reply.body)
    assert (await login(api, "custom", {"id": "custom-alice"})).status == 404
    # Linking an email again replaces its password.
    again = {**body, "password": "password2"}
    assert await api.ok("POST", link + "email", alice, again) == {}
    assert (await login(api, "email", body)).status == 401
    assert (await login(api, "email", again)).status == 200


@pytest_twisted.ensureDeferred
async def test_a_password_bcrypt_refuses_links_the_email_without_one(api):
    alice = await api.player("alice")
    body = {"email": "alice@example.com", "password": "p" * 73}
    assert await api.ok("POST", "/v2/account/link/email", alice, body) == {}
    assert (await account(api, alice))["email"] == "alice@example.com"
    for password in ("p" * 73, "p" * 72):
        reply = await login(api, "email", {"email": "alice@example.com", "password": password})
        assert (reply.status, reply.body) == (
            401,
            error(Code.UNAUTHENTICATED, "Invalid credentials."),
        )
    nul = {"email": "nul.alice@example.com", "password": "pass\x00word"}
    assert await api.ok("POST", "/v2/account/link/email", alice, nul) == {}
    assert (await login(api, "email", nul)).status == 200


# kind, body, status, code, message
LINK_REFUSALS = [
    ("custom", None, 400, BAD, "Custom ID is required."),
    ("custom", {}, 400, BAD, "Custom ID is required."),
    ("custom", {"id": "abc"}, 400, BAD, "Invalid custom ID, must be 6-128 bytes."),
    ("custom", {"id": "x" * 129}, 400, BAD, "Invalid custom ID, must be 6-128 bytes."),
    ("custom", {"id": "abc def ghi"}, 400, BAD,
     "Invalid custom ID, no spaces or control characters allowed."),
    ("custom", {"id": "abc\x00defghi"}, 400, BAD,
     "Invalid custom ID, no spaces or control characters allowed."),
    ("custom", {"id": "custom-bob"}, 409, Code.ALREADY_EXISTS, "Custom ID is already in use."),
    ("custom", {"id": 5}, 400, BAD, 'Invalid value for field "id": not a string.'),
    ("device", None, 400, BAD, "Device ID is required."),
    ("device", {"id": "abc"}, 400, BAD, "Device ID invalid, must be 10-128 bytes."),
    ("device", {"id": "abc def ghi"}, 400, BAD,
     "Device ID invalid, no spaces or control characters allowed."),
    ("device", {"id": "device-of-bob"}, 409, Code.ALREADY_EXISTS, "Device ID already in use."),
    ("email", None, 400, BAD, "Email address and password is required."),
    ("email", {"email": "bob@example.com"}, 400, BAD, "Email address and password is required."),
    ("email", {"email": "a b@example.com", "password": "short"}, 400, BAD,
     "Invalid email address, no spaces or control characters allowed."),
    ("email", {"email": "bad", "password": "short"}, 400, BAD,
     "Password must be at least 8 characters long."),
    ("email", {"email": "bad", "password": "longenough"}, 400, BAD,
     "Invalid email address format."),
    ("email", {"email": "a@b.c", "password": "longenough"}, 400, BAD,
     "Invalid email address, must be 10-255 bytes."),
    ("email", {"email": "a@b.c" + "x" * 251, "password": "longenough"}, 400, BAD,
     "Invalid email address, must be 10-255 bytes."),
    ("email", {"email": "BOB@example.com", "password": "longenough"}, 409,
     Code.ALREADY_EXISTS, "Email is already in use."),
]  # fmt: skip


@pytest_twisted.ensureDeferred
async def test_link_refusals(api):
    alice, bob = await api.player("alice"), await api.player("bob")
    await api.ok("POST", "/v2/account/link/device", bob, {"id": "device-of-bob"})
    bob_email = {"email": "bob@example.com", "password": "password"}
    await api.ok("POST", "/v2/account/link/email", bob, bob_email)
    for kind, body, status, code, message in LINK_REFUSALS:
        path = f"/v2/account/link/{kind}"
        await refused(api, "POST", path, alice, body, status, code, message)
    got = await account(api, alice)
    assert (got["custom_id"], "devices" in got, "email" in got) == ("custom-alice", False, False)
    reply = await api.server.call("GET", "/v2/account/link/custom", auth=alice.auth)
    assert (reply.status, reply.body) == (501, error(Code.UNIMPLEMENTED, "Method Not Allowed"))


@pytest_twisted.ensureDeferred
async def test_link_without_an_account(api):
    alice = await api.player("alice")
    await _delete_user(api, alice.id)  # The account goes while its token lives.
    await refused(api, "POST", "/v2/account/link/custom", alice, {"id": "custom-gone"},
                  409, Code.ALREADY_EXISTS, "Custom ID is already in use.")  # fmt: skip
    await refused(api, "POST", "/v2/account/link/device", alice, {"id": "device-gone"},
                  500, Code.INTERNAL, "Error linking Device ID.")  # fmt: skip
    await refused(api, "POST", "/v2/account/unlink/email", alice, {}, 403,
                  Code.PERMISSION_DENIED, LAST)  # fmt: skip


async def _delete_user(api: Social, user_id: str) -> None:
    storage = api.server.context.storage

    def delete(tx: Any) -> None:
        tx.run(storage._db.dialect.sql("DELETE FROM users WHERE id = ?"), (user_id,))

    await storage._run(storage._db.transaction, delete)


# Unlink ------------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_unlink_keeps_the_last_way_to_log_in(api):
    alice, bob = await api.player("alice"), await api.player("bob")
    unlink = "/v2/account/unlink/"
    denied = (403, Code.PERMISSION_DENIED, LAST)
    await refused(api, "POST", unlink + "custom", alice, {"id": "custom-alice"}, *denied)
    await refused(api, "POST", unlink + "custom", alice, None, *denied)
    await refused(api, "POST", unlink + "device", alice, {"id": "no-such-device"}, *denied)
    await refused(api, "POST", unlink + "email", alice, {"email": "x@y.zz"}, *denied)
    # No email to unlink, but a custom id remains: Nakama answers this as done.
    assert await api.ok("POST", unlink + "email", alice, None) == {}

    device = f"device-{alice.id}"
    await api.ok("POST", "/v2/account/link/device", alice, {"id": device})
    await refused(api, "POST", unlink + "custom", alice, {"id": "custom-bob"}, *denied)
    await refused(api, "POST", unlink + "device", bob, {"id": device}, *denied)
    assert await api.ok("POST", unlink + "custom", alice, {"id": "custom-alice"}) == {}
    await refused(api, "POST", unlink + "custom", alice, {"id": "custom-alice"}, *denied)
    assert await api.ok("POST", unlink + "custom", alice, {}) == {}  # none set: done
    await refused(api, "POST", unlink + "device", alice, {"id": device}, *denied)

    email = {"email": "alice@example.com", "password": "password"}
    await api.ok("POST", "/v2/account/link/email", alice, email)
    assert await api.ok("POST", unlink + "device", alice, {"id": device}) == {}
    await refused(api, "POST", unlink + "email", alice, {"email": "ALICE@example.com"}, *denied)
    got = await account(api, alice)
    assert (got["email"], "custom_id" in got, "devices" in got) == (email["email"], False, False)

    await api.ok("POST", "/v2/account/link/custom", alice, {"id": "custom-alice"})
    assert await api.ok("POST", unlink + "email", alice, {"email": "ALICE@example.com"}) == {}
    got = await account(api, alice)
    assert ("email" in got, got["custom_id"]) == (False, "custom-alice")
    assert (await login(api, "email", email)).status == 404


UNLINK_REFUSALS = [
    ("device", None, 400, BAD, "A device ID must be supplied."),
    ("device", {"id": ""}, 400, BAD, "A device ID must be supplied."),
    ("device", {"id": "a\x00b"}, 500, Code.INTERNAL, "Could not unlink device ID."),
    ("custom", {"id": "a\x00b"}, 500, Code.INTERNAL, "Error while trying to unlink custom ID."),
    ("email", {"email": "a\x00b"}, 500, Code.INTERNAL, "Error while trying to unlink email."),
    ("custom", {"id": 5}, 400, BAD, 'Invalid value for field "id": not a string.'),
]


@pytest_twisted.ensureDeferred
async def test_unlink_refusals(api):
    alice = await api.player("alice")
    for kind, body, status, code, message in UNLINK_REFUSALS:
        path = f"/v2/account/unlink/{kind}"
        await refused(api, "POST", path, alice, body, status, code, message)
    assert (await account(api, alice))["custom_id"] == "custom-alice"
