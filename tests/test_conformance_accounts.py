"""Updating an account, reading users, linking and unlinking ways to log in, on our
server and, when configured, on real Nakama.

Every expectation here was observed on a reference Nakama 3.40 (PostgreSQL) built from
heroiclabs/nakama; ``NAKAMA_RT_REFERENCE=127.0.0.1:17350`` runs each case there too.
Accounts on the reference outlive the run: every id, email and username is fresh.
"""

from __future__ import annotations

import uuid

import pytest_twisted

from tests.targets import basic, bearer, call, cases_on_targets, expect, new_user, on_targets

INTERNAL = 13
LAST = "Cannot unlink last account identifier. Check profile exists and is not last link."


def fresh(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:16]}"


# PUT /v2/account ---------------------------------------------------------------------------


@on_targets()
@pytest_twisted.ensureDeferred
async def test_an_update_shows_in_the_account(target):
    user = await new_user(target)
    name = fresh("u ")
    changes = {"username": name, "display_name": "Élodie", "avatar_url": "https://a.example/x",
               "lang_tag": "fr", "location": "Lyon", "timezone": "Europe/Paris",
               "metadata": '{"set":"by client"}'}  # fmt: skip
    expect(await call(target, "PUT", "/v2/account", changes, bearer(user)), 200, None, None)
    got = (await call(target, "GET", "/v2/account", None, bearer(user))).json()
    shown = got["user"]
    assert list(shown) == ["id", "username", "display_name", "avatar_url", "lang_tag", "location",
                           "timezone", "metadata", "create_time", "update_time"]  # fmt: skip
    assert [shown[k] for k in ("username", "display_name", "lang_tag", "metadata")] == [
        name, "Élodie", "fr", "{}"
    ]  # fmt: skip
    cleared = {"displayName": "", "location": "", "timezone": None}
    expect(await call(target, "PUT", "/v2/account", cleared, bearer(user)), 200, None, None)
    shown = (await call(target, "GET", "/v2/account", None, bearer(user))).json()["user"]
    assert "display_name" not in shown and "location" not in shown
    assert shown["timezone"] == "Europe/Paris"


# label, body, status, code, message
UPDATE_REFUSALS = [
    ("no body", None, 400, 3, "No fields to update."),
    ("empty", {}, 400, 3, "No fields to update."),
    ("only metadata", {"metadata": "{}", "username": None}, 400, 3, "No fields to update."),
    ("empty username", {"username": ""}, 400, 3, "Username invalid, must be 1-128 bytes."),
    ("long username", {"username": "x" * 129}, 400, 3, "Username invalid, must be 1-128 bytes."),
    ("long control username", {"username": "\t" * 129}, 400, 3,
     "Username invalid, must be 1-128 bytes."),
    ("tab in username", {"username": "a\tb"}, 400, 3,
     "Username invalid, no spaces or control characters allowed."),
    ("NUL in username", {"username": "a\x00b"}, 400, 3,
     "Username invalid, no spaces or control characters allowed."),
    ("empty lang_tag", {"lang_tag": ""}, 500, INTERNAL, "Error while trying to update account."),
    ("long lang_tag", {"lang_tag": "x" * 19}, 500, INTERNAL,
     "Error while trying to update account."),
    ("long display_name", {"display_name": "d" * 256}, 500, INTERNAL,
     "Error while trying to update account."),
    ("long avatar_url", {"avatar_url": "a" * 513}, 500, INTERNAL,
     "Error while trying to update account."),
    ("NUL in location", {"location": "a\x00"}, 500, INTERNAL,
     "Error while trying to update account."),
    ("display_name a number", {"display_name": 5}, 400, 3, None),
    ("255 characters of 2 bytes fit", {"display_name": "é" * 255}, 200, None, None),
]  # fmt: skip


@cases_on_targets("label, body, status, code, message", UPDATE_REFUSALS)
@pytest_twisted.ensureDeferred
async def test_a_bad_update_is_refused_as_nakama_words_it(target, label, body, status, code,
                                                          message):  # fmt: skip
    user = await new_user(target)
    expect(await call(target, "PUT", "/v2/account", body, bearer(user)), status, code, message)


