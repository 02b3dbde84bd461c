"""The cluster's directories: this node's authoritative matches and parties, told to every
other node, and a copy of theirs (:class:`~nakama_rt.core.directory.Directory`).

Told like presences: a change is one message to every node (batched per reactor turn),
a node that joins gets everyone's in answer to its hello, a node that comes back from a
Redis outage tells all of its own again, and a dead node's are forgotten. Matches and
parties are one kind of message each, with their own fields; so are the sessions a node
keeps for their dropped sockets to resume (``session.resume_grace_ms``).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import Generic, TypeVar

import orjson

from nakama_rt.cluster.bus import ClusterBus
from nakama_rt.core.refs import ListedMatch, ListedParty, ParkedRef

#: The message kinds on the bus.
MATCHES = b"M"
PARTIES = b"Y"
RESUMABLE = b"R"

Item = TypeVar("Item", ListedMatch, ListedParty, ParkedRef)


class ClusterDirectory(Generic[Item]):
    """Reactor thread only. ``fields`` gives what is told of an item after its subject;
    ``build`` makes the item back from (subject, node, *fields). With ``key``, the other
    nodes' items are also found by that key (:meth:`by_key`) in one lookup."""

    def __init__(
        self,
        bus: ClusterBus,
        kind: bytes,
        fields: Callable[[Item], list[object]],
        build: Callable[..., Item],
        key: Callable[[Item], Hashable] | None = None,
    ) -> None:
        self._bus = bus
        self._kind = kind
        self._fields: Callable[[Item], list[object]] = fields
        self._build: Callable[..., Item] = build
        self._own: dict[str, Item] = {}
        #: The other nodes' items: node -> subject -> item.
        self._theirs: dict[str, dict[str, Item]] = {}
        self._key: Callable[[Item], Hashable] | None = key
        #: The other nodes' items by ``key``: every one with that key, oldest first.
        self._by_key: dict[Hashable, list[Item]] = {}

    def _put_op(self, item: Item) -> list[object]:
        return ["+", item.subject, *self._fields(item)]

    def put(self, item: Item) -> None:
        self._own[item.subject] = item
        self._bus.broadcast(self._kind, orjson.dumps([self._put_op(item)]))

    def remove(self, subject: str) -> None:
        if self._own.pop(subject, None) is not None:
            self._bus.broadcast(self._kind, orjson.dumps([["-", subject]]))

    def others(self) -> Iterable[Item]:
        return [item for items in self._theirs.values() for item in items.values()]

    def find(self, subject: str, node: str) -> Item | None:
        return self._theirs.get(node, {}).get(subject)

    def by_key(self, key: Hashable) -> Item | None:
        """Another node's item whose ``key`` is this (the directory's ``key``); the
        latest told when several are."""
        items = self._by_key.get(key)
        return items[-1] if items else None

    def _indexed(self, item: Item) -> None:
        if self._key is not None:
            self._by_key.setdefault(self._key(item), []).append(item)

    def _unindexed(self, items: Iterable[Item]) -> None:
        if self._key is None:
            return
        for item in items:
            key = self._key(item)
            same = self._by_key.get(key, [])
            if item in same:
                same.remove(item)
                if not same:
                    del self._by_key[key]

    def tell_all(self, node: str | None = None) -> None:
        """Every item of this node, replacing what ``node`` (None: every node) holds."""
        ops = orjson.dumps([["="], *(self._put_op(item) for item in self._own.values())])
        self._bus.send_or_broadcast(node, self._kind, ops)

    def forget(self, node: str) -> None:
        self._unindexed(self._theirs.pop(node, {}).values())

    def received(self, kind: bytes, sender: str, body: bytes) -> bool:
        if kind != self._kind:
            return False
        theirs = self._theirs.setdefault(sender, {})
        for op in orjson.loads(body):
            if op[0] == "+":
                item = self._build(op[1], sender, *op[2:])
                if (before := theirs.get(op[1])) is not None:
                    self._unindexed((before,))
                theirs[op[1]] = item
                self._indexed(item)
            elif op[0] == "-":
                if (gone := theirs.pop(op[1], None)) is not None:
                    self._unindexed((gone,))
            elif op[0] == "=":
                self._unindexed(theirs.values())
                theirs.clear()
        if not theirs:
            del self._theirs[sender]
        return True


def match_directory(bus: ClusterBus) -> ClusterDirectory[ListedMatch]:
    return ClusterDirectory(
        bus,
        MATCHES,
        lambda m: [m.label, m.tick_rate, m.handler_name, m.create_time],
        ListedMatch,
    )


def party_directory(bus: ClusterBus) -> ClusterDirectory[ListedParty]:
    return ClusterDirectory(
        bus,
        PARTIES,
        lambda p: [p.open, p.hidden, p.max_size, p.label, p.indexed_at],
        ListedParty,
    )


def parked_directory(bus: ClusterBus) -> ClusterDirectory[ParkedRef]:
    return ClusterDirectory(
        bus,
        RESUMABLE,
        lambda p: [p.token_id, p.user_id, p.format],
        ParkedRef,
        key=lambda p: p.resumed_by,
    )
