"""The cluster's Redis client: txredisapi, on whatever reactor the server runs.

Chosen by measurement (``python benchmarks/redis_clients.py``, this project's 2-core
machine, 2026-12-06, medians of three runs alternating the two clients, 100,000
publishes of 200 bytes in pipelined bursts of 100, each received back on a
subscription in the same process; Redis 7.0 used under 3 us a message, far from busy):

================================  ==============  ========================
client                            reactor         CPU per message (us)
================================  ==============  ========================
txredisapi 1.6 (with hiredis)     epoll (default)  55.3 (200 B), 72.2 (4 KB)
redis-py 8.2 asyncio + hiredis    asyncio          54.5 (200 B), 56.2 (4 KB)
================================  ==============  ========================

The clients cost the same per message; redis-py needs Twisted's asyncio reactor for the
whole process, which costs the server itself 2 to 4% on its hot paths (``load.py`` ping
and chat on each reactor, alternating: 19,139 vs 18,411 round trips and 54,337 vs 53,300
deliveries per server CPU-second, medians of three), and an application embedding the
server on another reactor could not join a cluster. txredisapi answers with Deferreds on
any reactor. The price is a smaller project than redis-py: its version is bounded in
setup.cfg, and what the cluster asks of it is tested against the real Redis.
"""

from __future__ import annotations

from typing import Any, Protocol
from urllib.parse import urlsplit

import txredisapi
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.interfaces import IReactorTCP
from twisted.internet.protocol import Protocol as TCPProtocol


class RedisConnection(Protocol):
    """The commands the cluster sends, as txredisapi's connection answers them: a
    Deferred of Redis' reply (bytes, a list of them, an integer or None)."""

    def set(
        self,
        key: bytes,
        value: bytes,
        expire: int | None = None,
        pexpire: int | None = None,
        only_if_not_exists: bool = False,
        only_if_exists: bool = False,
    ) -> Deferred[Any]: ...

    def get(self, key: bytes) -> Deferred[Any]: ...

    def mget(self, keys: list[bytes]) -> Deferred[Any]: ...

    def delete(self, keys: bytes) -> Deferred[Any]: ...

    def sadd(self, key: bytes, *members: bytes) -> Deferred[Any]: ...

    def srem(self, key: bytes, *members: bytes) -> Deferred[Any]: ...

    def smembers(self, key: bytes) -> Deferred[Any]: ...

    def publish(self, channel: bytes, message: bytes) -> Deferred[Any]: ...

    def eval(self, script: str, keys: list[bytes], args: list[Any]) -> Deferred[Any]: ...

    def disconnect(self) -> Deferred[Any]: ...


class ClusterUnavailable(Exception):
    """The cluster's Redis cannot be reached or refuses us; the message says why."""


def parse_redis_url(url: str) -> tuple[str, int, int]:
    """``(host, port, database)`` of ``redis://host:port/db`` (6379 and 0 by default)."""
    parts = urlsplit(url)
    if parts.scheme != "redis" or not parts.hostname:
        raise ValueError(f"not a redis://host:port/db URL: {url!r}")
    path = parts.path.strip("/")
    if path and not path.isdigit():
        raise ValueError(f"the database of {url!r} must be a number")
    return parts.hostname, parts.port or 6379, int(path or 0)


async def connect(url: str, reactor: IReactorTCP) -> RedisConnection:
    """One connection to the cluster's Redis, answering bytes (envelopes are bytes).

    Redis must be there at start: one plain TCP connect says so at once (txredisapi
    would keep trying). Once connected, the connection reconnects by itself whenever
    Redis goes away and comes back.
    """
    host, port, database = parse_redis_url(url)
    endpoint = TCP4ClientEndpoint(reactor, host, port, timeout=5)
    try:
        probe = await connectProtocol(endpoint, TCPProtocol())
    except Exception as error:
        raise ClusterUnavailable(f"cluster {url}: {error}") from None
    if probe.transport is not None:
        probe.transport.loseConnection()
    connection: RedisConnection = await txredisapi.Connection(
        host, port, dbid=database, reconnect=True, charset=None, connectTimeout=5
    )
    return connection
