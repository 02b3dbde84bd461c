"""The matchmaker's tickets across the nodes of a cluster.

Nakama matches tickets from every node together. Each node's matchmaker tells its
:class:`ISharedTickets` the tickets added and withdrawn here, and hears those of the
other nodes, so every node holds the whole pool; one node at a time (the lease
holder) runs the passes, and tells everyone which tickets it matched. One process has
no shared tickets (None) and matches its own.
"""

from __future__ import annotations

from collections.abc import Callable

from zope.interface import Interface

from nakama_rt.core.refs import TicketData

#: Told a ticket another node added.
OnAdded = Callable[[TicketData], None]
#: Told tickets withdrawn or matched on another node (or gone with their node).
OnRemoved = Callable[[list[str]], None]


class ISharedTickets(Interface):
    """Reactor thread only."""

    def listen(on_added: OnAdded, on_removed: OnRemoved) -> None:
        """Hear the other nodes' tickets (the matchmaker calls this once)."""

    def added(ticket: TicketData) -> None:
        """A ticket was added on this node."""

    def removed(ticket_ids: list[str]) -> None:
        """Tickets left the pool here (withdrawn, or matched by this node's pass)."""

    def may_match() -> bool:
        """Whether this node runs the passes now."""
