"""This process as a node of a cluster: its bus, the tracker, router and calls over it,
and what happens when another node dies."""

from __future__ import annotations

from dataclasses import dataclass, field

from twisted.internet.interfaces import IReactorTime

from nakama_rt.cluster.bus import ClusterBus
from nakama_rt.cluster.calls import ClusterCalls
from nakama_rt.cluster.router import ClusterRouter
from nakama_rt.cluster.tracker import STARTED, SYNC, ClusterTracker
from nakama_rt.core.delivery import Delivery
from nakama_rt.core.registry import SessionRegistry
from nakama_rt.core.router import LocalRouter
from nakama_rt.core.tracker import Presence, PresenceStream, StreamMode
from nakama_rt.counters import RealtimeCounts
from nakama_rt.logs import Logger
from nakama_rt.wire.proto import realtime_pb2

log = Logger()


@dataclass(frozen=True)
class ClusterNode:
    bus: ClusterBus
    tracker: ClusterTracker
    router: ClusterRouter
    calls: ClusterCalls
    delivery: Delivery
    #: Every other node this one heard from and has not found dead since.
    heard: set[str] = field(default_factory=set)

    @classmethod
    def build(cls, name: str, clock: IReactorTime) -> ClusterNode:
        """The node's parts, wired; :meth:`ClusterBus.listen` connects them."""
        bus = ClusterBus(name, clock)
        sessions, counts = SessionRegistry(), RealtimeCounts()
        tracker = ClusterTracker(name, bus)
        router = ClusterRouter(LocalRouter(sessions, tracker.local, counts), tracker, bus)
        calls = ClusterCalls(bus, clock)
        delivery = Delivery(sessions, tracker, router, counts, remote=calls)
        return cls(bus, tracker, router, calls, delivery)

    def received(self, kind: bytes, sender: str, body: bytes) -> None:
        """A message from another node: the tracker's, the router's or the calls'."""
        if sender == self.bus.node:
            return  # our own, heard on the all-nodes channel
        if kind == SYNC and body == STARTED and sender in self.heard:
            # A node of that name started again: what is held of it is its dead
            # predecessor's (a worker restarted before its name expired).
            self.node_died(sender, self.heard - {sender})
        if sender not in self.heard:
            self.heard.add(sender)
            self.calls.heard_from(sender)
        if not (
            self.tracker.received(kind, sender, body)
            or self.router.received(kind, sender, body)
            or self.calls.received(kind, sender, body)
        ):
            log.warn("unknown cluster message {kind!r} from {sender}", kind=kind, sender=sender)

    def known_nodes(self) -> set[str]:
        """The other nodes to watch for death."""
        return self.heard | self.tracker.nodes()

    def node_died(self, node: str, live: set[str]) -> None:
        """``node`` is gone: its calls fail, its presences leave, and the members here of
        its matches and parties hear that those ended, as when they end on a live node."""
        self.heard.discard(node)
        self.calls.node_died(node)
        orphans = self.tracker.node_died(node, live)
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
