"""The matchmaker's rules on a Clock: sizes, queries, intervals, precision, parties."""

from __future__ import annotations

import dataclasses
import itertools
import random
import uuid

import jwt
import orjson
import pytest
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from nakama_rt.config import Config, ConfigError, MatchmakerConfig, config_from_mapping
from nakama_rt.realtime.matchmaker import (
    InvalidCounts,
    Matchmaker,
    MatchmakerEntry,
    MatchmakerError,
    MatchmakerPresence,
    TicketNotFound,
    check_counts,
)
from nakama_rt.realtime.matchmaker._process import group_tickets
from nakama_rt.realtime.matchmaker._wire import matched_envelopes
from nakama_rt.runtime import Initializer, Runtime
from nakama_rt.wire.codec import Format, encode
from nakama_rt.wire.proto import realtime_pb2

KEY = "a-test-encryption-key-of-32-byte"


class Router:
    """Records what the matchmaker sends, by session id."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, realtime_pb2.Envelope, bytes]] = []

    def send_to_session_ids(self, session_ids, envelope) -> None:
        for session_id in session_ids:
            self.sent.append((session_id, envelope.envelope, envelope.payload(Format.JSON)))

    def matched(self) -> dict[str, realtime_pb2.MatchmakerMatched]:
        return {sid: env.matchmaker_matched for sid, env, _ in self.sent}


def make(clock: Clock | None = None, runtime=None, sliced: bool = False, **settings):
    """A matchmaker with interval 1 on a Clock. ``sliced``: every search uses up its
    slice of the pass, which then goes on at the reactor's next turn."""
    clock = clock or Clock()
    router = Router()
    config = dataclasses.replace(MatchmakerConfig(interval_sec=1), **settings)
    timing = {"chunk_seconds": None}
    if sliced:
        ticks = itertools.count()
        timing = {"chunk_seconds": 0.5, "timer": lambda: next(ticks)}
    mm = Matchmaker(config, clock, router, KEY, runtime=runtime, **timing)
    return mm, router, clock


_ids = itertools.count(1)


def player(name: str | None = None) -> MatchmakerPresence:
    n = next(_ids)
    return MatchmakerPresence(f"user-{n}", f"session-{n}", name or f"player{n}", "nakama")


def add(
    mm: Matchmaker,
    query: str = "*",
    low: int = 2,
    high: int = 2,
    multiple: int = 1,
    who: MatchmakerPresence | None = None,
    **properties,
) -> tuple[str, MatchmakerPresence]:
    who = who or player()
    strings = {k: v for k, v in properties.items() if isinstance(v, str)}
    numbers = {k: v for k, v in properties.items() if not isinstance(v, str)}
    ticket = mm.add([who], who.session_id, "", query, low, high, multiple, strings, numbers)
    return ticket, who


def passes(clock: Clock, count: int = 1) -> None:
    """Let ``count`` passes run (interval 1), one tick at a time."""
    for _ in range(count):
        clock.advance(1)


def groups(router: Router) -> list[set[str]]:
    """The matches delivered, each as the set of its players' session ids."""
    seen: dict[str, set[str]] = {}
    for _, envelope, _ in router.sent:
        matched = envelope.matchmaker_matched
        key = matched.token or matched.match_id
        seen.setdefault(key, set()).update(u.presence.session_id for u in matched.users)
    return list(seen.values())


# --- sizes and queries ---------------------------------------------------------------


def test_two_players_match_on_the_next_tick_with_one_token() -> None:
    mm, router, clock = make()
    clock.advance(0.25)
    (t1, p1), (t2, p2) = add(mm), add(mm)
    clock.advance(0.5)
    assert router.sent == []
    clock.advance(0.25)  # the ticker's grid: one second after the matchmaker started
    matched = router.matched()
    assert set(matched) == {p1.session_id, p2.session_id}
    first, second = matched[p1.session_id], matched[p2.session_id]
    assert (first.ticket, second.ticket) == (t1, t2)
    assert first.token == second.token and first.WhichOneof("id") == "token"
    assert first.self.presence.session_id == p1.session_id
    assert second.self.presence.username == p2.username
    assert [u.presence.user_id for u in first.users] == [p2.user_id, p1.user_id]
    claims = jwt.decode(first.token, KEY, algorithms=["HS256"], options={"verify_exp": False})
    assert set(claims) == {"mid", "exp"} and claims["exp"] == 1 + 30
    assert claims["mid"].endswith(".") and uuid.UUID(claims["mid"][:-1]).version == 4
    assert len(mm) == 0 and mm.pool.by_session == {}


