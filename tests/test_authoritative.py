"""Authoritative matches driven tick by tick with a Clock (no sockets, fake connections)."""

from __future__ import annotations

import pytest
from twisted.internet.task import Clock

from nakama_rt.core.pipeline import Pipeline
from nakama_rt.core.registry import SessionRegistry
from nakama_rt.core.router import LocalRouter
from nakama_rt.core.tracker import LocalTracker, PresenceStream, StreamMode
from nakama_rt.realtime.dispatch import dispatch_table
from nakama_rt.realtime.match.authoritative import MatchError, MatchRegistry
from nakama_rt.realtime.match.relayed import MatchHandlers
from nakama_rt.socket.session import Session
from nakama_rt.wire.proto import realtime_pb2
from tests.helpers import Wire, make_session


class Game:
    """A small handler recording what it was asked."""

    def __init__(self, tick_rate: int = 10, label: str = '{"mode":"duel"}') -> None:
        self.calls: list[tuple] = []
        self.tick_rate = tick_rate
        self.label = label
        self.loop_result = "keep"

    def match_init(self, ctx, logger, nk, params):
        self.calls.append(("init", dict(params), ctx))
        return {"players": []}, self.tick_rate, self.label

    def match_join_attempt(self, ctx, logger, nk, dispatcher, tick, state, presence, metadata):
        self.calls.append(("attempt", presence.username, metadata))
        if metadata.get("password") != "open sesame":
            return state, False, "wrong password"
        return state, True

    def match_join(self, ctx, logger, nk, dispatcher, tick, state, presences):
        self.calls.append(("join", [p.username for p in presences]))
        state["players"] += [p.username for p in presences]
        return state

    def match_leave(self, ctx, logger, nk, dispatcher, tick, state, presences):
        self.calls.append(("leave", [p.username for p in presences]))
        return state

    def match_loop(self, ctx, logger, nk, dispatcher, tick, state, messages):
        self.calls.append(("loop", tick, [(m.username, m.op_code, m.data) for m in messages]))
        for m in messages:
            dispatcher.broadcast_message_deferred(m.op_code + 100, m.data, sender=m)
            dispatcher.broadcast_message(1, b"tick")
        if self.loop_result == "end":
            return None
        if self.loop_result == "raise":
            raise RuntimeError("bug in game code")
        return state

    def match_terminate(self, ctx, logger, nk, dispatcher, tick, state, grace_seconds):
        self.calls.append(("terminate", grace_seconds))
        dispatcher.broadcast_message(9, b"bye")
        return state

    def match_signal(self, ctx, logger, nk, dispatcher, tick, state, data):
        self.calls.append(("signal", data))
        return state, f"got {data}"


class World:
    def __init__(self, game: Game) -> None:
        self.clock = Clock()
        self.tracker = LocalTracker()
        self.sessions = SessionRegistry()
        self.router = LocalRouter(self.sessions, self.tracker)
        self.game = game
        self.registry = MatchRegistry(
            self.tracker,
            self.router,
            self.clock,
            "nakama",
            {"game": lambda: game},
            context_factory=lambda mid, node, label, rate: {"match_id": mid, "tick_rate": rate},
        )
        relay = MatchHandlers(self.tracker, self.router, "key", self.clock, self.registry)
        self.pipeline = Pipeline(dispatch_table(matches=relay))

    def connect(self, name: str) -> tuple[Session, Wire]:
        wire = Wire()
        session = make_session(name, wire)
        self.sessions.add(session)
        return session, wire

    def join(self, session: Session, match_id: str, password: str = "open sesame") -> None:
        envelope = realtime_pb2.Envelope(
            cid="j",
            match_join=realtime_pb2.MatchJoin(match_id=match_id, metadata={"password": password}),
        )
        self.pipeline.process(session, envelope)

    def send(self, session: Session, match_id: str, op: int, data: bytes) -> None:
        envelope = realtime_pb2.Envelope(
            match_data_send=realtime_pb2.MatchDataSend(match_id=match_id, op_code=op, data=data)
        )
        self.pipeline.process(session, envelope)


