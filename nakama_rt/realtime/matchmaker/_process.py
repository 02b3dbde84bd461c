"""One active ticket's turn in a pass: Nakama's ``processDefault`` walk over its hits.

The hits come best first (see :meth:`TicketPool.hits`). Each hit joins the first
candidate group it fits (room left, no shared session, and, with reverse precision,
mutual acceptance with every ticket already in that group) or starts a new one. A
group is a match when, with the searching ticket, it reaches that ticket's
``max_count``; or, on the ticket's last interval, when the last hit has been placed
and the group is within its min/max. Before it is accepted the size must be a
multiple of ``count_multiple`` (Nakama drops the smallest set of whole tickets that
fixes it) and within every member ticket's own min, max and multiple.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ._ticket import MatchmakerEntry, Ticket

#: (ticket, entry, wire user): one player of a candidate group.
Slot = tuple[Ticket, MatchmakerEntry, Any]

#: Enough alternatives to choose which tickets to drop for a count multiple;
#: Nakama enumerates them all, which only explodes for absurd multiples.
MAX_GROUPS = 4096


def group_tickets(tickets: list[Ticket], required: int, out: list | None = None) -> list:
    """Nakama's ``groupIndexes``: every subset of ``tickets`` (in its recursion order)
    whose player counts add up to ``required``, each with Go's running integer
    average of ``created_at``."""
    results: list[tuple[list[Ticket], int]] = [] if out is None else out
    if not tickets or required <= 0 or len(results) >= MAX_GROUPS:
        return results
    current, others = tickets[0], tickets[1:]
    if current.count > required:
        return group_tickets(others, required, results)
    if current.count == required:
        results.append(([current], current.created_at))
    else:
        for members, average in group_tickets(others, required - current.count):
            n = len(members)
            total = average * n + current.created_at
            # Go's int64 division truncates toward zero.
            average = abs(total) // (n + 1) * (1 if total >= 0 else -1)
            results.append((members + [current], average))
    return group_tickets(others, required, results)


def _fix_multiple(combo: list[Slot], rem: int) -> list[Slot] | None:
    """The combo without the tickets Nakama drops to reach a count multiple."""
    eligible: dict[str, Ticket] = {}
    for ticket, _, _ in combo:
        if ticket.count <= rem:
            eligible.setdefault(ticket.id, ticket)
    groups = group_tickets(list(eligible.values()), rem)
    if not groups:
        return None
    # sort.Slice by average creation time; the first group is removed.
    drop = min(groups, key=lambda group: group[1])[0]
    fixed = list(combo)
    for dropped in drop:
        i = 0
        while i < len(fixed):
            if fixed[i][0] is dropped:  # Go's swap-remove, order included
                fixed[i] = fixed[-1]
                fixed.pop()
            else:
                i += 1
    return fixed


class _Peekable:
    """The hits, with a look at the next one only when asked (it may cost a scan)."""

    __slots__ = ("_hits", "_next")

    def __init__(self, hits: Iterator[Ticket]) -> None:
        self._hits = hits
        self._next: Ticket | None = None

    def __iter__(self) -> _Peekable:
        return self

    def __next__(self) -> Ticket:
        upcoming = self._next
        if upcoming is not None:
            self._next = None
            return upcoming
        return next(self._hits)

    def exhausted(self) -> bool:
        if self._next is None:
            self._next = next(self._hits, None)
        return self._next is None


def find_match(
    ticket: Ticket,
    hits: Iterator[Ticket],
    last_interval: bool,
    rev_precision: bool,
    max_intervals: int,
) -> list[Slot] | None:
    """The players matched with ``ticket`` (its own last), or None.

    Only the groups that can still take a one-player hit are kept: a group never
    shrinks, so a full one could never take another hit. The hit after the current
    one is looked for only when "was that the last hit" decides a match."""
    open_combos: list[list[Slot]] = []
    own_sessions = ticket.session_ids
    own_count, max_count = ticket.count, ticket.max_count
    room = max_count - own_count  # players a group may hold
    hits = _Peekable(hits)
    for hit in hits:
        if rev_precision and not hit.query.matcher(ticket.doc):
            continue  # the hit's query does not accept the searching ticket
        if max_count < hit.max_count and hit.intervals <= max_intervals:
            continue  # the hit can still wait for a bigger match
        hit_sessions = hit.session_ids
        if not own_sessions.isdisjoint(hit_sessions):
            continue
        # As in Nakama, one session conflict keeps the hit out of every later group.
        session_conflict = False
        found: list[Slot] | None = None
        for at, combo in enumerate(open_combos):
            if len(combo) + hit.count > room:
                continue
            mutual_conflict = False
            for member, entry, _ in combo:
                if entry.presence.session_id in hit_sessions:
                    session_conflict = True
                    break
                if rev_precision and not (
                    hit.query.matcher(member.doc) and member.query.matcher(hit.doc)
                ):
                    mutual_conflict = True
                    break
            if session_conflict or mutual_conflict:
                continue
            combo.extend(hit.slots)
            found = combo
            if len(combo) >= room:
                del open_combos[at]
            break
        if found is None:
            found = list(hit.slots)
            if len(found) < room:
                open_combos.append(found)
        size = len(found) + own_count
        if not (
            size == max_count
            or (
                last_interval
                and ticket.min_count <= size <= max_count
                and hits.exhausted()  # the last hit
            )
        ):
            continue
        candidate = found
        rem = size % ticket.count_multiple
        if rem:
            fixed = _fix_multiple(found, rem)
            if fixed is None:
                continue
            candidate = fixed
            size = len(candidate) + own_count
            if size % ticket.count_multiple:
                continue
        if any(
            member.min_count > size or member.max_count < size or size % member.count_multiple
            for member, _, _ in candidate
        ):
            continue
        return candidate + list(ticket.slots)
    return None
