"""``initializer.register_matchmaker_override``: Nakama's RegisterMatchmakerOverride.

A pass collects every candidate match, hands them all to the function once, and forms
what it returns, in its order, skipping matches whose tickets were already matched;
a bad answer forms nothing and is logged. On a Clock, plus one pass over real sockets.
"""

from __future__ import annotations

import dataclasses
import textwrap

import pytest
import pytest_twisted
from twisted.internet.defer import Deferred
from twisted.logger import Logger as TwistedLogger
from twisted.logger import LogLevel, formatEvent

from nakama_rt.realtime.matchmaker import (
    Matchmaker,
    MatchmakerEntry,
    MatchmakerPresence,
    _core,
    _override,
)
from nakama_rt.runtime import Initializer, Runtime
from tests.test_matchmaker import add, groups, make, player
from tests.wsclient import answer, has, wait_for
from tests.wsclient import player as socket_player


def with_override(fn, matched=None, nk="nk") -> Runtime:
    init = Initializer()
    init.register_matchmaker_override(fn)
    if matched is not None:
        init.register_matchmaker_matched(matched)
    return Runtime(nk=nk, initializer=init)


def recorder(choose=lambda candidates: []):
    """An override that records each call's candidates (as session ids) and answers
    ``choose(candidates)``."""
    calls: list[list[list[str]]] = []

    def override(ctx, logger, nk, candidates):
        calls.append([[e.presence.session_id for e in group] for group in candidates])
        return choose(candidates)

    return override, calls


def logged(mm: Matchmaker) -> list[dict]:
    events: list[dict] = []
    mm.log = TwistedLogger(namespace="matchmaker-test", observer=events.append)
    return events


def errors(events: list[dict]) -> list[str]:
    return [formatEvent(e) for e in events if e["log_level"] == LogLevel.error]


def sid(who: MatchmakerPresence) -> str:
    return who.session_id


def by_session(candidates, *players: MatchmakerPresence) -> list[MatchmakerEntry]:
    """The candidate group holding exactly ``players``, in that order."""
    wanted = [p.session_id for p in players]
    for group in candidates:
        if sorted(e.presence.session_id for e in group) == sorted(wanted):
            found = {e.presence.session_id: e for e in group}
            return [found[s] for s in wanted]
    raise AssertionError(f"no candidate of {wanted}")


# --- what the function is given ------------------------------------------------------


def test_the_override_sees_every_candidate_once_per_pass() -> None:
    override, calls = recorder()
    mm, router, clock = make(runtime=with_override(override))
    a, b, c, d = [add(mm)[1] for _ in range(4)]
    clock.advance(1)
    # Each active ticket offers one group per hit (oldest hit first), its own player
    # last; a pair found by both its tickets is offered twice, as in Nakama.
    assert calls == [
        [[sid(b), sid(a)], [sid(c), sid(a)], [sid(d), sid(a)]]
        + [[sid(a), sid(b)], [sid(c), sid(b)], [sid(d), sid(b)]]
        + [[sid(a), sid(c)], [sid(b), sid(c)], [sid(d), sid(c)]]
        + [[sid(a), sid(d)], [sid(b), sid(d)], [sid(c), sid(d)]]
    ]
    assert router.sent == [] and len(mm) == 4


def test_groups_of_three_come_in_nakamas_combination_order() -> None:
    override, calls = recorder()
    mm, _, clock = make(runtime=with_override(override))
    a, b, c, d = [add(mm, "*", 3, 3)[1] for _ in range(4)]
    clock.advance(1)
    # Subsets of A's hits (B, C, D) counted in binary, B the lowest bit.
    assert calls[0][:3] == [
        [sid(b), sid(c), sid(a)],
        [sid(b), sid(d), sid(a)],
        [sid(c), sid(d), sid(a)],
    ]
    assert len(calls[0]) == 12


