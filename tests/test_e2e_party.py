"""End to end: parties with the official nakama-js client (node).

The scenario is ``party`` in ``tests/e2e/party_scenarios.mjs`` (run by ``scenarios.mjs``,
see ``tests/test_e2e_nakama_js.py``), for the JSON and the protobuf adapter: an open
party (joins, data, full, promote, the leader leaving, close), a closed one (requests,
accept, decline, a non-leader refused) and a member's socket going away. It records
every party message each of four sockets receives, in order. The scenario runs once per
adapter against a server of this module (the same as ``conftest.server``); the tests
check its facts, then the server's registries. The expected values are what a reference
Nakama gives for the same run.
"""

from __future__ import annotations

import uuid

import pytest_twisted

from tests.test_e2e_nakama_js import (
    all_sockets_gone,
    assert_frames,
    node,  # noqa: F401  (fixture)
    scenario_runs,
    user_id_by_http,
    user_presence,
)

party_run = scenario_runs("party")


# --- expected values, as the facts normalise them ---------------------------------------------


def party(adapter: str, party_id: str, open_: bool, self: dict, leader: dict, members) -> dict:
    """A Party (create answer, or pushed to a member), as nakama-js decodes it.

    nakama-js-protobuf 2.8's Party has the old layout (max_size 3, self 4, leader 5,
    presences 6); Nakama 3.x's has hidden 3, max_size 4, self 5, leader 6, presences 7,
    label 8. The decoder takes max_size's varint (field 4) as the length of `self`, whose
    `status` then swallows the real self (its user id being the wrapper's field 1), and the
    leader (field 6) as the only presence. A reference Nakama gives exactly this too.
    """
    if adapter == "json":
        return {
            "party_id": party_id,
            "open": open_,
            "max_size": 3,
            "self": self,
            "leader": leader,
            "presences": list(members),
        }
    misread_self = {
        "user_id": "",
        "session_id": "",
        "username": "",
        "status": self["user_id"],
        "persistence": False,
    }
    return {
        "party_id": party_id,
        "open": open_,
        "max_size": 0,
        "self": misread_self,
        "leader": None,
        "presences": [leader],
    }


def party_keys(adapter: str, open_: bool) -> list[str]:
    """The fields of a Party message nakama-js hands over (JSON omits a false `open`)."""
    if adapter == "json":
        keys = ["leader", "max_size", "party_id", "presences", "self"]
        return sorted([*keys, "open"] if open_ else keys)
    return ["max_size", "open", "party_id", "presences", "self"]


def pushed(adapter: str, party_id: str, open_: bool, self: dict, leader: dict, members) -> dict:
    return {
        "type": "party",
        **party(adapter, party_id, open_, self, leader, members),
        "keys": party_keys(adapter, open_),
    }


def joined(party_id: str, *presences: dict) -> dict:
    return {"type": "presence", "party_id": party_id, "joins": list(presences), "leaves": []}


def left(party_id: str, *presences: dict) -> dict:
    return {"type": "presence", "party_id": party_id, "joins": [], "leaves": list(presences)}


def leader(party_id: str, presence: dict) -> dict:
    return {"type": "leader", "party_id": party_id, "presence": presence}


def data(party_id: str, sender: dict, op_code: int, payload: bytes) -> dict:
    return {
        "type": "data",
        "party_id": party_id,
        "presence": sender,
        "op_code": op_code,
        "data": payload.hex(),
    }


def closed(party_id: str) -> dict:
    return {"type": "close", "party_id": party_id}


def join_request(party_id: str, *presences: dict) -> dict:
    return {"type": "join_request", "party_id": party_id, "presences": list(presences)}


def party_id_of_this_node(party_id: str) -> None:
    """A party id is "<uuid4>.<node>"; this server's node is "nakama"."""
    subject, _, node_name = party_id.partition(".")
    assert node_name == "nakama", party_id
    assert uuid.UUID(subject).version == 4, party_id