@on_targets()
@pytest_twisted.ensureDeferred
async def test_a_taken_username_is_refused_in_nakama_s_wrapped_words(target):
    user, other = await new_user(target), await new_user(target)
    taken = await call(target, "PUT", "/v2/account", {"username": other.username}, bearer(user))
    expect(taken, 400, 3, "rpc error: code = AlreadyExists desc = Username is already in use.")
    same = await call(target, "PUT", "/v2/account", {"username": user.username}, bearer(user))
    expect(same, 200, None, None)
    no_session = await call(target, "PUT", "/v2/account", {"display_name": "x"}, basic())
    expect(no_session, 401, 16, "Auth token invalid")


# GET /v2/user ------------------------------------------------------------------------------


@on_targets()
@pytest_twisted.ensureDeferred
async def test_users_by_id_and_username(target):
    user, other = await new_user(target), await new_user(target)
    path = (f"/v2/user?ids={user.user_id}&ids={user.user_id.upper()}"
            f"&usernames={other.username}&usernames={fresh('nobody')}")  # fmt: skip
    found = (await call(target, "GET", path, None, bearer(user))).json()["users"]
    assert sorted((u["id"], u["username"]) for u in found) == sorted(
        [(user.user_id, user.username), (other.user_id, other.username)]
    )
    assert list(found[0]) == ["id", "username", "lang_tag", "metadata", "create_time",
                              "update_time"]  # fmt: skip
    for query in ("", f"ids={uuid.uuid4()}", "facebook_ids=12345", "facebook_ids=",
                  f"usernames={user.username.upper()}"):  # fmt: skip
        expect(await call(target, "GET", f"/v2/user?{query}", None, bearer(user)), 200, None, None)
    braced = f"/v2/user?ids=%7B{user.user_id.replace('-', '')}%7D"
    found = (await call(target, "GET", braced, None, bearer(user))).json()["users"]
    assert [u["id"] for u in found] == [user.user_id]
    system = (await call(target, "GET", "/v2/user?usernames=", None, bearer(user))).json()
    assert [(u["id"], "username" in u) for u in system["users"]] == [
        ("00000000-0000-0000-0000-000000000000", False)
    ]


# label, query, status, code, message
USER_REFUSALS = [
    ("a bad id first", "ids=nope&ids=alsobad", 400, 3, "ID 'nope' is not a valid system ID."),
    ("an empty id", "ids=", 400, 3, "ID '' is not a valid system ID."),
    ("ids joined by a comma", "ids=<me>,<me>", 400, 3,
     "ID '<me>,<me>' is not a valid system ID."),
    ("NUL in an id", "ids=a%00b", 400, 3, "ID 'a\x00b' is not a valid system ID."),
    ("NUL in a username", "usernames=a%00b", 500, INTERNAL, "Error retrieving user accounts."),
]  # fmt: skip


@cases_on_targets("label, query, status, code, message", USER_REFUSALS)
@pytest_twisted.ensureDeferred
async def test_bad_user_lookups_are_refused_as_nakama_words_them(target, label, query, status,
                                                                 code, message):  # fmt: skip
    user = await new_user(target)
    answer = await call(target, "GET", f"/v2/user?{query.replace('<me>', user.user_id)}", None,
                        bearer(user))  # fmt: skip
    expect(answer, status, code, message.replace("<me>", user.user_id))


# Link --------------------------------------------------------------------------------------


