"""This process as a node of a cluster: its bus, and over it the tracker, router, calls,
match directory and matchmaker pool; and what happens when another node dies."""

from __future__ import annotations

from dataclasses import dataclass

from twisted.internet.interfaces import IReactorTime

from nakama_rt.cluster.bus import PUBLISH_GAP, ClusterBus
from nakama_rt.cluster.calls import ClusterCalls
from nakama_rt.cluster.directory import (
    ClusterDirectory,
    match_directory,
    parked_directory,
    party_directory,
)
from nakama_rt.cluster.matchmaking import ClusterTickets
from nakama_rt.cluster.router import ClusterRouter
from nakama_rt.cluster.tracker import ClusterTracker, HereOnly
from nakama_rt.core.delivery import Delivery
from nakama_rt.core.refs import ListedMatch, ListedParty, ParkedRef
from nakama_rt.core.registry import SessionRegistry
from nakama_rt.core.router import LocalRouter
from nakama_rt.core.tracker import Presence, PresenceStream, StreamMode
from nakama_rt.counters import RealtimeCounts
from nakama_rt.logs import Logger
from nakama_rt.wire.proto import realtime_pb2

log = Logger()

#: Message kinds on the bus: a node's hello (on the all-nodes channel), which every
#: node answers with all it holds of its own, and its goodbye when it stops cleanly.
HELLO = b"S"
BYE = b"B"
#: A hello's body when the node just started (else: it is back from a Redis outage).
STARTED = b"started"


@dataclass(frozen=True)
class ClusterNode:
    bus: ClusterBus
    tracker: ClusterTracker
    router: ClusterRouter
    calls: ClusterCalls
    matches: ClusterDirectory[ListedMatch]
    parties: ClusterDirectory[ListedParty]
    tickets: ClusterTickets
    #: The sessions each node keeps for their dropped sockets (session.resume_grace_ms).
    parked: ClusterDirectory[ParkedRef]
    delivery: Delivery

    @classmethod
    def build(
        cls, name: str, clock: IReactorTime, database: int = 0, gap: float = PUBLISH_GAP
    ) -> ClusterNode:
        """The node's parts, wired, for the cluster on Redis database ``database``,
        publishing to each node at most once a ``gap`` (seconds);
        :meth:`ClusterBus.listen` connects them."""
        bus = ClusterBus(name, clock, database, gap)
        sessions, counts = SessionRegistry(), RealtimeCounts()
        here_only = HereOnly()
        tracker = ClusterTracker(name, bus, here_only)
        local = LocalRouter(sessions, tracker.local, counts)
        router = ClusterRouter(local, tracker, bus, here_only)
        calls = ClusterCalls(bus, clock)
        matches, parties = match_directory(bus), party_directory(bus)
        tickets = ClusterTickets(bus, clock)
        parked = parked_directory(bus)
        delivery = Delivery(
            sessions,
            tracker,
            router,
            counts,
            remote=calls,
            matches=matches,
            parties=parties,
            tickets=tickets,
            parked=parked,
        )
        return cls(bus, tracker, router, calls, matches, parties, tickets, parked, delivery)

    def start(self, live: list[str]) -> None:
        """This node is listening: the ``live`` nodes are its peers (those that start
        later say hello), and it says hello to ask them for what they hold."""
        self.bus.peers.update(node for node in live if node != self.bus.node)
        # Just started: what the others hold of a node of this name is a dead
        # predecessor's, which leaves.
        self.bus.hello(HELLO, STARTED)

    def leave(self) -> None:
        """This node stops: its peers forget it now (calls to it fail at once), not
        when its name expires. Its sockets are closed already, so they were told."""
        self.bus.broadcast(BYE, b"")

    def received(self, kind: bytes, sender: str, body: bytes) -> None:
        """A message from another node: the tracker's, the router's or the calls'."""
        if sender == self.bus.node:
            return  # our own hello, heard on the all-nodes channel
        peers = self.bus.peers
        if kind == BYE:
            self.node_died(sender)
            return
        started = kind == HELLO and body == STARTED
        if started and sender in peers:
            # A node of that name started again: what is held of it is its dead
            # predecessor's (a worker restarted before its name expired).
            self.node_died(sender)
        unknown = sender not in peers
        peers.add(sender)
        if unknown and not started:
            # A node taken for dead (its name missing from Redis a while, as after a
            # Redis restart), or whose hello this one missed: each side may have
            # dropped what it held of the other. Ask it for all it holds (a hello to
            # it alone); it is told all this one holds below.
            self.bus.send(sender, HELLO, b"")
        if kind == HELLO or unknown:
            self._tell_all(sender)
        if kind == HELLO:
            return
        if not (
            self.tracker.received(kind, sender, body)
            or self.router.received(kind, sender, body)
            or self.calls.received(kind, sender, body)
            or self.matches.received(kind, sender, body)
            or self.parties.received(kind, sender, body)
            or self.tickets.received(kind, sender, body)
            or self.parked.received(kind, sender, body)
        ):
            log.warn("unknown cluster message {kind!r} from {sender}", kind=kind, sender=sender)

    def resync(self) -> None:
        """Redis came back: tell everything again (what was published while it was
        gone is lost), and ask the others for theirs."""
        self._tell_all(None)
        self.bus.hello(HELLO, b"")

    def _tell_all(self, node: str | None) -> None:
        """All this node holds of its own, to ``node`` (None: every peer)."""
        self.tracker.tell_all(node)
        self.matches.tell_all(node)
        self.parties.tell_all(node)
        self.tickets.tell_all(node)
        self.parked.tell_all(node)

    def known_nodes(self) -> set[str]:
        """The other nodes to watch for death."""
        return self.bus.peers | self.tracker.nodes()

    def node_died(self, node: str) -> None:
        """``node`` is gone: its calls fail, its presences leave, and the members here of
        its matches and parties hear that those ended, as when they end on a live node."""
        self.bus.peers.discard(node)
        self.calls.node_died(node)
        self.matches.forget(node)
        self.parties.forget(node)
        self.tickets.forget(node)
        self.parked.forget(node)
        orphans = self.tracker.node_died(node)
        local = self.tracker.local
        for stream, members in orphans.items():
            recipients = local.session_ids_by_stream(stream)
            self.router.local.send_to_session_ids(recipients, _ended(stream, members))
        self.tracker.drop_orphans(list(orphans))


def _ended(stream: PresenceStream, members: list[Presence]) -> realtime_pb2.Envelope:
    """What a match's or party's members get when it ends: every member leaves the
    match, the party closes."""
    home_id = f"{stream.subject}.{stream.label}"
    if stream.mode == StreamMode.PARTY:
        return realtime_pb2.Envelope(party_close=realtime_pb2.PartyClose(party_id=home_id))
    event = realtime_pb2.MatchPresenceEvent(
        match_id=home_id,
        leaves=[
            realtime_pb2.UserPresence(
                user_id=p.user_id, session_id=p.session_id, username=p.meta.username
            )
            for p in members
        ],
    )
    return realtime_pb2.Envelope(match_presence_event=event)