def test_candidates_follow_the_sizes_sessions_and_precision() -> None:
    override, calls = recorder()
    mm, _, clock = make(runtime=with_override(override), rev_precision=True, max_intervals=3)
    wide, wide_who = add(mm, "*", 2, 4)
    _, pair = add(mm, "*", 2, 2)  # fits a match of 2 only
    _, picky = add(mm, "+properties.mode:ranked", 2, 2, mode="casual")  # refuses the others
    _, four = add(mm, "*", 4, 4, mode="ranked")  # can still wait for four
    clock.advance(1)
    offered = calls[0]
    # The wide ticket takes a pair at once (no waiting for its maximum, unlike the
    # default pass); nobody is offered with the picky ticket, whose query refuses
    # them (reverse precision), nor with the 4-4 ticket: no group of four exists.
    assert [sid(pair), sid(wide_who)] in offered
    assert all(sid(picky) not in group for group in offered)
    assert all(sid(four) not in group for group in offered)
    assert offered == [[sid(pair), sid(wide_who)]]
    assert mm.pool.tickets[wide].intervals == 1


def test_a_party_ticket_is_offered_whole_and_only_whole() -> None:
    chosen: list = []
    override, calls = recorder(lambda candidates: chosen.pop() if chosen else [])
    mm, router, clock = make(runtime=with_override(override))
    host, guest = player("host"), player("guest")
    mm.add_party("party-1", host.session_id, [host, guest], 3, 3, 1, "*")
    _, solo = add(mm, "*", 3, 3)
    events = logged(mm)
    solo_entry = mm.pool.tickets[mm.tickets_of(solo.session_id)[0]].entries[0]
    host_entry = next(iter(mm.pool.by_party["party-1"].values())).entries[0]
    chosen.append([[host_entry, solo_entry]])
    clock.advance(1)
    assert calls == [
        [[sid(solo), sid(host), sid(guest)], [sid(host), sid(guest), sid(solo)]],
    ]
    assert router.sent == [] and len(mm) == 2
    assert errors(events) == [
        f"matchmaker override returned match 0 holds 1 of the 2 players of ticket "
        f"{host_entry.ticket}; no matches formed this pass"
    ]


def test_ctx_logger_nk_and_the_order_delivered() -> None:
    seen: dict = {}

    def override(ctx, logger, nk, candidates):
        seen.update(mode=ctx.execution_mode, nk=nk, fields=logger.fields)
        group = list(reversed(candidates[0]))
        return [group]

    def matched(ctx, logger, nk, entries):
        seen["matched"] = [e.presence.session_id for e in entries]
        return None

    mm, router, clock = make(runtime=with_override(override, matched))
    ticket, first = add(mm, "*", 2, 2, region="eu", level=3)
    _, second = add(mm)
    clock.advance(1)
    assert seen["mode"] == "matchmaker_override" and seen["nk"] == "nk"
    assert seen["fields"].get("mode") == "matchmaker_override"
    # The function turned [second, first] around: that is the order everyone gets.
    assert seen["matched"] == [sid(first), sid(second)]
    users = router.matched()[sid(first)].users
    assert [u.presence.session_id for u in users] == [sid(first), sid(second)]
    assert groups(router) == [{sid(first), sid(second)}] and len(mm) == 0


# --- what is formed ------------------------------------------------------------------


def skill_pairs(candidates):
    """Closest skills first (the candidates, reordered)."""

    def gap(group):
        skills = [e.properties["skill"] for e in group]
        return max(skills) - min(skills)

    return sorted(candidates, key=gap)


def test_reordering_forms_a_different_pairing_than_the_default() -> None:
    skills = [1, 10, 2, 11]
    plain, plain_router, plain_clock = make()
    who = [add(plain, skill=s)[1] for s in skills]
    plain_clock.advance(1)
    assert sorted(map(sorted, groups(plain_router))) == sorted(
        [sorted([sid(who[0]), sid(who[1])]), sorted([sid(who[2]), sid(who[3])])]
    ), "the default pairs the oldest tickets"

    mm, router, clock = make(runtime=with_override(lambda c, lg, nk, cands: skill_pairs(cands)))
    who = [add(mm, skill=s)[1] for s in skills]
    formed = mm.process()
    assert formed.result == 2
    assert sorted(map(sorted, groups(router))) == sorted(
        [sorted([sid(who[0]), sid(who[2])]), sorted([sid(who[1]), sid(who[3])])]
    )
    assert len(mm) == 0 and mm.matched_count == 2


