"""End to end: relayed multiplayer with the official nakama-js client (node).

The scenario is ``match_relayed`` in ``tests/e2e/match_scenarios.mjs`` (run by
``scenarios.mjs``, see ``tests/test_e2e_nakama_js.py``), for the JSON and the protobuf
adapter. It records what each of three sockets receives, in order; the facts are checked
here, then the server's registries (no session or presence left) and its HTTP match list.
The expected values are what a reference Nakama gives for the same run.
"""

from __future__ import annotations

import uuid

import pytest
import pytest_twisted

from tests.test_e2e_nakama_js import (
    ADAPTERS,
    all_sockets_gone,
    assert_frames,
    node,  # noqa: F401  (fixture)
    run_scenario,
    user_id_by_http,
    user_presence,
)
from tests.wsclient import authenticate, http


def by_session(presences: list[dict]) -> list[dict]:
    return sorted(presences, key=lambda p: p["session_id"])


def match(match_id: str, size: int, self: dict, presences=()) -> dict:
    return {
        "match_id": match_id,
        "authoritative": False,
        "label": None,
        "size": size,
        "self": self,
        "presences": by_session(list(presences)),
    }


def event(match_id: str, joins=(), leaves=()) -> dict:
    return {"match_id": match_id, "joins": list(joins), "leaves": list(leaves)}


def data(match_id: str, op_code: int, payload: bytes, sender: dict, reliable=False) -> dict:
    return {
        "match_id": match_id,
        "op_code": op_code,
        "data": payload.hex(),
        "presence": sender,
        "reliable": reliable,
    }


def relayed_id(match_id: str, version: int) -> None:
    """A relayed match id is "<uuid>." (no node); the uuid's version is given."""
    assert match_id.endswith("."), match_id
    assert uuid.UUID(match_id[:-1]).version == version, match_id


