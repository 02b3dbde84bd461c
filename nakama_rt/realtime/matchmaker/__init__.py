"""The matchmaker: Nakama's ``matchmaker_add`` tickets matched every ``interval_sec``.

A ticket holds one session (``matchmaker_add``) or a whole party (:meth:`Matchmaker.add_party`),
a query in Nakama's (Bluge) syntax over the other tickets' ``properties.*``, and the
match sizes it accepts (``min_count``..``max_count``, a multiple of ``count_multiple``).
Every ``matchmaker.interval_sec`` (on the injected clock, on Nakama's ticker grid) each
ticket still *active* searches the pool and forms a match following Nakama's
``processDefault`` rules (see :mod:`._process`); each matched session is then sent
``matchmaker_matched`` with its own ticket, everyone's presence and properties, and
either a token for a fresh relayed match (an HS256 JWT signed with
``session.encryption_key``: ``mid`` = "<uuid>.", ``exp`` = now + 30 s; ``match_join``
with it joins the relayed match) or, when the runtime's ``matchmaker_matched``
function returns one, a match id.

The runtime function is called as ``matchmaker_matched(ctx, logger, nk, entries)``
once per match (``ctx.execution_mode`` "matchmaker"), with ``entries`` a list of
:class:`MatchmakerEntry` (``ticket``, ``presence`` with ``user_id``/``session_id``/
``username``/``node``, ``properties``, ``party_id``, ``create_time``), searching
ticket last; it may be plain, ``async`` or return a Deferred. A non-empty string
(e.g. from ``nk.match_create``) is sent as ``match_id``; None, "", an error or any
other value falls back to the token (errors are logged), as in Nakama.

With a ``matchmaker_override`` function registered (Nakama's
``RegisterMatchmakerOverride``), a pass forms no match as it searches: each active
ticket offers every group it could form (see :mod:`._override` for which, in what
order), and once all have searched the function is called once,
``matchmaker_override(ctx, logger, nk, candidates)`` (``ctx.execution_mode`` and
the logger field ``mode`` "matchmaker_override", as Nakama's), with ``candidates`` a
list of candidate matches, each a list of :class:`MatchmakerEntry` (the searching
ticket's last; the same tickets may come once per ticket that found them). It
returns the matches to form, in order, each a list of the entries it was given (or
equal ones): each is formed and delivered as above unless one of its tickets was
matched earlier in the pass or left the pool meanwhile, in which case it is
skipped, as in Nakama. Tickets not chosen stay in the pool and search again while
active. Not called in a pass that found no candidates. An answer that is not a list
of such matches (an unknown entry, one entry twice, part of a party ticket), an
error, or no answer within ``interval_sec`` is logged in one line and forms no
match that pass. It may be plain, ``async`` or return a Deferred; the next pass
waits for it.

Rules, as in Nakama 3.x:

* a ticket stays *active* (searching) for ``max_intervals`` passes, or one pass when
  its min and max are equal; until its last active pass it only accepts a full match
  (``max_count``), on the last one it accepts the best group of at least ``min_count``
  it can gather; after that it waits in the pool, found only by other tickets'
  searches, until it is matched or withdrawn;
* a search finds tickets its query accepts whose ``min_count`` is at least its own and
  whose ``max_count`` is at most its own, best score first, then oldest first;
* by default only the searching ticket's query is checked: a ticket may be matched
  with one whose query rejects it. With ``matchmaker.rev_precision`` every pair in the
  match must accept each other. With ``rev_threshold`` > 0 that extra check is
  dropped for the rest of a pass once the pass has run ``interval_sec *
  rev_threshold`` seconds (Nakama's timer, started with each pass), so a slow pass
  still completes;
* a session (or party) holds at most ``max_tickets`` tickets; tickets sharing a
  session never match together, nor two tickets of one party; a session's tickets,
  party tickets it is in included, go when it closes;
* a party ticket (:meth:`Matchmaker.add_party`) belongs to the party: all its members
  count toward the sizes and are all sent ``matchmaker_matched`` (with ``party_id``),
  and only :meth:`Matchmaker.remove_party` / ``remove_party_all`` withdraw it.

Efficiency: the index is a set of small inverted indexes per size bucket (see
:mod:`._pool`), and a search produces its hits lazily in Nakama's order, so it stops
at the first match instead of collecting every hit (``benchmarks/matchmaker.py``
prints the figures: searching 10,000 fresh tickets takes about 0.3 s, delivering the
~10,000 messages of the matches about twice that). A pass never holds the reactor
for long: it runs in slices of about ``CHUNK_SECONDS`` (20 ms; searches until the
slice's time is up, then ``callLater(0)``); a match is delivered as soon as it
forms. Tickets added meanwhile are found by later searches and start searching at
the next pass, tickets withdrawn meanwhile are gone, as with Nakama's concurrently
updated index.

Within a pass, active tickets search narrowest size range first, oldest first among
equals (Go's map order is random, so any order is Nakama's): a ticket only finds
tickets whose range lies within its own, so exact-size tickets pair up among
themselves before wider ones search, and those meet fewer tickets that could never
complete their group.

Differences from Nakama: no custom matchmaker processor function; the override's
candidates are bounded (see :mod:`._override`), its answer is checked and it has a time
limit; Bluge's ``Validate`` of date-range-only queries is not applied; when a count multiple makes
Nakama drop tickets from a group and the group still fails, the group is kept as it
was (Nakama leaves it half-edited).
"""

from ._core import CHUNK_SECONDS, TOKEN_VALIDITY_SEC, Matchmaker, MatchmakerStats
from ._ticket import (
    InvalidCounts,
    MatchmakerEntry,
    MatchmakerError,
    MatchmakerPresence,
    TicketNotFound,
    check_counts,
)

__all__ = [
    "MatchmakerStats",
    "CHUNK_SECONDS",
    "TOKEN_VALIDITY_SEC",
    "InvalidCounts",
    "Matchmaker",
    "MatchmakerEntry",
    "MatchmakerError",
    "MatchmakerPresence",
    "TicketNotFound",
    "check_counts",
]
