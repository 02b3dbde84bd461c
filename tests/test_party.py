"""Party rules with a Clock and fake connections: no sockets, the real tracker and router."""

from __future__ import annotations

import uuid
from unittest.mock import ANY

import pytest
from twisted.internet.task import Clock

from nakama_rt.core.pipeline import Pipeline
from nakama_rt.core.registry import SessionRegistry
from nakama_rt.core.router import LocalRouter
from nakama_rt.core.tracker import LocalTracker, PresenceReason
from nakama_rt.realtime.dispatch import dispatch_table
from nakama_rt.realtime.party.handlers import PartyHandlers
from nakama_rt.realtime.party.registry import PartyPresence, PartyRegistry
from nakama_rt.wire.proto import realtime_pb2
from tests.helpers import Wire, make_session

BAD_INPUT = 3
ACK = {"cid": ANY}


class FakeMatchmaker:
    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.refuse: Exception | None = None

    def add_party(self, party_id, leader_session_id, presences, *args):
        self.calls.append(("add", party_id, leader_session_id, [p.username for p in presences]))
        self.calls[-1] += args
        if self.refuse is not None:
            raise self.refuse
        return "ticket-1"

    def remove_party(self, party_id, ticket):
        self.calls.append(("remove", party_id, ticket))
        if ticket != "ticket-1":
            raise ValueError("ticket not found")

    def remove_party_all(self, party_id):
        self.calls.append(("remove_all", party_id))


class Player:
    def __init__(self, world: World, name: str) -> None:
        self.world = world
        self.wire = Wire()
        self.session = make_session(name, self.wire)
        world.sessions.add(self.session)
        self.cids = 0

    @property
    def presence(self) -> dict:
        s = self.session
        return {"user_id": s.user_id, "session_id": s.id, "username": s.username}

    def request(self, **message) -> dict:
        """Send one request; return the answer (the message carrying its cid)."""
        self.cids += 1
        cid = str(self.cids)
        envelope = realtime_pb2.Envelope(cid=cid)
        ((name, body),) = message.items()
        getattr(envelope, name).CopyFrom(body)
        self.world.pipeline.process(self.session, envelope)
        answers = [m for m in self.wire.sent if m.get("cid") == cid]
        assert len(answers) == 1, self.wire.sent
        return {k: v for k, v in answers[0].items() if k != "cid"}

    def disconnect(self) -> None:
        self.world.tracker.untrack_all(self.session.id, PresenceReason.DISCONNECT)
        self.world.sessions.remove(self.session.id)


class World:
    def __init__(
        self, matchmaker: FakeMatchmaker | None = None, directory=None, single_party=False
    ) -> None:
        self.clock = Clock()
        self.tracker = LocalTracker()
        self.sessions = SessionRegistry()
        self.router = LocalRouter(self.sessions, self.tracker)
        self.parties = PartyRegistry(
            self.tracker,
            self.router,
            self.sessions,
            self.clock,
            "nakama",
            matchmaker,
            directory=directory,
            single_party=single_party,
        )
        self.pipeline = Pipeline(dispatch_table(parties=PartyHandlers(self.parties)))

    def player(self, name: str) -> Player:
        return Player(self, name)

    def create(self, leader: Player, open: bool = True, max_size: int = 4, label: str = ""):
        answer = leader.request(
            party_create=realtime_pb2.PartyCreate(open=open, max_size=max_size, label=label)
        )
        return answer["party"]["party_id"]


@pytest.fixture
def world() -> World:
    return World()


def P(player: Player) -> realtime_pb2.UserPresence:  # noqa: N802
    return realtime_pb2.UserPresence(**player.presence)


def error(answer: dict) -> tuple[int, str]:
    return answer["error"]["code"], answer["error"]["message"]


# Create