@on_targets()
@pytest_twisted.ensureDeferred
async def test_linked_ids_log_in_and_are_taken_for_others(target):
    user, other = await new_user(target), await new_user(target)
    device, custom = fresh("device-"), fresh("custom-")
    email = f"{fresh('Mail.')}@Example.com"
    link = "/v2/account/link/"
    for kind, body in (
        ("device", {"id": device, "vars": {"a": "b"}}),
        ("device", {"id": device}),
        ("custom", {"id": custom}),
        ("email", {"email": email, "password": "password1"}),
    ):
        expect(await call(target, "POST", link + kind, body, bearer(user)), 200, None, None)
    got = (await call(target, "GET", "/v2/account", None, bearer(user))).json()
    assert (got["email"], got["custom_id"], got["devices"]) == (
        email.lower(), custom, [{"id": device}]
    )  # fmt: skip
    for kind, body in (
        ("device", {"id": device}),
        ("custom", {"id": custom}),
        ("email", {"email": email.upper(), "password": "password1"}),
    ):
        login = await call(target, "POST", f"/v2/account/authenticate/{kind}?create=false", body,
                           basic())  # fmt: skip
        assert login.status == 200, (kind, login.body)
    taken = [
        ("device", {"id": device}, "Device ID already in use."),
        ("custom", {"id": custom}, "Custom ID is already in use."),
        ("email", {"email": email.upper(), "password": "password1"}, "Email is already in use."),
    ]
    for kind, body, message in taken:
        expect(await call(target, "POST", link + kind, body, bearer(other)), 409, 6, message)


@on_targets()
@pytest_twisted.ensureDeferred
async def test_a_password_bcrypt_refuses_links_the_email_without_one(target):
    user = await new_user(target)
    email = f"{fresh('long')}@example.com"
    body = {"email": email, "password": "p" * 73}
    expect(
        await call(target, "POST", "/v2/account/link/email", body, bearer(user)), 200, None, None
    )
    for password in ("p" * 73, "p" * 72):
        login = await call(target, "POST", "/v2/account/authenticate/email?create=false",
                           {"email": email, "password": password}, basic())  # fmt: skip
        expect(login, 401, 16, "Invalid credentials.")


# Unlink ------------------------------------------------------------------------------------


@on_targets()
@pytest_twisted.ensureDeferred
async def test_the_last_way_to_log_in_is_never_unlinked(target):
    user, other = await new_user(target), await new_user(target)
    me = bearer(user)
    unlink = "/v2/account/unlink/"

    async def refused(kind: str, body) -> None:
        expect(await call(target, "POST", unlink + kind, body, me), 403, 7, LAST)

    async def done(kind: str, body) -> None:
        expect(await call(target, "POST", unlink + kind, body, me), 200, None, None)

    got = (await call(target, "GET", "/v2/account", None, me)).json()
    custom = got["custom_id"]
    await refused("custom", {"id": custom})
    await refused("custom", None)
    await refused("device", {"id": fresh("nodevice")})
    await refused("email", {"email": "x@y.zz"})
    await done("email", None)  # no email, but a custom id remains
    device = fresh("device-")
    await call(target, "POST", "/v2/account/link/device", {"id": device}, me)
    await refused("custom", {"id": fresh("custom-")})
    other_unlinks = await call(target, "POST", unlink + "device", {"id": device}, bearer(other))
    expect(other_unlinks, 403, 7, LAST)
    await done("custom", {"id": custom})
    await refused("custom", {"id": custom})
    await done("custom", {})  # none set, a device remains
    await refused("device", {"id": device})
    email = f"{fresh('un')}@example.com"
    await call(target, "POST", "/v2/account/link/email", {"email": email, "password": "password"},
               me)  # fmt: skip
    await done("device", {"id": device})
    await refused("email", {"email": email.upper()})
    await call(target, "POST", "/v2/account/link/custom", {"id": custom}, me)
    await done("email", {"email": email.upper()})
    got = (await call(target, "GET", "/v2/account", None, me)).json()
    assert ("email" in got, "devices" in got, got["custom_id"]) == (False, False, custom)


