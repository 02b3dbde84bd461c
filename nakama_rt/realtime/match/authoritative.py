"""Server-authoritative matches: a Python match handler driven tick by tick on the reactor.

A handler (registered by name from a runtime module) has Nakama's lifecycle:
``match_init(ctx, logger, nk, params) -> (state, tick_rate, label)``, then
``match_join_attempt``, ``match_join``, ``match_leave``, ``match_loop`` (once per
tick with the messages received since the last one; returning None ends the match),
``match_terminate`` and ``match_signal``, each taking
``(ctx, logger, nk, dispatcher, tick, state, ...)`` as in Nakama. Callbacks are plain
functions: they run on the reactor thread, between ticks, never concurrently.

``tick`` counts the loops that have completed, as Nakama's match handler counts them:
the first ``match_loop`` gets 0, and every other callback gets the number of loops
run so far (0 before the first loop). A loop that ends the match is not counted.

An exception in any callback ends that match cleanly (members get their leave
events) and nothing else. Ticks run on the injected clock, anchored to the match's
start, so a slow loop is logged and the match catches up instead of drifting.
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import orjson
from google.protobuf import wrappers_pb2
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.python.failure import Failure

from nakama_rt.core.directory import Directory
from nakama_rt.core.held import HeldPresences
from nakama_rt.core.pipeline import Dropped, ErrorCode, RealtimeError, ReplyFirst, Requester
from nakama_rt.core.refs import ListedMatch
from nakama_rt.core.remote import CallFailed, IRemote, NodeUnavailable, Served
from nakama_rt.core.router import IRouter
from nakama_rt.core.tracker import (
    ITracker,
    Presence,
    PresenceMeta,
    PresenceReason,
    PresenceStream,
    StreamMode,
)
from nakama_rt.logs import Logger
from nakama_rt.realtime.match.relayed import MatchTarget, presence_event
from nakama_rt.wire.proto import api_pb2, realtime_pb2

LABEL_MAX_BYTES = 2048
INPUT_QUEUE_SIZE = 128


class MatchError(Exception):
    """A match cannot be created, found or changed; the message says why."""


@dataclass(frozen=True, slots=True)
class MatchPresence:
    """A member as handlers see it (Nakama's ``runtime.Presence``)."""

    user_id: str
    session_id: str
    username: str
    node: str
    reason: int = PresenceReason.UNKNOWN


@dataclass(frozen=True, slots=True)
class MatchMessage:
    """A client's ``match_data_send`` as ``match_loop`` receives it."""

    user_id: str
    session_id: str
    username: str
    node: str
    op_code: int
    data: bytes
    reliable: bool
    receive_time_ms: int


#: Builds the ``ctx`` a handler callback gets: (match id, node, label, tick rate) -> ctx.
ContextFactory = Callable[[str, str, str, int], Any]


class Dispatcher:
    """What a handler may do to its match (Nakama's ``MatchDispatcher``)."""

    def __init__(self, match: AuthoritativeMatch) -> None:
        self._match = match

    def broadcast_message(
        self,
        op_code: int,
        data: bytes | str,
        presences: Iterable[MatchPresence] | None = None,
        sender: MatchPresence | None = None,
        reliable: bool = True,
    ) -> None:
        self._match.broadcast(op_code, data, presences, sender, reliable)

    def broadcast_message_deferred(
        self,
        op_code: int,
        data: bytes | str,
        presences: Iterable[MatchPresence] | None = None,
        sender: MatchPresence | None = None,
        reliable: bool = True,
    ) -> None:
        """Send once the current callback (e.g. this tick's loop) has returned."""
        self._match.deferred.append((op_code, data, presences, sender, reliable))

    def match_kick(self, presences: Iterable[MatchPresence]) -> None:
        self._match.kick(presences)

    def match_label_update(self, label: str) -> None:
        self._match.set_label(label)


class AuthoritativeMatch:
    """One running match: its handler, state, members' stream and tick loop."""

    log = Logger()

    def __init__(
        self,
        registry: MatchRegistry,
        subject: str,
        handler_name: str,
        handler: Any,
        nk: object = None,
    ) -> None:
        self.registry = registry
        self.subject = subject
        #: The ``nk`` every callback gets: the one that created the match.
        self.nk = nk
        self.node = registry.node
        self.id = f"{subject}.{registry.node}"
        self.stream = PresenceStream(StreamMode.MATCH_AUTHORITATIVE, subject, label=registry.node)
        self.handler_name = handler_name
        self.handler = handler
        self.dispatcher = Dispatcher(self)
        self.state: Any = None
        #: Loops completed; what every callback gets as ``tick``.
        self.tick = 0
        self.tick_rate = 1
        self.label = ""
        self.create_time = registry.clock.seconds()
        self.inputs: deque[MatchMessage] = deque()
        self.deferred: list[tuple] = []
        self.stopped = False
        self.overruns = 0
        self._started_at = 0.0
        self._call: IDelayedCall | None = None

    # Lifecycle

    def start(self, params: Mapping[str, Any]) -> None:
        result = self.handler.match_init(self._ctx(), self.registry.logger, self.nk, params)
        state, tick_rate, label = result
        if not isinstance(tick_rate, int) or not 1 <= tick_rate <= 60:
            raise MatchError("MatchInit returned invalid tick rate, must be between 1 and 60")
        self.state, self.tick_rate = state, tick_rate
        self.set_label(label or "")
        if self.state is None:
            raise MatchError("Match did not initialize (match_init returned no state)")
        self._started_at = self.registry.clock.seconds()
        self._schedule()

    def _schedule(self) -> None:
        clock = self.registry.clock
        due = self._started_at + (self.tick + 1) / self.tick_rate
        delay = due - clock.seconds()
        if delay < -1.0 / self.tick_rate:
            # More than a whole tick behind: note it and start counting from now.
            self.overruns += 1
            self.registry.tick_overruns += 1
            self.log.warn(
                "match {mid} loop overran its tick rate {rate} ({behind:.3f}s behind)",
                mid=self.id,
                rate=self.tick_rate,
                behind=-delay,
            )
            self._started_at = clock.seconds() - self.tick / self.tick_rate
            delay = 1.0 / self.tick_rate
        self._call = clock.callLater(max(0.0, delay), self._run_tick)

    def _run_tick(self) -> None:
        self._call = None
        if self.stopped:
            return
        messages = list(self.inputs)
        self.inputs.clear()
        state = self._invoke("match_loop", messages)
        if self.stopped:
            return
        if state is None:
            self.stop("match_loop returned no state")
            return
        self.state = state
        self._flush_deferred()
        # Counted once the loop has run: the loop got the ticks completed before it.
        self.tick += 1
        self._schedule()

    def _invoke(self, name: str, *args: Any) -> Any:
        """Call a handler callback; an exception ends the match."""
        try:
            return getattr(self.handler, name)(
                self._ctx(),
                self.registry.logger,
                self.nk,
                self.dispatcher,
                self.tick,
                self.state,
                *args,
            )
        except Exception:
            self.log.failure("match {mid}: {name} raised; ending the match", mid=self.id, name=name)
            self.stop(f"{name} raised")
            return None

    def _ctx(self) -> Any:
        return self.registry.context_factory(self.id, self.node, self.label, self.tick_rate)

    def stop(self, why: str = "") -> None:
        if self.stopped:
            return
        self.stopped = True
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None
        self.registry._forget(self)
        members = self.members()
        if members:
            # The members are told they all left, since once the stream is gone no event
            # could reach them.
            event = realtime_pb2.MatchPresenceEvent(
                match_id=self.id,
                leaves=[
                    realtime_pb2.UserPresence(
                        user_id=p.user_id, session_id=p.session_id, username=p.meta.username
                    )
                    for p in members
                ],
            )
            envelope = realtime_pb2.Envelope(match_presence_event=event)
            self.registry.router.send_to_stream(self.stream, envelope)
        self.registry.tracker.untrack_by_stream(self.stream)
        self.log.debug("match {mid} stopped: {why}", mid=self.id, why=why)
        # Last, once its members have had their leave events: a shutdown waiting for
        # the matches to end may now close their sockets.
        self.registry.match_ended()

    def terminate(self, grace_seconds: int) -> None:
        state = self._invoke("match_terminate", grace_seconds)
        if not self.stopped and state is not None:
            self.state = state
            self._flush_deferred()

    def signal(self, data: str) -> str:
        result = self._invoke("match_signal", data)
        if self.stopped or result is None:
            raise MatchError("Match signal failed or the match ended")
        self.state, reply = result
        if self.state is None:
            self.stop("match_signal returned no state")
        self._flush_deferred()
        return reply or ""

    # Members

    def join_attempt(
        self, presence: MatchPresence, metadata: Mapping[str, str]
    ) -> tuple[bool, str]:
        result = self._invoke("match_join_attempt", presence, dict(metadata))
        if self.stopped or result is None:
            return False, ""
        state, accept, *rest = result
        reason = rest[0] if rest else ""
        if state is None:
            self.stop("match_join_attempt returned no state")
            return False, ""
        self.state = state
        return bool(accept), reason or ""

    def members_changed(self, joins: list[Presence], leaves: list[Presence]) -> None:
        if self.stopped:
            return
        for name, presences in (("match_leave", leaves), ("match_join", joins)):
            if not presences:
                continue
            state = self._invoke(name, [self._as_match_presence(p) for p in presences])
            if self.stopped:
                return
            if state is None:
                self.stop(f"{name} returned no state")
                return
            self.state = state
        self._flush_deferred()

    def _as_match_presence(self, p: Presence) -> MatchPresence:
        return MatchPresence(p.user_id, p.session_id, p.meta.username, self.node, p.meta.reason)

    def members(self) -> list[Presence]:
        return self.registry.tracker.list_by_stream(self.stream, False, True)

    def queue_input(self, message: MatchMessage) -> None:
        if len(self.inputs) >= INPUT_QUEUE_SIZE:
            self.log.warn("match {mid} input queue full; message dropped", mid=self.id)
            return
        self.inputs.append(message)

    # Dispatcher actions

    def broadcast(self, op_code, data, presences, sender, reliable) -> None:
        payload = data.encode() if isinstance(data, str) else bytes(data)
        message = realtime_pb2.MatchData(
            match_id=self.id, op_code=int(op_code), data=payload, reliable=bool(reliable)
        )
        if sender is not None:
            message.presence.CopyFrom(
                realtime_pb2.UserPresence(
                    user_id=sender.user_id, session_id=sender.session_id, username=sender.username
                )
            )
        envelope = realtime_pb2.Envelope(match_data=message)
        if presences is None:
            self.registry.router.send_to_stream(self.stream, envelope)
            return
        members = {p.session_id for p in self.members()}
        targets = [p.session_id for p in presences if p.session_id in members]
        self.registry.router.send_to_session_ids(targets, envelope)

    def _flush_deferred(self) -> None:
        queued, self.deferred = self.deferred, []
        for args in queued:
            self.broadcast(*args)

    def kick(self, presences: Iterable[MatchPresence]) -> None:
        for presence in presences:
            self.registry.tracker.untrack(presence.session_id, self.stream, presence.user_id)

    def set_label(self, label: str) -> None:
        if len(label.encode()) > LABEL_MAX_BYTES:
            raise MatchError("match label too long, must be 2048 bytes or less")
        changed = label != self.label
        self.label = label
        if changed:
            self.registry.listing_changed(self)

    def listed(self) -> ListedMatch:
        return ListedMatch(
            self.subject,
            self.node,
            self.label,
            self.tick_rate,
            self.handler_name,
            self.create_time,
        )

    def wire(self) -> api_pb2.Match:
        return self.registry.wire(self.listed())


SIGNAL_SERVICE = "match_signal"


def _signal_answer(answer: bytes) -> str:
    if answer[:1] == b"-":
        raise MatchError(answer[1:].decode())
    return answer[1:].decode()


def _signal_failed(failure: Failure) -> str:
    if failure.check(NodeUnavailable):
        raise MatchError("match not found")
    if failure.check(CallFailed):
        raise MatchError(f"match signal failed: {failure.value}")
    failure.raiseException()
    raise AssertionError  # not reached


class MatchRegistry:
    """Every authoritative match of this node; the socket's ``match_join`` and
    ``match_data_send`` reach them through :meth:`join` and :meth:`send_data`."""

    log = Logger()

    def __init__(
        self,
        tracker: ITracker,
        router: IRouter,
        clock: IReactorTime,
        node: str,
        handlers: Mapping[str, Callable[[], Any]],
        context_factory: ContextFactory,
        logger: Any = None,
        directory: Directory[ListedMatch] | None = None,
        remote: IRemote | None = None,
        held: HeldPresences | None = None,
    ) -> None:
        self.tracker = tracker
        #: Matches resumed sessions kept over a drop: their re-joins answer as fresh
        #: (without a second match_join_attempt: the handler still has them).
        self._held = held if held is not None else HeldPresences()
        #: Where the other nodes learn of this node's matches, and this one of theirs.
        self.directory = directory
        #: The other nodes, for signals to their matches.
        self._remote = remote
        if remote is not None:
            remote.serve(SIGNAL_SERVICE, self._serve_signal)
        self.router = router
        self.clock = clock
        self.node = node
        self.handlers = handlers
        self.context_factory = context_factory
        self.logger = logger
        self._matches: dict[str, AuthoritativeMatch] = {}
        #: Shutdowns in their grace period, fired once the last match has stopped.
        self._drain_waiters: list[Deferred] = []
        #: Ticks that ran more than a whole tick late, over every match ever run.
        self.tick_overruns = 0
        tracker.add_listener(StreamMode.MATCH_AUTHORITATIVE, self._members_changed)

    # Runtime API (nk.match_*)

    def create(self, name: str, params: Mapping[str, Any] | None = None, nk: object = None) -> str:
        """Start the match handler registered as ``name``; its callbacks get ``nk``
        (``nk.match_create`` passes itself: the registry does not hold one)."""
        factory = self.handlers.get(name)
        if factory is None:
            raise MatchError(f"match handler {name!r} not found")
        match = AuthoritativeMatch(self, str(uuid.uuid4()), name, factory(), nk)
        try:
            match.start(params or {})
        except MatchError:
            raise
        except Exception as error:
            self.log.failure("match_init of {name} raised", name=name)
            raise MatchError(f"match_init failed: {error}") from None
        self._matches[match.subject] = match
        if self.directory is not None:
            self.directory.put(match.listed())
        return match.id

    def get(self, match_id: str) -> AuthoritativeMatch | None:
        subject, _, node = match_id.partition(".")
        match = self._matches.get(subject)
        return match if match is not None and node == self.node else None

    def signal(self, match_id: str, data: str) -> str:
        """Signal a match of this node; its handler's answer."""
        match = self.get(match_id)
        if match is None:
            raise MatchError("match not found")
        return match.signal(data)

    def signal_anywhere(self, match_id: str, data: str) -> Deferred[str]:
        """Signal a match of any node (``nk.match_signal``): its handler's answer, or
        :class:`MatchError`."""
        subject, _, node = match_id.partition(".")
        if node == self.node or self._remote is None:
            try:
                return succeed(self.signal(match_id, data))
            except MatchError as error:
                return fail(error)
        answered = self._remote.call(node, SIGNAL_SERVICE, orjson.dumps([subject, data]))
        return answered.addCallbacks(_signal_answer, _signal_failed)

    def _serve_signal(self, sender: str, payload: bytes) -> Served:
        subject, data = orjson.loads(payload)
        try:
            return b"+" + self.signal(f"{subject}.{self.node}", data).encode(), None
        except MatchError as error:
            return b"-" + str(error).encode(), None

    def __iter__(self):
        return iter(list(self._matches.values()))

    def __len__(self) -> int:
        return len(self._matches)

    def shutdown(self, grace_seconds: int) -> Deferred:
        """Tell every match the server is stopping (``match_terminate`` with the grace
        period); they keep ticking until they end by themselves or the grace period is
        over, then the rest are ended. Fires when no match is left: the moment the last
        one ends (no polling), or at the end of the grace period."""
        for match in list(self._matches.values()):
            match.terminate(grace_seconds)
        done: Deferred = Deferred()
        if grace_seconds <= 0 or not self._matches:
            self._stop_all(done)
            return done
        drained: Deferred = Deferred()
        self._drain_waiters.append(drained)

        def finish(_: object = None) -> None:
            if drained in self._drain_waiters:
                self._drain_waiters.remove(drained)
            if deadline.active():
                deadline.cancel()
            self._stop_all(done)

        deadline = self.clock.callLater(grace_seconds, finish)
        drained.addCallback(finish)
        return done

    def end(self, subject: str, grace_seconds: int) -> bool:
        """End one match of this node as a shutdown does (an operator's action): its
        handler's ``match_terminate`` with the grace period, then, if it still runs
        when that is over, it is stopped. False when there is no such match."""
        match = self._matches.get(subject)
        if match is None:
            return False
        match.terminate(grace_seconds)
        if grace_seconds <= 0:
            match.stop("ended by an operator")
        elif not match.stopped:
            self.clock.callLater(grace_seconds, match.stop, "ended by an operator")
        return True

    def _stop_all(self, done: Deferred) -> None:
        for match in list(self._matches.values()):
            match.stop("server shutdown")
        if not done.called:
            done.callback(None)

    def match_ended(self) -> None:
        """A match has stopped: once none is left, wake the shutdowns waiting for it."""
        if self._matches or not self._drain_waiters:
            return
        waiters, self._drain_waiters = self._drain_waiters, []
        for drained in waiters:
            drained.callback(None)

    def _forget(self, match: AuthoritativeMatch) -> None:
        if self._matches.pop(match.subject, None) is not None and self.directory is not None:
            self.directory.remove(match.subject)

    # Listings, of every node's matches

    def listing_changed(self, match: AuthoritativeMatch) -> None:
        """A running match's label changed: the other nodes list it anew."""
        if self.directory is not None and self._matches.get(match.subject) is match:
            self.directory.put(match.listed())

    def listed(self) -> list[ListedMatch]:
        """Every authoritative match: this node's, then the other nodes'."""
        listed = [match.listed() for match in self._matches.values()]
        if self.directory is not None:
            listed.extend(self.directory.others())
        return listed

    def describe(self, match_id: str) -> api_pb2.Match | None:
        """A running match of any node, as ``nk.match_get`` shows it."""
        subject, _, node = match_id.partition(".")
        match = self._matches.get(subject) if node == self.node else None
        if match is not None:
            return match.wire()
        listed = self.directory.find(subject, node) if self.directory is not None else None
        return self.wire(listed) if listed is not None else None

    def wire(self, listed: ListedMatch) -> api_pb2.Match:
        """A match as listings show it, with its members counted now."""
        stream = PresenceStream(StreamMode.MATCH_AUTHORITATIVE, listed.subject, label=listed.node)
        match = api_pb2.Match(
            match_id=listed.match_id,
            authoritative=True,
            size=len(self.tracker.list_by_stream(stream, False, True)),
            tick_rate=listed.tick_rate,
            handler_name=listed.handler_name,
        )
        match.label.CopyFrom(wrappers_pb2.StringValue(value=listed.label))
        return match

    def _members_changed(
        self, stream: PresenceStream, joins: list[Presence], leaves: list[Presence]
    ) -> None:
        """The members hear of the change first, then the handler (whose broadcasts
        from ``match_join`` so follow the event)."""
        self.router.send_to_stream(stream, presence_event(stream, joins, leaves))
        match = self._matches.get(stream.subject)
        if match is not None and stream.label == self.node:
            match.members_changed(joins, leaves)

    # The socket side (MatchHandlers' authoritative matches)

    def join(
        self, requester: Requester, target: MatchTarget, metadata: Mapping[str, str]
    ) -> realtime_pb2.Envelope | ReplyFirst:
        match = self._matches.get(target.subject) if target.node == self.node else None
        if match is None:
            raise RealtimeError(ErrorCode.MATCH_NOT_FOUND, "Match not found")
        session_id = requester.session_id
        is_new = self.tracker.get_by_stream(session_id, match.stream) is None
        if is_new:
            presence = MatchPresence(requester.user_id, session_id, requester.username, self.node)
            accept, reason = match.join_attempt(presence, metadata)
            if match.stopped:
                raise RealtimeError(ErrorCode.MATCH_NOT_FOUND, "Match not found")
            if not accept:
                raise RealtimeError(ErrorCode.MATCH_JOIN_REJECTED, reason or "Match join rejected")
        as_new = is_new or self._held.take(session_id, match.stream)
        members = [p for p in match.members() if not (as_new and p.session_id == session_id)]
        reply = realtime_pb2.Match(
            match_id=target.match_id,
            authoritative=True,
            size=len(members),
            presences=[
                realtime_pb2.UserPresence(
                    user_id=p.user_id, session_id=p.session_id, username=p.meta.username
                )
                for p in members
            ],
            self=realtime_pb2.UserPresence(
                user_id=requester.user_id, session_id=session_id, username=requester.username
            ),
        )
        reply.label.value = match.label
        envelope = realtime_pb2.Envelope(match=reply)
        if not is_new:
            return envelope
        meta = PresenceMeta(username=requester.username, format=requester.format.value)
        track = partial(self.tracker.track, session_id, match.stream, requester.user_id, meta)
        return ReplyFirst(envelope, then=track)

    def send_data(
        self, requester: Requester, subject: str, node: str, request: realtime_pb2.MatchDataSend
    ) -> None:
        match = self._matches.get(subject) if node == self.node else None
        if match is None:
            raise Dropped()
        match.queue_input(
            MatchMessage(
                user_id=requester.user_id,
                session_id=requester.session_id,
                username=requester.username,
                node=self.node,
                op_code=request.op_code,
                data=request.data,
                reliable=request.reliable,
                receive_time_ms=int(self.clock.seconds() * 1000),
            )
        )
