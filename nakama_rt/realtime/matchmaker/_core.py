"""The matchmaker: tickets in, a pass every ``interval_sec``, ``matchmaker_matched`` out."""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import LogLevel
from twisted.python.failure import Failure

from nakama_rt.auth import tokens
from nakama_rt.config import MatchmakerConfig
from nakama_rt.core.matchmaking import ISharedTickets
from nakama_rt.core.refs import TicketData
from nakama_rt.core.router import IRouter
from nakama_rt.logs import Logger
from nakama_rt.query import Query, QueryError, compile_query, index_document
from nakama_rt.runtime.context import ExecutionMode
from nakama_rt.runtime.invoke import invoke

from ._override import MAX_CANDIDATES, MalformedOverride, chosen_groups, find_candidates
from ._pool import TicketPool, query_plan
from ._process import Slot, find_match
from ._ticket import (
    DUPLICATE_SESSION,
    NOT_AVAILABLE,
    QUERY_INVALID,
    TOO_MANY_TICKETS,
    MatchmakerError,
    MatchmakerPresence,
    Ticket,
    TicketNotFound,
    check_counts,
)
from ._wire import matched_envelopes

#: How long a matchmaker token stays valid, as in Nakama.
TOKEN_VALIDITY_SEC = 30


def _uuid4() -> str:
    """``str(uuid.uuid4())``, without the UUID object (a third of the cost)."""
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40
    raw[8] = raw[8] & 0x3F | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


#: Reactor time one slice of a pass may take before yielding to other events.
CHUNK_SECONDS = 0.02


def _spread(ticket: Ticket) -> int:
    return ticket.max_count - ticket.min_count


class _Pass:
    """One pass over the tickets that were active when it started."""

    __slots__ = (
        "candidates",
        "capped",
        "deadline",
        "expired",
        "formed",
        "override",
        "position",
        "snapshot",
        "started",
        "threshold",
        "waiters",
    )

    def __init__(self, snapshot: list[Ticket], started: float, override: Any = None) -> None:
        self.snapshot = snapshot
        self.position = 0
        self.started = started
        self.threshold = False
        self.formed = 0
        self.expired: list[Ticket] = []
        self.waiters: list[Deferred[int]] = []
        #: The runtime's ``matchmaker_override`` when this pass collects candidates.
        self.override = override
        self.candidates: list[list[Slot]] = []
        self.capped = False
        #: The override's time limit while the pass waits for its answer.
        self.deadline: IDelayedCall | None = None


#: How many matched players' times the stats keep (Nakama keeps 10).
COMPLETIONS_KEPT = 10


@dataclass(frozen=True, slots=True)
class MatchmakerStats:
    """``ticket_count``; the oldest ticket's creation (Unix nanoseconds, None without
    tickets); ``completions``: (created, matched) of the last players matched."""

    ticket_count: int
    oldest_ticket_create_time: int | None
    completions: tuple[tuple[int, int], ...]