def test_create_answers_the_party_and_tracks_the_leader(world) -> None:
    host = world.player("host")
    answer = host.request(
        party_create=realtime_pb2.PartyCreate(open=True, max_size=4, label='{"mode":"duo"}')
    )
    party = answer["party"]
    subject, node = party["party_id"].split(".")
    assert node == "nakama" and str(uuid.UUID(subject)) == subject
    assert party == {
        "party_id": party["party_id"],
        "open": True,
        "max_size": 4,
        "self": host.presence,
        "leader": host.presence,
        "presences": [host.presence],
        "label": '{"mode":"duo"}',
    }
    # Then, as Nakama, a second "party" (no cid) and the leader's own join event.
    again = {k: v for k, v in party.items() if k != "label"}
    assert host.wire.sent[1:] == [
        {"party": again},
        {"party_presence_event": {"party_id": party["party_id"], "joins": [host.presence]}},
    ]
    assert len(world.parties) == 1
    assert world.parties.get(party["party_id"]).create_time == world.clock.seconds()


@pytest.mark.parametrize(
    ("max_size", "label", "message"),
    [
        (-1, "", "Invalid party max size, must be 1-256"),
        (257, "", "Invalid party max size, must be 1-256"),
        (2, "x" * 2049, "Error creating party: party label too long"),
        (
            2,
            "[1]",
            "Error creating party: failed to unmarshal party label: json: cannot "
            "unmarshal array into Go value of type map[string]interface {}",
        ),
        (
            2,
            '{"a":',
            "Error creating party: failed to unmarshal party label: unexpected end of JSON input",
        ),
        (
            2,
            "nope",
            "Error creating party: failed to unmarshal party label: "
            "invalid character 'n' looking for beginning of value",
        ),
    ],
)
def test_create_validates_like_nakama(world, max_size, label, message) -> None:
    host = world.player("host")
    answer = host.request(party_create=realtime_pb2.PartyCreate(max_size=max_size, label=label))
    assert error(answer) == (BAD_INPUT, message)
    assert len(world.parties) == 0 and len(world.tracker) == 0


# Joining


def test_open_party_joins_at_once(world) -> None:
    host, guest = world.player("host"), world.player("guest")
    party_id = world.create(host)
    host.wire.take()
    assert guest.request(party_join=realtime_pb2.PartyJoin(party_id=party_id)) == {}
    ack, party, event = guest.wire.take()
    assert party == {
        "party": {
            "party_id": party_id,
            "open": True,
            "max_size": 4,
            "self": guest.presence,
            "leader": host.presence,
            "presences": [host.presence, guest.presence],
        }
    }
    joined = {"party_presence_event": {"party_id": party_id, "joins": [guest.presence]}}
    assert event == joined
    assert host.wire.take() == [joined]


def test_closed_party_asks_the_leader_who_accepts(world) -> None:
    host, guest = world.player("host"), world.player("guest")
    party_id = world.create(host, open=False)
    host.wire.take()
    assert guest.request(party_join=realtime_pb2.PartyJoin(party_id=party_id)) == {}
    assert guest.wire.take() == [ACK]
    assert host.wire.take() == [
        {"party_join_request": {"party_id": party_id, "presences": [guest.presence]}}
    ]
    listed = host.request(
        party_join_request_list=realtime_pb2.PartyJoinRequestList(party_id=party_id)
    )
    assert listed["party_join_request"] == {"party_id": party_id, "presences": [guest.presence]}
    again = guest.request(party_join=realtime_pb2.PartyJoin(party_id=party_id))
    assert error(again) == (BAD_INPUT, "Error joining party: party join request duplicate")

    host.wire.take()
    accepted = host.request(
        party_accept=realtime_pb2.PartyAccept(party_id=party_id, presence=P(guest))
    )
    assert accepted == {}
    party = guest.wire.of("party")[0]
    assert party["presences"] == [host.presence, guest.presence]
    assert party["leader"] == host.presence and "open" not in party
    assert host.wire.of("party_presence_event") == [
        {"party_id": party_id, "joins": [guest.presence]}
    ]
    listed = host.request(
        party_join_request_list=realtime_pb2.PartyJoinRequestList(party_id=party_id)
    )
    assert listed["party_join_request"] == {"party_id": party_id}
    rejoin = guest.request(party_join=realtime_pb2.PartyJoin(party_id=party_id))
    assert error(rejoin) == (BAD_INPUT, "Error joining party: party join request already member")


