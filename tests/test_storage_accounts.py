"""Updating accounts and linking and unlinking ways to log in, at the storage seam,
run identically against SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

import pytest
import pytest_twisted
from storage_fixtures import clock_and_storage
from twisted.internet.defer import DeferredList

from nakama_rt.storage import CustomIdTaken, DeviceIdTaken, EmailTaken, UsernameTaken, ValueRefused

NOW = 1_700_000_000.0


clock, storage = clock_and_storage(NOW)


@pytest_twisted.ensureDeferred
async def test_update_account_sets_clears_and_stamps_only_a_change(storage, clock):
    a = await storage.create_user("a", custom_id="custom-a")
    clock.advance(10)
    changes = {"username": "a2", "display_name": "A", "lang_tag": "fr", "timezone": "UTC"}
    await storage.update_account(a.id, changes)
    user = await storage.get_user(a.id)
    assert (user.username, user.display_name, user.lang_tag, user.timezone) == (
        "a2", "A", "fr", "UTC",
    )  # fmt: skip
    assert user.update_time == pytest.approx(NOW + 10)
    clock.advance(10)
    await storage.update_account(a.id, {"display_name": "A", "lang_tag": "fr"})  # the same
    assert (await storage.get_user(a.id)).update_time == pytest.approx(NOW + 10)
    await storage.update_account(a.id, {"display_name": "", "location": ""})
    user = await storage.get_user(a.id)
    assert (user.display_name, user.location) == (None, None)
    assert user.update_time == pytest.approx(NOW + 20)
    # Metadata is stored as PostgreSQL's JSONB keeps it, on both backends.
    await storage.update_account(a.id, {"metadata": '{"bb":1,"a":[1,2.50]}'})
    assert (await storage.get_user(a.id)).metadata == '{"a": [1, 2.50], "bb": 1}'
    # An unknown or malformed user is no error: nothing changes.
    await storage.update_account(str(uuid.uuid4()), {"display_name": "x"})
    await storage.update_account("junk", {"display_name": "x"})


@pytest_twisted.ensureDeferred
async def test_update_account_refusals(storage):
    a = await storage.create_user("a")
    await storage.create_user("b")
    with pytest.raises(UsernameTaken):
        await storage.update_account(a.id, {"username": "b", "display_name": "x"})
    for changes in (
        {"lang_tag": ""},
        {"lang_tag": "x" * 19},
        {"display_name": "d" * 256},
        {"avatar_url": "a" * 513},
        {"timezone": "a\x00"},
        {"username": "u" * 129},
    ):
        with pytest.raises(ValueRefused):
            await storage.update_account(a.id, changes)
    for metadata in ("[1]", "nope", '{"a":"\\u0000"}'):
        with pytest.raises(ValueRefused):
            await storage.update_account(a.id, {"metadata": metadata})
    with pytest.raises(ValueError):
        await storage.update_account(a.id, {"wallet": "{}"})
    user = await storage.get_user(a.id)
    assert (user.username, user.display_name, user.lang_tag) == ("a", None, "en")
    await storage.update_account(a.id, {"display_name": "é" * 255, "avatar_url": "a" * 512})


@pytest_twisted.ensureDeferred
async def test_link_custom_and_email(storage, clock):
    a = await storage.create_user("a", device_id="device-a-0001")
    b = await storage.create_user("b", custom_id="custom-b", email="b@example.com")
    clock.advance(5)
    await storage.link_custom(a.id, "custom-a")
    await storage.link_custom(a.id, "custom-a")  # one's own again
    await storage.link_email(a.id, "A@Example.com", b"$2b$hash")
    user = await storage.get_user(a.id)
    assert (user.custom_id, user.email, user.password_hash) == (
        "custom-a", "a@example.com", b"$2b$hash",
    )  # fmt: skip
    assert user.update_time == pytest.approx(NOW + 5)
    with pytest.raises(CustomIdTaken):
        await storage.link_custom(a.id, "custom-b")
    with pytest.raises(EmailTaken):
        await storage.link_email(a.id, "B@EXAMPLE.COM", None)
    # An account that does not exist cannot be told apart from a taken id.
    with pytest.raises(CustomIdTaken):
        await storage.link_custom(str(uuid.uuid4()), "custom-new")
    with pytest.raises(EmailTaken):
        await storage.link_email("junk", "new@example.com", None)
    # A password bcrypt refused: the email is linked without one.
    await storage.link_email(b.id, "b2@example.com", None)
    assert (await storage.get_user(b.id)).password_hash is None


@pytest_twisted.ensureDeferred
async def test_link_device_stamps_the_update_time(storage, clock):
    a = await storage.create_user("a", custom_id="custom-a")
    clock.advance(5)
    await storage.link_device(a.id, "device-a-0001")
    assert (await storage.get_user(a.id)).update_time == pytest.approx(NOW + 5)
    b = await storage.create_user("b")
    with pytest.raises(DeviceIdTaken):
        await storage.link_device(b.id, "device-a-0001")


@pytest_twisted.ensureDeferred
async def test_unlink_never_removes_the_last_way_to_log_in(storage):
    a = await storage.create_user("a", custom_id="custom-a")
    assert await storage.unlink_custom(a.id, "custom-a") is False
    assert await storage.unlink_custom(a.id) is False
    assert await storage.unlink_email(a.id) is True  # none set, but a custom id remains
    await storage.link_device(a.id, "device-a-0001")
    assert await storage.unlink_custom(a.id, "custom-other") is False
    assert await storage.unlink_custom(a.id, "custom-a") is True
    assert await storage.unlink_device(a.id, "device-a-0001") is False  # the last one
    await storage.link_device(a.id, "device-a-0002")
    assert await storage.unlink_device(a.id, "device-a-0001") is True
    await storage.link_email(a.id, "a@example.com", b"$2b$hash")
    assert await storage.unlink_device(a.id, "device-a-0002") is True
    assert await storage.unlink_email(a.id, "A@EXAMPLE.COM") is False  # the last one
    await storage.link_custom(a.id, "custom-a")
    assert await storage.unlink_email(a.id, "A@EXAMPLE.COM") is True
    user = await storage.get_user(a.id)
    assert (user.custom_id, user.email, user.password_hash, user.device_ids) == (
        "custom-a", None, None, (),
    )  # fmt: skip
    for unlink in (storage.unlink_custom, storage.unlink_email, storage.unlink_device):
        assert await unlink(str(uuid.uuid4()), "x") is False
        assert await unlink("junk", "x") is False
        with pytest.raises(ValueRefused):
            await unlink(a.id, "a\x00b")


@pytest_twisted.ensureDeferred
async def test_two_unlinks_at_once_leave_one_way_to_log_in(storage):
    for round_ in range(5):
        user = await storage.create_user(f"u{round_}", custom_id=f"custom-{round_}")
        await storage.link_device(user.id, f"device-{round_}-00001")
        results = await DeferredList(
            [
                storage.unlink_custom(user.id, f"custom-{round_}"),
                storage.unlink_device(user.id, f"device-{round_}-00001"),
            ],
            consumeErrors=True,
        )
        assert sorted(value for _, value in results) == [False, True]
        left = await storage.get_user(user.id)
        assert (left.custom_id is not None) + len(left.device_ids) == 1
