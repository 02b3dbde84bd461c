"""The pipeline's contract with handlers: they return their answer or raise a refusal,
and the pipeline alone answers the socket and runs the hooks; features never import
the socket."""

from __future__ import annotations

import ast
from pathlib import Path

import orjson
import pytest
from twisted.internet.defer import Deferred, succeed

from nakama_rt.core.pipeline import (
    Dropped,
    ErrorCode,
    Pipeline,
    RealtimeError,
    ReplyFirst,
    Requester,
)
from nakama_rt.core.registry import SessionRegistry
from nakama_rt.core.router import LocalRouter
from nakama_rt.core.tracker import LocalTracker, PresenceStream
from nakama_rt.counters import RealtimeCounts
from nakama_rt.realtime.dispatch import dispatch_table
from nakama_rt.realtime.ping import PongReply
from nakama_rt.runtime import HOOKABLE_MESSAGES
from nakama_rt.wire.codec import Format, OutgoingEnvelope
from nakama_rt.wire.proto import realtime_pb2

ROOT = Path(__file__).resolve().parent.parent
ME = Requester(
    session_id="s1",
    user_id="u1",
    username="alice",
    format=Format.JSON,
    vars={},
    lang="en",
    expiry=0,
    client_ip="127.0.0.1",
    client_port="1",
)


class Socket:
    """The requesting session as the pipeline sees it; keeps what it was sent."""

    requester = ME

    def __init__(self) -> None:
        self.sent: list[dict] = []

    def send_reply(self, outgoing: OutgoingEnvelope) -> bool:
        self.sent.append(orjson.loads(outgoing.payload(Format.JSON)))
        return True


class Hooks:
    def __init__(self) -> None:
        self.after: list[tuple[str, Requester, dict | None]] = []

    def has_before(self, message: str) -> bool:
        return False

    def has_after(self, message: str) -> bool:
        return True

    def run_before(self, message, requester, envelope):
        raise AssertionError("no before hooks here")

    def run_after(self, message, requester, out, envelope) -> Deferred[None]:
        reply = orjson.loads(OutgoingEnvelope(out).payload(Format.JSON)) if out else None
        self.after.append((message, requester, reply))
        return succeed(None)


def ping(cid: str = "7") -> realtime_pb2.Envelope:
    return realtime_pb2.Envelope(cid=cid, ping=realtime_pb2.Ping())


def run(handler, hooks=None, counts=None) -> tuple[Socket, object]:
    socket = Socket()
    pipeline = Pipeline({"ping": handler}, counts, hooks)
    verdict = pipeline.process(socket, ping())
    return socket, verdict


def test_a_returned_envelope_is_sent_with_the_request_cid() -> None:
    seen: list[Requester] = []

    def handler(envelope, requester):
        seen.append(requester)
        return realtime_pb2.Envelope(status=realtime_pb2.Status())

    socket, verdict = run(handler)
    assert socket.sent == [{"cid": "7", "status": {}}] and verdict is True
    assert seen == [ME], "the handler gets the requester, not the socket"


def test_an_encoded_reply_goes_out_as_it_is() -> None:
    socket, _ = run(lambda envelope, requester: PongReply(envelope.cid))
    assert socket.sent == [{"cid": "7", "pong": {}}]


def test_none_answers_nothing() -> None:
    socket, verdict = run(lambda envelope, requester: None)
    assert socket.sent == [] and verdict is True


def test_a_realtime_error_is_nakamas_error_envelope_and_counted() -> None:
    def handler(envelope, requester):
        raise RealtimeError(ErrorCode.BAD_INPUT, "no")

    counts = RealtimeCounts()
    socket, verdict = run(handler, counts=counts)
    assert socket.sent == [{"cid": "7", "error": {"code": 3, "message": "no"}}]
    assert verdict is True, "a refused request keeps the socket open"
    assert counts.errors[ErrorCode.BAD_INPUT] == 1


def test_an_error_may_leave_the_cid_out_as_nakama_does() -> None:
    def handler(envelope, requester):
        raise RealtimeError(ErrorCode.BAD_INPUT, "Invalid match ID", with_cid=False)

    socket, _ = run(handler)
    assert socket.sent == [{"error": {"code": 3, "message": "Invalid match ID"}}]


def test_a_dropped_request_gets_nothing_and_no_after_hook() -> None:
    def handler(envelope, requester):
        raise Dropped()

    hooks = Hooks()
    socket, verdict = run(handler, hooks)
    assert socket.sent == [] and hooks.after == []
    assert verdict.result is True