def test_declined_request_is_dropped_silently(world) -> None:
    host, guest = world.player("host"), world.player("guest")
    party_id = world.create(host, open=False)
    guest.request(party_join=realtime_pb2.PartyJoin(party_id=party_id))
    guest.wire.take()
    declined = host.request(
        party_remove=realtime_pb2.PartyRemove(party_id=party_id, presence=P(guest))
    )
    assert declined == {}
    assert guest.wire.sent == []
    accept = host.request(
        party_accept=realtime_pb2.PartyAccept(party_id=party_id, presence=P(guest))
    )
    assert error(accept) == (
        BAD_INPUT,
        "Error accepting party join request: party join request not found",
    )


def test_accepting_a_requester_that_disconnected_fails(world) -> None:
    host, guest = world.player("host"), world.player("guest")
    party_id = world.create(host, open=False)
    guest.request(party_join=realtime_pb2.PartyJoin(party_id=party_id))
    guest.disconnect()
    accept = host.request(
        party_accept=realtime_pb2.PartyAccept(party_id=party_id, presence=P(guest))
    )
    assert error(accept) == (
        BAD_INPUT,
        "Error accepting party join request: party could not accept request",
    )
    assert list(world.parties.get(party_id).members) == [host.session.id]


def test_full_parties_refuse(world) -> None:
    host, a, b = world.player("host"), world.player("a"), world.player("b")
    party_id = world.create(host, max_size=2)
    a.request(party_join=realtime_pb2.PartyJoin(party_id=party_id))
    refused = b.request(party_join=realtime_pb2.PartyJoin(party_id=party_id))
    assert error(refused) == (BAD_INPUT, "Error joining party: party full")

    closed_id = world.create(host, open=False, max_size=1)
    refused = a.request(party_join=realtime_pb2.PartyJoin(party_id=closed_id))
    assert error(refused) == (BAD_INPUT, "Error joining party: party full")


def test_join_requests_are_bounded_and_accept_checks_room(world) -> None:
    host, a, b, c = (world.player(n) for n in ("host", "a", "b", "c"))
    party_id = world.create(host, open=False, max_size=2)
    a.request(party_join=realtime_pb2.PartyJoin(party_id=party_id))
    b.request(party_join=realtime_pb2.PartyJoin(party_id=party_id))
    refused = c.request(party_join=realtime_pb2.PartyJoin(party_id=party_id))
    assert error(refused) == (BAD_INPUT, "Error joining party: party join requests full")
    host.request(party_accept=realtime_pb2.PartyAccept(party_id=party_id, presence=P(a)))
    full = host.request(party_accept=realtime_pb2.PartyAccept(party_id=party_id, presence=P(b)))
    assert error(full) == (BAD_INPUT, "Error accepting party join request: party full")


def test_rejoining_an_open_party_changes_nothing(world) -> None:
    host, guest = world.player("host"), world.player("guest")
    party_id = world.create(host)
    guest.request(party_join=realtime_pb2.PartyJoin(party_id=party_id))
    host.wire.take(), guest.wire.take()
    assert guest.request(party_join=realtime_pb2.PartyJoin(party_id=party_id)) == {}
    assert guest.wire.take() == [ACK] and host.wire.sent == []


# Bad ids and refusals keep going


@pytest.mark.parametrize("party_id", ["", "nope", "not-a-uuid.nakama"])
def test_invalid_party_ids(world, party_id) -> None:
    host = world.player("host")
    requests = [
        {"party_join": realtime_pb2.PartyJoin(party_id=party_id)},
        {"party_leave": realtime_pb2.PartyLeave(party_id=party_id)},
        {"party_close": realtime_pb2.PartyClose(party_id=party_id)},
        {"party_data_send": realtime_pb2.PartyDataSend(party_id=party_id)},
        {"party_update": realtime_pb2.PartyUpdate(party_id=party_id)},
        {"party_join_request_list": realtime_pb2.PartyJoinRequestList(party_id=party_id)},
        {"party_promote": realtime_pb2.PartyPromote(party_id=party_id, presence=P(host))},
        {
            "party_matchmaker_remove": realtime_pb2.PartyMatchmakerRemove(
                party_id=party_id, ticket="t"
            )
        },
    ]
    for request in requests:
        assert error(host.request(**request)) == (BAD_INPUT, "Invalid party ID"), request