def error(message: str) -> dict:
    return {"code": 3, "message": message}  # BAD_INPUT


NOTHING = {"A": [], "B": [], "C": [], "D": []}

# --- checks -----------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_users(party_run) -> None:
    facts, port = party_run.facts, party_run.server.port
    for key in "abcd":
        user = facts[key]
        assert user["user_id"] == await user_id_by_http(port, user["custom_id"])
    assert len({facts[k]["session_id"] for k in "abc"}) == 3


def test_open_party(party_run) -> None:
    facts, adapter = party_run.facts, party_run.adapter
    pa, pb, pc = (user_presence(facts[k]) for k in "abc")
    pid = facts["open_created"]["party_id"]
    party_id_of_this_node(pid)

    # A creates (open, max 3): leader, self and the only member.
    assert facts["open_created"] == party(adapter, pid, True, pa, pa, [pa])
    assert facts["open_created_keys"] == party_keys(adapter, True)
    # B joins: an empty answer, then the party (members in join order) and its own join;
    # A is told. C likewise; A and B are told.
    assert facts["open_b_join_answer"] == ["cid"]
    assert facts["open_b_until_party"] == [
        pushed(adapter, pid, True, pb, pa, [pa, pb]),
        joined(pid, pb),
    ]
    assert facts["open_a_until_b_join"] == [joined(pid, pb)]
    assert facts["open_c_join_answer"] == ["cid"]
    assert facts["open_c_until_party"] == [
        pushed(adapter, pid, True, pc, pa, [pa, pb, pc]),
        joined(pid, pc),
    ]
    assert facts["open_a_until_c_join"] == [joined(pid, pc)]
    assert facts["open_b_until_c_join"] == [joined(pid, pc)]

    # Party data reaches the others with the sender's presence, never the sender: A's
    # first data is B's op 7 (not its own op 1); B never gets its own (see the drain).
    op1 = data(pid, pa, 1, b"hello party")
    assert facts["open_op1"] == {"b": [op1], "c": [op1]}
    op7 = data(pid, pb, 7, bytes([0, 1, 2, 127, 128, 255]))
    assert facts["open_op7"] == {"a": [op7], "c": [op7]}

    # A fourth user is refused; its socket stays usable.
    assert facts["open_d_full"] == error("Error joining party: party full")
    assert facts["open_d_ok_after_full"] is True

    # Promote B: an empty answer (promotePartyMember resolves undefined); all are told.
    assert facts["open_promote_answer"] is None
    assert facts["open_leader_b"] == {s: [leader(pid, pb)] for s in "ABC"}
    # The leader leaves: the oldest member (A) leads, announced before B's leave.
    assert facts["open_b_leave_answer"] == ["cid"]
    assert facts["open_after_b_leaves"] == {
        "A": [leader(pid, pa), left(pid, pb)],
        "C": [leader(pid, pa), left(pid, pb)],
    }
    assert facts["open_new_leader"] == "A"
    # A closes: every member, A included, gets party_close; nothing else arrives
    # (no data back to its sender, nothing to B once out, nothing to D).
    assert facts["open_close_answer"] == ["cid"]
    assert facts["open_other_until_close"] == [closed(pid)]
    assert facts["open_left_after_close"] == {**NOTHING, "A": [closed(pid)]}
    assert facts["open_d_join_closed"] == error("Error joining party: party not found")