@pytest.fixture
def world() -> World:
    return World(Game())


def test_init_ticks_and_messages(world: World) -> None:
    match_id = world.registry.create("game", {"level": 3})
    assert match_id.endswith(".nakama")
    assert world.game.calls[0] == ("init", {"level": 3}, {"match_id": match_id, "tick_rate": 1})
    alice, wire = world.connect("alice")
    world.join(alice, match_id)
    reply = wire.sent[0]
    assert reply["cid"] == "j"
    assert reply["match"]["authoritative"] is True
    assert reply["match"]["label"] == '{"mode":"duel"}'
    assert ("join", ["alice"]) in world.game.calls
    world.send(alice, match_id, 5, b"move")
    world.clock.advance(0.1)
    assert world.game.calls[-1] == ("loop", 0, [("alice", 5, b"move")]), "Nakama's first tick"
    data = wire.of("match_data")
    assert [d["op_code"] for d in data] == ["1", "105"], "deferred broadcast after the loop"
    assert data[1]["presence"]["username"] == "alice"
    world.clock.advance(0.1)
    assert world.game.calls[-1] == ("loop", 1, [])


def test_join_attempts_see_metadata_and_can_be_rejected(world: World) -> None:
    match_id = world.registry.create("game")
    bob, wire = world.connect("bob")
    world.join(bob, match_id, password="guess")
    assert wire.sent[-1] == {"cid": "j", "error": {"code": 5, "message": "wrong password"}}
    assert ("attempt", "bob", {"password": "guess"}) in world.game.calls
    assert world.registry.get(match_id).members() == []


def test_leaves_kicks_and_disconnects_reach_the_handler(world: World) -> None:
    match_id = world.registry.create("game")
    match = world.registry.get(match_id)
    alice, alice_wire = world.connect("alice")
    bob, _ = world.connect("bob")
    world.join(alice, match_id)
    world.join(bob, match_id)
    match.dispatcher.match_kick(
        [p for p in map(match._as_match_presence, match.members()) if p.username == "bob"]
    )
    assert ("leave", ["bob"]) in world.game.calls
    events = alice_wire.of("match_presence_event")
    assert events[-1]["leaves"][0]["username"] == "bob"
    world.tracker.untrack_all(alice.id)
    assert world.game.calls[-1] == ("leave", ["alice"])


def test_a_loop_returning_none_ends_the_match_with_leave_events(world: World) -> None:
    match_id = world.registry.create("game")
    alice, wire = world.connect("alice")
    world.join(alice, match_id)
    world.game.loop_result = "end"
    world.clock.advance(0.1)
    assert world.registry.get(match_id) is None
    stream = PresenceStream(StreamMode.MATCH_AUTHORITATIVE, match_id.split(".")[0], label="nakama")
    assert world.tracker.count_by_stream(stream) == 0
    assert wire.of("match_presence_event")[-1]["leaves"][0]["username"] == "alice"
    assert world.clock.getDelayedCalls() == []


def test_an_exception_ends_only_that_match(world: World) -> None:
    broken = world.registry.create("game")
    other_game = Game()
    world.registry.handlers = {"game": lambda: world.game, "other": lambda: other_game}
    healthy = world.registry.create("other")
    world.game.loop_result = "raise"
    world.clock.advance(0.1)
    assert world.registry.get(broken) is None
    assert world.registry.get(healthy) is not None
    world.clock.advance(0.1)
    assert other_game.calls[-1][:2] == ("loop", 1)


def test_a_slow_loop_is_counted_and_the_match_keeps_its_rate(world: World) -> None:
    match_id = world.registry.create("game")
    match = world.registry.get(match_id)
    world.clock.advance(5)  # the reactor was busy for 5 s: one late tick, then back on rate
    assert match.overruns == 1
    assert world.registry.tick_overruns == 1  # what /metrics reports, all matches together
    ticks = match.tick
    world.clock.advance(0.1)
    assert match.tick == ticks + 1


