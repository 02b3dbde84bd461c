"""Calls between nodes and requests forwarded to a match's or party's node, with a Clock
and a bus that delivers when told (the wire is tested in test_cluster_homes.py)."""

from __future__ import annotations

import pytest
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.logger import globalLogPublisher
from twisted.python.failure import Failure

from nakama_rt.cluster.calls import ClusterCalls
from nakama_rt.core.forwarding import forwarded
from nakama_rt.core.pipeline import Dropped, ErrorCode, RealtimeError, ReplyFirst, Requester
from nakama_rt.core.remote import CallFailed, NodeUnavailable
from nakama_rt.wire.codec import Format
from nakama_rt.wire.proto import realtime_pb2


class Wire:
    """Nodes' buses joined: what one sends waits until :meth:`deliver`."""

    def __init__(self) -> None:
        self.nodes: dict[str, ClusterCalls] = {}
        self.queued: list[tuple[str, str, bytes, bytes]] = []

    def bus(self, name: str) -> Bus:
        return Bus(self, name)

    def deliver(self) -> int:
        delivered = 0
        while self.queued:
            sender, to, kind, body = self.queued.pop(0)
            self.nodes[to].received(kind, sender, body)
            delivered += 1
        return delivered


class Bus:
    def __init__(self, wire: Wire, node: str) -> None:
        self.wire = wire
        self.node = node
        self.peers: set[str] = set()
        self.failing = False
        self.failure_listeners: list = []

    def on_publish_failure(self, listener) -> None:
        self.failure_listeners.append(listener)

    def channel(self, node: str) -> bytes:
        return f"to:{node}".encode()

    def publish_fails(self, node: str) -> None:
        """Redis went away: what was queued for ``node`` is lost, and the bus says so."""
        self.failing = True
        self.wire.queued = [q for q in self.wire.queued if q[1] != node]
        for listener in self.failure_listeners:
            listener(self.channel(node), Failure(ConnectionError("Not connected")))

    def send(self, node: str, kind: bytes, body: bytes) -> None:
        self.wire.queued.append((self.node, node, kind, body))


def two_nodes(clock: Clock) -> tuple[Wire, ClusterCalls, ClusterCalls]:
    wire = Wire()
    a, b = ClusterCalls(wire.bus("a"), clock), ClusterCalls(wire.bus("b"), clock)
    wire.nodes.update(a=a, b=b)
    wire.nodes["a"]._bus.peers.add("b")
    wire.nodes["b"]._bus.peers.add("a")
    return wire, a, b


@pytest.fixture
def logged():
    """The events logged during the test."""
    events: list[dict] = []
    globalLogPublisher.addObserver(events.append)
    yield events
    globalLogPublisher.removeObserver(events.append)


def failures(events: list[dict]) -> list[BaseException]:
    return [e["log_failure"].value for e in events if e.get("log_failure") is not None]


def outcome(d: Deferred) -> object:
    """What ``d`` fired with so far (None if nothing); a failure is taken out of it."""
    results: list = []

    def keep(result: object) -> object:
        results.append(result)
        return None if isinstance(result, Failure) else result

    d.addBoth(keep)
    return results[0] if results else None


def test_a_call_is_answered_by_the_service_of_the_other_node() -> None:
    clock = Clock()
    wire, a, b = two_nodes(clock)
    ran: list[str] = []
    b.serve(
        "echo",
        lambda sender, payload: (sender.encode() + b":" + payload, lambda: ran.append("then")),
    )
    answer = a.call("b", "echo", b"hello")
    assert outcome(answer) is None
    wire.deliver()
    assert outcome(answer) == b"a:hello"
    assert ran == ["then"]
    assert clock.getDelayedCalls() == []  # its timeout was cancelled


def test_a_call_without_an_answer_fails_in_time_and_a_late_answer_is_ignored() -> None:
    clock = Clock()
    wire, a, b = two_nodes(clock)
    b.serve("echo", lambda sender, payload: (payload, None))
    answer = a.call("b", "echo", b"hello")
    clock.advance(5)
    failure = outcome(answer)
    assert failure.check(CallFailed)
    assert "no answer from node b in 5s" in str(failure.value)
    wire.deliver()  # the answer comes too late: nothing happens


def test_a_call_may_wait_less_than_the_clusters_timeout() -> None:
    clock = Clock()
    wire, a, b = two_nodes(clock)
    b.serve("echo", lambda sender, payload: (payload, None))
    hurried = a.call("b", "echo", b"hello", timeout=2)
    patient = a.call("b", "echo", b"hello")
    clock.advance(2)
    failure = outcome(hurried)
    assert failure.check(CallFailed) and "no answer from node b in 2s" in str(failure.value)
    assert outcome(patient) is None  # the cluster's own 5 s
    wire.deliver()
    assert outcome(patient) == b"hello"


def test_calls_to_a_node_not_live_fail_at_once_and_waiting_ones_when_it_dies() -> None:
    clock = Clock()
    wire, a, b = two_nodes(clock)
    assert outcome(a.call("nowhere", "echo", b"")).check(NodeUnavailable)
    waiting = a.call("b", "echo", b"")
    a._bus.peers.discard("b")  # as the node does when b is found dead
    a.node_died("b")
    assert outcome(waiting).check(NodeUnavailable)
    assert outcome(a.call("b", "echo", b"")).check(NodeUnavailable)
    assert clock.getDelayedCalls() == []
    queued = len(wire.queued)
    a.tell("b", "echo", b"")  # dropped: b is dead
    assert len(wire.queued) == queued


def requester(session_id: str = "s1") -> Requester:
    return Requester(
        session_id, "u1", "alice", Format.PROTOBUF, {"k": "v"}, "en", 99, "1.2.3.4", "5"
    )


