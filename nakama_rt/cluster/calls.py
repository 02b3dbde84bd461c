"""Calls between nodes over the bus (:class:`~nakama_rt.core.remote.IRemote`).

A call is a request message to the node's channel and an answer message back, matched
by a number; one that gets no answer within ``timeout`` seconds fails with
:class:`~nakama_rt.core.remote.CallFailed` (the node too busy, or gone), never hangs;
one whose request could not be published (Redis away) fails at once, as does any
call while the bus's last PUBLISH failed, and one the other node could not serve (no
such service there, or its handler raised: logged there) as soon as that node says
so. A node is callable while it is a peer of the bus (heard from, and not found dead
since); calling another fails at once with
:class:`~nakama_rt.core.remote.NodeUnavailable`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred, fail, maybeDeferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.python.failure import Failure
from zope.interface import implementer

from nakama_rt.cluster.bus import ClusterBus
from nakama_rt.core.remote import CallFailed, IRemote, NodeUnavailable, Served, Service
from nakama_rt.logs import Logger

#: Message kinds on the bus.
REQUEST = b"Q"
ANSWER = b"A"
FAILED = b"F"  # the answer of a request its node could not serve
ONE_WAY = b"O"

#: Seconds a call waits for its answer.
CALL_TIMEOUT = 5.0


@implementer(IRemote)
class ClusterCalls:
    """This node's calls to the others, and its services for theirs. Reactor thread only."""

    log = Logger()

    def __init__(self, bus: ClusterBus, clock: IReactorTime, timeout: float = CALL_TIMEOUT):
        self.node = bus.node
        self._bus = bus
        self._clock = clock
        self._timeout = timeout
        self._services: dict[str, Service] = {}
        self._next = 0
        #: Calls waiting for their answer: number -> (node, Deferred, timer).
        self._waiting: dict[int, tuple[str, Deferred[bytes], IDelayedCall]] = {}
        self._death_listeners: list[Callable[[str], object]] = []
        bus.on_publish_failure(self._publish_failed)

    def serve(self, service: str, handler: Service) -> None:
        self._services[service] = handler

    def on_node_died(self, listener: Callable[[str], object]) -> None:
        self._death_listeners.append(listener)

    def call(
        self, node: str, service: str, payload: bytes, timeout: float | None = None
    ) -> Deferred[bytes]:
        if node not in self._bus.peers:
            return fail(NodeUnavailable(f"no live node {node!r}"))
        if self._bus.failing:
            return fail(CallFailed("the cluster's Redis is unavailable"))
        self._next += 1
        number = self._next
        answered: Deferred[bytes] = Deferred()
        wait = self._timeout if timeout is None else timeout
        timer = self._clock.callLater(wait, self._timed_out, number, wait)
        self._waiting[number] = (node, answered, timer)
        self._bus.send(node, REQUEST, _header(number, service) + payload)
        return answered

    def tell(self, node: str, service: str, payload: bytes) -> None:
        if node in self._bus.peers:
            self._bus.send(node, ONE_WAY, _header(0, service) + payload)

    def _publish_failed(self, channel: bytes, failure: Failure) -> None:
        """What was sent to a node did not leave: its calls fail now, not at their timeout."""
        why = f"the cluster's Redis is unavailable ({failure.getErrorMessage()})"
        for node in {to for to, _, _ in self._waiting.values()}:
            if self._bus.channel(node) == channel:
                self._fail_calls_to(node, CallFailed(why))

    def _timed_out(self, number: int, wait: float) -> None:
        node, answered, _ = self._waiting.pop(number)
        answered.errback(CallFailed(f"no answer from node {node} in {wait:g}s"))

    # Membership, from the node

    def node_died(self, node: str) -> None:
        """Calls waiting for ``node`` fail now (new ones do, once it is no peer); then
        the listeners hear of it."""
        self._fail_calls_to(node, NodeUnavailable(f"node {node} died"))
        for listener in self._death_listeners:
            try:
                listener(node)
            except Exception:
                self.log.failure("a listener failed on the death of node {node}", node=node)

    def _fail_calls_to(self, node: str, error: Exception) -> None:
        for number, (to, answered, timer) in list(self._waiting.items()):
            if to == node:
                del self._waiting[number]
                timer.cancel()
                answered.errback(error)

    # The bus

    def received(self, kind: bytes, sender: str, body: bytes) -> bool:
        """Serve a request, or settle a call with its answer; False when it is neither."""
        if kind not in (REQUEST, ANSWER, FAILED, ONE_WAY):
            return False
        header, _, payload = body.partition(b"\n")
        number_text, _, service_name = header.partition(b" ")
        number = int(number_text)
        if kind in (ANSWER, FAILED):
            waiting = self._waiting.pop(number, None)
            if waiting is not None:  # else it timed out already
                waiting[2].cancel()
                if kind == ANSWER:
                    waiting[1].callback(payload)
                else:
                    waiting[1].errback(CallFailed(payload.decode(errors="replace")))
            return True
        service = service_name.decode()
        handler = self._services.get(service)
        if handler is None:
            self.log.warn(
                "node {sender} called unknown service {service!r}", sender=sender, service=service
            )
            self._refuse(kind, sender, number, f"node {self.node} has no service {service!r}")
            return True
        served: Deferred[Any] = maybeDeferred(handler, sender, payload)
        served.addCallback(self._answer, sender, number, kind == REQUEST)
        served.addErrback(self._serve_failed, kind, sender, number, service)
        return True

    def _answer(self, served: Served, sender: str, number: int, answers: bool) -> None:
        data, then = served
        if answers:
            self._bus.send(sender, ANSWER, _header(number, "") + data)
        if then is not None:
            then()  # after the answer is queued: its events follow it

    def _serve_failed(
        self, failure: Failure, kind: bytes, sender: str, number: int, service: str
    ) -> None:
        self.log.failure(
            "serving {service!r} to node {sender} failed", failure, service=service, sender=sender
        )
        # What failed is in this node's log; the caller learns only that it did.
        self._refuse(kind, sender, number, f"node {self.node} failed serving {service!r}")

    def _refuse(self, kind: bytes, sender: str, number: int, why: str) -> None:
        """Tell the caller of a request that it failed (a one-way message has none)."""
        if kind == REQUEST:
            self._bus.send(sender, FAILED, _header(number, "") + why.encode())


def _header(number: int, service: str) -> bytes:
    return f"{number} {service}\n".encode()