def test_a_ticket_reused_in_a_later_match_is_skipped() -> None:
    def override(ctx, logger, nk, candidates):
        return [
            by_session(candidates, a, b),
            by_session(candidates, a, c),  # a is taken: skipped
            by_session(candidates, c, d),
            by_session(candidates, d, b),  # both taken: skipped
        ]

    mm, router, clock = make(runtime=with_override(override))
    a, b, c, d = [add(mm)[1] for _ in range(4)]
    assert mm.process().result == 2
    assert sorted(map(sorted, groups(router))) == sorted(
        [sorted([sid(a), sid(b)]), sorted([sid(c), sid(d)])]
    )


def test_equal_entries_are_accepted_and_unchosen_tickets_stay() -> None:
    def override(ctx, logger, nk, candidates):
        return [[dataclasses.replace(e) for e in by_session(candidates, a, c)]]

    mm, router, clock = make(runtime=with_override(override))
    a, b, c = [add(mm)[1] for _ in range(3)]
    clock.advance(1)
    assert groups(router) == [{sid(a), sid(c)}]
    assert [t.entries[0].presence for t in mm.pool.tickets.values()] == [b]


def test_filtering_out_everything_leaves_the_tickets_for_the_next_pass() -> None:
    override, calls = recorder(lambda candidates: [] if len(calls) == 1 else candidates)
    mm, router, clock = make(runtime=with_override(override), max_intervals=3)
    wide, wide_who = add(mm, "*", 2, 4)
    _, pair = add(mm, "*", 2, 2)
    clock.advance(1)
    assert router.sent == [] and len(mm) == 2
    assert wide in mm.pool.active, "still searching: 1 of its 3 intervals"
    clock.advance(1)
    assert calls == [[[sid(pair), sid(wide_who)]]] * 2
    assert groups(router) == [{sid(pair), sid(wide_who)}] and len(mm) == 0


def test_inactive_tickets_stay_findable_after_an_empty_answer() -> None:
    override, calls = recorder(lambda candidates: [] if len(calls) == 1 else candidates[:1])
    mm, router, clock = make(runtime=with_override(override))
    a, b = add(mm)[1], add(mm)[1]
    clock.advance(1)
    assert len(mm) == 2 and not mm.pool.active  # 2-2 tickets search one pass only
    clock.advance(3)
    assert len(calls) == 1, "no active ticket, no pass, no call"
    _, late = add(mm)
    clock.advance(1)
    assert calls[1] == [[sid(a), sid(late)], [sid(b), sid(late)]]
    assert groups(router) == [{sid(a), sid(late)}]


def test_no_candidates_no_call() -> None:
    override, calls = recorder()
    mm, router, clock = make(runtime=with_override(override))
    add(mm, "+properties.mode:nobody")
    add(mm, "+properties.mode:nobody")
    clock.advance(1)
    assert calls == [] and mm._pass is None


# --- bad functions -------------------------------------------------------------------


class Boom(Exception):
    pass


def _stranger() -> MatchmakerEntry:
    who = player()
    return MatchmakerEntry("not-a-ticket", who, {}, "", 0, {}, {})


BAD_ANSWERS = {
    "raises": ("raise", "matchmaker override raised Boom: boom"),
    "None": (None, "returned None instead of a list of matches"),
    "a string": ("pairs", "returned a str instead of a list of matches"),
    "a dict": ({}, "returned a dict instead of a list of matches"),
    "not lists": (["x"], "match 0 is a str, not a list of entries"),
    "not entries": ([["x"]], "match 0 holds a str, not a MatchmakerEntry"),
    "an empty match": ([[]], "match 0 is empty"),
    "a stranger": ("stranger", "an entry of ticket 'not-a-ticket' that was not a candidate"),
    "a changed entry": ("changed", "that was not a candidate"),
    "one entry twice": ("twice", "match 0 holds an entry of ticket"),
}


