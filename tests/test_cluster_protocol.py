"""The version of the messages between nodes (``bus.PROTOCOL``) names one set of
message kinds and one shape of each: a kind added, removed or given another byte, or a
message of a kind written otherwise, changes what an older node can read, so the number
must change with it. When this fails, raise ``PROTOCOL``, write the new set of kinds
here under it, and freeze the new samples (``python tests/test_cluster_protocol.py``)."""

from __future__ import annotations

import json
from pathlib import Path

from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock

from nakama_rt.cluster import bus, calls, directory, matchmaking, node, router, tracker
from nakama_rt.cluster.bus import PUBLISH_GAP, split
from nakama_rt.cluster.node import ClusterNode
from nakama_rt.core.refs import ListedMatch, ListedParty, ParkedRef, TicketData
from nakama_rt.core.remote import CallFailed
from nakama_rt.core.tracker import PresenceMeta, PresenceReason, PresenceStream
from nakama_rt.wire.proto import realtime_pb2

#: Each protocol's kinds, by module and name.
KINDS = {
    2: {
        "calls": {"REQUEST": b"Q", "ANSWER": b"A", "FAILED": b"F", "ONE_WAY": b"O"},
        "directory": {"MATCHES": b"M", "PARTIES": b"Y", "RESUMABLE": b"R"},
        "matchmaking": {"TICKETS": b"K"},
        "node": {"HELLO": b"S", "BYE": b"B"},
        "router": {"TO_STREAM": b"D", "TO_SESSIONS": b"E", "CLOSE": b"C"},
        "tracker": {"PRESENCES": b"P", "TRACK": b"T"},
    }
}


def kinds_now() -> dict[str, dict[str, bytes]]:
    """Every one-byte constant of the modules that send on the bus."""
    modules = (calls, directory, matchmaking, node, router, tracker)
    found: dict[str, dict[str, bytes]] = {}
    for module in modules:
        name = module.__name__.rsplit(".", 1)[1]
        found[name] = {
            key: value
            for key, value in vars(module).items()
            if key.isupper() and isinstance(value, bytes) and len(value) == 1
        }
    return found


def test_the_protocol_number_names_the_message_kinds_of_this_version() -> None:
    assert bus.PROTOCOL in KINDS, f"write the kinds of protocol {bus.PROTOCOL} here"
    assert kinds_now() == KINDS[bus.PROTOCOL]


def test_no_two_kinds_share_a_byte() -> None:
    every = [value for kinds in kinds_now().values() for value in kinds.values()]
    assert len(every) == len(set(every))


# What each kind looks like: one scripted exchange between two nodes, recorded as
# published, against the frozen samples of this protocol


class Recorder:
    """A node's publisher that keeps each PUBLISH, with its sender, in ``published``."""

    def __init__(self, published: list[tuple[str, bytes, bytes]], node: str) -> None:
        self._wire = published
        self._node = node
        self.connected = True

    def publish(self, channel: bytes, message: bytes) -> None:
        self._wire.append((self._node, channel, message))

    def ping(self) -> Deferred[object]:
        return succeed(b"PONG")

    def on_lost(self, listener: object) -> None:
        pass


