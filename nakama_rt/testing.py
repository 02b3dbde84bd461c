"""Test doubles for game developers: unit-test runtime modules without a server.

::

    import mygame
    from nakama_rt.testing import FakeNakama, load_runtime

    def test_reward():
        nk = FakeNakama()
        player = nk.add_user("alice")
        game = load_runtime(mygame, nk=nk, env={"REWARD": "10"})
        assert game.rpc("claim", '{"day": 1}', user_id=player.id) == '{"coins": 10}'
        (sent,) = nk.notifications
        assert sent.user_id == player.id
        assert nk.called("notification_send")

:class:`FakeNakama` is the real ``nk`` (same argument checks, same results) over
in-memory users, recording every call and every notification instead of
delivering it. :func:`load_runtime` runs a module's ``init_module`` with the real
(side-effect free) :class:`~nakama_rt.runtime.Initializer` and returns a
:class:`RuntimeHarness` that calls the registered functions as the server would;
:class:`MatchHarness` drives an authoritative match handler tick by tick on a Clock.
"""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import orjson
from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.logger import LogLevel
from twisted.python.failure import Failure

from nakama_rt.core.notifications import NewNotification
from nakama_rt.core.pipeline import Pipeline
from nakama_rt.core.registry import SessionRegistry
from nakama_rt.core.router import LocalRouter
from nakama_rt.core.tracker import LocalTracker
from nakama_rt.realtime.dispatch import dispatch_table
from nakama_rt.realtime.match.authoritative import AuthoritativeMatch, MatchRegistry
from nakama_rt.realtime.match.listing import list_matches
from nakama_rt.realtime.match.relayed import MatchHandlers
from nakama_rt.realtime.stream import StreamManager
from nakama_rt.runtime import (
    NK_FUNCTIONS,
    ExecutionMode,
    NakamaModule,
    Runtime,
    RuntimeContext,
    RuntimeLogger,
    invoke,
)
from nakama_rt.runtime.realtime import ListMatches, NkChannels, NkMatches, NkStreams
from nakama_rt.socket.session import Session
from nakama_rt.storage import User
from nakama_rt.wire.codec import Format, OutgoingEnvelope
from nakama_rt.wire.proto import realtime_pb2

__all__ = [
    "DEFAULT_SESSION_ID",
    "DEFAULT_USER_ID",
    "FakeNakama",
    "NkCall",
    "RecordingLogger",
    "RuntimeHarness",
    "load_runtime",
    "result_of",
]

#: The caller of harness calls unless told otherwise.
DEFAULT_USER_ID = "00000000-0000-4000-8000-000000000001"
DEFAULT_SESSION_ID = "00000000-0000-4000-8000-0000000000aa"


def result_of(deferred: Deferred[Any]) -> Any:
    """The result of a Deferred that has fired; its exception raised if it failed."""
    outcome: list[Any] = []
    deferred.addBoth(outcome.append)
    if not outcome:
        raise AssertionError("the call has not finished; wait for its Deferred instead")
    if isinstance(outcome[0], Failure):
        outcome[0].raiseException()
    return outcome[0]


class RecordingLogger(RuntimeLogger):
    """A runtime logger keeping ``(level, text)`` lines in :attr:`records`."""

    def __init__(self) -> None:
        super().__init__("nakama_rt.testing")
        self.records: list[tuple[str, str]] = []

    def write(self, level: LogLevel, text: str) -> None:
        self.records.append((level.name, text))


@dataclass(frozen=True)
class NkCall:
    """One call a module made to ``nk``."""

    name: str
    args: tuple[Any, ...]
    kwargs: Mapping[str, Any]


class _MemoryUsers:
    def __init__(self, users: dict[str, User]) -> None:
        self._users = users

    def get_users(self, ids: Iterable[str] = (), usernames: Iterable[str] = ()):
        ids, names = set(ids), set(usernames)
        found = [u for u in self._users.values() if u.id in ids or u.username in names]
        return succeed(found)