def test_four_players_form_one_match_of_four() -> None:
    mm, router, clock = make()
    players = [add(mm, "*", 4, 4)[1] for _ in range(3)]
    clock.advance(1)
    assert router.sent == [], "three players cannot fill a match of four"
    players.append(add(mm, "*", 4, 4)[1])
    clock.advance(1)
    assert groups(router) == [{p.session_id for p in players}]
    assert all(len(m.users) == 4 for m in router.matched().values())


def test_string_property_queries() -> None:
    mm, router, clock = make()
    _, eu1 = add(mm, "+properties.region:europe", region="europe")
    _, asia = add(mm, "+properties.region:asia", region="asia")
    _, eu2 = add(mm, "+properties.region:europe", region="europe")
    clock.advance(1)
    assert groups(router) == [{eu1.session_id, eu2.session_id}]
    users = router.matched()[eu1.session_id].users
    assert users[0].string_properties == {"region": "europe"}
    assert asia.session_id not in router.matched()
    assert len(mm) == 1


def test_numeric_range_queries() -> None:
    mm, router, clock = make()
    window = "+properties.rank:>={} +properties.rank:<={}"
    _, low = add(mm, window.format(1, 4), rank=3)
    _, mid = add(mm, window.format(5, 10), rank=7)
    _, high = add(mm, window.format(11, 14), rank=15)
    _, other = add(mm, window.format(8, 13), rank=10)
    clock.advance(1)
    assert groups(router) == [{mid.session_id, other.session_id}]
    assert router.matched()[mid.session_id].users[0].numeric_properties == {"rank": 10.0}


def test_a_query_that_accepts_nobody_never_matches() -> None:
    mm, router, clock = make()
    add(mm, "+properties.mode:ranked", mode="casual")
    add(mm, "+properties.mode:ranked", mode="casual")
    passes(clock, 5)
    assert router.sent == [] and len(mm) == 2
    assert mm.pool.active == {}, "they stopped searching after their last interval"
    assert clock.getDelayedCalls() == [], "no ticker while nothing is active"


def test_only_the_searching_ticket_must_accept_by_default() -> None:
    mm, router, clock = make()
    _, choosy = add(mm, "+properties.mode:b", mode="b")
    _, easy = add(mm, "*", mode="a")
    clock.advance(1)
    assert groups(router) == [{choosy.session_id, easy.session_id}]


def test_rev_precision_requires_both_queries_to_accept() -> None:
    mm, router, clock = make(rev_precision=True)
    add(mm, "+properties.mode:b", mode="b")
    add(mm, "*", mode="a")
    clock.advance(1)
    assert router.sent == []
    _, b = add(mm, "*", mode="b")
    clock.advance(1)
    assert len(groups(router)) == 1 and b.session_id in groups(router)[0]


def test_rev_threshold_drops_reverse_checks_once_a_pass_ran_that_long() -> None:
    def setup(threshold: int):
        mm, router, clock = make(sliced=True, rev_precision=True, rev_threshold=threshold)
        add(mm, "+properties.mode:none", mode="x")  # searched first, finds nothing
        add(mm, "+properties.mode:b", mode="b")
        add(mm, "*", mode="a")
        done = mm.process()  # one slice, then the reactor's turn
        clock.advance(1)  # the pass has run 1 s (interval 1 * threshold 1) by its next slice
        clock.advance(0)
        assert done.called
        return router

    assert len(groups(setup(1))) == 1, "relaxed: matched without the reverse check"
    assert groups(setup(0)) == [], "a threshold of 0 never relaxes"


def test_max_intervals_wait_for_a_full_match_then_take_the_minimum() -> None:
    mm, router, clock = make()
    add(mm, "*", 2, 4)
    add(mm, "*", 2, 4)
    clock.advance(1)
    assert router.sent == [], "first pass: only a full match of 4 would do"
    clock.advance(1)
    assert len(groups(router)) == 1, "last interval: 2 of 2-4 is enough"

    mm, router, clock = make(max_intervals=1)
    add(mm, "*", 2, 4)
    add(mm, "*", 2, 4)
    clock.advance(1)
    assert len(groups(router)) == 1