def test_unknown_parties_are_not_found(world) -> None:
    host = world.player("host")
    party_id = world.create(host)
    other_node = party_id.split(".")[0] + ".elsewhere"
    unknown = f"{uuid.uuid4()}.nakama"
    for target in (other_node, unknown):
        answer = host.request(party_join=realtime_pb2.PartyJoin(party_id=target))
        assert error(answer) == (BAD_INPUT, "Error joining party: party not found")
        answer = host.request(party_close=realtime_pb2.PartyClose(party_id=target))
        assert error(answer) == (BAD_INPUT, "Error closing party: party not found")
    # Leaving what one is not in is fine, as in Nakama.
    assert "error" not in host.request(party_leave=realtime_pb2.PartyLeave(party_id=unknown))


def test_only_the_leader_may() -> None:
    matchmaker = FakeMatchmaker()
    world = World(matchmaker)
    host, guest = world.player("host"), world.player("guest")
    party_id = world.create(host)
    guest.request(party_join=realtime_pb2.PartyJoin(party_id=party_id))
    before = len(matchmaker.calls)  # a join clears the party's tickets: one remove_all
    cases = [
        (
            "party_promote",
            realtime_pb2.PartyPromote(party_id=party_id, presence=P(guest)),
            "Error promoting new party leader",
        ),
        (
            "party_accept",
            realtime_pb2.PartyAccept(party_id=party_id, presence=P(guest)),
            "Error accepting party join request",
        ),
        (
            "party_remove",
            realtime_pb2.PartyRemove(party_id=party_id, presence=P(host)),
            "Error removing party member or join request",
        ),
        ("party_close", realtime_pb2.PartyClose(party_id=party_id), "Error closing party"),
        (
            "party_update",
            realtime_pb2.PartyUpdate(party_id=party_id, open=False),
            "Error updating party",
        ),
        (
            "party_join_request_list",
            realtime_pb2.PartyJoinRequestList(party_id=party_id),
            "Error listing party join requests",
        ),
        (
            "party_matchmaker_add",
            realtime_pb2.PartyMatchmakerAdd(party_id=party_id, min_count=2, max_count=2),
            "Error adding party to matchmaker",
        ),
        (
            "party_matchmaker_remove",
            realtime_pb2.PartyMatchmakerRemove(party_id=party_id, ticket="ticket-1"),
            "Error closing party",
        ),
    ]
    for name, body, prefix in cases:
        answer = guest.request(**{name: body})
        assert error(answer) == (BAD_INPUT, f"{prefix}: party leader only"), name
    assert matchmaker.calls[before:] == []


def test_presences_must_be_complete(world) -> None:
    host = world.player("host")
    world.create(host)
    partial = realtime_pb2.UserPresence(user_id=host.session.user_id, session_id=host.session.id)
    for name, cls in (
        ("party_promote", realtime_pb2.PartyPromote),
        ("party_accept", realtime_pb2.PartyAccept),
        ("party_remove", realtime_pb2.PartyRemove),
    ):
        for body in (cls(party_id="bad"), cls(party_id="bad", presence=partial)):
            assert error(host.request(**{name: body})) == (BAD_INPUT, "Invalid presence")


# Leadership and leaving


def test_promote_announces_the_new_leader(world) -> None:
    host, guest = world.player("host"), world.player("guest")
    party_id = world.create(host)
    guest.request(party_join=realtime_pb2.PartyJoin(party_id=party_id))
    host.wire.take(), guest.wire.take()
    assert (
        host.request(party_promote=realtime_pb2.PartyPromote(party_id=party_id, presence=P(guest)))
        == {}
    )
    announced = {"party_leader": {"party_id": party_id, "presence": guest.presence}}
    assert host.wire.take() == [announced, ACK]
    assert guest.wire.take() == [announced]
    stranger = world.player("stranger")
    answer = guest.request(
        party_promote=realtime_pb2.PartyPromote(party_id=party_id, presence=P(stranger))
    )
    assert error(answer) == (BAD_INPUT, "Error promoting new party leader: party member not found")
    answer = host.request(party_close=realtime_pb2.PartyClose(party_id=party_id))
    assert error(answer) == (BAD_INPUT, "Error closing party: party leader only")