class _Notifications:
    def __init__(self, sent: list[NewNotification]) -> None:
        self._sent = sent

    def send(self, notifications: Sequence[NewNotification]) -> Deferred[None]:
        self._sent.extend(notifications)
        return succeed(None)


class FakeNakama(NakamaModule):
    """``nk`` for tests. :attr:`calls` lists every ``nk`` call, :attr:`notifications`
    what was sent; :meth:`add_user` seeds users, :attr:`online` marks them online."""

    def __init__(
        self,
        *,
        streams: NkStreams | None = None,
        matches: NkMatches | None = None,
        list_matches: ListMatches | None = None,
        channels: NkChannels | None = None,
    ) -> None:
        """Without realtime collaborators (as :class:`NakamaModule` takes them),
        ``stream_*``, ``match_*`` and ``channel_message_send`` raise ``RuntimeError``."""
        self.calls: list[NkCall] = []
        self.notifications: list[NewNotification] = []
        self.users: dict[str, User] = {}
        self.online: set[str] = set()
        super().__init__(
            _MemoryUsers(self.users),
            _Notifications(self.notifications),
            lambda user_id: user_id in self.online,
            RecordingLogger(),
            streams=streams,
            matches=matches,
            list_matches=list_matches,
            channels=channels,
        )

    def add_user(self, username: str, user_id: str | None = None, **fields: Any) -> User:
        """A user ``users_get_*`` will find (fields as :class:`~nakama_rt.storage.User`)."""
        user = User(
            id=user_id or str(uuid.uuid4()),
            username=username,
            create_time=fields.pop("create_time", 0.0),
            update_time=fields.pop("update_time", 0.0),
            **fields,
        )
        self.users[user.id] = user
        return user

    def called(self, name: str) -> list[NkCall]:
        """The calls of one ``nk`` function, in order. A name that is not an ``nk``
        function (a typo, or one ``nk`` does not have) raises ``ValueError`` rather
        than answering that it was never called."""
        if name not in NK_FUNCTIONS:
            known = ", ".join(NK_FUNCTIONS)
            raise ValueError(f"{name!r} is not an nk function (they are: {known})")
        return [call for call in self.calls if call.name == name]


def _recorded(name: str) -> Any:
    real = getattr(NakamaModule, name)

    def method(self: FakeNakama, *args: Any, **kwargs: Any) -> Any:
        self.calls.append(NkCall(name, args, dict(kwargs)))
        return real(self, *args, **kwargs)

    method.__name__ = name
    method.__doc__ = real.__doc__
    return method


for _name in NK_FUNCTIONS:
    setattr(FakeNakama, _name, _recorded(_name))


@dataclass
class _Caller:
    """What the runtime reads of the session a call serves (a server-to-server call
    has none of it: ``user_id`` None)."""

    user_id: str | None
    username: str | None
    vars: Mapping[str, str] = field(default_factory=dict)
    expiry: int | None = None
    session_id: str | None = None
    lang: str | None = "en"
    client_ip: str | None = "127.0.0.1"
    client_port: str | None = "12345"


