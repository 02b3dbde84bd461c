"""End to end: accounts, users and links with the official nakama-js client (node).

The scenario is ``account`` in ``tests/e2e/account_scenarios.mjs``, run for the JSON and
the protobuf adapter (HTTP calls: both give the same facts): a profile update read back
by its owner and found by another player, a taken username, a device and an email
linked (and the email logging in), a device already linked elsewhere, unlinks, and the
last way to log in kept. The expected facts are those a reference Nakama 3.40 gave for
the same scenario.
"""

from __future__ import annotations

import pytest_twisted

from tests.test_e2e_nakama_js import (
    node,  # noqa: F401  (fixture)
    scenario_runs,
)

account_run = scenario_runs("account")


def test_a_profile_is_updated_and_found_by_others(account_run) -> None:
    facts = account_run.facts
    profile = {
        "username": facts["renamed"],
        "display_name": "Alice A.",
        "avatar_url": "https://example.com/a.png",
        "lang_tag": "fr",
        "location": "Paris",
        "timezone": "Europe/Paris",
    }
    assert facts["account"] == profile
    assert facts["account_custom_id"] == facts["alice"]["custom_id"]
    assert facts["by_id"] == [profile]
    assert facts["by_name"] == [facts["alice"]["user_id"]]
    # Nakama's words for a taken username, its inner gRPC status and all.
    assert facts["taken"] == {
        "status": 400,
        "body": {
            "code": 3,
            "message": "rpc error: code = AlreadyExists desc = Username is already in use.",
        },
    }


def test_links_and_unlinks_keep_the_last_way_to_log_in(account_run) -> None:
    facts = account_run.facts
    assert len(facts["linked"]["devices"]) == 1 and facts["linked"]["email"].endswith(
        "@example.com"
    )
    assert facts["email_login_user"] == facts["alice"]["user_id"]
    assert facts["device_elsewhere"] == {
        "status": 409,
        "body": {"code": 6, "message": "Device ID already in use."},
    }
    assert facts["last_way"] == {
        "status": 403,
        "body": {
            "code": 7,
            "message": "Cannot unlink last account identifier. Check profile exists and is "
            "not last link.",
        },
    }
    assert facts["after"] == {"devices": 0, "email": None, "custom_id": facts["alice"]["custom_id"]}


@pytest_twisted.ensureDeferred
async def test_the_server_holds_the_account_as_left(account_run) -> None:
    user = await account_run.server.app.storage.get_user(account_run.facts["alice"]["user_id"])
    assert (user.username, user.display_name, user.email) == (
        account_run.facts["renamed"],
        "Alice A.",
        None,
    )