def test_reply_first_sends_the_reply_before_its_change() -> None:
    socket = Socket()

    def handler(envelope, requester):
        return ReplyFirst(realtime_pb2.Envelope(), then=lambda: socket.sent.append("then"))

    Pipeline({"ping": handler}).process(socket, ping())
    assert socket.sent == [{"cid": "7"}, "then"]


def test_an_asynchronous_answer_is_sent_when_it_fires_and_holds_the_verdict() -> None:
    pending: Deferred = Deferred()
    socket, verdict = run(lambda envelope, requester: pending)
    assert isinstance(verdict, Deferred) and not verdict.called and socket.sent == []
    pending.callback(realtime_pb2.Envelope(status=realtime_pb2.Status()))
    assert socket.sent == [{"cid": "7", "status": {}}] and verdict.result is True


def test_an_asynchronous_refusal_is_answered_too() -> None:
    pending: Deferred = Deferred()
    socket, verdict = run(lambda envelope, requester: pending)
    pending.errback(RealtimeError(ErrorCode.RUNTIME_EXCEPTION, "storage down"))
    assert socket.sent == [{"cid": "7", "error": {"message": "storage down"}}]
    assert verdict.result is True


def test_anything_else_raised_fails_the_request_for_the_lifecycle_to_close() -> None:
    pending: Deferred = Deferred()
    _, verdict = run(lambda envelope, requester: pending)
    pending.errback(ZeroDivisionError())
    failures: list = []
    verdict.addErrback(failures.append)
    assert failures and failures[0].check(ZeroDivisionError)


def test_the_after_hook_sees_the_reply_that_was_sent() -> None:
    hooks = Hooks()
    socket, verdict = run(lambda envelope, requester: PongReply(envelope.cid), hooks)
    assert hooks.after == [("ping", ME, {"cid": "7", "pong": {}})]
    assert socket.sent == [{"cid": "7", "pong": {}}] and verdict.result is True


def test_the_after_hook_does_not_run_for_a_refusal() -> None:
    def handler(envelope, requester):
        raise RealtimeError(ErrorCode.BAD_INPUT, "no")

    hooks = Hooks()
    run(handler, hooks)
    assert hooks.after == []


def test_a_table_entry_must_be_an_envelope_message() -> None:
    with pytest.raises(ValueError, match="not Envelope messages: pingg"):
        Pipeline({"pingg": lambda envelope, requester: None})


def test_the_dispatch_table_answers_every_hookable_message_and_rpc() -> None:
    class Every:
        def __getattr__(self, name: str):
            return lambda envelope, requester: None

    every = Every()
    table = dispatch_table(
        channels=every,  # type: ignore[arg-type]
        matches=every,  # type: ignore[arg-type]
        matchmaker=every,  # type: ignore[arg-type]
        rpc=every,  # type: ignore[arg-type]
        status=every,  # type: ignore[arg-type]
        parties=every,  # type: ignore[arg-type]
    )
    assert set(table) == HOOKABLE_MESSAGES | {"rpc"}


def test_the_router_wraps_a_plain_envelope_once_for_every_recipient() -> None:
    class Wire:
        def __init__(self) -> None:
            self.frames: list[object] = []

        def send(self, outgoing: OutgoingEnvelope) -> bool:
            self.frames.append(outgoing)
            return True

    class Member:
        def __init__(self, session_id: str) -> None:
            self.id = session_id
            self.wire = Wire()
            self.send = self.wire.send

    sessions, tracker = SessionRegistry(), LocalTracker()
    members = [Member("a"), Member("b")]
    for member in members:
        sessions.add(member)  # type: ignore[arg-type]
    counts = RealtimeCounts()
    router = LocalRouter(sessions, tracker, counts)
    router.send_to_session_ids(["a", "b", "gone"], realtime_pb2.Envelope(pong={}))
    (first,), (second,) = (m.wire.frames for m in members)
    assert first is second and isinstance(first, OutgoingEnvelope)
    assert counts.messages_out["pong"] == 2
    router.send_to_stream(PresenceStream(100), realtime_pb2.Envelope(pong={}))  # nobody


#: The socket side: what features must never import (they keep session ids).
SOCKET_PACKAGES = ("nakama_rt.socket", "nakama_rt.web")
FEATURES = [
    *sorted((ROOT / "nakama_rt" / "realtime").rglob("*.py")),
    *sorted((ROOT / "nakama_rt" / "core").glob("*.py")),
]


@pytest.mark.parametrize("path", FEATURES, ids=lambda p: str(p.relative_to(ROOT)))
def test_features_never_import_the_socket(path: Path) -> None:
    imported: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
            imported.update(f"{node.module}.{alias.name}" for alias in node.names)
    socket_side = {name for name in imported if name.startswith(SOCKET_PACKAGES)}
    assert not socket_side, (path, socket_side)