def test_leader_leaving_hands_over_to_the_oldest_member(world) -> None:
    host, a, b = world.player("host"), world.player("a"), world.player("b")
    party_id = world.create(host)
    for p in (a, b):
        p.request(party_join=realtime_pb2.PartyJoin(party_id=party_id))
    a.wire.take(), b.wire.take()
    assert host.request(party_leave=realtime_pb2.PartyLeave(party_id=party_id)) == {}
    for p in (a, b):
        assert p.wire.take() == [
            {"party_leader": {"party_id": party_id, "presence": a.presence}},
            {"party_presence_event": {"party_id": party_id, "leaves": [host.presence]}},
        ]
    # The old leader is out and gets nothing more.
    b.request(party_data_send=realtime_pb2.PartyDataSend(party_id=party_id, op_code=1))
    assert not host.wire.of("party_data")
    # A disconnect is a leave; the last one out ends the party.
    a.disconnect()
    assert b.wire.of("party_leader")[-1]["presence"] == b.presence
    b.request(party_leave=realtime_pb2.PartyLeave(party_id=party_id))
    assert len(world.parties) == 0 and len(world.tracker) == 0
    answer = host.request(party_join=realtime_pb2.PartyJoin(party_id=party_id))
    assert error(answer) == (BAD_INPUT, "Error joining party: party not found")


def test_member_leaving_keeps_the_leader(world) -> None:
    host, guest = world.player("host"), world.player("guest")
    party_id = world.create(host)
    guest.request(party_join=realtime_pb2.PartyJoin(party_id=party_id))
    host.wire.take()
    guest.disconnect()
    assert host.wire.take() == [
        {"party_presence_event": {"party_id": party_id, "leaves": [guest.presence]}}
    ]
    assert world.parties.get(party_id).leader.session_id == host.session.id


def test_kick_closes_the_party_for_the_kicked_member(world) -> None:
    host, a, b = world.player("host"), world.player("a"), world.player("b")
    party_id = world.create(host)
    for p in (a, b):
        p.request(party_join=realtime_pb2.PartyJoin(party_id=party_id))
    host.wire.take(), a.wire.take(), b.wire.take()
    kicked = host.request(party_remove=realtime_pb2.PartyRemove(party_id=party_id, presence=P(a)))
    assert kicked == {}
    assert a.wire.take() == [{"party_close": {"party_id": party_id}}]
    left = {"party_presence_event": {"party_id": party_id, "leaves": [a.presence]}}
    assert b.wire.take() == [left]
    # As Nakama 3.40 answers (its tracker sends the leave after the leader's answer).
    assert host.wire.take() == [ACK, left]
    answer = host.request(
        party_remove=realtime_pb2.PartyRemove(party_id=party_id, presence=P(host))
    )
    assert error(answer) == (
        BAD_INPUT,
        "Error removing party member or join request: party cannot remove self",
    )
    answer = host.request(party_remove=realtime_pb2.PartyRemove(party_id=party_id, presence=P(a)))
    assert error(answer) == (
        BAD_INPUT,
        "Error removing party member or join request: party member not found",
    )


def test_close_tells_everyone_and_ends_the_party() -> None:
    world = World(matchmaker := FakeMatchmaker())
    host, guest = world.player("host"), world.player("guest")
    party_id = world.create(host)
    guest.request(party_join=realtime_pb2.PartyJoin(party_id=party_id))
    host.wire.take(), guest.wire.take()
    matchmaker.calls.clear()
    assert host.request(party_close=realtime_pb2.PartyClose(party_id=party_id)) == {}
    closed = {"party_close": {"party_id": party_id}}
    assert host.wire.take() == [closed, ACK]
    assert guest.wire.take() == [closed]
    assert len(world.parties) == 0 and len(world.tracker) == 0
    assert matchmaker.calls == [("remove_all", party_id)]


# Update and data


