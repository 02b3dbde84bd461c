"""The realtime core: registries, tracker, router, pipeline, and what a session does
when it opens and closes.

One :class:`RealtimeServer` per process. It owns all realtime state and lives on the
reactor thread; sockets reach it through the lifecycle's hooks.
"""

from __future__ import annotations

import time
import uuid
from functools import partial

from google.protobuf import timestamp_pb2
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime

from nakama_rt.config import Config
from nakama_rt.core.delivery import Delivery
from nakama_rt.core.forwarding import forwarded
from nakama_rt.core.held import HeldPresences
from nakama_rt.core.limits import refuse_extra_socket, with_limits
from nakama_rt.core.notifications import NotificationCode, Notifier
from nakama_rt.core.pipeline import Pipeline
from nakama_rt.core.registry import LiveSession
from nakama_rt.core.tracker import (
    PresenceMeta,
    PresenceReason,
    PresenceStream,
    StreamMode,
)
from nakama_rt.counters import MATCHMAKER_BUCKETS, Histograms
from nakama_rt.logs import Logger
from nakama_rt.realtime.chat.channel import ChannelHandlers
from nakama_rt.realtime.chat.group_chat import ChatEvents
from nakama_rt.realtime.dispatch import ONE_WAY, dispatch_table, home_nodes, join_streams
from nakama_rt.realtime.match.authoritative import MatchRegistry
from nakama_rt.realtime.match.listing import list_matches
from nakama_rt.realtime.match.relayed import MatchHandlers
from nakama_rt.realtime.matchmaker import Matchmaker
from nakama_rt.realtime.matchmaker.handlers import MatchmakerHandlers
from nakama_rt.realtime.party.handlers import PartyHandlers
from nakama_rt.realtime.party.listing import list_parties
from nakama_rt.realtime.party.registry import PartyRegistry
from nakama_rt.realtime.rpc import RpcHandler
from nakama_rt.realtime.status import StatusHandlers, StatusRegistry, status_stream
from nakama_rt.realtime.stream import StreamManager
from nakama_rt.runtime import Initializer, NakamaModule, Runtime, RuntimeLogger
from nakama_rt.runtime.context import match_context
from nakama_rt.wire.close_reasons import CLOSE_GOING_AWAY, SHUTDOWN_REASON, SINGLE_SOCKET_REASON
from nakama_rt.wire.proto import api_pb2, realtime_pb2

#: This node's name in authoritative match ids ("<uuid>.<node>"), Nakama's default.