# label, path under /v2/account/, body, status, code, message
REFUSALS = [
    ("link custom, no body", "link/custom", None, 400, 3, "Custom ID is required."),
    ("link custom, no id", "link/custom", {}, 400, 3, "Custom ID is required."),
    ("link custom, too short", "link/custom", {"id": "abc"}, 400, 3,
     "Invalid custom ID, must be 6-128 bytes."),
    ("link custom, too long", "link/custom", {"id": "x" * 129}, 400, 3,
     "Invalid custom ID, must be 6-128 bytes."),
    ("link custom, a space", "link/custom", {"id": "abc def ghi"}, 400, 3,
     "Invalid custom ID, no spaces or control characters allowed."),
    ("link custom, a NUL", "link/custom", {"id": "abc\x00defghi"}, 400, 3,
     "Invalid custom ID, no spaces or control characters allowed."),
    ("link custom, a number", "link/custom", {"id": 5}, 400, 3, None),
    ("link device, no body", "link/device", None, 400, 3, "Device ID is required."),
    ("link device, too short", "link/device", {"id": "abc"}, 400, 3,
     "Device ID invalid, must be 10-128 bytes."),
    ("link device, a space", "link/device", {"id": "abc def ghi"}, 400, 3,
     "Device ID invalid, no spaces or control characters allowed."),
    ("link email, no body", "link/email", None, 400, 3,
     "Email address and password is required."),
    ("link email, no password", "link/email", {"email": "someone@example.com"}, 400, 3,
     "Email address and password is required."),
    ("link email, a space and a short password", "link/email",
     {"email": "a b@example.com", "password": "short"}, 400, 3,
     "Invalid email address, no spaces or control characters allowed."),
    ("link email, a short password before the format", "link/email",
     {"email": "bad", "password": "short"}, 400, 3,
     "Password must be at least 8 characters long."),
    ("link email, the format", "link/email", {"email": "bad", "password": "longenough"}, 400, 3,
     "Invalid email address format."),
    ("link email, too short", "link/email", {"email": "a@b.c", "password": "longenough"}, 400,
     3, "Invalid email address, must be 10-255 bytes."),
    ("link email, too long", "link/email",
     {"email": "a@b.c" + "x" * 251, "password": "longenough"}, 400, 3,
     "Invalid email address, must be 10-255 bytes."),
    ("link email, a NUL", "link/email",
     {"email": "nul\x00x@example.com", "password": "longenough"}, 400, 3,
     "Invalid email address, no spaces or control characters allowed."),
    ("unlink device, no body", "unlink/device", None, 400, 3, "A device ID must be supplied."),
    ("unlink device, empty", "unlink/device", {"id": ""}, 400, 3,
     "A device ID must be supplied."),
    ("unlink device, a NUL", "unlink/device", {"id": "a\x00b"}, 500, INTERNAL,
     "Could not unlink device ID."),
    ("unlink custom, a NUL", "unlink/custom", {"id": "a\x00b"}, 500, INTERNAL,
     "Error while trying to unlink custom ID."),
    ("unlink email, a NUL", "unlink/email", {"email": "a\x00b"}, 500, INTERNAL,
     "Error while trying to unlink email."),
    ("unlink custom, a number", "unlink/custom", {"id": 5}, 400, 3, None),
    ("unlink custom, too short: no rule, not linked", "unlink/custom", {"id": "a"}, 403, 7,
     LAST),
]  # fmt: skip


@cases_on_targets("label, path, body, status, code, message", REFUSALS)
@pytest_twisted.ensureDeferred
async def test_a_bad_link_or_unlink_is_refused_as_nakama_words_it(target, label, path, body,
                                                                  status, code,
                                                                  message):  # fmt: skip
    user = await new_user(target)
    answer = await call(target, "POST", f"/v2/account/{path}", body, bearer(user))
    expect(answer, status, code, message)


@on_targets()
@pytest_twisted.ensureDeferred
async def test_link_and_unlink_need_a_session_and_post(target):
    user = await new_user(target)
    for path in ("/v2/account/link/custom", "/v2/account/unlink/email"):
        expect(await call(target, "POST", path, {"id": "abcdefgh"}), 401, 16, "Auth token required")
        wrong = await call(target, "GET", path, None, bearer(user))
        expect(wrong, 501, 12, "Method Not Allowed")
