"""The authoritative matches of the other nodes, for listings.

A match runs on one node, but ``GET /v2/match`` and ``nk.match_list`` on any node list
every match of the cluster. The match registry tells its directory what it runs (a
match started, relabelled or ended) and lists the others' matches from it; one
process has no directory (None).
"""

from __future__ import annotations

from collections.abc import Iterable

from zope.interface import Interface

from nakama_rt.core.refs import ListedMatch


class IMatchDirectory(Interface):
    """The matches of every node, told and read on the reactor thread."""

    def put(match: ListedMatch) -> None:
        """One of this node's matches started, or its label changed."""

    def remove(subject: str) -> None:
        """One of this node's matches ended."""

    def others() -> Iterable[ListedMatch]:
        """The other nodes' matches."""

    def find(subject: str, node: str) -> ListedMatch | None:
        """Another node's match, if it is running."""
