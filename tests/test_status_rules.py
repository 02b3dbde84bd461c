"""Tracker, status registry and status handlers, with fake connections (no sockets)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from twisted.internet.defer import succeed

from nakama_rt.core.pipeline import Pipeline
from nakama_rt.core.registry import SessionRegistry
from nakama_rt.core.router import LocalRouter
from nakama_rt.core.tracker import LocalTracker, PresenceMeta, PresenceStream, StreamMode
from nakama_rt.realtime.dispatch import dispatch_table
from nakama_rt.realtime.status import StatusHandlers, StatusRegistry, status_stream
from nakama_rt.socket.session import Session
from nakama_rt.wire.proto import realtime_pb2
from tests.helpers import Wire, make_session


@dataclass
class FakeUser:
    id: str
    username: str


class FakeStorage:
    def __init__(self, users: list[FakeUser]) -> None:
        self.users = users

    def get_users(self, ids, usernames):
        return succeed([u for u in self.users if u.id in ids or u.username in usernames])


class World:
    def __init__(self, names: list[str]) -> None:
        self.users = {n: FakeUser(str(uuid.uuid4()), n) for n in names}
        self.tracker = LocalTracker()
        self.sessions = SessionRegistry()
        self.router = LocalRouter(self.sessions, self.tracker)
        self.status = StatusRegistry(self.tracker, self.router)
        storage = FakeStorage(list(self.users.values()))
        handlers = StatusHandlers(self.status, self.tracker, storage, self.sessions)
        self.pipeline = Pipeline(dispatch_table(status=handlers))

    def connect(self, name: str, online: bool = True) -> tuple[Session, Wire]:
        user = self.users[name]
        wire = Wire()
        session = make_session(name, wire, user_id=user.id, outgoing_queue_size=64)
        self.sessions.add(session)
        self.status.follow(session.id, [user.id])
        if online:
            self.tracker.track(
                session.id, status_stream(user.id), user.id, PresenceMeta(username=name)
            )
        return session, wire

    def disconnect(self, session: Session) -> None:
        self.tracker.untrack_all(session.id)
        self.status.unfollow_all(session.id)
        self.sessions.remove(session.id)

    def request(self, session: Session, **message) -> object:
        envelope = realtime_pb2.Envelope(cid="7", **message)
        result = self.pipeline.process(session, envelope)
        if hasattr(result, "result"):
            return result.result
        return result


def events(wire: Wire) -> list[dict]:
    return [m["status_presence_event"] for m in wire.sent if "status_presence_event" in m]


def test_follow_lists_online_sessions_and_skips_self() -> None:
    w = World(["alice", "bob", "carol"])
    bob, _ = w.connect("bob")
    w.connect("carol", online=False)
    alice, alice_wire = w.connect("alice")
    carol_id = w.users["carol"].id
    assert w.request(
        alice,
        status_follow=realtime_pb2.StatusFollow(
            user_ids=[w.users["bob"].id, carol_id, w.users["alice"].id]
        ),
    )
    reply = alice_wire.sent[-1]
    assert reply["cid"] == "7"
    assert reply["status"]["presences"] == [
        {"user_id": w.users["bob"].id, "session_id": bob.id, "username": "bob", "status": ""}
    ]
    assert w.status.following(alice.id) == {w.users["alice"].id, w.users["bob"].id, carol_id}


def test_follow_by_username_and_unknown_users_are_ignored() -> None:
    w = World(["alice", "bob"])
    w.connect("bob")
    alice, wire = w.connect("alice")
    assert w.request(
        alice,
        status_follow=realtime_pb2.StatusFollow(
            usernames=["bob", "nobody"], user_ids=[str(uuid.uuid4())]
        ),
    )
    assert [p["username"] for p in wire.sent[-1]["status"]["presences"]] == ["bob"]


def test_follow_with_nothing_answers_an_empty_status() -> None:
    w = World(["alice"])
    alice, wire = w.connect("alice")
    assert w.request(alice, status_follow=realtime_pb2.StatusFollow())
    assert wire.sent[-1] == {"cid": "7", "status": {}}


def test_follow_refuses_a_malformed_id_or_empty_username() -> None:
    # Answered with an Error; as in Nakama the socket stays open (the request returns True).
    w = World(["alice"])
    alice, wire = w.connect("alice")
    assert w.request(alice, status_follow=realtime_pb2.StatusFollow(user_ids=["not-a-uuid"]))
    assert wire.sent[-1] == {"cid": "7", "error": {"code": 3, "message": "Invalid user identifier"}}
    assert w.request(alice, status_follow=realtime_pb2.StatusFollow(usernames=[""]))
    assert wire.sent[-1]["error"] == {"code": 3, "message": "Invalid username"}
    assert w.request(alice, status_unfollow=realtime_pb2.StatusUnfollow(user_ids=["x"]))
    assert wire.sent[-1]["error"]["message"] == "Invalid user identifier"


def test_followers_see_joins_updates_and_leaves() -> None:
    w = World(["alice", "bob"])
    alice, alice_wire = w.connect("alice")
    w.request(alice, status_follow=realtime_pb2.StatusFollow(usernames=["bob"]))
    bob, bob_wire = w.connect("bob")
    bob_id = w.users["bob"].id
    joined = {"user_id": bob_id, "session_id": bob.id, "username": "bob", "status": ""}
    own_join = events(alice_wire)[0]["joins"][0]
    assert own_join["session_id"] == alice.id, "a session follows its own user"
    assert events(alice_wire)[1:] == [{"joins": [joined]}]

    assert w.request(bob, status_update=realtime_pb2.StatusUpdate(status={"value": "playing"}))
    assert bob_wire.sent[-2] == {"cid": "7"}, "the reply goes before the events it causes"
    assert events(alice_wire)[-1] == {
        "joins": [{**joined, "status": "playing"}],
        "leaves": [joined],
    }

    assert w.request(bob, status_update=realtime_pb2.StatusUpdate())  # no status: appear offline
    assert events(alice_wire)[-1] == {"leaves": [{**joined, "status": "playing"}]}
    assert not w.status.is_online(bob_id)

    w.request(bob, status_update=realtime_pb2.StatusUpdate(status={"value": "back"}))
    w.disconnect(bob)
    assert events(alice_wire)[-1] == {"leaves": [{**joined, "status": "back"}]}


def test_a_user_is_online_while_any_socket_is() -> None:
    w = World(["alice", "bob"])
    first, _ = w.connect("bob")
    second, _ = w.connect("bob")
    bob_id = w.users["bob"].id
    w.disconnect(first)
    assert w.status.is_online(bob_id)
    w.disconnect(second)
    assert not w.status.is_online(bob_id)


def test_sessions_see_their_own_users_other_sockets() -> None:
    w = World(["bob"])
    _, first_wire = w.connect("bob")
    second, _ = w.connect("bob")
    assert events(first_wire)[-1]["joins"][0]["session_id"] == second.id


def test_unfollow_stops_events_and_status_length_is_bounded() -> None:
    w = World(["alice", "bob"])
    alice, alice_wire = w.connect("alice")
    w.request(alice, status_follow=realtime_pb2.StatusFollow(usernames=["bob"]))
    assert w.request(
        alice, status_unfollow=realtime_pb2.StatusUnfollow(user_ids=[w.users["bob"].id])
    )
    assert alice_wire.sent[-1] == {"cid": "7"}
    before = len(events(alice_wire))
    bob, bob_wire = w.connect("bob")
    assert len(events(alice_wire)) == before
    w.request(bob, status_update=realtime_pb2.StatusUpdate(status={"value": "x" * 2049}))
    assert bob_wire.sent[-1]["error"]["message"] == "Status must be 2048 characters or less"
    w.request(bob, status_update=realtime_pb2.StatusUpdate(status={"value": "x" * 2048}))
    assert bob_wire.sent[-2] == {"cid": "7"}


def test_hidden_presences_emit_nothing_and_untrack_all_empties_the_tracker() -> None:
    w = World(["alice"])
    alice, wire = w.connect("alice", online=False)
    seen = []
    w.tracker.add_listener(
        StreamMode.NOTIFICATIONS, lambda stream, joins, leaves: seen.append((joins, leaves))
    )
    stream = PresenceStream(StreamMode.NOTIFICATIONS, alice.user_id)
    assert w.tracker.track(alice.id, stream, alice.user_id, PresenceMeta("alice", hidden=True))
    assert not w.tracker.track(alice.id, stream, alice.user_id, PresenceMeta("alice", hidden=True))
    assert w.tracker.count_by_stream(stream) == 1
    w.tracker.untrack_all(alice.id)
    assert seen == []
    assert len(w.tracker) == 0
    assert w.tracker.streams_by_session(alice.id) == []
