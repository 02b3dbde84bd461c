"""End to end: the storage engine with the official nakama-js client (node).

The scenario is ``storage`` in ``tests/e2e/storage_scenarios.mjs``, run for the JSON and
the protobuf adapter (the storage calls are HTTP, so both must give the same facts): a
private and a public save, reads and listings by the owner and by another player, a
create-only write refused, a versioned update and a delete. The tests check its facts,
then what the server's storage holds.
"""

from __future__ import annotations

import hashlib
import json

import pytest_twisted

from tests.test_e2e_nakama_js import (
    node,  # noqa: F401  (fixture)
    scenario_runs,
)

storage_run = scenario_runs("storage")


def version(value: object) -> str:
    """Nakama's version of what nakama-js sends: the md5 of ``JSON.stringify(value)``."""
    return hashlib.md5(json.dumps(value, separators=(",", ":")).encode()).hexdigest()


SLOT = {"level": 3, "items": ["sword"]}
PROFILE = {"title": "Knight"}


def test_saves_are_acknowledged_with_their_versions(storage_run) -> None:
    facts = storage_run.facts
    alice = facts["alice"]
    assert facts["acks"] == [
        {"collection": "saves", "key": "slot1", "version": version(SLOT), "user_id": alice},
        {"collection": "saves", "key": "profile", "version": version(PROFILE), "user_id": alice},
    ]


def test_the_owner_reads_both_and_another_player_only_the_public_one(storage_run) -> None:
    facts = storage_run.facts
    alice = facts["alice"]

    def saved(key: str, value: dict, read: int) -> dict:
        fields = {"collection": "saves", "key": key, "user_id": alice, "value": value}
        return {**fields, "version": version(value), "permission_read": read,
                "permission_write": 1}  # fmt: skip

    # A read's order is the database's in Nakama (no ORDER BY): compared by key.
    reads = sorted(facts["alice_reads"], key=lambda o: o["key"])
    assert reads == [saved("profile", PROFILE, 2), saved("slot1", SLOT, 1)]
    assert facts["bob_reads"] == [saved("profile", PROFILE, 2)]
    # An owner's listing: by read permission, then key (a reference Nakama lists the same).
    assert facts["alice_lists"] == {"keys": ["slot1", "profile"], "cursor": None}
    assert facts["bob_lists"] == {"keys": ["profile"], "cursor": None}


def test_versions_guard_writes_and_a_delete_removes(storage_run) -> None:
    facts = storage_run.facts
    assert facts["create_only"] == {
        "status": 400,
        "body": {"code": 3, "message": "Storage write rejected - version check failed."},
    }
    assert facts["updated_version"] == version({"level": 4})
    assert facts["after_update"] == [{"level": 4}]
    assert facts["after_delete"] == 0


@pytest_twisted.ensureDeferred
async def test_the_server_holds_what_the_client_left(storage_run) -> None:
    storage = storage_run.server.app.storage
    alice = storage_run.facts["alice"]
    page = await storage.list_objects(None, alice, "saves", 10)
    assert [(o.key, o.value) for o in page.objects] == [("slot1", '{"level": 4}')]