def test_update_reaches_every_member(world) -> None:
    host, guest = world.player("host"), world.player("guest")
    party_id = world.create(host)
    guest.request(party_join=realtime_pb2.PartyJoin(party_id=party_id))
    host.wire.take(), guest.wire.take()
    update = realtime_pb2.PartyUpdate(party_id=party_id, label='{"a":1}', open=False)
    assert host.request(party_update=update) == {}
    updated = {"party_update": {"party_id": party_id, "label": '{"a":1}'}}
    assert host.wire.take() == [updated, ACK]
    assert guest.wire.take() == [updated]
    assert world.parties.get(party_id).open is False

    hidden = realtime_pb2.PartyUpdate(
        party_id=f"{uuid.uuid4()}.nakama", label='{"a":1}', hidden=True
    )
    assert error(host.request(party_update=hidden)) == (
        BAD_INPUT,
        "Error updating party: party is hidden and label is not empty, invalid operation",
    )
    too_long = realtime_pb2.PartyUpdate(party_id=party_id, label="y" * 2049)
    assert error(host.request(party_update=too_long)) == (
        BAD_INPUT,
        "Error updating party: party label too long",
    )


def test_data_goes_to_the_other_members_with_the_sender(world) -> None:
    host, a, b = world.player("host"), world.player("a"), world.player("b")
    party_id = world.create(host)
    for p in (a, b):
        p.request(party_join=realtime_pb2.PartyJoin(party_id=party_id))
    for p in (host, a, b):
        p.wire.take()
    send = realtime_pb2.PartyDataSend(party_id=party_id, op_code=7, data=b"\x00hi")
    assert a.request(party_data_send=send) == {}
    expected = {
        "party_data": {
            "party_id": party_id,
            "presence": a.presence,
            "op_code": "7",
            "data": "AGhp",
        }
    }
    assert host.wire.take() == [expected] and b.wire.take() == [expected]
    assert a.wire.take() == [ACK]
    outsider = world.player("outsider")
    answer = outsider.request(party_data_send=send)
    assert error(answer) == (BAD_INPUT, "Error sending party data: party member not found")


# Matchmaking


def test_matchmaker_add_reaches_every_member() -> None:
    world = World(matchmaker := FakeMatchmaker())
    host, guest = world.player("host"), world.player("guest")
    party_id = world.create(host)
    guest.request(party_join=realtime_pb2.PartyJoin(party_id=party_id))
    host.wire.take(), guest.wire.take()
    matchmaker.calls.clear()
    add = realtime_pb2.PartyMatchmakerAdd(
        party_id=party_id,
        min_count=2,
        max_count=4,
        string_properties={"region": "eu"},
        numeric_properties={"rank": 8},
    )
    answer = host.request(party_matchmaker_add=add)
    ticket = {"party_id": party_id, "ticket": "ticket-1"}
    assert answer == {"party_matchmaker_ticket": ticket}
    assert guest.wire.take() == [{"party_matchmaker_ticket": ticket}]
    assert matchmaker.calls == [
        (
            "add",
            party_id,
            host.session.id,
            ["host", "guest"],
            2,
            4,
            1,
            "*",
            {"region": "eu"},
            {"rank": 8.0},
        )
    ]
    removed = host.request(
        party_matchmaker_remove=realtime_pb2.PartyMatchmakerRemove(
            party_id=party_id, ticket="ticket-1"
        )
    )
    assert removed == {}
    unknown = host.request(
        party_matchmaker_remove=realtime_pb2.PartyMatchmakerRemove(
            party_id=party_id, ticket="other"
        )
    )
    assert error(unknown) == (BAD_INPUT, "Error closing party: ticket not found")

    matchmaker.refuse = ValueError("matchmaker query invalid")
    refused = host.request(party_matchmaker_add=add)
    assert error(refused) == (
        BAD_INPUT,
        "Error adding party to matchmaker: matchmaker query invalid",
    )


