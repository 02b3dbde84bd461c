"""The matchmaker's pool across the cluster (:class:`~nakama_rt.core.matchmaking.ISharedTickets`).

Every node tells the others the tickets added and withdrawn on it (batched per reactor
turn by the bus, like presences), answers a newcomer's hello and a Redis comeback with
all of its own, and forgets a dead node's: so every node holds the whole pool, and a
player's ``max_tickets`` counts across the cluster.

One node runs the passes for the whole cluster: the holder of a lease in Redis
(``nakama-rt:<db>:matchmaker``, set only if absent, for three matchmaker intervals,
renewed every interval by its holder alone, atomically). Every node tries each
interval, so when the holder dies another takes over within three intervals; the
holder tells everyone the tickets its passes matched, and its ``matchmaker_matched``
reaches each player on their node through the router. While Redis is away no node
can renew the lease, and no pass runs until it is back.
"""

from __future__ import annotations

import dataclasses

import orjson
from twisted.application.internet import TimerService
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure
from zope.interface import implementer

from nakama_rt.cluster.bus import ClusterBus
from nakama_rt.cluster.redis import RedisConnection
from nakama_rt.core.matchmaking import ISharedTickets, OnAdded, OnRemoved
from nakama_rt.core.refs import TicketData
from nakama_rt.logs import Logger

#: The message kind on the bus.
TICKETS = b"K"

#: Renew the lease only while this node holds it (a holder that lost it to expiry
#: must not extend another node's).
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""

_FIELDS = [field.name for field in dataclasses.fields(TicketData)]


def _encode(ticket: TicketData) -> list[object]:
    return ["+", *(getattr(ticket, name) for name in _FIELDS)]


def _decode(op: list) -> TicketData:
    values = dict(zip(_FIELDS, op[1:], strict=True))
    values["presences"] = tuple(tuple(p) for p in values["presences"])
    return TicketData(**values)


@implementer(ISharedTickets)
class ClusterTickets:
    """Reactor thread only."""

    log = Logger()

    def __init__(self, bus: ClusterBus, clock: IReactorTime) -> None:
        self._bus = bus
        self._clock = clock
        self._own: dict[str, TicketData] = {}
        #: The other nodes' tickets: node -> ticket ids.
        self._theirs: dict[str, set[str]] = {}
        self._on_added: OnAdded | None = None
        self._on_removed: OnRemoved | None = None
        #: Until when this node may run passes (its last renewal, plus a margin).
        self._held_until = 0.0
        self._failing = False
        self.lease_key = bus.key(b"matchmaker")

    # ISharedTickets

    def listen(self, on_added: OnAdded, on_removed: OnRemoved) -> None:
        self._on_added, self._on_removed = on_added, on_removed

    def added(self, ticket: TicketData) -> None:
        self._own[ticket.ticket_id] = ticket
        self._bus.broadcast(TICKETS, orjson.dumps([_encode(ticket)]))

    def removed(self, ticket_ids: list[str]) -> None:
        for ticket_id in ticket_ids:
            self._own.pop(ticket_id, None)
            for held in self._theirs.values():
                held.discard(ticket_id)  # another node's, matched by this one's pass
        self._bus.broadcast(TICKETS, orjson.dumps([["-", *ticket_ids]]))

    def may_match(self) -> bool:
        return self._clock.seconds() < self._held_until

    # The lease

    def renew(self, redis: RedisConnection, ttl_sec: float) -> Deferred[None]:
        """Take the lease if nobody holds it, or keep it if this node does."""
        node, ttl_ms = self._bus.node.encode(), int(ttl_sec * 1000)
        asked_at = self._clock.seconds()

        def taken(reply: object) -> Deferred[object] | object:
            if reply:  # SET NX answered OK: it was free, and is ours
                return 1
            return redis.eval(_RENEW, [self.lease_key], [node, ttl_ms])

        def held(result: object) -> None:
            self._failing = False
            # Ours for ttl from when it was asked; a margin for clocks and delays.
            self._held_until = asked_at + ttl_sec / 2 if result == 1 else 0.0

        renewing = redis.set(self.lease_key, node, pexpire=ttl_ms, only_if_not_exists=True)
        renewing.addCallback(taken)
        renewing.addCallbacks(held, self._renew_failed)
        return renewing

    def _renew_failed(self, failure: Failure) -> None:
        self._held_until = 0.0
        if not self._failing:
            self._failing = True
            self.log.warn(
                "matchmaker lease: {why} (no pass runs until Redis answers)",
                why=failure.getErrorMessage(),
            )

    # The bus

    def tell_all(self, node: str | None = None) -> None:
        """Every ticket of this node, replacing what ``node`` (None: every peer) holds."""
        ops = orjson.dumps([["="], *(_encode(t) for t in self._own.values())])
        self._bus.send_or_broadcast(node, TICKETS, ops)

    def forget(self, node: str) -> None:
        """``node`` died: its tickets leave the pool."""
        gone = self._theirs.pop(node, set())
        if gone and self._on_removed is not None:
            self._on_removed(sorted(gone))

    def received(self, kind: bytes, sender: str, body: bytes) -> bool:
        if kind != TICKETS:
            return False
        theirs = self._theirs.setdefault(sender, set())
        for op in orjson.loads(body):
            if op[0] == "+":
                ticket = _decode(op)
                theirs.add(ticket.ticket_id)
                if self._on_added is not None:
                    self._on_added(ticket)
            elif op[0] == "-":
                self._forget_ids(theirs, op[1:])
            elif op[0] == "=":
                self._forget_ids(theirs, list(theirs))
        if not theirs:
            del self._theirs[sender]
        return True

    def _forget_ids(self, theirs: set[str], ticket_ids: list[str]) -> None:
        """Tickets left the pool: the sender's own, or any matched by the lease holder."""
        for ticket_id in ticket_ids:
            theirs.discard(ticket_id)
            self._own.pop(ticket_id, None)
            for held in self._theirs.values():
                held.discard(ticket_id)
        if ticket_ids and self._on_removed is not None:
            self._on_removed(list(ticket_ids))


class LeaseService(TimerService):
    """Renews the matchmaker lease every ``interval_sec`` on ``clock``."""

    def __init__(
        self, tickets: ClusterTickets, redis: RedisConnection, interval_sec: float, clock
    ) -> None:
        super().__init__(interval_sec, tickets.renew, redis, interval_sec * 3)
        self.clock = clock  # TimerService's own attribute for the clock its loop runs on