def test_a_full_match_forms_before_the_last_interval() -> None:
    mm, router, clock = make(max_intervals=5)
    players = [add(mm, "*", 2, 3)[1] for _ in range(3)]
    clock.advance(1)
    assert groups(router) == [{p.session_id for p in players}]


def test_inactive_tickets_are_still_found_by_new_ones() -> None:
    mm, router, clock = make()
    _, old = add(mm, "+properties.x:nobody", 2, 2, x="y")
    clock.advance(1)
    assert mm.pool.active == {} and len(mm) == 1
    _, new = add(mm, "*", 2, 2)
    clock.advance(1)
    assert groups(router) == [{old.session_id, new.session_id}]


def test_count_multiple_drops_the_oldest_ticket_that_fixes_the_size() -> None:
    mm, router, clock = make()
    _, a = add(mm, "*", 2, 4, 2)
    clock.advance(0.1)
    _, b = add(mm, "*", 2, 4, 2)
    clock.advance(0.1)
    _, c = add(mm, "*", 2, 4, 2)
    clock.advance(0.8)
    assert router.sent == []
    clock.advance(1)  # last interval: a finds b, c (3 players), 3 % 2 drops one
    assert groups(router) == [{a.session_id, c.session_id}]
    assert [t.session_ids for t in mm.pool.tickets.values()] == [frozenset({b.session_id})]


def test_hits_must_fit_the_searching_ticket_sizes() -> None:
    mm, router, clock = make()
    add(mm, "*", 3, 3)
    add(mm, "*", 2, 2)
    passes(clock, 5)
    assert router.sent == [], "2-2 and 3-3 never meet"
    mm2, router2, clock2 = make()
    add(mm2, "*", 2, 2)
    add(mm2, "*", 2, 4)
    passes(clock2, 2)
    assert len(groups(router2)) == 1, "2-4 takes a 2-2 ticket on its last interval"


def test_tickets_of_one_session_never_match_together() -> None:
    mm, router, clock = make()
    who = player()
    add(mm, who=who)
    add(mm, who=who)
    passes(clock, 3)
    assert router.sent == []
    _, other = add(mm)
    clock.advance(1)
    assert groups(router) == [{who.session_id, other.session_id}]
    assert len(mm) == 1, "the session's other ticket waits on"


def test_better_scores_first_then_oldest() -> None:
    mm, router, clock = make()
    query = "+properties.mode:ranked properties.region:europe^5"
    _, older = add(mm, "+properties.mode:none", mode="ranked", region="asia")
    _, better = add(mm, "+properties.mode:none", mode="ranked", region="europe")
    _, seeker = add(mm, query, mode="x")
    clock.advance(1)
    assert groups(router) == [{seeker.session_id, better.session_id}]
    assert older.session_id not in router.matched()


# --- tickets, sessions, parties -----------------------------------------------------


def test_validation_and_limits() -> None:
    mm, _, _ = make(max_tickets=2)
    with pytest.raises(InvalidCounts, match="Invalid minimum count, must be >= 2"):
        check_counts(1, 2, None)
    with pytest.raises(InvalidCounts, match="Invalid maximum count, must be >= minimum count"):
        check_counts(3, 2, None)
    with pytest.raises(InvalidCounts, match="Invalid count multiple, must be >= 1"):
        check_counts(2, 4, 0)
    with pytest.raises(InvalidCounts, match="for minimum count, must divide"):
        check_counts(3, 6, 2)
    with pytest.raises(InvalidCounts, match="for maximum count, must divide"):
        check_counts(2, 5, 2)
    assert check_counts(2, 4, None) == 1 and check_counts(2, 4, 2) == 2
    with pytest.raises(MatchmakerError, match="^matchmaker query invalid$"):
        add(mm, "+properties.a:b:c")
    who = player()
    add(mm, who=who)
    add(mm, who=who)
    with pytest.raises(MatchmakerError, match="^matchmaker too many tickets$"):
        add(mm, who=who)
    with pytest.raises(MatchmakerError, match="duplicate session"):
        mm.add([who, who], "", "party", "*", 2, 4, 1)


