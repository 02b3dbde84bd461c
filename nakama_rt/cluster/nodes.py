"""Which nodes are in the cluster: each holds a key in Redis with a time to live.

A node joins by creating ``nakama-rt:node:<name>`` (refused while a live node holds that
name, or while live nodes speak another version of the messages between nodes:
:data:`~nakama_rt.cluster.bus.PROTOCOL`, in each key's value) and renews it every third
of ``cluster.node_ttl_sec``. One that stops cleanly
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

from nakama_rt.cluster.bus import PROTOCOL
from nakama_rt.cluster.redis import RedisConnection
from nakama_rt.logs import Logger

KEY_PREFIX = b"nakama-rt:node:"
#: The names that ever joined, so that live ones can be listed without a SCAN.
MEMBERS = b"nakama-rt:nodes"


class NodeNameTaken(Exception):
    """Another live node of the cluster has this node's name."""


class ProtocolMismatch(Exception):
    """Live nodes of the cluster speak another version of the messages between nodes
    (another nakama-rt): neither could read what the other sends."""


def holder_pid(token: bytes) -> int | None:
    """The process id in a node key's value (``<uuid> protocol <n> pid <pid>``), if it
    has one."""
    _, sep, pid = token.rpartition(b" pid ")
    return int(pid) if sep and pid.isdigit() else None


def holder_protocol(token: bytes) -> int:
    """The :data:`~nakama_rt.cluster.bus.PROTOCOL` a node key's holder speaks; 1 for a
    node from before nodes said (``<uuid> pid <pid>``)."""
    _, sep, rest = token.partition(b" protocol ")
    number = rest.partition(b" ")[0]
    return int(number) if sep and number.isdigit() else 1


def other_protocols(holders: dict[str, bytes]) -> dict[str, int]:
    """The nodes among ``holders`` (name -> key value) that speak another protocol than
    this one, with theirs."""
    spoken = {name: holder_protocol(token) for name, token in holders.items()}
    return {name: protocol for name, protocol in spoken.items() if protocol != PROTOCOL}


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
        self.ttl_sec = ttl_sec
        self._ttl_ms = ttl_sec * 1000
        #: Who holds the key: this process (not a node that took the name since),
        #: speaking this version of the messages between nodes.
        self._token = f"{uuid.uuid4()} protocol {PROTOCOL} pid {os.getpid()}".encode()
        self.renew_interval = ttl_sec / 3.0

    async def join(self) -> None:
        """Take the name; raise :class:`NodeNameTaken` while another live node has it,
        :class:`ProtocolMismatch` (giving it back) while live nodes speak another
        protocol."""
        taken = await self._redis.set(
            self._key, self._token, pexpire=self._ttl_ms, only_if_not_exists=True
        )
        if not taken:
            raise NodeNameTaken(
                f"node name {self.name!r} is already live in the cluster "
                "(give each node its own --node name)"
            )
        others = await self.live_holders()
        others.pop(self.name, None)
        if strangers := other_protocols(others):
            await self._redis.delete(self._key)
            spoken = ", ".join(f"{name} ({n})" for name, n in sorted(strangers.items()))
            raise ProtocolMismatch(
                f"node {self.name!r} speaks cluster protocol {PROTOCOL}, but live nodes "
                f"speak another: {spoken}; every node of a cluster must run the same "
                "nakama-rt (stop the others first, or join another cluster)"
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
        return sorted(await self.live_holders())

    async def live_holders(self) -> dict[str, bytes]:
        """The nodes alive now, each with its key's value; forgets the dead ones."""
        names: list[bytes] = sorted((await self._redis.smembers(MEMBERS)) or ())
        if not names:
            return {}
        holders = await self._redis.mget([KEY_PREFIX + name for name in names])
        dead = [name for name, holder in zip(names, holders, strict=True) if holder is None]
        if dead:
            await self._redis.srem(MEMBERS, *dead)
        pairs = zip(names, holders, strict=True)
        return {name.decode(): holder for name, holder in pairs if holder is not None}


class HeartbeatService(TimerService):
    """Renews ``membership`` on ``clock``, as a child of the server's timers."""

    def __init__(self, membership: NodeMembership, clock: IReactorTime) -> None:
        super().__init__(membership.renew_interval, membership.renew)
        self.clock = clock  # TimerService's own attribute for the clock its loop runs on


class NodeWatch(TimerService):
    """Every renewal interval, tells ``on_dead`` each node that ``known`` still names
    but the cluster no longer lists (it died and its name expired); and logs, once
    each, an error for a live node that speaks another protocol (one of a version that
    joined without asking, whose messages this node cannot read, nor it ours)."""

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
        #: The nodes of another protocol logged already.
        self._strangers: set[str] = set()
        #: No node is found dead before then: see :meth:`redis_back`.
        self._quiet_until = 0.0

    def redis_back(self) -> None:
        """Redis is back after it went away: a restarted one lost every node's name,
        which each live node writes again at its next renewal. None is found dead
        for one TTL, so that a live one is not taken for dead meanwhile (its
        presences would leave everywhere, and come back only when it is heard)."""
        self._quiet_until = self.clock.seconds() + self._membership.ttl_sec

    def _check(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._check_now())

    async def _check_now(self) -> None:
        try:
            holders = await self._membership.live_holders()
        except Exception as error:
            NodeMembership.log.warn("cluster node check failed: {why}", why=error)
            return
        self._strangers.intersection_update(holders)  # those gone may come back
        for node, protocol in sorted(other_protocols(holders).items()):
            if node not in self._strangers:
                self._strangers.add(node)
                NodeMembership.log.error(
                    "cluster node {node} speaks protocol {protocol}, this one {ours}: "
                    "neither can read what the other sends (run one nakama-rt version "
                    "across the cluster)",
                    node=node,
                    protocol=protocol,
                    ours=PROTOCOL,
                )
        if self.clock.seconds() < self._quiet_until:
            return
        live = set(holders)
        for node in sorted(self._known() - live):
            NodeMembership.log.info("cluster node {node} is gone", node=node)
            self._on_dead(node)
