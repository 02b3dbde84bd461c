"""How the features reach players: this node's sessions, the tracker, the router and the
counts the router keeps; and the other nodes, where some matches and parties live. One
process builds :meth:`Delivery.local` (no other node); a cluster node builds the same
over the cluster (``nakama_rt.cluster.node``)."""

from __future__ import annotations

from dataclasses import dataclass

from nakama_rt.core.directory import Directory
from nakama_rt.core.matchmaking import ISharedTickets
from nakama_rt.core.refs import ListedMatch, ListedParty, ParkedRef
from nakama_rt.core.registry import SessionRegistry
from nakama_rt.core.remote import IRemote
from nakama_rt.core.router import IRouter, LocalRouter
from nakama_rt.core.tracker import ITracker, LocalTracker
from nakama_rt.counters import RealtimeCounts


@dataclass(frozen=True)
class Delivery:
    sessions: SessionRegistry
    tracker: ITracker
    router: IRouter
    counts: RealtimeCounts
    #: Calls to the other nodes; None in one process.
    remote: IRemote | None = None
    #: The other nodes' authoritative matches and parties, for listings; None in one
    #: process.
    matches: Directory[ListedMatch] | None = None
    parties: Directory[ListedParty] | None = None
    #: The matchmaker's pool over every node; None in one process.
    tickets: ISharedTickets | None = None
    #: The sessions every node keeps for their dropped sockets to resume; None in one
    #: process.
    parked: Directory[ParkedRef] | None = None

    @classmethod
    def local(cls) -> Delivery:
        """One process, no cluster."""
        sessions, tracker, counts = SessionRegistry(), LocalTracker(), RealtimeCounts()
        return cls(sessions, tracker, LocalRouter(sessions, tracker, counts), counts)
