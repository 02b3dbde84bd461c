"""What the other nodes list: their authoritative matches and their parties.

A match or a party lives on one node, but ``GET /v2/match``, ``GET /v2/party``,
``nk.match_list`` and ``nk.party_list`` on any node list every node's. Each registry
tells its directory what it holds (started, changed, ended) and lists the others' from
it; one process has no directory (None).

A typing Protocol rather than a zope Interface: one shape serves matches and parties,
each with its own item type.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Protocol, TypeVar

Item = TypeVar("Item")


class Directory(Protocol[Item]):
    """The listed matches (or parties) of every node, told and read on the reactor
    thread."""

    def put(self, item: Item) -> None:
        """One of this node's started, or changed what listings show of it."""

    def remove(self, subject: str) -> None:
        """One of this node's ended."""

    def others(self) -> Iterable[Item]:
        """The other nodes'."""

    def find(self, subject: str, node: str) -> Item | None:
        """Another node's, if it is there."""

    def by_key(self, key: Hashable) -> Item | None:
        """Another node's whose key is ``key``, for a directory that keys its items
        (the parked sessions, by token); None otherwise."""