def test_remove_rules() -> None:
    mm, _, _ = make()
    ticket, who = add(mm)
    with pytest.raises(TicketNotFound, match="matchmaker ticket not found"):
        mm.remove_session("someone-else", ticket)
    with pytest.raises(TicketNotFound):
        mm.remove_session(who.session_id, "nope")
    mm.remove_session(who.session_id, ticket)
    assert len(mm) == 0
    members = [player(), player()]
    party = mm.add_party("p1.nakama", members[0].session_id, members, 3, 3, 1, "*")
    with pytest.raises(TicketNotFound):
        mm.remove_session(members[0].session_id, party)  # a party's ticket is the party's
    with pytest.raises(TicketNotFound):
        mm.remove_party("p2.nakama", party)
    mm.remove_party("p1.nakama", party)
    assert len(mm) == 0 and mm.pool.by_party == {} and mm.pool.by_session == {}


def test_closing_a_session_removes_its_tickets() -> None:
    mm, router, clock = make()
    ticket, who = add(mm)
    add(mm, "*", 2, 4, who=who)
    members = [who, player()]
    mm.add_party("p.nakama", who.session_id, members, 3, 3, 1, "*")
    assert len(mm.tickets_of(who.session_id)) == 3
    mm.remove_session_all(who.session_id)
    assert len(mm) == 0 and mm.tickets_of(who.session_id) == []
    add(mm)
    passes(clock, 3)
    assert router.sent == []


def test_party_tickets_count_all_members_and_tell_them_all() -> None:
    mm, router, clock = make()
    members = [player("lead"), player("mate")]
    ticket = mm.add_party(
        "party-1.nakama", members[0].session_id, members, 3, 3, 1, "", {"mode": "duo"}
    )
    _, solo = add(mm, "*", 3, 3)
    clock.advance(1)
    matched = router.matched()
    assert set(matched) == {members[0].session_id, members[1].session_id, solo.session_id}
    assert matched[members[1].session_id].ticket == ticket
    by_session = {u.presence.session_id: u for u in matched[solo.session_id].users}
    assert by_session[members[0].session_id].party_id == "party-1.nakama"
    assert by_session[members[1].session_id].string_properties == {"mode": "duo"}
    assert by_session[solo.session_id].party_id == ""
    assert len(mm) == 0 and mm.pool.by_party == {}


def test_party_limits_and_remove_party_all() -> None:
    mm, router, clock = make(max_tickets=1)
    members = [player(), player()]
    mm.add_party("p.nakama", members[0].session_id, members, 4, 4, 1, "*")
    with pytest.raises(MatchmakerError, match="too many tickets"):
        mm.add_party("p.nakama", members[0].session_id, members[:1], 4, 4, 1, "*")
    mm.remove_party_all("p.nakama")
    assert len(mm) == 0
    mm.remove_party_all("p.nakama")  # nothing left: no error


def test_a_party_never_matches_its_own_tickets() -> None:
    mm, router, clock = make(max_tickets=3)
    a, b = player(), player()
    mm.add_party("p.nakama", a.session_id, [a], 2, 2, 1, "*")
    c = player()
    mm.add_party("p.nakama", c.session_id, [c], 2, 2, 1, "*")
    passes(clock, 2)
    assert router.sent == []
    add(mm, who=b)
    clock.advance(1)
    assert len(groups(router)) == 1


def test_stop_and_not_available() -> None:
    mm, router, clock = make()
    add(mm)
    mm.stop()
    assert clock.getDelayedCalls() == []
    with pytest.raises(MatchmakerError, match="matchmaker not available"):
        add(mm)


# --- passes --------------------------------------------------------------------------


def test_a_pass_runs_in_slices_and_sees_tickets_added_meanwhile() -> None:
    mm, router, clock = make(sliced=True)
    add(mm, "+properties.x:nobody", x="a")
    add(mm, "+properties.x:nobody", x="b")
    _, seeker = add(mm, "+properties.x:late", x="c")
    first = mm.process()
    assert mm._pass is not None and not first.called, "one search per slice"
    _, late = add(mm, "*", x="late")
    joined = mm.process()
    clock.advance(0)
    clock.advance(0)
    assert first.called and first.result == 1 and joined.result == 1
    assert groups(router) == [{seeker.session_id, late.session_id}]