class Matchmaker:
    """Nakama's local matchmaker on the reactor thread.

    ``runtime`` (optional) supplies ``matchmaker_matched`` and ``matchmaker_override``
    (the registered functions or None), ``context(mode)``, ``logger`` and ``nk``.
    ``chunk_seconds`` bounds how long one slice of a pass holds the reactor (None: a
    pass runs in one go).
    """

    log = Logger()

    def __init__(
        self,
        config: MatchmakerConfig,
        clock: IReactorTime,
        router: IRouter,
        encryption_key: str,
        *,
        node: str = "nakama",
        runtime: Any = None,
        chunk_seconds: float | None = CHUNK_SECONDS,
        timer: Callable[[], float] = time.perf_counter,
        pass_observer: Callable[[float], None] | None = None,
        shared: ISharedTickets | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.router = router
        self.node = node
        self.runtime = runtime
        self.pool = TicketPool()
        self._encryption_key = encryption_key
        self._chunk = chunk_seconds
        self._timer = timer
        self._anchor = clock.seconds()
        self._tick: IDelayedCall | None = None
        self._resume: IDelayedCall | None = None
        self._pass: _Pass | None = None
        self._seq = 0
        self._stopped = False
        #: Matches formed since the start.
        self.matched_count = 0
        #: (ticket created, matched) in Unix nanoseconds for the last players matched,
        #: as Nakama keeps them for its stats.
        self.completions: deque[tuple[int, int]] = deque(maxlen=COMPLETIONS_KEPT)
        #: Called with each finished pass's duration in seconds (for metrics).
        self._pass_observer = pass_observer
        #: The cluster's pool: tickets told and heard, and whether to run the passes.
        self._shared = shared
        if shared is not None:
            shared.listen(self._added_elsewhere, self._removed_elsewhere)

    # Adding and removing tickets

    def add(
        self,
        presences: Sequence[MatchmakerPresence],
        session_id: str,
        party_id: str,
        query: str,
        min_count: int,
        max_count: int,
        count_multiple: int,
        string_properties: Mapping[str, str] | None = None,
        numeric_properties: Mapping[str, float] | None = None,
    ) -> str:
        """Nakama's ``Add``: one ticket for ``presences`` owned by ``session_id`` (a
        solo ticket) or by ``party_id`` (a party ticket, session id ""); its id.
        Raises :class:`MatchmakerError` with Nakama's message."""
        if self._stopped:
            raise MatchmakerError(NOT_AVAILABLE)
        count_multiple = check_counts(min_count, max_count, count_multiple)
        try:
            compiled = compile_query(query)
        except (QueryError, TypeError):
            raise MatchmakerError(QUERY_INVALID) from None
        presences = list(presences)
        session_ids = {p.session_id for p in presences}
        if len(session_ids) != len(presences):
            raise MatchmakerError(DUPLICATE_SESSION)
        limit = self.config.max_tickets
        by_session = self.pool.by_session
        if any(len(by_session.get(sid, ())) >= limit for sid in session_ids):
            raise MatchmakerError(TOO_MANY_TICKETS)
        if party_id and len(self.pool.by_party.get(party_id, ())) >= limit:
            raise MatchmakerError(TOO_MANY_TICKETS)
        ticket = self._ticket(
            TicketData(
                ticket_id=_uuid4(),
                session_id=session_id,
                party_id=party_id,
                presences=tuple((p.user_id, p.session_id, p.username, p.node) for p in presences),
                query=query,
                min_count=min_count,
                max_count=max_count,
                count_multiple=count_multiple,
                string_properties=dict(string_properties or {}),
                numeric_properties={k: float(v) for k, v in (numeric_properties or {}).items()},
                created_at=int(self.clock.seconds() * 1_000_000_000),
            ),
            compiled,
        )
        self.pool.add(ticket)
        if self._shared is not None:
            self._shared.added(ticket.data)
        self._arm()
        return ticket.id

    def _ticket(self, data: TicketData, compiled: Query) -> Ticket:
        """A ticket indexed for the pool."""
        doc = index_document(
            {**data.string_properties, **data.numeric_properties},
            "properties",
            keywords={"ticket": data.ticket_id, "party_id": data.party_id},
            numbers={
                "min_count": data.min_count,
                "max_count": data.max_count,
                "created_at": data.created_at,
            },
        )
        self._seq += 1
        return Ticket(data, query=compiled, plan=query_plan(compiled), seq=self._seq, doc=doc)

    # The other nodes' tickets (a cluster)

    def _added_elsewhere(self, data: TicketData) -> None:
        if self._stopped or data.ticket_id in self.pool.tickets:
            return
        try:
            compiled = compile_query(data.query)
        except (QueryError, TypeError):
            self.log.warn("another node's ticket {ticket} has a bad query", ticket=data.ticket_id)
            return
        self.pool.add(self._ticket(data, compiled))
        self._arm()

    def _removed_elsewhere(self, ticket_ids: list[str]) -> None:
        found = (self.pool.tickets.get(ticket_id) for ticket_id in ticket_ids)
        self._withdraw([ticket for ticket in found if ticket is not None])

    def _withdraw(self, tickets: Iterable[Ticket]) -> None:
        """Take tickets out of the pool, and tell the other nodes."""
        gone = []
        for ticket in tickets:
            self.pool.remove(ticket)
            gone.append(ticket.id)
        if gone and self._shared is not None:
            self._shared.removed(gone)

    def add_party(
        self,
        party_id: str,
        leader_session_id: str,
        presences: Iterable[Any],
        min_count: int,
        max_count: int,
        count_multiple: int,
        query: str,
        string_properties: Mapping[str, str] | None = None,
        numeric_properties: Mapping[str, float] | None = None,
    ) -> str:
        """One ticket for a whole party: every member (objects with ``user_id``,
        ``session_id``, ``username``) counts toward the sizes and is told of the
        match. The ticket belongs to the party, not to the leader's session (as in
        Nakama, ``matchmaker_remove`` from a socket cannot withdraw it)."""
        members = [
            MatchmakerPresence(p.user_id, p.session_id, p.username, self.node) for p in presences
        ]
        return self.add(
            members,
            "",
            party_id,
            query or "*",
            min_count,
            max_count,
            count_multiple,
            string_properties,
            numeric_properties,
        )

    def remove_session(self, session_id: str, ticket_id: str) -> None:
        """Withdraw a session's own solo ticket; :class:`TicketNotFound` otherwise."""
        ticket = self.pool.tickets.get(ticket_id)
        if ticket is None or ticket.party_id or ticket.session_id != session_id:
            raise TicketNotFound()
        self._withdraw([ticket])

    def remove_party(self, party_id: str, ticket_id: str) -> None:
        """Withdraw one of a party's tickets; :class:`TicketNotFound` otherwise."""
        ticket = self.pool.tickets.get(ticket_id)
        if ticket is None or ticket.session_id or ticket.party_id != party_id:
            raise TicketNotFound()
        self._withdraw([ticket])

    def remove_session_all(self, session_id: str) -> None:
        """Withdraw every ticket the session is in, party tickets included (on close)."""
        self._withdraw(list(self.pool.by_session.get(session_id, {}).values()))

    def remove_party_all(self, party_id: str) -> None:
        """Withdraw every ticket of a party."""
        self._withdraw(list(self.pool.by_party.get(party_id, {}).values()))

    def remove(self, ticket_ids: Iterable[str]) -> None:
        """Withdraw tickets by id, whoever owns them; unknown ids are ignored."""
        found = (self.pool.tickets.get(ticket_id) for ticket_id in ticket_ids)
        self._withdraw([ticket for ticket in found if ticket is not None])

    def tickets_of(self, session_id: str) -> list[str]:
        return list(self.pool.by_session.get(session_id, ()))

    def user_ticket_count(self, user_id: str) -> int:
        """The tickets a user is in, its parties' included, on every node of a cluster
        (for ``matchmaker.max_tickets_per_user``)."""
        return len(self.pool.by_user.get(user_id, ()))

    def __len__(self) -> int:
        return len(self.pool)

    # Passes

    def _arm(self) -> None:
        """Schedule the next pass on Nakama's ticker grid (every ``interval_sec`` since
        the matchmaker started), unless one is scheduled or running."""
        if self._stopped or self._tick is not None or self._pass is not None:
            return
        interval = self.config.interval_sec
        now = self.clock.seconds()
        ticks = int((now - self._anchor) // interval) + 1
        self._tick = self.clock.callLater(self._anchor + ticks * interval - now, self._on_tick)

    def _on_tick(self) -> None:
        self._tick = None
        self.process()

    def stop(self) -> None:
        """Stop matching (server shutdown); tickets are kept but no pass runs again."""
        self._stopped = True
        for call in (self._tick, self._resume):
            if call is not None and call.active():
                call.cancel()
        self._tick = self._resume = None

    def process(self) -> Deferred[int]:
        """Run one pass now (or join the one running); fires with the number of
        matches it formed. A pass runs in slices of at most ``chunk_seconds``, with
        the reactor free in between."""
        waiter: Deferred[int] = Deferred()
        if self._pass is not None:
            self._pass.waiters.append(waiter)
            return waiter
        # Narrowest size range first, oldest first among equals (Go's map order is
        # random): a ticket only finds tickets whose range lies within its own, so
        # exact-size tickets pair up among themselves before wider ones search,
        # and those then meet fewer tickets that could never complete their group.
        if self._shared is not None and not self._shared.may_match():
            # Another node runs the cluster's passes; look again at the next tick.
            if self.pool.active:
                self._arm()
            return succeed(0)
        snapshot = sorted(self.pool.active.values(), key=_spread)
        if not snapshot or self._stopped:
            return succeed(0)
        override = getattr(self.runtime, "matchmaker_override", None)
        run = self._pass = _Pass(snapshot, self.clock.seconds(), override)
        run.waiters.append(waiter)
        if override is not None:
            # Nakama's processOverride counts every active ticket's interval first,
            # so a hit's intervals do not depend on where it comes in the pass.
            config = self.config
            for ticket in snapshot:
                ticket.intervals += 1
                if ticket.intervals >= config.max_intervals or ticket.min_count == ticket.max_count:
                    run.expired.append(ticket)
        self._slice(run)
        return waiter

    def _slice(self, run: _Pass) -> None:
        self._resume = None
        config = self.config
        rev_limit = None
        if config.rev_precision and config.rev_threshold > 0:
            rev_limit = config.interval_sec * config.rev_threshold
        deadline = None if self._chunk is None else self._timer() + self._chunk
        snapshot = run.snapshot
        if run.position and self._shared is not None and not self._shared.may_match():
            # The cluster's lease lapsed between slices: another node may run passes
            # now, so this one stops where it is rather than match tickets twice.
            run.position = len(snapshot)
        while run.position < len(snapshot):
            ticket = snapshot[run.position]
            run.position += 1
            if not ticket.live:
                continue  # matched earlier in this pass, or withdrawn
            if rev_limit is not None and not run.threshold:
                # Reverse checks stop once a pass has run this long (Nakama's timer).
                run.threshold = self.clock.seconds() - run.started >= rev_limit
            try:
                if run.override is None:
                    self._search(ticket, run)
                else:
                    self._collect(ticket, run)
            except Exception:
                self.log.failure("matchmaker search for ticket {ticket} failed", ticket=ticket.id)
            if deadline is not None and self._timer() >= deadline:
                break
        if run.position < len(snapshot) and not self._stopped:
            self._resume = self.clock.callLater(0, self._slice, run)
            return
        if run.override is not None and run.candidates and not self._stopped:
            self._overrule(run)
            return
        self._finish(run)

    def _finish(self, run: _Pass) -> None:
        """The pass is over: settle the tickets that stop searching, tell the waiters."""
        for ticket in run.expired:
            if ticket.live:
                self.pool.active.pop(ticket.id, None)
        self._pass = None
        if self._pass_observer is not None:
            self._pass_observer(self.clock.seconds() - run.started)
        if self.pool.active:
            self._arm()
        for waiter in run.waiters:
            waiter.callback(run.formed)

    def _search(self, ticket: Ticket, run: _Pass) -> None:
        """One active ticket's turn: count the interval, search, deliver a match."""
        config = self.config
        ticket.intervals += 1
        last = ticket.intervals >= config.max_intervals or ticket.min_count == ticket.max_count
        if last:
            run.expired.append(ticket)
        hits = self.pool.hits(ticket)
        try:
            found = find_match(
                ticket,
                hits,
                last,
                config.rev_precision and not run.threshold,
                config.max_intervals,
            )
        finally:
            hits.close()
        if found is not None:
            self._form(found, run)

    def _form(self, slots: list[Slot], run: _Pass) -> None:
        """A match: its tickets leave the pool, its players are told."""
        self._withdraw({id(t): t for t, _, _ in slots}.values())
        run.formed += 1
        self.matched_count += 1
        now = int(self.clock.seconds() * 1_000_000_000)
        self.completions.extend((entry.create_time, now) for _, entry, _ in slots)
        self._deliver(slots)

    # A pass with the runtime's matchmaker_override (see ._override)

    def _collect(self, ticket: Ticket, run: _Pass) -> None:
        """One active ticket's turn: every group it could form becomes a candidate
        (its interval was counted when the pass started)."""
        if run.capped:
            return
        hits = self.pool.hits(ticket)
        try:
            found = find_candidates(
                ticket,
                hits,
                self.config.rev_precision and not run.threshold,
                self.config.max_intervals,
                MAX_CANDIDATES - len(run.candidates),
            )
        finally:
            hits.close()
        run.candidates.extend(found)
        if len(run.candidates) >= MAX_CANDIDATES:
            run.capped = True
            self.log.warn(
                "matchmaker override: {limit} candidate matches reached, the tickets still"
                " to search offer none this pass",
                limit=MAX_CANDIDATES,
            )

    def _overrule(self, run: _Pass) -> None:
        """Hand every candidate to the override function once; form what it returns."""
        runtime = self.runtime
        ctx = runtime.context(ExecutionMode.MATCHMAKER_OVERRIDE)
        logger = runtime.logger.with_field("mode", ExecutionMode.MATCHMAKER_OVERRIDE.value)
        entries = [[entry for _, entry, _ in group] for group in run.candidates]
        # A function that never answers must not stall matchmaking for good.
        run.deadline = self._resume = self.clock.callLater(
            self.config.interval_sec, self._override_timed_out, run
        )
        called = invoke(run.override, ctx, logger, runtime.nk, entries)
        called.addCallbacks(
            self._override_answered,
            self._override_failed,
            callbackArgs=(run,),
            errbackArgs=(run,),
        )
        called.addErrback(lambda failure: self.log.failure("matchmaker override failed", failure))

    def _override_pending(self, run: _Pass) -> bool:
        """Whether the pass still waits for this answer (no time-out came first)."""
        deadline = run.deadline
        if deadline is None:
            return False
        run.deadline = None
        if self._resume is deadline:
            self._resume = None
        if deadline.active():
            deadline.cancel()
        return True

    def _override_answered(self, result: Any, run: _Pass) -> None:
        if not self._override_pending(run):
            self.log.warn("matchmaker override answered after its time-out; answer ignored")
            return
        try:
            if self._stopped:
                return
            if self._shared is not None and not self._shared.may_match():
                return  # the cluster's lease lapsed meanwhile: another node matches now
            try:
                chosen = chosen_groups(result, run.candidates)
            except MalformedOverride as problem:
                self.log.error(
                    "matchmaker override returned {problem}; no matches formed this pass",
                    problem=str(problem),
                )
                return
            skipped = 0
            for slots in chosen:
                # As in Nakama: a match whose tickets are no longer all in the pool
                # (matched earlier in this pass, or withdrawn) is not formed.
                if all(ticket.live for ticket, _, _ in slots):
                    self._form(slots, run)
                else:
                    skipped += 1
            if skipped:
                self.log.debug(
                    "matchmaker override: {skipped} of {total} matches not formed, their"
                    " tickets were matched already or withdrawn",
                    skipped=skipped,
                    total=len(chosen),
                )
        finally:
            self._finish(run)

    def _override_failed(self, failure: Failure, run: _Pass) -> None:
        if not self._override_pending(run):
            self.log.warn(
                "matchmaker override failed after its time-out: {error}",
                error=failure.getErrorMessage(),
            )
            return
        self.log.error(
            "matchmaker override raised {kind}: {error}; no matches formed this pass",
            kind=failure.type.__name__ if failure.type is not None else "an error",
            error=failure.getErrorMessage(),
        )
        self.log.failure("matchmaker override traceback", failure, level=LogLevel.debug)
        self._finish(run)

    def _override_timed_out(self, run: _Pass) -> None:
        run.deadline = None
        self._resume = None
        self.log.error(
            "matchmaker override did not answer within {seconds} s; no matches formed this pass",
            seconds=self.config.interval_sec,
        )
        self._finish(run)

    # Delivery

    def _deliver(self, slots: list[Slot]) -> None:
        """Tell the players, at once or once the runtime's function has answered."""
        runtime = self.runtime
        hook = None if runtime is None else runtime.matchmaker_matched
        if hook is None:
            self._send(slots, None)
            return
        entries = [entry for _, entry, _ in slots]
        ctx = runtime.context(ExecutionMode.MATCHMAKER)
        logger = runtime.logger.with_field("mode", "matchmaker")
        called = invoke(hook, ctx, logger, runtime.nk, entries)
        called.addCallbacks(self._hook_result, self._hook_failed)
        called.addCallback(lambda match_id: self._send(slots, match_id))
        called.addErrback(lambda failure: self.log.failure("matchmaker delivery failed", failure))

    def _hook_result(self, result: Any) -> str | None:
        if result is None or result == "":
            return None
        if not isinstance(result, str):
            self.log.error(
                "matchmaker_matched must return a match id or None, not {kind}",
                kind=type(result).__name__,
            )
            return None
        return result

    def _hook_failed(self, failure: Failure) -> None:
        self.log.failure("Error running Matchmaker Matched hook.", failure)
        return None

    def stats(self) -> MatchmakerStats:
        """Nakama's ``MatchmakerStats``: the tickets in the pool (every node's in a
        cluster), the oldest one's creation, and the last players matched here."""
        oldest = min((t.created_at for t in self.pool.tickets.values()), default=None)
        return MatchmakerStats(len(self.pool), oldest, tuple(self.completions))

    def make_token(self) -> str:
        """A token for a fresh relayed match, as Nakama signs it: an HS256 JWT with
        ``exp`` and ``mid``, claims in the sorted order Go's jwt library writes."""
        claims = {"exp": int(self.clock.seconds()) + TOKEN_VALIDITY_SEC, "mid": f"{_uuid4()}."}
        return tokens.sign(claims, self._encryption_key)

    def _send(self, slots: list[Slot], match_id: str | None) -> None:
        """One ``matchmaker_matched`` per player: the same users and token (or match
        id), with the player's own ticket and ``self``."""
        token = "" if match_id else self.make_token()
        envelopes = matched_envelopes(
            [entry.ticket for _, entry, _ in slots],
            [user for _, _, user in slots],
            token,
            match_id or "",
        )
        send = self.router.send_to_session_ids
        for (_, entry, _), envelope in zip(slots, envelopes, strict=True):
            send((entry.presence.session_id,), envelope)