@pytest.mark.parametrize(
    "tick_rate, label, message",
    [(0, "", "invalid tick rate"), (61, "", "invalid tick rate"), (10, "x" * 2049, "too long")],
)
def test_bad_init_results_refuse_the_match(tick_rate, label, message) -> None:
    world = World(Game(tick_rate=tick_rate, label=label))
    with pytest.raises(MatchError, match=message):
        world.registry.create("game")
    assert len(world.registry) == 0
    with pytest.raises(MatchError, match="not found"):
        world.registry.create("nope")


def test_signal_and_terminate(world: World) -> None:
    match_id = world.registry.create("game")
    alice, wire = world.connect("alice")
    world.join(alice, match_id)
    assert world.registry.signal(match_id, "ping") == "got ping"
    world.registry.shutdown(grace_seconds=5)
    assert ("terminate", 5) in world.game.calls
    world.clock.advance(5)
    assert [d["data"] for d in wire.of("match_data")][-1] == "Ynll"  # b"bye"
    assert len(world.registry) == 0


def test_shutdown_grace_lets_matches_finish(world: World) -> None:
    match_id = world.registry.create("game")
    done = world.registry.shutdown(grace_seconds=3)
    assert ("terminate", 3) in world.game.calls
    assert not done.called
    world.clock.advance(1)
    assert world.registry.get(match_id) is not None, "still ticking within the grace period"
    world.game.loop_result = "end"
    world.clock.advance(0.1)
    assert world.registry.get(match_id) is None
    assert done.called
    assert world.clock.getDelayedCalls() == []


def test_shutdown_completes_the_moment_the_last_match_ends(world: World) -> None:
    """No polling: the shutdown fires from the last match's stop (after its members got
    their leave events), off any 0.1 s grid, and leaves no delayed call behind."""
    other = Game(tick_rate=4)
    world.registry.handlers = {**world.registry.handlers, "other": lambda: other}
    first = world.registry.create("game")
    last = world.registry.create("other")
    alice, wire = world.connect("alice")
    world.join(alice, last)
    done = world.registry.shutdown(grace_seconds=3)
    fired: list[tuple[float, list[dict]]] = []
    done.addCallback(
        lambda _: fired.append((world.clock.seconds(), wire.of("match_presence_event")))
    )
    assert ("terminate", 3) in world.game.calls and ("terminate", 3) in other.calls
    world.clock.advance(0.5)  # both keep ticking
    world.game.loop_result = "end"
    world.clock.advance(0.1)  # the first ends at 0.6; the other is still running
    assert world.registry.get(first) is None and world.registry.get(last) is not None
    assert not done.called
    other.loop_result = "end"
    world.clock.advance(0.15)  # its loop at 0.75 ends it
    assert world.registry.get(last) is None
    assert fired and fired[0][0] == pytest.approx(0.75), "done fires at once, not at 0.8"
    assert fired[0][1][-1]["leaves"][0]["username"] == "alice", "after the leave event"
    assert world.clock.getDelayedCalls() == [], "the deadline was cancelled"


def test_shutdown_grace_ends_matches_that_do_not_finish(world: World) -> None:
    match_id = world.registry.create("game")
    done = world.registry.shutdown(grace_seconds=2)
    world.clock.advance(1.95)
    assert world.registry.get(match_id) is not None
    assert not done.called
    world.clock.advance(0.1)
    assert world.registry.get(match_id) is None
    assert done.called
    assert world.clock.getDelayedCalls() == []


def test_an_immediate_shutdown_also_ends_a_graceful_one(world: World) -> None:
    world.registry.create("game")
    graceful = world.registry.shutdown(grace_seconds=5)
    world.clock.advance(1)
    now = world.registry.shutdown(grace_seconds=0)
    assert now.called and graceful.called
    assert len(world.registry) == 0
    assert world.clock.getDelayedCalls() == []


