"""Which nodes are in the cluster: each holds a key in Redis with a time to live.

A node joins by creating ``nakama-rt:node:<name>`` (refused while a live node holds that
name) and renews it every third of ``cluster.node_ttl_sec``. One that stops cleanly
deletes it; one that is killed drops out of :meth:`NodeMembership.live_nodes` when the key
expires. A renewal after Redis lost the key (a Redis restart) writes it again, so the
cluster converges without restarting its nodes.

A supervisor that saw its worker die need not wait for the TTL: the worker it starts in
its place frees the name at once (:func:`evict_dead_holder`) and joins; the other nodes
learn from its first message that its predecessor died.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Collection

from twisted.application.internet import TimerService
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure

from nakama_rt.cluster.redis import RedisConnection
from nakama_rt.logs import Logger

KEY_PREFIX = b"nakama-rt:node:"
#: The names that ever joined, so that live ones can be listed without a SCAN.
MEMBERS = b"nakama-rt:nodes"


class NodeNameTaken(Exception):
    """Another live node of the cluster has this node's name."""


def holder_pid(token: bytes) -> int | None:
    """The process id in a node key's value (``<uuid> pid <pid>``), if it has one."""
    _, sep, pid = token.rpartition(b" pid ")
    return int(pid) if sep and pid.isdigit() else None


async def evict_dead_holder(redis: RedisConnection, name: str, dead_pids: Collection[int]) -> bool:
    """Free ``name`` if its key is held by one of ``dead_pids``: processes of this
    machine that its supervisor saw end, which will never renew it; True if it did.
    A key held by any other process is left alone (joining is then refused as usual).

    The successor that joins next tells the others it just started, and they drop
    what they held of its predecessor, with the leave events a death brings
    (:meth:`nakama_rt.cluster.node.ClusterNode.received`).
    """
    key = KEY_PREFIX + name.encode()
    token = await redis.get(key)
    if token is None or holder_pid(token) not in dead_pids:
        return False
    await redis.delete(key)
    return True


class NodeMembership:
    """This node's place in the cluster. Reactor thread only."""

    log = Logger()

    def __init__(self, redis: RedisConnection, name: str, ttl_sec: int) -> None:
        self._redis = redis
        self.name = name
        self._key = KEY_PREFIX + name.encode()
        self._ttl_ms = ttl_sec * 1000
        #: Who holds the key: this process, not a node that took the name since.
        self._token = f"{uuid.uuid4()} pid {os.getpid()}".encode()
        self.renew_interval = ttl_sec / 3.0

    async def join(self) -> None:
        """Take the name; raise :class:`NodeNameTaken` while another live node has it."""
        taken = await self._redis.set(
            self._key, self._token, pexpire=self._ttl_ms, only_if_not_exists=True
        )
        if not taken:
            raise NodeNameTaken(
                f"node name {self.name!r} is already live in the cluster "
                "(give each node its own --node name)"
            )
        await self._redis.sadd(MEMBERS, self.name.encode())

    def renew(self) -> Deferred[object]:
        """Keep the name for another TTL (and take it back if Redis lost it)."""
        renewing = self._redis.set(self._key, self._token, pexpire=self._ttl_ms)
        renewing.addCallback(lambda _: self._redis.sadd(MEMBERS, self.name.encode()))
        renewing.addErrback(self._renew_failed)
        return renewing

    def _renew_failed(self, failure: Failure) -> None:
        self.log.warn(
            "cluster heartbeat of node {name} failed: {why}",
            name=self.name,
            why=failure.getErrorMessage(),
        )

    async def leave(self) -> None:
        """Give the name up, if it is still ours."""
        holder = await self._redis.get(self._key)
        if holder == self._token:
            await self._redis.delete(self._key)
        await self._redis.srem(MEMBERS, self.name.encode())

    async def live_nodes(self) -> list[str]:
        """The names of the nodes alive now, sorted; forgets the dead ones."""
        names: list[bytes] = sorted((await self._redis.smembers(MEMBERS)) or ())
        if not names:
            return []
        holders = await self._redis.mget([KEY_PREFIX + name for name in names])
        dead = [name for name, holder in zip(names, holders, strict=True) if holder is None]
        if dead:
            await self._redis.srem(MEMBERS, *dead)
        return [name.decode() for name, holder in zip(names, holders, strict=True) if holder]


class HeartbeatService(TimerService):
    """Renews ``membership`` on ``clock``, as a child of the server's timers."""

    def __init__(self, membership: NodeMembership, clock: IReactorTime) -> None:
        super().__init__(membership.renew_interval, membership.renew)
        self.clock = clock  # TimerService's own attribute for the clock its loop runs on


class NodeWatch(TimerService):
    """Every renewal interval, tells ``on_dead`` each node that ``known`` still names
    but the cluster no longer lists (it died and its name expired)."""

    def __init__(
        self,
        membership: NodeMembership,
        known: Callable[[], set[str]],
        on_dead: Callable[[str], None],
        clock: IReactorTime,
    ) -> None:
        super().__init__(membership.renew_interval, self._check)
        self.clock = clock  # TimerService's own attribute for the clock its loop runs on
        self._membership = membership
        self._known = known
        self._on_dead = on_dead

    def _check(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._check_now())

    async def _check_now(self) -> None:
        try:
            live = set(await self._membership.live_nodes())
        except Exception as error:
            NodeMembership.log.warn("cluster node check failed: {why}", why=error)
            return
        for node in sorted(self._known() - live):
            NodeMembership.log.info("cluster node {node} is gone", node=node)
            self._on_dead(node)