class RuntimeHarness:
    """A loaded runtime over a :class:`FakeNakama`. Calls take the caller's facts as
    keywords (``user_id``, ``username``, ``vars``, ``session_id``, ``lang``...);
    ``user_id=None`` calls as a server (``http_key``) would."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    @property
    def nk(self) -> Any:
        return self.runtime.nk

    @property
    def initializer(self) -> Any:
        """What ``init_module`` registered (``rpcs``, ``before_rt``, ``matches``...)."""
        return self.runtime.initializer

    def _caller(self, facts: Mapping[str, Any]) -> _Caller:
        facts = dict(facts)
        user_id = facts.pop("user_id", DEFAULT_USER_ID)
        facts.setdefault("session_id", DEFAULT_SESSION_ID if user_id else None)
        facts.setdefault("username", "player" if user_id else None)
        if user_id is None:
            facts.setdefault("lang", None)
        return _Caller(user_id=user_id, **facts)

    def context(self, mode: ExecutionMode = ExecutionMode.RPC, **facts: Any) -> RuntimeContext:
        """The ``ctx`` a function would get for a caller with these facts."""
        return self.runtime.session_context(self._caller(facts), mode)

    def call_rpc(self, id: str, payload: str = "", **facts: Any) -> Deferred[str]:
        """Call an RPC as a client would; a Deferred of its payload."""
        if not self.runtime.has_rpc(id):
            raise LookupError(f"no RPC {id!r} is registered")
        return self.runtime.call_rpc(id, self.context(**facts), payload)

    def rpc(self, id: str, payload: str = "", **facts: Any) -> str:
        """:meth:`call_rpc` for functions that finish at once; raises what they raise."""
        return result_of(self.call_rpc(id, payload, **facts))

    def before_rt(
        self, message: str, envelope: realtime_pb2.Envelope, **facts: Any
    ) -> realtime_pb2.Envelope | None:
        """Run the before hook of ``message``: the envelope to process, or None."""
        called = self.runtime.run_before(message, self._caller(facts), envelope)
        return result_of(called)

    def after_rt(
        self,
        message: str,
        out: realtime_pb2.Envelope | None,
        envelope: realtime_pb2.Envelope,
        **facts: Any,
    ) -> None:
        """Run the after hook of ``message``; raises what it raises (the server logs it)."""
        fn = self.runtime.initializer.after_rt[message]
        ctx = self.context(ExecutionMode.AFTER, **facts)
        result_of(invoke(fn, ctx, self.runtime.logger, self.nk, out, envelope))


def load_runtime(
    source: ModuleType | str | os.PathLike[str],
    *,
    nk: FakeNakama | None = None,
    env: Mapping[str, str] | None = None,
    node: str = "nakama",
) -> RuntimeHarness:
    """Load a module object, or every module of a directory (as ``runtime.path``),
    with a fresh :class:`~nakama_rt.runtime.Initializer`."""
    nk = nk if nk is not None else FakeNakama()
    runtime = Runtime(env=env, node=node, nk=nk, logger=nk.logger)
    if isinstance(source, ModuleType):
        ctx = runtime.context(ExecutionMode.RUN_ONCE)
        source.init_module(ctx, runtime.logger, nk, runtime.initializer)
    else:
        runtime.load(os.fspath(source))
    return RuntimeHarness(runtime)


# Matches ------------------------------------------------------------------------------------


class _Recorder:
    """The connection of a pretend player: keeps every envelope it was sent, as JSON."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []

    def write_frame(self, envelope: OutgoingEnvelope, fmt: Format) -> None:
        self.received.append(orjson.loads(envelope.payload(Format.JSON)))

    def send_close(self, code: int, reason: str) -> None:
        pass


@dataclass
class MatchPlayer:
    """A pretend player in a :class:`MatchHarness`; ``received`` holds what it was sent
    (envelopes as JSON dicts, e.g. ``{"match_data": {...}}``)."""

    session: Any
    wire: _Recorder = field(repr=False)

    @property
    def received(self) -> list[dict[str, Any]]:
        return self.wire.received

    def data(self, op_code: int | None = None) -> list[dict[str, Any]]:
        """The ``match_data`` it received (of one op code), decoded data in ``"bytes"``."""
        found = []
        for message in self.received:
            data = message.get("match_data")
            if data is None or (op_code is not None and int(data.get("op_code", 0)) != op_code):
                continue
            found.append({**data, "bytes": base64.b64decode(data.get("data", ""))})
        return found