def test_matchmaker_matched_hook_gives_a_match_id() -> None:
    init = Initializer()
    seen: list[list[MatchmakerEntry]] = []

    def matched(ctx, logger, nk, entries):
        seen.append(entries)
        assert ctx.execution_mode == "matchmaker" and nk == "nk"
        return "11111111-2222-3333-4444-555555555555.nakama"

    init.register_matchmaker_matched(matched)
    runtime = Runtime(nk="nk", initializer=init)
    mm, router, clock = make(runtime=runtime)
    ticket, p1 = add(mm, "*", 2, 2, region="eu", level=3)
    _, p2 = add(mm)
    clock.advance(1)
    assert [e.presence.session_id for e in seen[0]] == [p2.session_id, p1.session_id]
    entry = seen[0][1]
    assert entry.ticket == ticket and entry.party_id == "" and entry.presence.node == "nakama"
    assert dict(entry.properties) == {"region": "eu", "level": 3.0}
    assert entry.create_time == 0
    for got in router.matched().values():
        assert got.match_id == "11111111-2222-3333-4444-555555555555.nakama"
        assert got.WhichOneof("id") == "match_id"


@pytest.mark.parametrize("outcome", ["none", "raise", "not a string", "later"])
def test_matchmaker_matched_hook_falls_back_to_a_token(outcome) -> None:
    later: Deferred = Deferred()

    def matched(ctx, logger, nk, entries):
        if outcome == "raise":
            raise RuntimeError("boom")
        if outcome == "not a string":
            return 42
        if outcome == "later":
            return later
        return None

    init = Initializer()
    init.register_matchmaker_matched(matched)
    mm, router, clock = make(runtime=Runtime(initializer=init))
    add(mm)
    add(mm)
    clock.advance(1)
    if outcome == "later":
        assert router.sent == []
        later.callback("")
    assert len(router.sent) == 2
    assert all(m.token for m in router.matched().values())


def test_group_tickets_is_nakamas_group_indexes() -> None:
    class T:
        def __init__(self, name: str, count: int, created: int) -> None:
            self.id, self.count, self.created_at = name, count, created

    a, b, c, d = T("a", 1, 10), T("b", 2, 20), T("c", 1, 31), T("d", 3, 40)
    got = [([t.id for t in members], avg) for members, avg in group_tickets([a, b, c, d], 3)]
    # a+b, a+c... in Go's recursion order, with its truncating running average.
    assert got == [(["b", "a"], 15), (["c", "b"], 25), (["d"], 40)]
    got = [([t.id for t in members], avg) for members, avg in group_tickets([a, c, b], 2)]
    assert got == [(["c", "a"], 20), (["b"], 20)]


# --- the search against a brute-force reference ----------------------------------------

QUERIES = [
    "*",
    "+properties.region:europe",
    "+properties.region:europe +properties.mode:ranked",
    "+properties.rank:>=3 +properties.rank:<=6",
    "+properties.rank:>=3 +properties.rank:<=6 -properties.mode:casual",
    "properties.region:europe properties.region:asia",
    "properties.region:europe^3 properties.mode:ranked",
    "+properties.mode:ranked properties.region:europe^2 properties.rank:>=5",
    "+properties.rank:5",
    "properties.rank:5^2 properties.level:7",
    "+properties.region:eu* properties.mode:ranked",
    "-properties.mode:casual",
    "properties.region:/as.*/ properties.rank:<3",
    '+properties.mode:"ranked"',
    "+properties.region:europe +min_count:2",
    "+ticket:none properties.mode:ranked",
]


def test_hits_are_nakamas_search_results() -> None:
    rng = random.Random(3)
    mm, _, clock = make(max_tickets=100)
    regions, modes = ("europe", "asia", "eu-north"), ("ranked", "casual")
    for i in range(400):
        clock.advance(rng.choice((0, 0.001)))
        low = rng.choice((2, 2, 3))
        props = {"region": rng.choice(regions), "mode": rng.choice(modes)}
        if rng.random() < 0.8:
            props["rank"] = rng.randint(1, 8)
        if rng.random() < 0.3:
            props["level"] = "7" if rng.random() < 0.5 else 7
        party = f"party-{rng.randint(1, 20)}.nakama" if rng.random() < 0.2 else ""
        who = player()
        strings = {k: v for k, v in props.items() if isinstance(v, str)}
        numbers = {k: v for k, v in props.items() if not isinstance(v, str)}
        if party:
            mm.add([who], "", party, QUERIES[i % len(QUERIES)], low, 4, 1, strings, numbers)
        else:
            add(mm, QUERIES[i % len(QUERIES)], low, rng.choice((low, 4)), **props)
    for gone in rng.sample(list(mm.pool.tickets.values()), 60):
        mm.pool.remove(gone)
    live = list(mm.pool.tickets.values())
    for ticket in live:
        expected = []
        for other in live:
            if other is ticket or not (
                ticket.min_count <= other.min_count and other.max_count <= ticket.max_count
            ):
                continue
            if ticket.party_id and other.party_id == ticket.party_id:
                continue
            score = ticket.query.scorer(other.doc)
            if score is not None:
                expected.append((-score, other.seq, other))
        expected.sort()
        assert list(mm.pool.hits(ticket)) == [o for _, _, o in expected], ticket.query.text