def party_id(envelope: realtime_pb2.Envelope) -> str:
    return envelope.party_close.party_id.partition(".")[2]


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (realtime_pb2.Envelope(), realtime_pb2.Envelope()),
        (None, None),
        (RealtimeError(ErrorCode.BAD_INPUT, "no", with_cid=False), ("refused", 3, "no", False)),
        (Dropped(), ("dropped",)),
    ],
)
def test_a_forwarded_request_is_answered_as_the_home_node_answered_it(answer, expected) -> None:
    clock = Clock()
    wire, a, b = two_nodes(clock)
    seen: list[Requester] = []

    def handler(envelope: realtime_pb2.Envelope, who: Requester):
        seen.append(who)
        if isinstance(answer, Exception):
            raise answer
        return answer

    at_a = forwarded({"party_close": handler}, {"party_close": party_id}, a)
    forwarded({"party_close": handler}, {"party_close": party_id}, b)
    request = realtime_pb2.Envelope(party_close=realtime_pb2.PartyClose(party_id="p.b"))
    result = at_a["party_close"](request, requester())
    wire.deliver()
    assert seen == [requester()]  # everything the home node's handler reads arrived
    got = outcome(result)
    if expected is None or isinstance(expected, realtime_pb2.Envelope):
        assert got == expected
    elif expected[0] == "dropped":
        assert got.check(Dropped)
    else:
        assert got.check(RealtimeError)
        assert (got.value.code, got.value.message, got.value.with_cid) == expected[1:]


def test_a_reply_first_runs_its_change_on_the_home_node_after_the_answer() -> None:
    clock = Clock()
    wire, a, b = two_nodes(clock)
    order: list[str] = []

    def handler(envelope, who):
        return ReplyFirst(realtime_pb2.Envelope(), then=lambda: order.append("then"))

    at_a = forwarded({"party_join": handler}, {"party_join": lambda e: "b"}, a)
    forwarded({"party_join": handler}, {"party_join": lambda e: "b"}, b)
    result = at_a["party_join"](realtime_pb2.Envelope(), requester())
    result.addCallback(lambda answer: order.append("answer"))
    wire.deliver()
    # The change ran on b once the answer was queued, before a got it.
    assert order == ["then", "answer"]


def test_a_request_for_a_node_that_is_gone_is_handled_here_and_one_that_hangs_fails() -> None:
    clock = Clock()
    wire, a, b = two_nodes(clock)
    handled_at: list[str] = []

    def handler_of(node: str):
        def handler(envelope, who):
            handled_at.append(node)
            raise RealtimeError(ErrorCode.MATCH_NOT_FOUND, "Match not found")

        return handler

    at_a = forwarded({"match_join": handler_of("a")}, {"match_join": lambda e: "c"}, a)
    assert outcome(at_a["match_join"](realtime_pb2.Envelope(), requester())).check(RealtimeError)
    assert handled_at == ["a"]

    at_a = forwarded({"match_join": handler_of("a")}, {"match_join": lambda e: "b"}, a)
    hanging = at_a["match_join"](realtime_pb2.Envelope(), requester())
    clock.advance(5)
    failure = outcome(hanging)
    assert failure.check(RealtimeError)
    assert failure.value.code == ErrorCode.RUNTIME_EXCEPTION
    assert failure.value.message == "node b did not answer: no answer from node b in 5s"


def test_calls_fail_at_once_when_their_request_could_not_be_published() -> None:
    clock = Clock()
    wire, a, b = two_nodes(clock)
    waiting = a.call("b", "echo", b"")
    a._bus.publish_fails("b")
    failure = outcome(waiting)
    assert failure.check(CallFailed)
    assert str(failure.value) == "the cluster's Redis is unavailable (Not connected)"
    # While the bus fails, a new call does not even wait.
    assert str(outcome(a.call("b", "echo", b"")).value) == "the cluster's Redis is unavailable"
    assert clock.getDelayedCalls() == []


def test_a_call_its_node_cannot_serve_fails_at_once_with_the_reason(logged) -> None:
    clock = Clock()
    wire, a, b = two_nodes(clock)

    def broken(sender: str, payload: bytes):
        raise KeyError("a bug on b")

    later: Deferred = Deferred()
    b.serve("broken", broken)
    b.serve("later", lambda sender, payload: later)
    unknown = a.call("b", "missing", b"")
    raised = a.call("b", "broken", b"")
    failed_later = a.call("b", "later", b"")
    wire.deliver()  # the requests reach b, which answers two of them at once
    later.errback(ValueError("a bug on b, later"))
    wire.deliver()  # b's answers reach a, long before their 5 s
    outcomes = [outcome(call) for call in (unknown, raised, failed_later)]
    assert all(failure.check(CallFailed) for failure in outcomes)
    assert [str(failure.value) for failure in outcomes] == [
        "node b has no service 'missing'",
        "node b failed serving 'broken'",
        "node b failed serving 'later'",
    ]
    assert clock.getDelayedCalls() == []  # no call waits for its timeout
    # What failed stays in b's log; the caller learns only that it did.
    assert [type(error) for error in failures(logged)] == [KeyError, ValueError]


def test_a_one_way_message_its_node_cannot_serve_is_answered_by_nothing(logged) -> None:
    clock = Clock()
    wire, a, b = two_nodes(clock)

    def broken(sender: str, payload: bytes):
        raise KeyError("a bug on b")

    b.serve("broken", broken)
    a.tell("b", "broken", b"")
    a.tell("b", "missing", b"")
    assert wire.deliver() == 2
    assert wire.queued == []  # nothing goes back
    assert [type(error) for error in failures(logged)] == [KeyError]