class MatchRejected(Exception):
    """``match_join_attempt`` refused the player; ``reason`` is what the client would see."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MatchHarness:
    """Drive an authoritative match handler tick by tick on a ``Clock``, with pretend
    players, exactly as the server runs it (same registry, dispatcher and stream)::

        from nakama_rt.testing import MatchHarness, load_runtime

        def test_moves_are_relayed():
            game = MatchHarness(load_runtime(arena), "arena")
            red = game.join("red", {"team": "red"})
            game.send(red, 1, b"north")
            game.tick()
            assert red.data(1)[0]["bytes"] == b"north"
    """

    def __init__(
        self,
        runtime: RuntimeHarness,
        name: str,
        params: Mapping[str, Any] | None = None,
    ) -> None:
        self.clock = Clock()
        self.tracker = LocalTracker()
        self.sessions = SessionRegistry()
        router = LocalRouter(self.sessions, self.tracker)
        self.registry = MatchRegistry(
            self.tracker,
            router,
            self.clock,
            runtime.runtime.node,
            runtime.initializer.matches,
            context_factory=runtime.runtime.match_context,
            logger=runtime.runtime.logger,
        )
        relay = MatchHandlers(
            self.tracker, router, "test-key", self.clock, authoritative=self.registry
        )
        # The server's own pipeline, so joins and data go through what clients reach.
        self.pipeline = Pipeline(dispatch_table(matches=relay))
        #: The ``nk`` the match's callbacks get: the runtime's (same records, same
        #: users), reaching this harness's world for ``nk.stream_*`` and ``nk.match_*``.
        self.nk = runtime.nk._reaching(
            streams=StreamManager(self.tracker, router, self.sessions),
            matches=self.registry,
            list_matches=lambda match_filter: list_matches(
                self.registry, self.tracker, match_filter
            ),
        )
        self.match_id = self.registry.create(name, params or {}, self.nk)
        match = self.registry.get(self.match_id)
        assert match is not None  # create() registered it under this id
        self._match: AuthoritativeMatch = match

    @property
    def state(self) -> Any:
        return self._match.state

    @property
    def label(self) -> str:
        return self._match.label

    @property
    def ended(self) -> bool:
        return self._match.stopped

    def join(self, username: str, metadata: Mapping[str, str] | None = None) -> MatchPlayer:
        """A new player asks to join; raises :class:`MatchRejected` when refused."""
        wire = _Recorder()
        session = Session(
            session_id=str(uuid.uuid4()),
            user_id=str(uuid.uuid4()),
            username=username,
            vars={},
            expiry=0,
            token_id="",
            fmt=Format.JSON,
            lang="en",
            client_ip="127.0.0.1",
            client_port="0",
            connection=wire,
            outgoing_queue_size=1 << 20,
        )
        self.sessions.add(session)
        envelope = realtime_pb2.Envelope(
            cid="join",
            match_join=realtime_pb2.MatchJoin(match_id=self.match_id, metadata=metadata or {}),
        )
        self.pipeline.process(session, envelope)
        answer = next(m for m in wire.received if m.get("cid") == "join")
        if "error" in answer:
            self.sessions.remove(session.id)
            raise MatchRejected(answer["error"].get("message", ""))
        return MatchPlayer(session, wire)

    def send(self, player: MatchPlayer, op_code: int, data: bytes | str = b"") -> None:
        """The player sends ``match_data_send``; the handler sees it at the next tick."""
        payload = data.encode() if isinstance(data, str) else data
        envelope = realtime_pb2.Envelope(
            match_data_send=realtime_pb2.MatchDataSend(
                match_id=self.match_id, op_code=op_code, data=payload
            )
        )
        self.pipeline.process(player.session, envelope)

    def leave(self, player: MatchPlayer) -> None:
        """The player's socket closes."""
        self.tracker.untrack_all(player.session.id)
        self.sessions.remove(player.session.id)

    def tick(self, count: int = 1) -> None:
        """Run ``count`` ticks of the match at its tick rate (the first ``match_loop``
        gets tick 0, as on Nakama)."""
        for _ in range(count):
            self.clock.advance(1.0 / self._match.tick_rate)

    def signal(self, data: str) -> str:
        return self.registry.signal(self.match_id, data)

    def terminate(self, grace_seconds: int = 0) -> None:
        """The server shuts down: ``match_terminate``, then the match ends."""
        self.registry.shutdown(grace_seconds)