async def listed_matches(port: int) -> list[dict]:
    token = (await authenticate(port, f"e2e-{uuid.uuid4()}"))["token"]
    answer = await http(port, "GET", "/v2/match?limit=100&authoritative=false", bearer=token)
    assert answer.status == 200, answer
    return answer.json().get("matches", [])


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest_twisted.ensureDeferred
async def test_relayed_match(server, node, adapter) -> None:  # noqa: F811
    facts = await run_scenario(node, server.port, adapter, "match_relayed")
    port = server.port
    a, b, c = facts["a"], facts["b"], facts["c"]
    for user in (a, b, c):
        assert user["user_id"] == await user_id_by_http(port, user["custom_id"])
    assert len({a["session_id"], b["session_id"], c["session_id"]}) == 3
    pa, pb, pc = user_presence(a), user_presence(b), user_presence(c)

    # Create (no name): a new "<uuid4>.", size 1, no presences; the creator's own join.
    mid = facts["created"]["match_id"]
    relayed_id(mid, 4)
    assert facts["created"] == match(mid, 1, pa)
    # A join answers the others already there, and `size` counts them (not the joiner).
    assert facts["b_joined"] == match(mid, 1, pb, [pa])
    assert facts["c_joined"] == match(mid, 2, pc, [pa, pb])
    # Every member, the joiner included, is told of each join.
    assert facts["a_events_until_b_join"] == [event(mid, joins=[pa]), event(mid, joins=[pb])]
    assert facts["a_events_until_c_join"] == [event(mid, joins=[pc])]
    assert facts["b_events_until_c_join"] == [event(mid, joins=[pb]), event(mid, joins=[pc])]

    # Data goes to the others with the sender's presence: a string (op 1), bytes (op 2,
    # reliable), and the sender never gets it back (A's first data is B's op 2).
    text, raw = bytes.fromhex(facts["sent"]["text_hex"]), bytes.fromhex(facts["sent"]["bytes_hex"])
    assert (text, raw) == (b"hello match", bytes([0, 1, 2, 127, 128, 255]))
    assert facts["op1"] == {"b": data(mid, 1, text, pa), "c": data(mid, 1, text, pa)}
    op2 = data(mid, 2, raw, pb, reliable=True)
    assert facts["op2"] == {"a": op2, "c": op2}
    # To listed presences only: op 3 to B, then op 4 to all (C's next data is op 4).
    assert facts["op3_op4"] == {
        "b": [data(mid, 3, b"for B", pa), data(mid, 4, b"for all", pa)],
        "c": [data(mid, 4, b"for all", pa)],
    }
    # A sender listing itself gets its own data; op 6 carries no data.
    op5, op6 = data(mid, 5, b"for A and C", pa), data(mid, 6, b"", pc)
    assert facts["op5_op6"] == {"c": [op5], "a": [op5, op6], "b": [op6]}

    # The named match.
    named_a, named_b = facts["named_a"], facts["named_b"]
    nid = named_a["match_id"]
    if adapter == "json":
        # Its id is "<uuid5(DNS, name)>.": B's create joins A's match and lists A.
        assert nid == f"{uuid.uuid5(uuid.NAMESPACE_DNS, facts['name'])}."
        assert named_a == match(nid, 1, pa)
        assert named_b == match(nid, 2, pb, [pa])
        assert facts["a_events_until_b_named_join"] == [
            event(nid, joins=[pa]),
            event(nid, joins=[pb]),
        ]
        assert facts["a_events_until_b_named_leave"] == [event(nid, leaves=[pb])]
        named_listed = [(nid, 2)]
        b_named_events = [event(nid, joins=[pb])]
    else:
        # nakama-js-protobuf 2.8 encodes MatchCreate without its name: two new matches.
        nid_b = named_b["match_id"]
        relayed_id(nid, 4)
        relayed_id(nid_b, 4)
        assert nid != nid_b
        assert named_a == match(nid, 1, pa)
        assert named_b == match(nid_b, 1, pb)
        assert facts["a_events_until_b_named_join"] == [event(nid, joins=[pa])]
        assert "a_events_until_b_named_leave" not in facts
        named_listed = [(nid, 1), (nid_b, 1)]
        b_named_events = [event(nid_b, joins=[pb])]

    # listMatches(authoritative=false) while all three are in the first match.
    assert all(m["authoritative"] is False and m["label"] is None for m in facts["listed"])
    assert sorted((m["match_id"], m["size"]) for m in facts["listed"]) == sorted(
        [(mid, 3), *named_listed]
    )
    assert facts["listed_others"] == 0

    # Leaving: the others are told; the leaver gets no event of its own leave.
    assert facts["a_events_until_b_leave"] == [event(mid, leaves=[pb])]
    assert facts["c_events_until_b_leave"] == [event(mid, joins=[pc]), event(mid, leaves=[pb])]
    assert facts["unknown_join"] == {"code": 4, "message": "Match not found"}
    assert facts["b_pong_after_unknown"] is True
    assert facts["b_open_after_unknown"] is True
    # A socket going away leaves its matches.
    assert facts["a_events_until_c_disconnect"] == [event(mid, leaves=[pc])]

    # Nothing else arrived: no data from B once out of the match (op 7), no stray events.
    assert facts["leftover"] == {
        "A": {"data": [], "events": []},
        "B": {"data": [], "events": b_named_events},
        "C": {"data": [], "events": []},
    }
    for closed in (facts["c_close"], facts["b_close"], facts["a_close"]):
        assert closed["was_clean"] is True
    assert_frames(facts, adapter)
    # Frames per socket (A, B, C), equal to the reference Nakama's for this run: an extra
    # or missing frame (an error without cid, a duplicate event) would show here.
    sent = [tap["sent"] for tap in facts["frames"]]
    received = [tap["received"] for tap in facts["frames"]]
    assert sent == [9, 9, 3]
    assert received == ([16, 14, 8] if adapter == "json" else [14, 14, 8])

    await all_sockets_gone(server)
    assert len(server.server.tracker) == 0, "presences left on the server"
    assert await listed_matches(port) == []