@pytest.mark.parametrize("case", list(BAD_ANSWERS))
def test_a_bad_override_forms_nothing_and_logs_one_line(case) -> None:
    answer_, message = BAD_ANSWERS[case]

    def override(ctx, logger, nk, candidates):
        group = candidates[0]
        if answer_ == "raise":
            raise Boom("boom")
        if answer_ == "stranger":
            return [group, [_stranger()]]
        if answer_ == "changed":
            return [[dataclasses.replace(group[0], party_id="p"), group[1]]]
        if answer_ == "twice":
            return [[group[0], group[0]]]
        return answer_

    mm, router, clock = make(runtime=with_override(override))
    events = logged(mm)
    add(mm)
    add(mm)
    formed = mm.process()
    assert formed.called and formed.result == 0
    assert router.sent == [] and len(mm) == 2 and mm._pass is None
    lines = errors(events)
    assert len(lines) == 1 and message in lines[0], lines
    assert lines[0].endswith("no matches formed this pass") and "\n" not in lines[0]
    # The matchmaker goes on: a new ticket searches at the next tick.
    add(mm)
    clock.advance(1)
    assert mm._pass is None


def test_a_failing_override_later_is_logged_the_same() -> None:
    later: Deferred = Deferred()
    mm, router, clock = make(runtime=with_override(lambda *args: later))
    events = logged(mm)
    add(mm)
    add(mm)
    formed = mm.process()
    assert not formed.called
    later.errback(Boom("late boom"))
    assert formed.result == 0 and router.sent == [] and len(mm) == 2
    assert errors(events) == [
        "matchmaker override raised Boom: late boom; no matches formed this pass"
    ]


def test_an_override_that_never_answers_times_out() -> None:
    later: Deferred = Deferred()
    mm, router, clock = make(runtime=with_override(lambda *args: later))
    events = logged(mm)
    add(mm)
    add(mm)
    formed = mm.process()
    clock.advance(0.5)
    assert not formed.called and mm._pass is not None
    clock.advance(0.5)
    assert formed.result == 0 and mm._pass is None and len(mm) == 2
    assert errors(events) == [
        "matchmaker override did not answer within 1 s; no matches formed this pass"
    ]
    later.callback([])  # too late: ignored
    assert router.sent == [] and len(mm) == 2


# --- asynchronous functions ----------------------------------------------------------


@pytest.mark.parametrize("style", ["async", "deferred"])
def test_an_asynchronous_override_holds_the_pass_until_it_answers(style) -> None:
    gate: Deferred = Deferred()

    async def async_override(ctx, logger, nk, candidates):
        await gate
        return skill_pairs(candidates)

    def deferred_override(ctx, logger, nk, candidates):
        return gate.addCallback(lambda _: skill_pairs(candidates))

    override = async_override if style == "async" else deferred_override
    mm, router, clock = make(runtime=with_override(override))
    who = [add(mm, skill=s)[1] for s in (1, 10, 2, 11)]
    clock.advance(1)
    assert router.sent == [] and mm._pass is not None
    joined = mm.process()  # joins the pass that waits
    clock.advance(0.5)
    gate.callback(None)
    assert joined.result == 2 and mm._pass is None
    assert sorted(map(sorted, groups(router))) == sorted(
        [sorted([sid(who[0]), sid(who[2])]), sorted([sid(who[1]), sid(who[3])])]
    )


