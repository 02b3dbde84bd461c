"""A pass with the runtime's ``matchmaker_override``: every candidate, then its choice.

Nakama's ``processOverride``: instead of forming the first match it finds, each
active ticket offers *every* group it could form, and the override function picks
and orders the ones to form. :func:`find_candidates` gives one ticket's groups, in
Nakama's order; :func:`chosen_groups` reads the function's answer back into the
pass's players, or raises :class:`MalformedOverride` naming what is wrong with it.

A ticket's groups are the subsets of its hits (best hit first, as the search gives
them) in Nakama's ``combineIndexes`` order, that of counting in binary with the
first hit as the lowest bit, kept when, with the searching ticket:

* the size is within the searching ticket's min/max and a multiple of its
  ``count_multiple`` (no ticket is dropped to reach a multiple, as the default
  pass does; a group of the wrong size is simply not offered);
* the size is within every hit's own min/max and a multiple of its own multiple,
  and below a hit's ``max_count`` only once that hit has waited more than
  ``max_intervals`` passes;
* no two tickets share a session and, with reverse precision (until the pass's
  ``rev_threshold``), every two tickets accept each other; a hit must accept the
  searching ticket, and one whose ``max_count`` is above the searching ticket's
  is left out while it can still wait.

Unlike the default pass, the searching ticket itself does not wait for a full
match before its last interval: every group within its sizes is a candidate.
Each group lists the hits' players first, then the searching ticket's. The same
tickets may be offered several times, once per active ticket that found them.

Nakama enumerates every subset (which it cannot finish beyond a few dozen hits);
here one ticket looks at no more than :data:`MAX_SUBSETS` of them and a pass
offers no more than :data:`MAX_CANDIDATES` groups.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ._process import Slot
from ._ticket import MatchmakerEntry, Ticket

#: Subsets of its hits one ticket looks at, at most (Nakama has no such bound).
MAX_SUBSETS = 4096

#: Candidate groups one pass offers the override function, at most.
MAX_CANDIDATES = 50_000


class MalformedOverride(ValueError):
    """The override function's answer is not a list of matches of the pass's entries."""


def find_candidates(
    ticket: Ticket,
    hits: Iterator[Ticket],
    rev_precision: bool,
    max_intervals: int,
    limit: int = MAX_CANDIDATES,
) -> list[list[Slot]]:
    """Every group ``ticket`` could form with its hits (its own players last), in
    Nakama's order, at most ``limit`` of them."""
    own_sessions = ticket.session_ids
    own_count = ticket.count
    room = ticket.max_count - own_count  # players the hits may bring
    found: list[list[Slot]] = []
    if room <= 0 or limit <= 0:
        return found
    # The subsets seen so far that may still take another hit, in binary order:
    # (tickets, players, sessions).
    growing: list[tuple[list[Ticket], int, frozenset[str]]] = []
    examined = 0
    for hit in hits:
        if rev_precision and not hit.query.matcher(ticket.doc):
            continue  # the hit's query does not accept the searching ticket
        if ticket.max_count < hit.max_count and hit.intervals <= max_intervals:
            continue  # the hit can still wait for a bigger match
        hit_sessions = hit.session_ids
        if hit.count > room or not own_sessions.isdisjoint(hit_sessions):
            continue
        # The subsets with this hit as their highest bit: itself, then each earlier
        # subset plus itself, in that subset's order. A subset with a shared session
        # or a mutual refusal is never extended: no superset of it could be formed.
        added: list[tuple[list[Ticket], int, frozenset[str]]] = [([hit], hit.count, hit_sessions)]
        for members, players, sessions in growing:
            if players + hit.count > room or not sessions.isdisjoint(hit_sessions):
                continue
            if rev_precision and not all(
                hit.query.matcher(member.doc) and member.query.matcher(hit.doc)
                for member in members
            ):
                continue
            added.append((members + [hit], players + hit.count, sessions | hit_sessions))
        for members, players, _ in added:
            examined += 1
            if _acceptable(ticket, members, players + own_count, max_intervals):
                group = [slot for member in members for slot in member.slots]
                group.extend(ticket.slots)
                found.append(group)
                if len(found) >= limit:
                    return found
            if examined >= MAX_SUBSETS:
                return found
        growing.extend(added)
    return found


def _acceptable(ticket: Ticket, members: list[Ticket], size: int, max_intervals: int) -> bool:
    if size < ticket.min_count or size > ticket.max_count or size % ticket.count_multiple:
        return False
    for member in members:
        if member.min_count > size or member.max_count < size or size % member.count_multiple:
            return False
        if size < member.max_count and member.intervals <= max_intervals:
            return False  # this hit can still wait for its full match
    return True


def _kind(value: Any) -> str:
    return "None" if value is None else f"a {type(value).__name__}"


def chosen_groups(result: Any, candidates: list[list[Slot]]) -> list[list[Slot]]:
    """The matches the override function chose, as the pass's players, in its order.

    Each match must be a list of entries given to the function in ``candidates`` (the
    same objects or equal ones), no entry twice, and every player of each ticket it
    names. Whether the tickets are still free to match is left to the caller."""
    if not isinstance(result, list | tuple):
        raise MalformedOverride(f"{_kind(result)} instead of a list of matches")
    known: dict[tuple[str, Any], Slot] = {}
    for offered in candidates:
        for player in offered:
            given = player[1]
            known.setdefault((given.ticket, given.presence.session_id), player)
    chosen: list[list[Slot]] = []
    for at, group in enumerate(result):
        if not isinstance(group, list | tuple):
            raise MalformedOverride(f"match {at} is {_kind(group)}, not a list of entries")
        if not group:
            raise MalformedOverride(f"match {at} is empty")
        slots: list[Slot] = []
        seen: set[tuple[str, Any]] = set()
        players: dict[str, int] = {}
        for entry in group:
            if not isinstance(entry, MatchmakerEntry):
                raise MalformedOverride(f"match {at} holds {_kind(entry)}, not a MatchmakerEntry")
            key = (entry.ticket, getattr(entry.presence, "session_id", None))
            slot = known.get(key)
            if slot is None or (slot[1] is not entry and slot[1] != entry):
                raise MalformedOverride(
                    f"match {at} holds an entry of ticket {entry.ticket!r} that was not a candidate"
                )
            if key in seen:
                raise MalformedOverride(f"match {at} holds an entry of ticket {entry.ticket} twice")
            seen.add(key)
            slots.append(slot)
            players[entry.ticket] = players.get(entry.ticket, 0) + 1
        for ticket, _, _ in slots:
            if players[ticket.id] != ticket.count:
                raise MalformedOverride(
                    f"match {at} holds {players[ticket.id]} of the {ticket.count} players"
                    f" of ticket {ticket.id}"
                )
        chosen.append(slots)
    return chosen