# --- wire ---------------------------------------------------------------------------


@pytest.mark.parametrize("match_id", ["", "abcd.nakama", 'odd "id"\u2028.é'])
def test_assembled_json_is_the_codecs(match_id) -> None:
    user = realtime_pb2.MatchmakerMatched.MatchmakerUser
    users = [
        user(
            presence=realtime_pb2.UserPresence(user_id="u1", session_id="s1", username='é"\n<'),
            party_id="p.node",
            string_properties={"b": "2", "a": "\u2028"},
            numeric_properties={"nan": float("nan"), "one": 1.0, "zero": -0.0, "big": 1e300},
        ),
        user(presence=realtime_pb2.UserPresence(user_id="u2", session_id="s2", username="x")),
        user(presence=realtime_pb2.UserPresence(user_id="u3", session_id="s3", username="y")),
    ]
    tickets = [str(uuid.uuid4()) for _ in users]
    token = make()[0].make_token()
    envelopes = matched_envelopes(tickets, users, token, match_id)
    for at, envelope in enumerate(envelopes):
        expected = realtime_pb2.Envelope(
            matchmaker_matched=realtime_pb2.MatchmakerMatched(
                ticket=tickets[at],
                users=users,
                self=users[at],
                **({"match_id": match_id} if match_id else {"token": token}),
            )
        )
        assert envelope.envelope == expected
        assert envelope.payload(Format.JSON) == encode(Format.JSON, expected)
        assert envelope.payload(Format.PROTOBUF) == encode(Format.PROTOBUF, expected)
        assert orjson.loads(envelope.payload(Format.JSON))["matchmaker_matched"]["ticket"]


# --- config -------------------------------------------------------------------------


def test_matchmaker_config_section() -> None:
    config = config_from_mapping({"matchmaker": {"interval_sec": 2, "rev_precision": "true"}})
    assert config.matchmaker == MatchmakerConfig(interval_sec=2, rev_precision=True)
    assert Config().matchmaker == MatchmakerConfig(3, 15, 2, False, 1)
    for key, value in (
        ("max_tickets", 0),
        ("interval_sec", 0),
        ("max_intervals", 0),
        ("rev_threshold", -1),
    ):
        bad = config_from_mapping({"matchmaker": {key: value}})
        with pytest.raises(ConfigError, match=f"matchmaker.{key}"):
            bad.validate()


class Lease:
    """A cluster's shared tickets as the matchmaker sees them: a lease it may lose."""

    def __init__(self) -> None:
        self.held = True
        self.told: list[tuple[str, object]] = []

    def listen(self, on_added, on_removed) -> None:
        pass

    def added(self, ticket) -> None:
        self.told.append(("added", ticket.ticket_id))

    def removed(self, ticket_ids) -> None:
        self.told.append(("removed", tuple(ticket_ids)))

    def may_match(self) -> bool:
        return self.held


def test_a_pass_stops_between_slices_once_the_clusters_lease_lapses() -> None:
    clock = Clock()
    lease = Lease()

    class LeaseLostOnMatch(Router):
        losing = True

        def send_to_session_ids(self, session_ids, envelope) -> None:
            super().send_to_session_ids(session_ids, envelope)
            if self.losing:
                lease.held = False  # lost while the pass goes on, before its next slice

    router = LeaseLostOnMatch()
    ticks = itertools.count()
    mm = Matchmaker(
        MatchmakerConfig(interval_sec=1),
        clock,
        router,
        KEY,
        chunk_seconds=0.5,
        timer=lambda: next(ticks),
        shared=lease,
    )
    for _ in range(4):
        add(mm)
    clock.advance(1)  # the first slice makes one match; the next finds the lease gone
    assert len(groups(router)) == 1 and len(mm) == 2
    clock.advance(1)  # no pass without the lease
    assert len(groups(router)) == 1
    lease.held, router.losing = True, False
    passes(clock)
    assert len(groups(router)) == 2 and len(mm) == 0
    # Every ticket added and matched here was told to the cluster.
    assert [kind for kind, _ in lease.told] == ["added"] * 4 + ["removed"] * 2