def test_membership_changes_withdraw_the_party_tickets() -> None:
    world = World(matchmaker := FakeMatchmaker())
    host, a, b = world.player("host"), world.player("a"), world.player("b")
    party_id = world.create(host)
    assert matchmaker.calls == []
    a.request(party_join=realtime_pb2.PartyJoin(party_id=party_id))
    assert matchmaker.calls == [("remove_all", party_id)]
    b.request(party_join=realtime_pb2.PartyJoin(party_id=party_id))
    a.disconnect()
    host.request(party_remove=realtime_pb2.PartyRemove(party_id=party_id, presence=P(b)))
    assert matchmaker.calls == [("remove_all", party_id)] * 4


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"min_count": 1, "max_count": 2}, "Invalid minimum count, must be >= 2"),
        ({"min_count": 3, "max_count": 2}, "Invalid maximum count, must be >= minimum count"),
        (
            {"min_count": 2, "max_count": 4, "count_multiple": 0},
            "Invalid count multiple, must be >= 1",
        ),
        (
            {"min_count": 3, "max_count": 4, "count_multiple": 2},
            "Invalid count multiple for minimum count, must divide",
        ),
        (
            {"min_count": 2, "max_count": 5, "count_multiple": 2},
            "Invalid count multiple for maximum count, must divide",
        ),
    ],
)
def test_matchmaker_add_validates_counts_first(world, fields, message) -> None:
    host = world.player("host")
    multiple = fields.pop("count_multiple", None)
    add = realtime_pb2.PartyMatchmakerAdd(party_id="bad", **fields)
    if multiple is not None:
        add.count_multiple.value = multiple
    assert error(host.request(party_matchmaker_add=add)) == (BAD_INPUT, message)


def test_party_matchmaking_without_a_matchmaker(world) -> None:
    host = world.player("host")
    party_id = world.create(host)
    add = realtime_pb2.PartyMatchmakerAdd(party_id=party_id, min_count=2, max_count=2)
    assert error(host.request(party_matchmaker_add=add)) == (
        BAD_INPUT,
        "Error adding party to matchmaker: matchmaker not available",
    )
    remove = realtime_pb2.PartyMatchmakerRemove(party_id=party_id, ticket="t")
    assert error(host.request(party_matchmaker_remove=remove)) == (
        BAD_INPUT,
        "Error closing party: matchmaker not available",
    )
    empty = realtime_pb2.PartyMatchmakerRemove(party_id=party_id)
    assert error(host.request(party_matchmaker_remove=empty)) == (
        BAD_INPUT,
        "Invalid matchmaker ticket",
    )


def test_matchmaker_sees_member_presences() -> None:
    world = World(matchmaker := FakeMatchmaker())
    host = world.player("host")
    party_id = world.create(host)
    party = world.parties.get(party_id)
    assert party.matchmaker_add(host.session.id, "*", 2, 2, 1, {}, {}) == "ticket-1"
    assert list(party.members.values()) == [
        PartyPresence(host.session.user_id, host.session.id, "host")
    ]
    assert matchmaker.calls[0][2] == host.session.id


def test_a_session_closed_before_tracking_leaves_no_party(world) -> None:
    host = world.player("host")
    host.session.mark_closed()
    world.pipeline.process(
        host.session,
        realtime_pb2.Envelope(cid="c", party_create=realtime_pb2.PartyCreate(max_size=2)),
    )
    assert len(world.parties) == 0 and len(world.tracker) == 0


# session.single_party


@pytest.mark.parametrize("joins_by", ["create", "open join", "accepted request"])
def test_single_party_leaves_the_older_party_when_joining_another(joins_by) -> None:
    world = World(single_party=True)
    first_host, second_host, player = world.player("h1"), world.player("h2"), world.player("p")
    first = world.create(first_host)
    player.request(party_join=realtime_pb2.PartyJoin(party_id=first))
    first_host.wire.take(), player.wire.take()
    if joins_by == "create":
        world.create(player)
    else:
        second = world.create(second_host, open=joins_by == "open join")
        player.request(party_join=realtime_pb2.PartyJoin(party_id=second))
        if joins_by == "accepted request":
            second_host.request(
                party_accept=realtime_pb2.PartyAccept(party_id=second, presence=P(player))
            )
    left = {"party_presence_event": {"party_id": first, "leaves": [player.presence]}}
    assert first_host.wire.take()[-1] == left
    assert list(world.parties.get(first).members) == [first_host.session.id]
    # The player hears nothing more of the party it left.
    assert not [m for m in player.wire.take() if first in str(m)]


def test_without_single_party_a_player_stays_in_both(world) -> None:
    first_host, player = world.player("h1"), world.player("p")
    first = world.create(first_host)
    player.request(party_join=realtime_pb2.PartyJoin(party_id=first))
    world.create(player)
    assert player.session.id in world.parties.get(first).members
