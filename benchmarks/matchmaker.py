"""How long one matchmaker pass takes with 10,000 waiting tickets.

    python benchmarks/matchmaker.py [count]

Each scenario is timed twice: the pass in one go (its total cost), then as the
server runs it, in slices of ``CHUNK_SECONDS`` with the reactor free in between
(the longest slice is how long other events may wait). Tickets are added before
the pass; the time covers the search, the tokens and every ``matchmaker_matched``
message built, encoded (JSON) and framed for its recipient (``frame``). Scenarios:

* ``mixed``: fresh tickets, a quarter each of ``*``, two required terms, a region
  plus a +/-10 skill window, and a required mode with a boosted optional region
  (scored); sizes 2-2, 2-4 and 4-4 (multiple of 2);
* ``skill windows``: every ticket has its own narrow skill window (+/-2 of 1000);
* ``steady``: the pool is full of tickets past their active passes (their queries
  accept nobody) and 1,000 fresh ones arrive;
* ``no match``: every query accepts nobody (required terms, ranges, optional-only
  queries and ``-`` only queries), the search's worst case;
* ``scored, shared``: queries with optional clauses drawn from 40 variants.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

from twisted.internet.task import Clock

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nakama_rt.config import MatchmakerConfig  # noqa: E402
from nakama_rt.realtime.matchmaker import Matchmaker, MatchmakerPresence  # noqa: E402
from nakama_rt.wire.codec import Format  # noqa: E402

REGIONS = ("europe", "us-east", "us-west", "asia", "eu-north")
MODES = ("ranked", "casual", "custom")


class CountingRouter:
    """Does what the server's router does per recipient up to the transport: the
    complete WebSocket frame (JSON) for each player's envelope."""

    def __init__(self) -> None:
        self.sent = 0

    def send_to_session_ids(self, session_ids, envelope) -> None:
        for _ in session_ids:
            envelope.frame(Format.JSON)
            self.sent += 1


def _matchmaker() -> tuple[Matchmaker, CountingRouter]:
    router = CountingRouter()
    mm = Matchmaker(MatchmakerConfig(), Clock(), router, "key", chunk_seconds=None)
    return mm, router


def _add(mm: Matchmaker, i: int, query: str, low: int, high: int, multiple: int, props) -> None:
    strings = {k: v for k, v in props.items() if isinstance(v, str)}
    numbers = {k: v for k, v in props.items() if not isinstance(v, str)}
    presence = MatchmakerPresence(f"u{i}", f"s{i}", f"user{i}")
    mm.add([presence], f"s{i}", "", query, low, high, multiple, strings, numbers)


def _sizes(rng: random.Random) -> tuple[int, int, int]:
    roll = rng.random()
    if roll < 0.6:
        return 2, 2, 1
    if roll < 0.85:
        return 2, 4, 1
    return 4, 4, 2


def mixed(mm: Matchmaker, count: int, rng: random.Random) -> None:
    for i in range(count):
        region, mode, skill = rng.choice(REGIONS), rng.choice(MODES), rng.randint(1, 100)
        kind = i % 4
        if kind == 0:
            query = "*"
        elif kind == 1:
            query = f"+properties.region:{region} +properties.mode:{mode}"
        elif kind == 2:
            query = (
                f"+properties.region:{region} "
                f"+properties.skill:>={skill - 10} +properties.skill:<={skill + 10}"
            )
        else:
            query = f"+properties.mode:{mode} properties.region:{region}^2"
        props = {"region": region, "mode": mode, "skill": skill}
        _add(mm, i, query, *_sizes(rng), props)


def skill_windows(mm: Matchmaker, count: int, rng: random.Random) -> None:
    for i in range(count):
        skill = rng.randint(1, 1000)
        query = f"+properties.skill:>={skill - 2} +properties.skill:<={skill + 2}"
        _add(mm, i, query, 2, 2, 1, {"skill": skill})


def steady(mm: Matchmaker, count: int, rng: random.Random) -> None:
    for i in range(count):
        _add(mm, i, "+properties.region:mars", 2, 4, 1, {"region": rng.choice(REGIONS)})
    for ticket in list(mm.pool.active.values()):
        ticket.intervals = mm.config.max_intervals
    mm.pool.active.clear()
    mixed(mm, count // 10, rng)


def no_match(mm: Matchmaker, count: int, rng: random.Random) -> None:
    queries = (
        "+properties.region:mars +properties.mode:ranked",
        "+properties.skill:>=5000",
        "properties.region:mars properties.mode:none",
        "+properties.mode:ranked +properties.skill:<0",
    )
    for i in range(count):
        props = {"region": rng.choice(REGIONS), "mode": rng.choice(MODES)}
        props["skill"] = rng.randint(1, 100)
        _add(mm, i, queries[i % len(queries)], 2, 2, 1, props)


def scored_shared(mm: Matchmaker, count: int, rng: random.Random) -> None:
    for i in range(count):
        region, mode = rng.choice(REGIONS), rng.choice(MODES)
        low = rng.choice((10, 30, 50, 70))
        query = f"+properties.region:{region} properties.mode:{mode}^3 properties.skill:>={low}"
        props = {"region": region, "mode": mode, "skill": rng.randint(1, 100)}
        _add(mm, i, query, *_sizes(rng), props)


SCENARIOS = {
    "mixed": mixed,
    "skill windows": skill_windows,
    "steady": steady,
    "no match": no_match,
    "scored, shared": scored_shared,
}


def _sliced(fill, count: int) -> tuple[int, float]:
    """The same pass as the server runs it: slices of ``CHUNK_SECONDS``, the reactor
    (a Clock here) turning in between. Returns (slices, longest slice in seconds)."""
    clock = Clock()
    mm = Matchmaker(MatchmakerConfig(), clock, CountingRouter(), "key")
    fill(mm, count, random.Random(7))
    durations: list[float] = []
    one_slice = mm._slice

    def timed(run) -> None:
        start = time.perf_counter()
        one_slice(run)
        durations.append(time.perf_counter() - start)

    mm._slice = timed  # type: ignore[method-assign]
    done = mm.process()
    clock.advance(0)
    assert done.called
    return len(durations), max(durations)


def _search_only(fill, count: int) -> float:
    """The pass without delivery: searching and forming matches only."""
    mm, _ = _matchmaker()
    fill(mm, count, random.Random(7))
    mm._deliver = lambda slots: None  # type: ignore[method-assign]
    start = time.perf_counter()
    mm.process()
    return time.perf_counter() - start


def run(count: int = 10_000) -> None:
    print(f"One matchmaker pass, {count} tickets (every message encoded and framed, JSON)")
    for name, fill in SCENARIOS.items():
        mm, router = _matchmaker()
        fill(mm, count, random.Random(7))
        waiting, active = len(mm), len(mm.pool.active)
        start = time.perf_counter()
        done = mm.process()
        elapsed = time.perf_counter() - start
        assert done.called
        searching = _search_only(fill, count)
        slices, longest = _sliced(fill, count)
        print(
            f"{name:>15}: {elapsed * 1000:4.0f} ms (searching {searching * 1000:3.0f} ms), "
            f"{waiting} waiting ({active} active), {mm.matched_count} matches, "
            f"{router.sent} players told; {slices} slices, longest {longest * 1000:.0f} ms"
        )


if __name__ == "__main__":
    run(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