class RealtimeServer:
    """Everything realtime, wired together. Implements the lifecycle's SessionHooks.

    Each collaborator gets the others it needs when it is built, so the order below
    is the dependency order; the one exception is ``nk``, whose stream, match and
    channel functions are bound once those exist (the matches call game code with
    ``nk`` in turn).
    """

    log = Logger()

    def __init__(
        self,
        config: Config,
        clock: IReactorTime,
        storage,
        session_cache,
        *,
        delivery: Delivery | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.storage = storage
        self.session_cache = session_cache
        # Who is where, and how envelopes reach them: this process's own, unless the
        # app gives the cluster's (the same interfaces, over several nodes).
        delivery = delivery or Delivery.local()
        #: Socket traffic counts, read by :mod:`nakama_rt.web.metrics` when scraped.
        self.counts = delivery.counts
        self.sessions = delivery.sessions
        self.tracker = delivery.tracker
        self.router = delivery.router
        self.status = StatusRegistry(self.tracker, self.router)
        #: What resumed sessions held over their drop (session.resume_grace_ms).
        self.held = HeldPresences()
        self.notifier = Notifier(storage, self.router, clock)
        self.channels = ChannelHandlers(
            self.tracker, self.router, storage, self.notifier, clock, self.sessions, self.held
        )
        self.chat_events = ChatEvents(self.tracker, self.router, storage, clock)
        self.streams = StreamManager(self.tracker, self.router, self.sessions)
        # Game logic: empty until NakamaRT loads runtime.path into its initializer.
        runtime_env = dict(config.runtime.env or {})
        runtime_logger = RuntimeLogger()
        initializer = Initializer()
        # Authoritative matches run the handlers the initializer registers; each match
        # gets the nk that created it (the registry holds none).
        self.match_registry = MatchRegistry(
            self.tracker,
            self.router,
            clock,
            node=config.name,
            handlers=initializer.matches,  # filled in place when modules load
            context_factory=partial(match_context, runtime_env, config.name),
            logger=runtime_logger,
            directory=delivery.matches,
            remote=delivery.remote,
            held=self.held,
        )
        self.runtime = Runtime(
            env=runtime_env,
            node=config.name,
            nk=NakamaModule(
                storage,
                self.notifier,
                self.status.is_online,
                runtime_logger,
                streams=self.streams,
                matches=self.match_registry,
                list_matches=partial(list_matches, self.match_registry, self.tracker),
                # The party registry is built below, with the matchmaker it needs.
                list_parties=lambda *args: list_parties(self.parties, *args),
                channels=self.channels,
                # The runtime, built around this nk, delivers events and runs run_once.
                custom_event=lambda event: self.runtime.custom_event(event),
                run_once=lambda fn: self.runtime.run_once(fn),
                clock=clock,
            ),
            logger=runtime_logger,
            initializer=initializer,
            clock=clock,
        )
        self.matches = MatchHandlers(
            self.tracker,
            self.router,
            config.session.encryption_key,
            clock,
            authoritative=self.match_registry,
            held=self.held,
        )
        #: How long each matchmaker pass took (its slices and the gaps between them).
        self.matchmaker_passes = Histograms(MATCHMAKER_BUCKETS)
        # The matchmaker: a pass every matchmaker.interval_sec; parties queue through it.
        self.matchmaker = Matchmaker(
            config.matchmaker,
            clock,
            self.router,
            config.session.encryption_key,
            node=config.name,
            runtime=self.runtime,
            pass_observer=lambda seconds: self.matchmaker_passes.observe("", seconds),
            shared=delivery.tickets,
        )
        self.parties = PartyRegistry(
            self.tracker,
            self.router,
            self.sessions,
            clock,
            config.name,
            matchmaker=self.matchmaker,
            directory=delivery.parties,
            single_party=config.session.single_party,
        )
        handlers = dispatch_table(
            channels=self.channels,
            matches=self.matches,
            matchmaker=MatchmakerHandlers(self.matchmaker, config.name),
            rpc=RpcHandler(self.runtime),
            status=StatusHandlers(self.status, self.tracker, storage, self.sessions),
            parties=PartyHandlers(self.parties, self.held),
        )
        handlers = with_limits(handlers, config, clock, self.matchmaker.user_ticket_count)
        if delivery.remote is not None:
            # Requests for a match or party of another node are handled there.
            handlers = forwarded(
                handlers,
                home_nodes(handlers, self.matches),
                delivery.remote,
                one_way=ONE_WAY,
                joins=join_streams(self.matches),
                held=self.held,
            )
        self.pipeline = Pipeline(handlers, self.counts, hooks=self.runtime)
        self._shutting_down = False

    # SessionHooks

    def session_opened(self, session: LiveSession) -> None:
        if self._shutting_down:
            session.close(SHUTDOWN_REASON, CLOSE_GOING_AWAY)
            return
        if refuse_extra_socket(session, self.tracker, self.config, self.counts):
            return
        self.sessions.add(session)
        user_id = session.user_id
        self.status.follow(session.id, (user_id,))
        self.tracker.track(
            session.id,
            PresenceStream(StreamMode.NOTIFICATIONS, user_id),
            user_id,
            PresenceMeta(username=session.username, format=session.format.value, hidden=True),
        )
        if session.status_on_open:
            self.tracker.track(
                session.id,
                status_stream(user_id),
                user_id,
                PresenceMeta(username=session.username, format=session.format.value),
            )
        if self.config.session.single_socket:
            self._close_older_sockets(session)
        self.runtime.session_start(session.requester)
        self.log.debug("session {sid} opened for {uid}", sid=session.id, uid=user_id)

    def process(
        self, session: LiveSession, envelope: realtime_pb2.Envelope
    ) -> bool | Deferred[bool]:
        return self.pipeline.process(session, envelope)

    def session_resumed(self, session: LiveSession) -> None:
        """A new socket took over a session kept after its connection dropped: its
        re-joins of what it held are answered as fresh joins."""
        self.held.hold(session.id, self.tracker.streams_by_session(session.id))
        self.log.debug("session {sid} resumed", sid=session.id)

    def resumable(self, session: LiveSession) -> bool:
        """Every session of this node may be kept for its dropped socket."""
        return True

    def session_closed(self, session: LiveSession, reason: str = "") -> None:
        """Clean up in Nakama's order: tickets, presences (leave events), follows,
        registry; then the session_end event, with the reason the socket closed. A
        socket refused as it opened (a shutdown, a limit) was never set up: nothing to
        clean, and no session_end without a session_start."""
        self.held.forget(session.id)
        if self.sessions.get(session.id) is None:
            return
        self.matchmaker.remove_session_all(session.id)
        self.tracker.untrack_all(session.id, PresenceReason.DISCONNECT)
        self.status.unfollow_all(session.id)
        self.sessions.remove(session.id)
        self.runtime.session_end(session.requester, reason)
        self.log.debug("session {sid} closed", sid=session.id)

    # Server-wide operations

    def _close_older_sockets(self, session: LiveSession) -> None:
        """Tell the user's other sockets, on whichever node, why they close; close them."""
        stream = PresenceStream(StreamMode.NOTIFICATIONS, session.user_id)
        older = [s for s in self.tracker.session_ids_by_stream(stream) if s != session.id]
        if not older:
            return
        notice = api_pb2.Notification(
            id=str(uuid.uuid4()),
            subject="single_socket",
            content="{}",
            code=NotificationCode.SINGLE_SOCKET,
            create_time=timestamp_pb2.Timestamp(seconds=int(time.time())),
            persistent=False,
        )
        notices = realtime_pb2.Notifications(notifications=[notice])
        self.router.send_to_session_ids(older, realtime_pb2.Envelope(notifications=notices))
        self.router.close_sessions(older, SINGLE_SOCKET_REASON)

    def accepting_sockets(self) -> bool:
        """False from the start of a shutdown: new sockets are refused."""
        return not self._shutting_down

    def end_matches(self) -> Deferred:
        """Refuse new sockets, and give authoritative matches ``shutdown_grace_sec`` to
        finish before they are ended."""
        self._shutting_down = True
        return self.match_registry.shutdown(self.config.shutdown_grace_sec)

    def shutdown(self) -> None:
        """Refuse new sockets, send every session the leave events of all the others
        while they can still receive them, then close each with 1001."""
        self._shutting_down = True
        self.matchmaker.stop()
        self.match_registry.shutdown(0)
        sessions = list(self.sessions)
        for session in sessions:
            self.tracker.untrack_all(session.id, PresenceReason.DISCONNECT)
        for session in sessions:
            session.close(SHUTDOWN_REASON, CLOSE_GOING_AWAY)
