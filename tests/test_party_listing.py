"""Party listing (``nakama_rt.realtime.party.listing``) over a real party registry:
filters, order, pages and cursors, and the other nodes' parties from a directory.
What a client sees on the wire is checked against Nakama in test_conformance.py."""

from __future__ import annotations

import pytest
import pytest_twisted

from nakama_rt.core.refs import ListedParty
from nakama_rt.realtime.party.listing import PartyListError, list_parties
from nakama_rt.wire.proto import realtime_pb2
from tests.test_party import World
from tests.wsclient import player, wait_for


@pytest.fixture
def world() -> World:
    return World()


def ids(parties: list[dict]) -> list[str]:
    return [p["party_id"] for p in parties]


def listing(world: World, limit=10, open=None, show_hidden=False, query="", cursor=""):
    return list_parties(world.parties, limit, open, show_hidden, query, cursor)


def made(world: World, *specs: tuple[bool, bool, str]) -> list[str]:
    """Parties of (open, hidden, label), one leader each, a second apart."""
    party_ids = []
    for n, (open, hidden, label) in enumerate(specs):
        leader = world.player(f"p{n}")
        answer = leader.request(
            party_create=realtime_pb2.PartyCreate(open=open, hidden=hidden, max_size=3, label=label)
        )
        party_ids.append(answer["party"]["party_id"])
        world.clock.advance(1)
    return party_ids


def test_hidden_parties_are_listed_only_when_asked_and_open_filters(world) -> None:
    a, b, hidden = made(world, (True, False, '{"m":1}'), (False, False, ""), (True, True, ""))
    parties, cursor = listing(world)
    assert (ids(parties), cursor) == ([a, b], "")
    assert parties == [
        {"party_id": a, "open": True, "max_size": 3, "label": '{"m":1}'},
        {"party_id": b, "max_size": 3, "label": "{}"},
    ]
    assert ids(listing(world, show_hidden=True)[0]) == [a, b, hidden]
    assert ids(listing(world, open=True)[0]) == [a]
    assert ids(listing(world, open=False)[0]) == [b]
    assert ids(listing(world, query="+open:F")[0]) == [b]
    assert ids(listing(world, query="+label.m:1")[0]) == [a]
    assert ids(listing(world, query="+max_size:3", show_hidden=True)[0]) == [a, b, hidden]


def test_an_update_moves_a_party_to_the_end_and_a_closed_one_leaves(world) -> None:
    first, second = made(world, (True, False, ""), (True, False, ""))
    leader = world.player("leader-of-first")  # not the leader: refused, order kept
    refused = leader.request(
        party_update=realtime_pb2.PartyUpdate(party_id=first, label='{"x":1}', open=True)
    )
    assert "error" in refused
    assert ids(listing(world)[0]) == [first, second]
    party = world.parties.get(first)
    assert party is not None and party.leader is not None
    party.update(party.leader.session_id, '{"x":1}', True, False)
    assert ids(listing(world)[0]) == [second, first]
    assert listing(world, query="+label.x:1")[0][0]["label"] == '{"x":1}'
    party.close(party.leader.session_id)
    assert ids(listing(world)[0]) == [second]


def test_pages_follow_a_cursor_made_for_the_same_query_limit_and_open(world) -> None:
    everyone = made(world, *[(True, False, "")] * 5)
    seen, cursor = [], ""
    while True:
        page, cursor = listing(world, limit=2, cursor=cursor)
        seen += ids(page)
        if not cursor:
            break
    assert seen == everyone
    _, cursor = listing(world, limit=2, open=True)
    for mismatch in ({"limit": 3}, {"query": "+open:T"}, {"open": False}):
        with pytest.raises(PartyListError, match="invalid cursor: param"):
            listing(world, **{"limit": 2, "open": True, "cursor": cursor, **mismatch})
    for bad in ("abc", "W10", "WyIqIixudWxsLC0xLDJd"):  # not base64 JSON; []; offset -1
        with pytest.raises(PartyListError, match="invalid cursor"):
            listing(world, cursor=bad)
    with pytest.raises(PartyListError, match="error parsing query string"):
        listing(world, query="+++")
    assert listing(world, limit=0) == ([], "")


class OtherNodes:
    """A directory holding one party of another node."""

    def __init__(self, *parties: ListedParty) -> None:
        self.parties = list(parties)
        self.told: list[object] = []

    def put(self, item: ListedParty) -> None:
        self.told.append(("put", item.subject))

    def remove(self, subject: str) -> None:
        self.told.append(("remove", subject))

    def others(self) -> list[ListedParty]:
        return self.parties

    def find(self, subject: str, node: str) -> ListedParty | None:
        return None


def test_other_nodes_parties_are_listed_and_this_nodes_are_told() -> None:
    theirs = ListedParty("b" * 8, "node-b", True, False, 2, '{"far":true}', 0.5)
    directory = OtherNodes(theirs)
    world = World(directory=directory)
    world.clock.advance(1)
    (mine,) = made(world, (True, False, ""))
    assert ids(listing(world)[0]) == [theirs.party_id, mine]  # made earlier
    assert listing(world, query="+node:node-b")[0] == [
        {"party_id": theirs.party_id, "open": True, "max_size": 2, "label": '{"far":true}'}
    ]
    party = world.parties.get(mine)
    assert party is not None and party.leader is not None
    party.close(party.leader.session_id)
    assert directory.told == [("put", party.subject), ("remove", party.subject)]


@pytest_twisted.ensureDeferred
async def test_nk_party_list_sees_hidden_parties_when_asked(server) -> None:
    """Game code lists parties as the server: hidden ones too when it asks."""
    shown, hidden = await player(server.port, "shown"), await player(server.port, "hidden")
    for who, is_hidden in ((shown, False), (hidden, True)):
        create = {"open": True, "hidden": is_hidden, "max_size": 2}
        who.send({"cid": "c", "party_create": create})
        await wait_for(who, lambda m: m.get("cid") == "c")
    nk = server.server.runtime.nk
    listed, cursor = nk.party_list()
    assert [p.get("hidden", False) for p in listed] == [False] and cursor == ""
    listed, _ = nk.party_list(show_hidden=True, query="+hidden:T")
    assert [p["hidden"] for p in listed] == [True]
    first, cursor = nk.party_list(limit=1, show_hidden=True)
    assert len(first) == 1 and cursor
    for limit in (0, 101):
        with pytest.raises(ValueError, match="limit must be 1-100"):
            nk.party_list(limit=limit)
    with pytest.raises(PartyListError):
        nk.party_list(cursor="nonsense")