class TickLog:
    """A handler that records the ``tick`` each callback gets and ends its match from
    the first loop whose tick is ``end_at`` or more."""

    def __init__(self, end_at: int) -> None:
        self.end_at = end_at
        self.seen: list[tuple[str, int | None]] = []

    def match_init(self, ctx, logger, nk, params):
        self.seen.append(("init", None))
        return {}, 10, ""

    def match_join_attempt(self, ctx, logger, nk, dispatcher, tick, state, presence, metadata):
        self.seen.append(("attempt", tick))
        return state, True

    def match_join(self, ctx, logger, nk, dispatcher, tick, state, presences):
        self.seen.append(("join", tick))
        return state

    def match_leave(self, ctx, logger, nk, dispatcher, tick, state, presences):
        self.seen.append(("leave", tick))
        return state

    def match_loop(self, ctx, logger, nk, dispatcher, tick, state, messages):
        self.seen.append(("loop", tick))
        return None if tick >= self.end_at else state

    def match_terminate(self, ctx, logger, nk, dispatcher, tick, state, grace_seconds):
        self.seen.append(("terminate", tick))
        return state

    def match_signal(self, ctx, logger, nk, dispatcher, tick, state, data):
        self.seen.append(("signal", tick))
        return state, ""


def test_every_callback_gets_nakamas_tick() -> None:
    """The ticks are those of Nakama's server/match_handler.go.

    There the handler's ``tick`` starts at 0 (NewMatchHandler), ``loop()`` calls
    MatchLoop with the current ``mh.tick`` and adds one only at its very end, after the
    state was kept, and the join attempt, join, leave, signal and terminate closures
    pass ``mh.tick`` unchanged. So ``tick`` is the number of loops completed: the first
    loop gets 0, a callback between the k-th and the next loop gets k (0 before the
    first loop), and a loop returning nil calls Stop() before the increment. Stop()
    does not call MatchTerminate: only the registry's Stop(grace > 0) queues it (as
    our shutdown does), so a match its loop ended gets no terminate. A handler that
    ends at ``tick >= 4`` therefore runs five loops, ticks 0 to 4.
    """
    game = TickLog(end_at=4)
    world = World(game)  # type: ignore[arg-type]
    match_id = world.registry.create("game")
    match = world.registry.get(match_id)
    alice, _ = world.connect("alice")
    world.join(alice, match_id)  # before any loop: 0
    world.clock.advance(0.1)  # loop 0
    world.clock.advance(0.1)  # loop 1
    bob, _ = world.connect("bob")
    world.join(bob, match_id)  # two loops completed: 2
    world.registry.signal(match_id, "")
    match.dispatcher.match_kick([match._as_match_presence(p) for p in match.members()][1:])
    world.clock.advance(0.1)  # loop 2
    world.tracker.untrack_all(alice.id)  # alice disconnects after three loops
    done = world.registry.shutdown(grace_seconds=5)  # terminate, then it keeps ticking
    world.clock.advance(0.1)  # loop 3
    world.clock.advance(0.1)  # loop 4 returns None: the match ends
    assert game.seen == [
        ("init", None),
        ("attempt", 0),
        ("join", 0),
        ("loop", 0),
        ("loop", 1),
        ("attempt", 2),
        ("join", 2),
        ("signal", 2),
        ("leave", 2),
        ("loop", 2),
        ("leave", 3),
        ("terminate", 3),
        ("loop", 3),
        ("loop", 4),
    ]
    assert world.registry.get(match_id) is None
    assert done.called, "the shutdown ends with the match, not a poll later"
    assert world.clock.getDelayedCalls() == []
    assert game.seen[-1] == ("loop", 4), "no match_terminate after the loop ended it"


def test_a_match_ending_at_tick_n_runs_n_plus_one_loops() -> None:
    """As on Nakama (see above): ``tick >= 2`` ends it in its third loop, and a match
    its own loop ended gets no match_terminate."""
    game = TickLog(end_at=2)
    world = World(game)  # type: ignore[arg-type]
    match_id = world.registry.create("game")
    world.clock.pump([0.1] * 10)
    assert game.seen == [("init", None), ("loop", 0), ("loop", 1), ("loop", 2)]
    assert world.registry.get(match_id) is None
    assert world.clock.getDelayedCalls() == []
