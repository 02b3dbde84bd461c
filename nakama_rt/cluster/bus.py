"""Messages between the nodes of a cluster, over Redis pub/sub.

Each node subscribes to its own channel (``nakama-rt:<db>:to:<name>``) and to the one
every node hears (``nakama-rt:<db>:all``), which carries only hellos: a node that
starts (or comes back from a Redis outage) says hello there, and the others take it
as a peer. Everything else goes to one node's channel, a broadcast to each peer's:
so all that one node sends another arrives in the order it was sent (a match's last
event before the end of its stream), which messages on two channels would not.
Channels are Redis-wide, so they carry the database number of the cluster's URL:
clusters on different databases of one Redis do not hear each other.

What a node sends to one channel within one reactor turn goes as one PUBLISH: the
messages are framed one after the other (a 4-byte length, then the message), so a
burst of deliveries to one node costs one Redis command. A message starts with its
kind (one byte) and the sender's name, ended by a NUL byte.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Protocol

from twisted.internet import defer
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorTCP, IReactorTime
from twisted.python.failure import Failure

from nakama_rt.cluster.redis import ClusterUnavailable, RedisConnection, subscribe
from nakama_rt.logs import Logger

#: The version of what nodes send each other: a node reads only its own, so one that
#: changes the shape of a message (or adds a kind) takes the next number, and a node
#: refuses to join a cluster whose live nodes have another (``cluster/nodes.py``).
#: 2: a forwarded envelope's header has its JSON size; a request that could not be
#: served is answered (``calls.FAILED``). ``tests/test_cluster_protocol.py`` holds
#: each number's message kinds, and fails when a message of a kind is written otherwise
#: than its frozen samples (``tests/samples/cluster_protocol_samples.json``).
PROTOCOL = 2

_LENGTH = struct.Struct(">I")
#: The least time between two PUBLISH to one channel by default, in seconds
#: (``cluster.publish_gap_ms``): an idle bus sends at the end of the turn, a busy one
#: gathers what comes meanwhile into the next PUBLISH. Longer saves CPU (each PUBLISH
#: costs the cluster 100 to 300 us of CPU on this project's machine, its wakes mostly),
#: shorter saves latency: at 0, one PUBLISH a turn, a relayed match ran at 0.53 to 0.56x
#: of one process's efficiency with p99 1.7 to 1.9 ms, against 0.70 to 0.74x and 3.9 to
#: 4.1 ms at 2 ms (README).
PUBLISH_GAP = 0.002
#: Seconds a stopping bus waits for Redis to have run its last PUBLISH commands.
STOP_WAIT = 1.0

#: Called with (kind, sender, body) for every message another node sent here.
Receiver = Callable[[bytes, str, bytes], None]


class Publisher(Protocol):
    """What the bus publishes with: the cluster's Redis connection, or an in-process
    stand-in (the tests and ``benchmarks/hotpath.py``)."""

    def publish(self, channel: bytes, message: bytes) -> None:
        """Send, answered by nothing; ClusterUnavailable when it cannot be sent."""
        ...

    def ping(self) -> Deferred[object]:
        """Answered once what was published before has been."""
        ...

    def on_lost(self, listener: Callable[[str], None]) -> None:
        """Have ``listener`` told why, when what was published may have been lost."""
        ...


def split(batch: bytes) -> list[tuple[bytes, str, bytes]]:
    """The ``(kind, sender, body)`` of each message in a published batch; ValueError
    (or struct.error, UnicodeDecodeError) when it is not one."""
    messages = []
    at, end = 0, len(batch)
    while at < end:
        (size,) = _LENGTH.unpack_from(batch, at)
        if size < 2 or at + 4 + size > end:
            raise ValueError("a message runs past the end of its batch")
        message = batch[at + 4 : at + 4 + size]
        at += 4 + size
        sender, _, body = message[1:].partition(b"\0")
        messages.append((message[:1], sender.decode(), body))
    return messages


class ClusterBus:
    """This node's end of the bus. Reactor thread only."""

    log = Logger()

    def __init__(
        self, node: str, clock: IReactorTime, database: int = 0, gap: float = PUBLISH_GAP
    ) -> None:
        self.node = node
        #: Seconds between two PUBLISH to one channel, at least.
        self.gap = gap
        self._namespace = f"nakama-rt:{database}:".encode()
        #: The channel every node hears.
        self.all_channel = self._namespace + b"all"
        #: The other nodes heard from and not found dead since: a broadcast's recipients.
        self.peers: set[str] = set()
        self._prefix = node.encode() + b"\0"
        #: Set by :meth:`listen`; what is sent before waits for it.
        self._publisher: Publisher | None = None
        self._clock = clock
        self._pending: dict[bytes, list[bytes]] = {}
        self._flush_call: IDelayedCall | None = None
        #: Each node's own channel, by name.
        self._channels: dict[str, bytes] = {}
        #: When each channel was last published to.
        self._last_publish: dict[bytes, float] = {}
        self._subscriber: RedisConnection | None = None
        self._receiver: Receiver | None = None
        self._failing = False
        #: Told the channel and the failure of every PUBLISH that failed.
        self._failure_listeners: list[Callable[[bytes, Failure], None]] = []
        #: Messages and PUBLISH commands sent, for tests and the metrics.
        self.sent_messages = 0
        self.published = 0

    async def listen(
        self,
        url: str,
        reactor: IReactorTCP,
        publisher: RedisConnection,
        receiver: Receiver,
        reconnected: Callable[[], None],
    ) -> None:
        """Subscribe to this node's channel and the all-nodes one, and publish on
        ``publisher`` from now on. When Redis comes back after it went away, the
        subscription is made again and ``reconnected`` is called (what was published
        meanwhile is lost: the tracker sends everything again)."""
        self._receiver = receiver
        channels = [self.channel(self.node), self.all_channel]
        subscriber = await subscribe(url, reactor, channels, self.deliver)

        def back() -> None:
            # Either connection may come back first; what was sent meanwhile is told
            # again once both are up.
            if publisher.connected and subscriber.connected:
                self.log.info("cluster Redis is back: subscribed again")
                reconnected()

        subscriber.on_reconnect(back)
        publisher.on_reconnect(back)
        self._subscriber = subscriber
        self.attach(publisher, receiver)

    def attach(self, publisher: Publisher, receiver: Receiver) -> None:
        """Publish with ``publisher`` from now on (what waits goes this turn; when it
        loses what it sent, every channel's failure listeners hear of it), and hand
        the messages of every batch given to :meth:`deliver` to ``receiver``.
        :meth:`listen` calls it once subscribed."""
        self._publisher = publisher
        self._receiver = receiver
        publisher.on_lost(self._connection_lost)
        if self._pending and self._flush_call is None:
            self._flush_call = self._clock.callLater(0, self._flush)

    def key(self, name: bytes) -> bytes:
        """A Redis key of this cluster's (named like its channels)."""
        return self._namespace + name

    def channel(self, node: str) -> bytes:
        """The channel ``node`` hears alone."""
        channel = self._channels.get(node)
        if channel is None:
            # Built once a node: this runs for every message sent.
            channel = self._channels[node] = self._namespace + b"to:" + node.encode()
        return channel

    def send(self, node: str, kind: bytes, body: bytes) -> None:
        """Queue one message for ``node``."""
        self._queue(self.channel(node), kind, body)

    def send_or_broadcast(self, node: str | None, kind: bytes, body: bytes) -> None:
        """Queue one message for ``node``, or (None) for every peer."""
        if node is None:
            self.broadcast(kind, body)
        else:
            self.send(node, kind, body)

    def broadcast(self, kind: bytes, body: bytes) -> None:
        """Queue one message for every peer."""
        for node in self.peers:
            self._queue(self.channel(node), kind, body)

    def hello(self, kind: bytes, body: bytes) -> None:
        """Queue one message for every node listening, peer or not."""
        self._queue(self.all_channel, kind, body)

    def _queue(self, channel: bytes, kind: bytes, body: bytes) -> None:
        message = kind + self._prefix + body
        self._pending.setdefault(channel, []).append(_LENGTH.pack(len(message)) + message)
        self.sent_messages += 1
        call = self._flush_call
        if call is None:
            self._flush_call = self._clock.callLater(0, self._flush)
        elif call.getTime() > (now := self._clock.seconds()):
            # The flush waits for another channel's gap; this one may go this turn.
            if self._last_publish.get(channel, -self.gap) + self.gap <= now:
                call.reset(0)

    def _flush(self, everything: bool = False) -> None:
        """Publish what waits for each channel not published to within the last
        :attr:`gap`; the others wait for their turn, gathering more."""
        self._flush_call = None
        if self._publisher is None:
            return  # not listening yet: sent once it is
        now = self._clock.seconds()
        last = self._last_publish
        held: dict[bytes, list[bytes]] = {}
        due = None
        gap = self.gap
        for channel, messages in self._pending.items():
            wait = last.get(channel, -gap) + gap - now
            if wait > 0 and not everything:
                held[channel] = messages
                due = wait if due is None else min(due, wait)
                continue
            last[channel] = now
            self.published += 1
            try:
                self._publisher.publish(channel, b"".join(messages))
            except ClusterUnavailable as error:
                self._publish_failed(channel, Failure(error))
            else:
                self._failing = False
        self._pending = held
        if due is not None:
            self._flush_call = self._clock.callLater(due, self._flush)

    def on_publish_failure(self, listener: Callable[[bytes, Failure], None]) -> None:
        """Have ``listener`` told of each PUBLISH that failed (its channel and why)."""
        self._failure_listeners.append(listener)

    @property
    def failing(self) -> bool:
        """Whether the last PUBLISH failed (Redis away)."""
        return self._failing

    def _connection_lost(self, why: str) -> None:
        """What was published on the connection may be lost: as if each channel's
        last PUBLISH had failed."""
        failure = Failure(ClusterUnavailable(why))
        for channel in list(self._last_publish):
            self._publish_failed(channel, failure)

    def _publish_failed(self, channel: bytes, failure: Failure) -> None:
        for listener in self._failure_listeners:
            listener(channel, failure)
        # Once per outage, not once per message.
        if not self._failing:
            self._failing = True
            self.log.warn(
                "cluster publish to {channel} failed: {why} (Redis down? players on "
                "other nodes miss what is sent until it is back)",
                channel=channel.decode(),
                why=failure.getErrorMessage(),
            )

    async def stop(self) -> None:
        """Publish what waits (a goodbye, the last leaves) and wait until Redis has run
        it, for at most :data:`STOP_WAIT` seconds (Redis may be away), then
        unsubscribe."""
        if self._flush_call is not None and self._flush_call.active():
            self._flush_call.cancel()
        self._flush_call = None
        if self._pending:
            self._flush(everything=True)
        if self._publisher is not None and self.published and not self._failing:
            try:
                await self._publisher.ping().addTimeout(STOP_WAIT, self._clock)
            except defer.TimeoutError:
                self.log.warn(
                    "cluster Redis did not answer the last publishes in {wait:g} s",
                    wait=STOP_WAIT,
                )
            except ClusterUnavailable:
                pass  # gone meanwhile: said once already, or the caller's to say
        self.log.info(
            "cluster bus of node {node}: {messages} messages sent in {published} publishes",
            node=self.node,
            messages=self.sent_messages,
            published=self.published,
        )
        if self._subscriber is not None:
            subscriber, self._subscriber = self._subscriber, None
            await subscriber.disconnect()

    def deliver(self, channel: bytes, batch: bytes) -> None:
        """Hand every message of a batch published to this node's channels to the
        receiver."""
        receiver = self._receiver
        assert receiver is not None  # set before subscribing
        try:
            messages = split(batch)
        except Exception:
            # Anyone with access to Redis can publish on these channels: what is not a
            # batch of ours is dropped, and the node goes on.
            self.log.warn("dropped a malformed cluster message on {channel}", channel=channel)
            return
        for kind, sender, body in messages:
            try:
                receiver(kind, sender, body)
            except Exception:
                self.log.failure("cluster message from {sender} failed", sender=sender)
