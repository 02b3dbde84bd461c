"""The limits on what one client may ask of the server, and what it sees past one.

Nakama has none of these; every one is off (0) unless configured, so a server that
does not set them behaves as before (and as Nakama). The keys:

``socket.max_messages_per_sec`` and ``socket.message_burst`` (:class:`MessageRate`)
    A token bucket per socket: it holds ``message_burst`` messages (0: one second's
    worth) and refills at ``max_messages_per_sec``. A message that finds it empty is
    not processed: it is answered with an ``Error`` (``BAD_INPUT``, the message's
    ``cid``, :func:`rate_message`) at once, ahead of replies still being worked on.
    Refusals have an allowance of their own, a bucket of the same size and rate: a
    client a little over its rate gets most of its messages through and an ``Error``
    for the rest, while one that keeps sending at more than twice its rate runs out
    of refusals too, and the refusal that finds none left is followed by a close with
    1008 and :data:`~nakama_rt.wire.close_reasons.MESSAGE_RATE_EXCEEDED`. After that
    close the socket reads nothing more (a flood's bytes stay in the kernel until the
    close handshake ends, at most ``socket.close_ack_wait_ms`` later). The check costs
    a few float operations per message (:meth:`MessageRate.admit`).
``socket.max_sockets_per_user``
    Counted on the user's notification stream, so over every node of a cluster. The
    socket over the limit opens, is sent an ``Error`` (``BAD_INPUT``, no ``cid``,
    :func:`sockets_message`) and is closed with 1008 and
    :data:`~nakama_rt.wire.close_reasons.TOO_MANY_USER_SOCKETS`; the others stay. (A
    refused upgrade would leave a browser client nothing to log: browsers hide an
    upgrade's HTTP status, not a close frame's reason.) With ``session.single_socket``
    the limit does not apply: the new socket replaces the old ones.
``matchmaker.max_tickets_per_user`` and ``socket.max_party_creations_per_minute``
    A ``matchmaker_add`` that would put the user in more tickets (its own and its
    parties', on every node) and a ``party_create`` over the user's allowance (a
    bucket of that many, refilling over a minute) are refused with ``BAD_INPUT``
    (:func:`tickets_message`, :func:`parties_message`). A session refused by either
    more than :data:`STRIKES_PER_MINUTE` times within a minute (:class:`Strikes`) is
    closed after the ``Error`` of the refusal that went over, with 1008 and
    :data:`~nakama_rt.wire.close_reasons.TICKET_LIMIT_EXCEEDED` or
    :data:`~nakama_rt.wire.close_reasons.PARTY_LIMIT_EXCEEDED`.
``socket.max_upgrades_per_sec_per_address`` and ``socket.max_concurrent_upgrades_per_address``
    HTTP: see :mod:`nakama_rt.web.limits` and :mod:`nakama_rt.web.resources` (429).

Every refusal is counted by its limit (``RealtimeCounts.limit_refusals``, the
``nakama_rt_limit_refusals_total{limit=...}`` metric) and every close by its reason
class (``nakama_rt_socket_closes_total{code="1008",reason=...}``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime

from nakama_rt.config import Config, SocketConfig
from nakama_rt.core.pipeline import Answer, ErrorCode, Handler, LimitExceeded, Requester
from nakama_rt.core.registry import LiveSession
from nakama_rt.core.tracker import ITracker, PresenceStream, StreamMode
from nakama_rt.counters import RealtimeCounts
from nakama_rt.wire.close_reasons import (
    CLOSE_POLICY_VIOLATION,
    PARTY_LIMIT_EXCEEDED,
    TICKET_LIMIT_EXCEEDED,
    TOO_MANY_USER_SOCKETS,
)
from nakama_rt.wire.codec import OutgoingEnvelope
from nakama_rt.wire.proto import realtime_pb2

#: What a handler returns (see :data:`~nakama_rt.core.pipeline.Handler`).
HandlerResult = Answer | Deferred[Any]

#: The ``limit`` label of each limit's refusals.
MESSAGE_RATE = "message_rate"
USER_SOCKETS = "user_sockets"
MATCHMAKER_TICKETS = "matchmaker_tickets"
PARTY_CREATIONS = "party_creations"
UPGRADE_RATE = "upgrade_rate"
CONCURRENT_UPGRADES = "concurrent_upgrades"

#: Refusals by a per-request limit a session may have within a minute; the next one
#: closes it.
STRIKES_PER_MINUTE = 5

#: A whole token, give or take float rounding (a client sending exactly at its rate
#: gains 0.999... tokens between messages).
_ONE = 1.0 - 1e-9


def rate_message(rate: float, burst: float) -> str:
    return (
        f"Message rate limit exceeded: at most {rate:g} messages a second, "
        f"in bursts of {burst:g}; this message was not processed"
    )


def sockets_message(limit: int) -> str:
    return f"Too many sockets for this user: at most {limit} at once"


def tickets_message(limit: int) -> str:
    return f"Too many matchmaker tickets for this user: at most {limit} at once"


def parties_message(limit: int) -> str:
    return f"Too many parties created: at most {limit} a minute"


class MessageRate:
    """One socket's message allowance (see the module): :meth:`admit` for each
    message, and :meth:`refusal_allowed` for each message it refused."""

    __slots__ = ("at", "burst", "message", "rate", "refusals", "refused_at", "tokens")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a message rate needs a rate above 0 and a burst of 1 or more")
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.at = now
        self.refusals = burst
        self.refused_at = now
        #: The Error's message for a refused message.
        self.message = rate_message(rate, burst)

    @classmethod
    def for_socket(cls, config: SocketConfig, now: float) -> MessageRate | None:
        """A new socket's allowance, or None when ``socket.max_messages_per_sec`` is 0."""
        rate = config.max_messages_per_sec
        if not rate:
            return None
        return cls(rate, config.message_burst or rate, now)

    def admit(self, now: float) -> bool:
        """Whether a message arriving ``now`` may be processed (takes a token if so)."""
        tokens = self.tokens + (now - self.at) * self.rate
        self.at = now
        if tokens >= _ONE:
            self.tokens = (self.burst if tokens > self.burst else tokens) - 1.0
            return True
        self.tokens = tokens
        return False

    def refusal_allowed(self, now: float) -> bool:
        """Whether one more refusal keeps the socket open; False: close it."""
        refusals = self.refusals + (now - self.refused_at) * self.rate
        self.refused_at = now
        if refusals > self.burst:
            refusals = self.burst
        if refusals >= _ONE:
            self.refusals = refusals - 1.0
            return True
        self.refusals = refusals
        return False


