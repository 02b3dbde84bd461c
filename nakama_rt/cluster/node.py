"""This process as a node of a cluster: its bus, and the tracker and router over it."""

from __future__ import annotations

from dataclasses import dataclass

from twisted.internet.interfaces import IReactorTime

from nakama_rt.cluster.bus import ClusterBus
from nakama_rt.cluster.router import ClusterRouter
from nakama_rt.cluster.tracker import ClusterTracker
from nakama_rt.core.delivery import Delivery
from nakama_rt.core.registry import SessionRegistry
from nakama_rt.core.router import LocalRouter
from nakama_rt.counters import RealtimeCounts
from nakama_rt.logs import Logger

log = Logger()


@dataclass(frozen=True)
class ClusterNode:
    bus: ClusterBus
    tracker: ClusterTracker
    router: ClusterRouter
    delivery: Delivery

    @classmethod
    def build(cls, name: str, clock: IReactorTime) -> ClusterNode:
        """The node's parts, wired; :meth:`ClusterBus.listen` connects them."""
        bus = ClusterBus(name, clock)
        sessions, counts = SessionRegistry(), RealtimeCounts()
        tracker = ClusterTracker(name, bus)
        router = ClusterRouter(LocalRouter(sessions, tracker.local, counts), tracker, bus)
        return cls(bus, tracker, router, Delivery(sessions, tracker, router, counts))

    def received(self, kind: bytes, sender: str, body: bytes) -> None:
        """A message from another node: the tracker's or the router's."""
        if not (
            self.tracker.received(kind, sender, body) or self.router.received(kind, sender, body)
        ):
            log.warn("unknown cluster message {kind!r} from {sender}", kind=kind, sender=sender)
