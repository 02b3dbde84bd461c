"""The ticket pool and its search: Nakama's Bluge index, done with small inverted indexes.

For each active ticket Nakama searches the index for tickets its query accepts
whose ``min_count`` is at least its own and ``max_count`` at most its own (and not
of its own party), best score first, oldest first among equal scores. :meth:`hits`
gives exactly that sequence, lazily, so the matching walk can stop as soon as a
match forms:

* Tickets are indexed per (min_count, max_count) bucket, and a search only visits
  the buckets within its own sizes, merged oldest first. Nakama's two range
  clauses on ``min_count``/``max_count`` score 1 each on every hit, so they never
  change the order.
* Within a bucket, candidates come from the cheapest source the query allows: the
  posting list of a required term (``+properties.region:europe``), the slice of a
  numeric index for required ranges (``+properties.rank:>=5 +properties.rank:<=9``,
  intersected), the union of those for a query of optional clauses only, else the
  whole bucket. Every candidate is still checked with the compiled query, so a
  source only has to be a superset. Only ``properties.*`` fields are indexed.
* A query whose score is the same for every ticket it accepts (``*``, or only
  ``+``/``-`` clauses of terms, numbers and ranges: matchmaker properties are
  single-valued, so each such clause scores its constant weight) is walked oldest
  first with no scoring, sorting, or look at the tickets past the match.
* A query with optional clauses of those kinds (up to ``MAX_TIERED_SHOULDS``) has
  few possible scores: it is walked score tier by score tier, best first, each tier
  from the sources of the optional clauses that make it, oldest first within.
* Any other query (wildcards, regexps, fuzzy terms, many optional clauses) is
  scored over its whole source and sorted, as Bluge does.

``tests/test_matchmaker.py`` checks the result against scoring every ticket.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import operator
from bisect import bisect_left, insort
from collections.abc import Generator, Iterable
from typing import Any

from nakama_rt.query import Query
from nakama_rt.query._index import could_be_encoded, float_key
from nakama_rt.query._syntax import (
    MUST,
    SHOULD,
    DateRange,
    Number,
    NumericRange,
    Phrase,
    Term,
)

from ._ticket import Ticket

_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1

#: The fields the inverted indexes hold.
_INDEXED = "properties."

#: Clause kinds that score a constant weight on a single-valued field.
_CONSTANT_KINDS = (Term, Number, NumericRange, DateRange, Phrase)

# A source plan is a tuple: ("term", field, term) | ("range", field, low, high)
# | ("any", (plans...)); None means the whole pool.


def _key_bounds(low: Any, high: Any, low_inclusive: bool, high_inclusive: bool, keyed: bool):
    lo = _INT64_MIN if low is None else (low if keyed else float_key(low))
    hi = _INT64_MAX if high is None else (high if keyed else float_key(high))
    if not low_inclusive and lo != _INT64_MAX:
        lo += 1
    if not high_inclusive and hi != _INT64_MIN:
        hi -= 1
    return lo, hi


def _clause_source(q: Any) -> tuple | None:
    """Where the tickets this clause can match are found, or None (anywhere). Only
    ``properties.*`` fields are indexed."""
    if not q.field.startswith(_INDEXED):
        return None
    if isinstance(q, Term):
        return None if could_be_encoded(q.term) else ("term", q.field, q.term)
    if isinstance(q, NumericRange):
        lo, hi = _key_bounds(q.low, q.high, q.low_inclusive, q.high_inclusive, False)
        return ("range", q.field, lo, hi)
    if isinstance(q, DateRange):
        lo, hi = _key_bounds(q.low, q.high, q.low_inclusive, q.high_inclusive, True)
        return ("range", q.field, lo, hi)
    if isinstance(q, Number) and not could_be_encoded(q.text):
        key = float_key(q.value)
        return ("any", (("term", q.field, q.text), ("range", q.field, key, key)))
    return None


def _weight(q: Any, boost: float | None) -> float:
    """What a constant-kind clause adds to the score of a single-valued hit (the
    engine's rules: a term scores boost squared, a date range 1, the rest boost)."""
    b = 1.0 if boost is None else boost
    if isinstance(q, Term):
        return b * b
    if isinstance(q, DateRange):
        return 1.0
    return b


def _required_sources(sources: list[tuple]) -> list[tuple]:
    """Sources of clauses that must all hold, with ranges on one field intersected."""
    ranges: dict[str, tuple] = {}
    out = []
    for source in sources:
        if source[0] != "range":
            out.append(source)
            continue
        seen = ranges.get(source[1])
        if seen is None:
            ranges[source[1]] = source
        else:
            ranges[source[1]] = (
                "range",
                source[1],
                max(seen[2], source[2]),
                min(seen[3], source[3]),
            )
    return out + list(ranges.values())


#: Optional clauses beyond this many are scored the plain way (all hits, sorted).
MAX_TIERED_SHOULDS = 5


class Plan:
    """How a query's hits are found, worked out once per query text.

    ``sources``: candidate sources any of which holds every hit (None: the pool).
    ``constant``: every hit scores the same, so hits come in creation order.
    ``tiers``: for other queries made of constant-kind clauses, the possible scores,
    best first, each with the candidate sources of the optional clauses that give it.
    """

    __slots__ = ("constant", "sources", "tiers")

    def __init__(self, sources, constant, tiers) -> None:
        self.sources = sources
        self.constant = constant
        self.tiers = tiers


@functools.lru_cache(maxsize=4096)
def query_plan(query: Query) -> Plan:
    clauses = query.clauses
    musts = [c for c in clauses if c.occur == MUST]
    shoulds = [c for c in clauses if c.occur == SHOULD]
    must_sources = [s for s in (_clause_source(c.query) for c in musts) if s is not None]
    required = _required_sources(must_sources)
    sources = list(required)
    if not musts and shoulds:
        parts = [_clause_source(c.query) for c in shoulds]
        if all(p is not None for p in parts):
            sources.append(("any", tuple(parts)))
    constant_kinds = all(isinstance(c.query, _CONSTANT_KINDS) for c in musts + shoulds)
    constant = not shoulds and constant_kinds
    tiers = None
    if shoulds and constant_kinds and len(shoulds) <= MAX_TIERED_SHOULDS:
        tiers = _tiers(musts, shoulds, required)
    return Plan(tuple(sources) or None, constant, tiers)


def _tiers(musts: list, shoulds: list, required: list[tuple]) -> tuple:
    """``((score, (sources per subset of optional clauses...)), ...)``, best first.
    Scores are summed in the engine's order (required, then optional clauses in
    query order) so that they equal what its scorer returns."""
    total = 0.0
    for clause in musts:
        total += _weight(clause.query, clause.boost)
    by_score: dict[float, list[tuple]] = {}
    usable = [c for c in shoulds if not isinstance(c.query, Phrase)]  # phrases never hit
    for size in range(0 if musts else 1, len(usable) + 1):
        for subset in itertools.combinations(usable, size):
            extra = None
            for clause in subset:
                weight = _weight(clause.query, clause.boost)
                extra = weight if extra is None else extra + weight
            score = total if extra is None else total + extra
            own = [_clause_source(c.query) for c in subset]
            options = tuple(required) + tuple(o for o in own if o is not None)
            by_score.setdefault(score, []).append(options)
    return tuple((score, tuple(by_score[score])) for score in sorted(by_score, reverse=True))


class _Index:
    """The inverted indexes of the tickets of one (min_count, max_count) bucket."""

    __slots__ = ("numbers", "postings", "tickets")

    def __init__(self) -> None:
        self.tickets: dict[str, Ticket] = {}
        self.postings: dict[tuple[str, str], dict[str, Ticket]] = {}
        self.numbers: dict[str, list[tuple[int, int, Ticket]]] = {}

    def add(self, ticket: Ticket) -> None:
        tid = ticket.id
        self.tickets[tid] = ticket
        postings = self.postings
        for field, terms in ticket.doc.terms.items():
            if not field.startswith(_INDEXED):
                continue
            for term in terms:
                posting = postings.get((field, term))
                if posting is None:
                    postings[(field, term)] = {tid: ticket}
                else:
                    posting[tid] = ticket
        for field, keys in ticket.doc.numbers.items():
            if field.startswith(_INDEXED):
                column = self.numbers.setdefault(field, [])
                for key in keys:
                    insort(column, (key, ticket.seq, ticket))

    def remove(self, ticket: Ticket) -> None:
        tid = ticket.id
        del self.tickets[tid]
        for field, terms in ticket.doc.terms.items():
            if field.startswith(_INDEXED):
                for term in terms:
                    _discard(self.postings, (field, term), tid)
        for field, keys in ticket.doc.numbers.items():
            column = self.numbers.get(field)
            if column is None:
                continue
            for key in keys:
                at = bisect_left(column, (key, ticket.seq))
                if at < len(column) and column[at][2] is ticket:
                    del column[at]
            if not column:
                del self.numbers[field]

    def _size(self, plan: tuple) -> int:
        kind = plan[0]
        if kind == "term":
            return len(self.postings.get((plan[1], plan[2]), ()))
        if kind == "range":
            column = self.numbers.get(plan[1])
            if not column:
                return 0
            return bisect_left(column, (plan[3] + 1,)) - bisect_left(column, (plan[2],))
        return sum(self._size(p) for p in plan[1])

    def _collect(self, plan: tuple, into: dict[int, Ticket]) -> None:
        kind = plan[0]
        if kind == "term":
            for ticket in self.postings.get((plan[1], plan[2]), {}).values():
                into[ticket.seq] = ticket
        elif kind == "range":
            column = self.numbers.get(plan[1])
            if column:
                start = bisect_left(column, (plan[2],))
                stop = bisect_left(column, (plan[3] + 1,))
                for _, seq, ticket in column[start:stop]:
                    into[seq] = ticket
        else:
            for part in plan[1]:
                self._collect(part, into)

    def source(self, choices: Iterable[Iterable[tuple] | None]) -> Iterable[Ticket]:
        """Candidates, oldest first: the union over ``choices`` of each choice's
        smallest source (a choice with no source means every ticket)."""
        picked = []
        for options in choices:
            best: tuple | None = None
            best_size = len(self.tickets)
            for plan in options or ():
                size = self._size(plan)
                if size < best_size:
                    best, best_size = plan, size
            if best is None:
                return self.tickets.values()
            if best_size:
                picked.append(best)
        if not picked:
            return ()
        if len(picked) == 1:
            only = picked[0]
            if only[0] == "term":
                return self.postings.get((only[1], only[2]), {}).values()
            if only[0] == "range":
                column = self.numbers[only[1]]
                start = bisect_left(column, (only[2],))
                stop = bisect_left(column, (only[3] + 1,))
                return [ticket for _, _, ticket in sorted(column[start:stop], key=_by_seq)]
        found: dict[int, Ticket] = {}
        for plan in picked:
            self._collect(plan, found)
        return [found[seq] for seq in sorted(found)]


def _seq(ticket: Ticket) -> int:
    return ticket.seq


_by_seq = operator.itemgetter(1)


class TicketPool:
    """Every waiting ticket, the active ones, and the indexes searches use, kept
    per (min_count, max_count) so a search only visits the sizes it accepts.
    Reactor thread only; nothing here yields."""

    def __init__(self) -> None:
        #: Ticket id -> ticket, oldest first.
        self.tickets: dict[str, Ticket] = {}
        #: Tickets that still search (fewer than ``max_intervals`` passes), oldest first.
        self.active: dict[str, Ticket] = {}
        #: Session id -> its tickets (as a member of a party ticket too).
        self.by_session: dict[str, dict[str, Ticket]] = {}
        self.by_party: dict[str, dict[str, Ticket]] = {}
        #: User id -> the tickets it is in, over all its sessions and parties.
        self.by_user: dict[str, dict[str, Ticket]] = {}
        self._buckets: dict[tuple[int, int], _Index] = {}

    def __len__(self) -> int:
        return len(self.tickets)

    def add(self, ticket: Ticket) -> None:
        tid = ticket.id
        self.tickets[tid] = ticket
        self.active[tid] = ticket
        for session_id in ticket.session_ids:
            self.by_session.setdefault(session_id, {})[tid] = ticket
        for user_id in ticket.user_ids:
            self.by_user.setdefault(user_id, {})[tid] = ticket
        if ticket.party_id:
            self.by_party.setdefault(ticket.party_id, {})[tid] = ticket
        bucket = (ticket.min_count, ticket.max_count)
        index = self._buckets.get(bucket)
        if index is None:
            index = self._buckets[bucket] = _Index()
        index.add(ticket)

    def remove(self, ticket: Ticket) -> None:
        """Take a ticket out of every index (idempotent)."""
        if not ticket.live:
            return
        ticket.live = False
        tid = ticket.id
        del self.tickets[tid]
        self.active.pop(tid, None)
        for session_id in ticket.session_ids:
            _discard(self.by_session, session_id, tid)
        for user_id in ticket.user_ids:
            _discard(self.by_user, user_id, tid)
        if ticket.party_id:
            _discard(self.by_party, ticket.party_id, tid)
        bucket = (ticket.min_count, ticket.max_count)
        index = self._buckets[bucket]
        index.remove(ticket)
        if not index.tickets:
            del self._buckets[bucket]

    # Search

    def _candidates(self, ticket: Ticket, choices: Iterable) -> Iterable[Ticket]:
        """Candidates from every bucket the ticket accepts, oldest first."""
        low, high = ticket.min_count, ticket.max_count
        sources = [
            index.source(choices)
            for (least, most), index in self._buckets.items()
            if low <= least and most <= high
        ]
        if len(sources) == 1:
            return sources[0]
        return heapq.merge(*sources, key=_seq)

    def hits(self, ticket: Ticket) -> Generator[Ticket, None, None]:
        """Nakama's search results for ``ticket``, in its order, itself excluded.
        Consume it before changing the pool."""
        party = ticket.party_id
        plan: Plan = ticket.plan
        if plan.constant:
            matcher = ticket.query.matcher
            for other in self._candidates(ticket, (plan.sources,)):
                if (
                    other is not ticket
                    and not (party and other.party_id == party)
                    and matcher(other.doc)
                ):
                    yield other
            return
        scorer = ticket.query.scorer
        if plan.tiers is not None:
            # Best score first; within a score, oldest first: tier by tier.
            for score, choices in plan.tiers:
                for other in self._candidates(ticket, choices):
                    if (
                        other is not ticket
                        and not (party and other.party_id == party)
                        and scorer(other.doc) == score
                    ):
                        yield other
            return
        scored = []
        for other in self._candidates(ticket, (plan.sources,)):
            if other is not ticket and not (party and other.party_id == party):
                score = scorer(other.doc)
                if score is not None:
                    scored.append((-score, other.seq, other))
        scored.sort()
        for _, _, other in scored:
            yield other


def _discard(index: dict, key: Any, tid: str) -> None:
    members = index.get(key)
    if members is not None:
        members.pop(tid, None)
        if not members:
            del index[key]
