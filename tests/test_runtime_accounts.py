"""``nk.account_*``, ``nk.link_*`` and ``nk.unlink_*``: accounts as the runtime reaches
them, with Nakama's runtime messages, on both backends."""

from __future__ import annotations

import uuid

import pytest
import pytest_twisted
from storage_fixtures import ShiftedReactor, start_test_storage
from test_runtime_storage import NoNotifications
from twisted.internet import threads

from nakama_rt.api.authenticate import check_password
from nakama_rt.runtime import NakamaError, NakamaModule
from nakama_rt.testing import FakeNakama

NOW = 1_700_000_000.0
LAST = "Cannot unlink last account identifier. Check profile exists and is not last link."


@pytest_twisted.async_yield_fixture
async def nk(storage_kind, tmp_path):
    opened = await start_test_storage(storage_kind, tmp_path, ShiftedReactor(now=NOW))
    online = set()
    module = NakamaModule(opened.storage, NoNotifications(), online.__contains__, bcrypt_cost=4)
    module.test_online = online
    yield module
    await opened.close()


async def refused(deferred, message: str, code: int) -> None:
    with pytest.raises(NakamaError) as raised:
        await deferred
    assert (raised.value.message, raised.value.code) == (message, code)


@pytest_twisted.ensureDeferred
async def test_account_get_and_update(nk):
    alice = await nk._storage.create_user("alice", custom_id="custom-alice")
    nk.test_online.add(alice.id)
    account = await nk.account_get_id(alice.id.upper())
    assert (account.user.id, account.user.username, account.user.online) == (
        alice.id, "alice", True,
    )  # fmt: skip
    assert (account.custom_id, account.wallet, account.HasField("disable_time")) == (
        "custom-alice", "{}", False,
    )  # fmt: skip
    await nk.account_update_id(
        alice.id, "alice2", {"level": 3, "b": [1]}, "Alice", "UTC", "", "fr", ""
    )
    account = await nk.account_get_id(alice.id)
    user = account.user
    assert (user.username, user.display_name, user.timezone, user.lang_tag, user.location) == (
        "alice2", "Alice", "UTC", "fr", "",
    )  # fmt: skip
    assert user.metadata == '{"b": [1], "level": 3}'
    # An empty text leaves a field alone (the API's clears it).
    await nk.account_update_id(alice.id, display_name="", location="Paris")
    user = (await nk.account_get_id(alice.id)).user
    assert (user.display_name, user.location) == ("Alice", "Paris")


@pytest_twisted.ensureDeferred
async def test_account_refusals(nk):
    alice = await nk._storage.create_user("alice", custom_id="custom-alice")
    await nk._storage.create_user("bob")
    with pytest.raises(ValueError, match="^invalid user id$"):
        nk.account_get_id("nope")
    await refused(nk.account_get_id(str(uuid.uuid4())), "account not found", 13)
    with pytest.raises(ValueError, match="^expects user ID to be a valid identifier$"):
        nk.account_update_id("nope", "x")
    with pytest.raises(ValueError, match="^No fields to update.$"):
        nk.account_update_id(alice.id)
    with pytest.raises(ValueError, match="no spaces or control characters"):
        nk.account_update_id(alice.id, "a\tb")
    with pytest.raises(ValueError, match="^expects display_name to be a string$"):
        nk.account_update_id(alice.id, display_name=5)
    with pytest.raises(ValueError, match="^expects metadata to be a mapping$"):
        nk.account_update_id(alice.id, metadata="{}")
    await refused(nk.account_update_id(alice.id, "bob"), "Username is already in use.", 6)
    await refused(
        nk.account_update_id(alice.id, display_name="d" * 256),
        "Error while trying to update account.",
        13,
    )
    assert (await nk.account_get_id(alice.id)).user.username == "alice"


@pytest_twisted.ensureDeferred
async def test_link_and_unlink(nk):
    alice = await nk._storage.create_user("alice", custom_id="custom-alice")
    bob = await nk._storage.create_user("bob", custom_id="custom-bob", device_id="device-bob-1")
    await nk.link_device(alice.id, "device-alice-1")
    await nk.link_email(alice.id, "Alice@Example.com", "password1")
    await nk.link_custom(alice.id, "custom-alice-2")
    stored = await nk._storage.get_user(alice.id)
    assert (stored.email, stored.custom_id, stored.device_ids) == (
        "alice@example.com", "custom-alice-2", ("device-alice-1",),
    )  # fmt: skip
    assert check_password("password1", stored.password_hash)
    await refused(nk.link_custom(alice.id, "custom-bob"), "Custom ID is already in use.", 6)
    await refused(nk.link_device(alice.id, "device-bob-1"), "Device ID already in use.", 6)
    await refused(
        nk.link_email(bob.id, "ALICE@example.com", "password1"), "Email is already in use.", 6
    )
    await nk.unlink_custom(alice.id)
    await nk.unlink_email(alice.id, "ALICE@EXAMPLE.COM")
    await refused(nk.unlink_device(alice.id, "device-alice-1"), LAST, 7)
    await refused(nk.unlink_custom(bob.id, "custom-other"), LAST, 7)
    await nk.unlink_device(bob.id, "device-bob-1")
    await refused(nk.unlink_custom(bob.id, "custom-bob"), LAST, 7)
    await refused(nk.unlink_email(bob.id, "a\x00b"), "Error while trying to unlink email.", 13)


@pytest_twisted.ensureDeferred
async def test_the_password_is_hashed_in_the_thread_given(nk):
    alice = await nk._storage.create_user("alice", custom_id="custom-alice")
    ran = []

    def in_thread(fn, *args):
        ran.append(fn.__name__)
        return threads.deferToThread(fn, *args)

    hashing = NakamaModule(nk._storage, NoNotifications(), bcrypt_cost=4, in_thread=in_thread)
    await hashing.link_email(alice.id, "alice@example.com", "p" * 73)
    assert ran == ["link_hash"]
    # Over bcrypt's 72 bytes: linked without a password, as Nakama does.
    stored = await nk._storage.get_user(alice.id)
    assert (stored.email, stored.password_hash) == ("alice@example.com", None)


def test_link_arguments_are_checked_at_once():
    nk = NakamaModule(None, NoNotifications())  # never reached: the checks come first
    user_id = str(uuid.uuid4())
    cases = [
        (lambda: nk.link_custom("nope", "custom-id"), "user ID must be a valid identifier"),
        (lambda: nk.link_custom(user_id, "abc"), "Invalid custom ID, must be 6-128 bytes."),
        (lambda: nk.link_custom(user_id, ""), "Custom ID is required."),
        (lambda: nk.link_device(user_id, "a b c d e f"),
         "Device ID invalid, no spaces or control characters allowed."),
        (lambda: nk.link_email(user_id, "bad", "longenough"), "Invalid email address format."),
        (lambda: nk.link_email(user_id, "a@example.com", ""),
         "Email address and password is required."),
        (lambda: nk.unlink_device(user_id, ""), "A device ID must be supplied."),
        (lambda: nk.unlink_email("nope"), "user ID must be a valid identifier"),
        (lambda: nk.unlink_custom(user_id, 5), "expects custom_id to be a string"),
    ]  # fmt: skip
    for call, message in cases:
        with pytest.raises(ValueError) as raised:
            call()
        assert str(raised.value) == message


def test_account_functions_need_the_server_storage():
    nk = FakeNakama()
    with pytest.raises(RuntimeError, match="need the server's storage"):
        nk.account_get_id(str(uuid.uuid4()))
    assert [c.name for c in nk.calls] == ["account_get_id"]