def test_closed_party(party_run) -> None:
    facts, adapter = party_run.facts, party_run.adapter
    pa, pb, pc = (user_presence(facts[k]) for k in "abc")
    cid = facts["closed_created"]["party_id"]
    party_id_of_this_node(cid)
    assert cid != facts["open_created"]["party_id"]
    assert facts["closed_created"] == party(adapter, cid, False, pa, pa, [pa])

    # B asks: an empty answer; the leader gets the request, and lists it.
    assert facts["closed_b_join_answer"] == ["cid"]
    assert facts["closed_a_until_b_request"] == [join_request(cid, pb)]
    assert facts["closed_listed"] == {"party_id": cid, "presences": [pb]}
    # B cannot accept itself (leader only); its socket stays usable.
    assert facts["closed_b_accepts_itself"] == error(
        "Error accepting party join request: party leader only"
    )
    assert facts["closed_b_ok_after_accept"] is True
    # A accepts: B gets the party and its join; A is told.
    assert facts["closed_accept_answer"] == ["cid"]
    assert facts["closed_b_until_party"] == [
        pushed(adapter, cid, False, pb, pa, [pa, pb]),
        joined(cid, pb),
    ]
    assert facts["closed_a_until_b_join"] == [joined(cid, pb)]

    # C asks, A declines with removePartyMember: no request left, and C gets nothing.
    assert facts["closed_c_join_answer"] == ["cid"]
    assert facts["closed_a_until_c_request"] == [join_request(cid, pc)]
    assert facts["closed_decline_answer"] == ["cid"]
    assert facts["closed_relisted"] == {"party_id": cid, "presences": []}

    # B, a member but not the leader: each leader-only request is refused, with
    # Nakama's prefix, and B's socket stays usable after each.
    assert facts["closed_b_refused"] == {
        "accept": error("Error accepting party join request: party leader only"),
        "remove": error("Error removing party member or join request: party leader only"),
        "promote": error("Error promoting new party leader: party leader only"),
        "close": error("Error closing party: party leader only"),
        "list": error("Error listing party join requests: party leader only"),
    }
    assert facts["closed_b_ok_after"] == dict.fromkeys(facts["closed_b_refused"], True)
    assert facts["closed_left_after_refusals"] == NOTHING


@pytest_twisted.ensureDeferred
async def test_disconnect_and_nothing_left(party_run) -> None:
    facts, adapter, server = party_run.facts, party_run.adapter, party_run.server
    cid = facts["closed_created"]["party_id"]
    # B's socket goes away: A gets B's leave (and, alone, stays leader: no announcement).
    assert facts["closed_b_close"]["was_clean"] is True
    assert facts["closed_a_until_b_gone"] == [left(cid, user_presence(facts["b"]))]
    # A, the last member, leaves: the party is gone.
    assert facts["closed_a_leave_answer"] == ["cid"]
    assert facts["closed_d_join_ended"] == error("Error joining party: party not found")
    assert facts["left_at_end"] == NOTHING
    assert all(close["was_clean"] is True for close in facts["closes"].values())

    assert_frames(facts, adapter)
    # Frames per socket (A, B, C, D), as the reference Nakama's for this run but A's
    # received count (see test_creator_gets_its_party).
    sent = [tap["sent"] for tap in facts["frames"]]
    received = [tap["received"] for tap in facts["frames"]]
    assert sent == [11, 17, 3, 5]
    assert received[1:] == [24, 11, 5]

    await all_sockets_gone(server)
    assert len(server.server.tracker) == 0, "presences left on the server"
    assert len(server.server.parties) == 0, "parties left on the server"


# Nakama pushes a `party` (no cid) to the creator after its party_create answer, before
# the creator's own party_presence_event, as to every member that joins.
def test_creator_gets_its_party(party_run) -> None:
    facts, adapter = party_run.facts, party_run.adapter
    pa = user_presence(facts["a"])
    pid = facts["open_created"]["party_id"]
    cid = facts["closed_created"]["party_id"]
    assert facts["open_a_until_own_join"] == [
        pushed(adapter, pid, True, pa, pa, [pa]),
        joined(pid, pa),
    ]
    assert facts["closed_a_until_own_join"] == [
        pushed(adapter, cid, False, pa, pa, [pa]),
        joined(cid, pa),
    ]
    # Hence A receives two frames more (one per party it creates) than without them.
    assert facts["frames"][0]["received"] == 26
