"""How a node keeps what it holds of the others right when it takes one for dead
wrongly, as after a Redis restart (with a Clock and buses that record what they
publish; the real Redis is in test_cluster_delivery.py)."""

from __future__ import annotations

from twisted.internet.defer import Deferred, ensureDeferred, succeed
from twisted.internet.task import Clock

from nakama_rt.cluster.bus import PUBLISH_GAP, split
from nakama_rt.cluster.node import HELLO, STARTED, ClusterNode
from nakama_rt.cluster.nodes import NodeWatch
from nakama_rt.cluster.tracker import PRESENCES
from nakama_rt.core.tracker import PresenceMeta, PresenceStream, StreamMode


class Recorder:
    """A publisher that keeps what was published: (channel, kind, body) a message."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, bytes, bytes]] = []

    def publish(self, channel: bytes, batch: bytes) -> None:
        self.sent.extend((channel, kind, body) for kind, _, body in split(batch))

    def ping(self) -> Deferred[object]:
        return succeed(b"PONG")

    def on_lost(self, listener: object) -> None:
        pass


def node_with_alice(clock: Clock) -> tuple[ClusterNode, Recorder]:
    node = ClusterNode.build("a", clock)
    recorder = Recorder()
    node.bus.attach(recorder, node.received)
    node.start(["a"])
    lobby = PresenceStream(StreamMode.CHANNEL, "", label="lobby")
    node.tracker.track("s1", lobby, "u1", PresenceMeta(username="alice"))
    clock.advance(PUBLISH_GAP)
    recorder.sent.clear()
    return node, recorder


def test_a_node_heard_from_after_it_was_taken_for_dead_is_asked_and_told_everything() -> None:
    clock = Clock()
    a, recorder = node_with_alice(clock)
    # b answers a hello of a's, having dropped all it held of a: a took b for dead.
    a.received(PRESENCES, "b", b'[["=",null]]')
    clock.advance(PUBLISH_GAP)
    to_b = [(kind, body) for channel, kind, body in recorder.sent if channel == a.bus.channel("b")]
    assert (HELLO, b"") in to_b  # asked for all b holds
    told = [body for kind, body in to_b if kind == PRESENCES]
    assert len(told) == 1 and b"alice" in told[0] and told[0].startswith(b'[["=",null]')
    assert "b" in a.bus.peers
    # Heard from again: a peer now, nothing more is asked or told.
    recorder.sent.clear()
    a.received(PRESENCES, "b", b'[["=",null]]')
    clock.advance(PUBLISH_GAP)
    assert recorder.sent == []


def test_a_new_node_s_start_is_answered_as_before_without_a_question() -> None:
    clock = Clock()
    a, recorder = node_with_alice(clock)
    a.received(HELLO, "c", STARTED)  # c just started: it holds nothing to ask for
    clock.advance(PUBLISH_GAP)
    to_c = [(kind, body) for channel, kind, body in recorder.sent if channel == a.bus.channel("c")]
    assert [kind for kind, _ in to_c if kind == HELLO] == []
    assert any(kind == PRESENCES and b"alice" in body for kind, body in to_c)


class Membership:
    """Redis as it is just after a restart: no node's name in it."""

    ttl_sec = 3
    renew_interval = 1.0

    async def live_holders(self) -> dict[str, bytes]:
        return {}


def test_no_node_is_taken_for_dead_within_a_ttl_of_redis_coming_back() -> None:
    clock = Clock()
    dead: list[str] = []
    watch = NodeWatch(Membership(), lambda: {"b"}, dead.append, clock)  # type: ignore[arg-type]
    watch.redis_back()
    ensureDeferred(watch._check_now())
    clock.advance(2.9)
    ensureDeferred(watch._check_now())
    assert dead == []  # its name may not be written again yet
    clock.advance(0.2)
    ensureDeferred(watch._check_now())
    assert dead == ["b"]
