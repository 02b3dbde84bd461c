"""Calls to other nodes: what a feature asks of the node where a match or party lives.

A match or a party lives on one node (the one in its id), while its members may be
connected to any. The features reach that node through an :class:`IRemote`: a call
with an answer, or a message without one. One process has no other node and no
``IRemote`` (None); the cluster implements it over its bus.
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet.defer import Deferred
from zope.interface import Attribute, Interface

#: What a served call returns: the answer's bytes, and what to do once the answer is
#: on its way (a track whose events must reach the caller after the answer), or None.
Served = tuple[bytes, Callable[[], object] | None]
#: A service: ``(sender node, payload) -> Served``, or a Deferred of it.
Service = Callable[[str, bytes], "Served | Deferred[Served]"]


class NodeUnavailable(Exception):
    """No live node has that name (it never joined, or it died)."""


class CallFailed(Exception):
    """A live node did not answer in time (Redis down?), or failed answering."""


class IRemote(Interface):
    """Calls between the nodes of a cluster. Reactor thread only."""

    node = Attribute("This node's name.")

    def call(
        node: str, service: str, payload: bytes, timeout: float | None = None
    ) -> Deferred[bytes]:
        """Ask ``service`` on ``node``; fails with :class:`NodeUnavailable` at once
        when no such node is live, or :class:`CallFailed` when it does not answer
        within ``timeout`` seconds (None: the cluster's own)."""

    def tell(node: str, service: str, payload: bytes) -> None:
        """Send to ``service`` on ``node`` without waiting for an answer (dropped when
        the node is not live)."""

    def serve(service: str, handler: Service) -> None:
        """Answer calls to ``service`` from the other nodes with ``handler``."""

    def on_node_died(listener: Callable[[str], object]) -> None:
        """Call ``listener`` with a node's name when that node is found dead."""