def test_tickets_withdrawn_while_the_override_thinks_are_not_matched() -> None:
    gate: Deferred = Deferred()
    mm, router, clock = make(runtime=with_override(lambda c, lg, nk, cands: gate))
    a, b, c = [add(mm)[1] for _ in range(3)]
    clock.advance(1)
    mm.remove_session_all(sid(a))
    assert mm._pass is not None
    entries = [[slot[1] for slot in group] for group in mm._pass.candidates]
    gate.callback(entries)  # every group with a is skipped: a has left the pool
    assert groups(router) == [{sid(b), sid(c)}] and len(mm) == 0


def test_a_sliced_pass_calls_the_override_once_at_its_end() -> None:
    override, calls = recorder()
    mm, _, clock = make(runtime=with_override(override), sliced=True)
    for _ in range(4):
        add(mm)
    formed = mm.process()
    assert calls == [] and not formed.called
    for _ in range(3):
        clock.advance(0)
    assert len(calls) == 1 and len(calls[0]) == 12 and formed.result == 0


def test_the_candidates_are_bounded(monkeypatch) -> None:
    monkeypatch.setattr(_core, "MAX_CANDIDATES", 5)
    override, calls = recorder()
    mm, _, clock = make(runtime=with_override(override))
    events = logged(mm)
    for _ in range(4):
        add(mm)
    clock.advance(1)
    assert len(calls[0]) == 5
    assert [e for e in events if e["log_level"] == LogLevel.warn]
    monkeypatch.undo()
    monkeypatch.setattr(_override, "MAX_SUBSETS", 2)
    mm, _, clock = make(runtime=with_override(override))
    for _ in range(4):
        add(mm)
    clock.advance(1)
    assert len(calls[1]) == 4 * 2


# --- registration --------------------------------------------------------------------


def test_registration_is_checked() -> None:
    init = Initializer()
    with pytest.raises(TypeError, match="must be callable"):
        init.register_matchmaker_override("not a function")
    assert init.matchmaker_override is None

    def override(ctx, logger, nk, candidates):
        return candidates

    init.register_matchmaker_override(override)
    with pytest.raises(ValueError, match="already registered"):
        init.register_matchmaker_override(override)
    assert Runtime(initializer=init).matchmaker_override is override
    assert Runtime().matchmaker_override is None


# --- over real sockets ---------------------------------------------------------------

SKILL_MODULE = """
def closest_skills(ctx, logger, nk, candidates):
    def gap(group):
        skills = [entry.properties["skill"] for entry in group]
        return max(skills) - min(skills)

    logger.info("%d candidates", len(candidates))
    return sorted(candidates, key=gap)


def init_module(ctx, logger, nk, initializer):
    initializer.register_matchmaker_override(closest_skills)
"""


@pytest.fixture
def server_options(tmp_path) -> dict:
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "skills.py").write_text(textwrap.dedent(SKILL_MODULE))
    # No pass on its own: the test runs one once every ticket is in.
    return {"matchmaker": {"interval_sec": 3600}, "runtime": {"path": str(modules)}}


@pytest_twisted.ensureDeferred
async def test_the_override_pairs_socket_players_by_skill(server) -> None:
    skills = {"low": 1, "high": 10, "low2": 2, "high2": 11}
    clients = {name: await socket_player(server.port, name) for name in skills}
    for name, client in clients.items():
        request = {
            "min_count": 2,
            "max_count": 2,
            "query": "*",
            "numeric_properties": {"skill": skills[name]},
        }
        reply = await answer(client, {"cid": name, "matchmaker_add": request})
        assert "matchmaker_ticket" in reply
    formed = await server.server.matchmaker.process()
    assert formed == 2
    tokens: dict[str, set[str]] = {}
    for client in clients.values():
        got = (await wait_for(client, has("matchmaker_matched"), timeout=5))[0]
        matched = got["matchmaker_matched"]
        names = {u["presence"]["username"] for u in matched["users"]}
        tokens.setdefault(matched["token"], set()).update(names)
    assert sorted(map(sorted, tokens.values())) == [["high", "high2"], ["low", "low2"]]
    assert len(server.server.matchmaker) == 0