def exchange() -> list[tuple[str, bytes, bytes]]:
    """Every PUBLISH of a script that makes each kind of message at least once:
    (sender, channel, batch)."""
    clock = Clock()
    published: list[tuple[str, bytes, bytes]] = []
    nodes = {name: ClusterNode.build(name, clock) for name in ("a", "b")}
    for name, each in nodes.items():
        each.bus.attach(Recorder(published, name), each.received)
    delivered = 0

    def deliver() -> None:
        # What was published, to the node each channel is for, as Redis would hand it
        # on (the all-nodes channel to every node but the sender).
        nonlocal delivered
        clock.advance(PUBLISH_GAP)  # each channel's batch goes
        while delivered < len(published):
            sender, channel, batch = published[delivered]
            delivered += 1
            for name, each in nodes.items():
                if name != sender and channel in (each.bus.channel(name), each.bus.all_channel):
                    each.bus.deliver(channel, batch)
            clock.advance(PUBLISH_GAP)

    a, b = nodes["a"], nodes["b"]
    a.start(["a"])
    b.start(["a", "b"])
    deliver()
    room = PresenceStream(2, "room")
    # Every field of a kind's sample differs from its neighbours, so that fields moved
    # within a message show.
    alice = PresenceMeta("alice", persistence=True, status="here")
    bob = PresenceMeta("bob", format="protobuf", hidden=True)
    a.tracker.track("session-a", room, "user-a", alice)
    b.tracker.track("session-b", room, "user-b", bob)
    deliver()
    a.tracker.update("session-a", room, "user-a", PresenceMeta("alice", status="away"))
    match = PresenceStream(4, "match-subject", "", "a")
    a.tracker.track("session-b", match, "user-b", bob)  # b's session, tracked by b
    a.tracker.untrack("session-b", match, "user-b")
    deliver()
    envelope = realtime_pb2.Envelope()
    envelope.channel_message.channel_id = "2...room"
    envelope.channel_message.content = '{"hello":"world"}'
    a.router.send_to_stream(room, envelope)
    a.router.send_to_session_ids(["session-b"], envelope)
    a.router.close_sessions(["session-b"], "closed for a sample")
    deliver()
    b.calls.serve("echo", lambda sender, payload: (payload, None))
    answered = a.calls.call("b", "echo", b"ping")
    refused = a.calls.call("b", "nobody-serves-this", b"")
    a.calls.tell("b", "echo", b"one way")
    deliver()
    assert answered.result == b"ping"
    refused.addErrback(lambda failure: failure.trap(CallFailed))
    a.matches.put(ListedMatch("match-subject", "a", "a label", 10, "handler", 0.0))
    a.matches.remove("match-subject")
    a.parties.put(ListedParty("party-subject", "a", True, False, 4, "", 0.0))
    a.parked.put(ParkedRef("session-a", "a", "token-a", "user-a", "json"))
    presences = (("user-a", "session-a", "alice", "a"),)
    ticket = TicketData(
        "ticket-a", "session-a", "", presences, "*", 2, 4, 1, {"mode": "x"}, {"skill": 1.5}, 7
    )
    a.tickets.added(ticket)
    a.tickets.removed(["ticket-a"])
    a.tracker.untrack_all("session-a", PresenceReason.DISCONNECT)
    a.leave()
    deliver()
    return published


def samples_now() -> dict[str, list[str]]:
    """Each kind's messages in :func:`exchange`, as ``sender: body`` (bytes as Python
    writes them), and the first batch as published."""
    published = exchange()
    # And one batch whole: how messages are framed in a PUBLISH.
    found: dict[str, list[str]] = {"batch": [repr(published[0][2])]}
    for sender, _, batch in published:
        for kind, _, body in split(batch):
            found.setdefault(kind.decode(), []).append(f"{sender}: {body!r}")
    return found


SAMPLES = Path(__file__).parent / "samples" / "cluster_protocol_samples.json"


def test_each_kind_keeps_the_shape_of_this_protocols_samples() -> None:
    """A message whose shape changed within its kind (a field added, moved or encoded
    otherwise) cannot be read by a node of the same number: raise ``PROTOCOL`` and
    freeze the new samples under it (``python tests/test_cluster_protocol.py``)."""
    frozen = json.loads(SAMPLES.read_text())
    assert str(bus.PROTOCOL) in frozen, (
        f"no samples of protocol {bus.PROTOCOL}: run python tests/test_cluster_protocol.py"
    )
    assert samples_now() == frozen[str(bus.PROTOCOL)], (
        "the messages between nodes changed: raise bus.PROTOCOL, then run "
        "python tests/test_cluster_protocol.py to freeze them"
    )


def test_the_samples_show_every_kind() -> None:
    every = {value.decode() for kinds in kinds_now().values() for value in kinds.values()}
    assert set(samples_now()) == every | {"batch"}


if __name__ == "__main__":
    # Freeze this protocol's samples.
    frozen = {str(bus.PROTOCOL): samples_now()}
    SAMPLES.write_text(json.dumps(frozen, indent=1, sort_keys=True) + "\n")
    print(f"froze protocol {bus.PROTOCOL}'s samples in {SAMPLES}")