class KeyedRate:
    """Token buckets by key (a user, a session, an address), all of one size and
    rate: :meth:`take` says whether the key has a token left now and takes it.

    A bucket that has filled up again is the same as none: they are swept away once
    the table doubles, so a key costs memory only while it is below full.
    """

    __slots__ = ("_clock", "_levels", "_sweep_at", "burst", "rate")

    #: The table is not swept below this many keys.
    SWEEP_FLOOR = 1024

    def __init__(self, clock: IReactorTime, rate: float, burst: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a rate needs a rate above 0 and a burst of 1 or more")
        self._clock = clock
        self.rate = rate
        self.burst = burst
        #: key -> (tokens, when they were counted)
        self._levels: dict[str, tuple[float, float]] = {}
        self._sweep_at = self.SWEEP_FLOOR

    @classmethod
    def per_minute(cls, clock: IReactorTime, count: int) -> KeyedRate | None:
        """``count`` a minute, all at once if wanted; None for 0 (no limit)."""
        return cls(clock, count / 60.0, count) if count else None

    def take(self, key: str) -> bool:
        now = self._clock.seconds()
        levels = self._levels
        level = levels.get(key)
        if level is None:
            tokens = self.burst
        else:
            tokens = level[0] + (now - level[1]) * self.rate
            if tokens > self.burst:
                tokens = self.burst
        if tokens < _ONE:
            levels[key] = (tokens, now)
            return False
        levels[key] = (tokens - 1.0, now)
        if len(levels) >= self._sweep_at:
            self._sweep(now)
        return True

    def _sweep(self, now: float) -> None:
        rate, burst = self.rate, self.burst
        self._levels = {
            key: (tokens, at)
            for key, (tokens, at) in self._levels.items()
            if tokens + (now - at) * rate < burst
        }
        self._sweep_at = max(self.SWEEP_FLOOR, 2 * len(self._levels))

    def __len__(self) -> int:
        return len(self._levels)


class Strikes:
    """How often each session was refused by a per-request limit: the refusal past
    :data:`STRIKES_PER_MINUTE` within a minute closes the socket (after its Error)."""

    def __init__(self, clock: IReactorTime) -> None:
        self._strikes = KeyedRate(clock, STRIKES_PER_MINUTE / 60.0, STRIKES_PER_MINUTE)

    def refusal(
        self, session_id: str, limit: str, message: str, close_reason: str
    ) -> LimitExceeded:
        """The refusal for the handler to raise: one that also closes the session
        with ``close_reason`` once it has no strike left."""
        closes = not self._strikes.take(session_id)
        return LimitExceeded(limit, message, close_reason if closes else "")


def refuse_extra_socket(
    session: LiveSession, tracker: ITracker, config: Config, counts: RealtimeCounts
) -> bool:
    """Whether a socket just opening is one too many for its user
    (``socket.max_sockets_per_user``, counted on every node). If so it has been sent
    the ``Error`` and is closing with 1008; it must not be set up."""
    limit = config.socket.max_sockets_per_user
    if not limit or config.session.single_socket:
        return False
    stream = PresenceStream(StreamMode.NOTIFICATIONS, session.user_id)
    if len(tracker.session_ids_by_stream(stream)) < limit:
        return False
    counts.limit_refusals[USER_SOCKETS] += 1
    counts.errors[ErrorCode.BAD_INPUT] += 1
    error = realtime_pb2.Error(code=ErrorCode.BAD_INPUT, message=sockets_message(limit))
    session.send_reply(OutgoingEnvelope(realtime_pb2.Envelope(error=error)))
    session.close(TOO_MANY_USER_SOCKETS, CLOSE_POLICY_VIOLATION)
    return True


def with_limits(
    handlers: Mapping[str, Handler],
    config: Config,
    clock: IReactorTime,
    user_tickets: Callable[[str], int],
) -> dict[str, Handler]:
    """The dispatch table with the per-request limits in front of their handlers:
    ``matchmaker_add`` (``matchmaker.max_tickets_per_user``; ``user_tickets`` counts
    the tickets a user is in) and ``party_create``
    (``socket.max_party_creations_per_minute``). A limit that is off adds nothing."""
    limited = dict(handlers)
    strikes = Strikes(clock)
    tickets = config.matchmaker.max_tickets_per_user
    if tickets and "matchmaker_add" in limited:
        limited["matchmaker_add"] = _ticket_limited(
            limited["matchmaker_add"], tickets, user_tickets, strikes
        )
    creations = config.socket.max_party_creations_per_minute
    rate = KeyedRate.per_minute(clock, creations)
    if rate is not None and "party_create" in limited:
        limited["party_create"] = _party_limited(limited["party_create"], rate, creations, strikes)
    return limited


def _ticket_limited(
    handler: Handler, limit: int, user_tickets: Callable[[str], int], strikes: Strikes
) -> Handler:
    message = tickets_message(limit)

    def matchmaker_add(envelope: realtime_pb2.Envelope, requester: Requester) -> HandlerResult:
        if user_tickets(requester.user_id) >= limit:
            raise strikes.refusal(
                requester.session_id, MATCHMAKER_TICKETS, message, TICKET_LIMIT_EXCEEDED
            )
        return handler(envelope, requester)

    return matchmaker_add


def _party_limited(handler: Handler, rate: KeyedRate, limit: int, strikes: Strikes) -> Handler:
    message = parties_message(limit)

    def party_create(envelope: realtime_pb2.Envelope, requester: Requester) -> HandlerResult:
        # Every request takes its token, whether the party is then made or refused.
        if not rate.take(requester.user_id):
            raise strikes.refusal(
                requester.session_id, PARTY_CREATIONS, message, PARTY_LIMIT_EXCEEDED
            )
        return handler(envelope, requester)

    return party_create
