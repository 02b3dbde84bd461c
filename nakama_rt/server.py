"""The realtime core: registries, tracker, router, pipeline, and what a session does
when it opens and closes.

One :class:`RealtimeServer` per process. It owns all realtime state and lives on the
reactor thread; sockets reach it through the lifecycle's hooks.
"""

from __future__ import annotations

import time
import uuid

from google.protobuf import timestamp_pb2
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime

from nakama_rt.close_reasons import SHUTDOWN_REASON, SINGLE_SOCKET_REASON
from nakama_rt.config import Config
from nakama_rt.counters import MATCHMAKER_BUCKETS, Histograms, RealtimeCounts
from nakama_rt.logs import Logger
from nakama_rt.matchmaker import Matchmaker
from nakama_rt.notifications import NotificationCode, Notifier
from nakama_rt.party import PartyRegistry
from nakama_rt.pipeline import Pipeline
from nakama_rt.presence import (
    LocalRouter,
    LocalTracker,
    PresenceMeta,
    PresenceReason,
    PresenceStream,
    SessionRegistry,
    StreamMode,
)
from nakama_rt.proto import api_pb2, realtime_pb2
from nakama_rt.realtime import ping
from nakama_rt.realtime.authoritative import MatchRegistry
from nakama_rt.realtime.channel import ChannelHandlers
from nakama_rt.realtime.group_chat import ChatEvents
from nakama_rt.realtime.match import MatchHandlers
from nakama_rt.realtime.match_list import list_matches
from nakama_rt.realtime.matchmaker import MatchmakerHandlers
from nakama_rt.realtime.party import PartyHandlers
from nakama_rt.realtime.rpc import RpcHandler
from nakama_rt.realtime.status import StatusHandlers, StatusRegistry, status_stream
from nakama_rt.realtime.stream import StreamManager
from nakama_rt.runtime import NakamaModule, Runtime, RuntimeLogger
from nakama_rt.session import CLOSE_GOING_AWAY, Session

#: This node's name in authoritative match ids ("<uuid>.<node>"), Nakama's default.
NODE_NAME = "nakama"


class RealtimeServer:
    """Everything realtime, wired together. Implements the lifecycle's SessionHooks."""

    log = Logger()

    def __init__(self, config: Config, clock: IReactorTime, storage, session_cache) -> None:
        self.config = config
        self.clock = clock
        self.storage = storage
        self.session_cache = session_cache
        #: Socket traffic counts, read by :mod:`nakama_rt.metrics` when scraped.
        self.counts = RealtimeCounts()
        self.sessions = SessionRegistry()
        self.tracker = LocalTracker()
        self.router = LocalRouter(self.sessions, self.tracker, self.counts)
        self.status = StatusRegistry(self.tracker, self.router)
        self.pipeline = Pipeline(self.counts)
        ping.register(self.pipeline)
        StatusHandlers(self.status, self.tracker, storage).register(self.pipeline)
        self.notifier = Notifier(storage, self.router, clock)
        # Game logic: empty until NakamaRT loads runtime.path into it.
        runtime_logger = RuntimeLogger()
        self.runtime = Runtime(
            env=config.runtime.env,
            node=NODE_NAME,
            nk=NakamaModule(storage, self.notifier, self.status.is_online, runtime_logger),
            logger=runtime_logger,
            clock=clock,
        )
        self.pipeline.hooks = self.runtime
        RpcHandler(self.runtime).register(self.pipeline)
        self.channels = ChannelHandlers(self.tracker, self.router, storage, self.notifier, clock)
        self.channels.register(self.pipeline)
        self.chat_events = ChatEvents(self.tracker, self.router, storage, clock)
        self.matches = MatchHandlers(
            self.tracker, self.router, config.session.encryption_key, clock
        )
        self.matches.register(self.pipeline)
        self.streams = StreamManager(self.tracker, self.router, self.sessions)
        # Parties; party matchmaking needs ``self.parties.matchmaker`` set.
        self.parties = PartyRegistry(self.tracker, self.router, self.sessions, clock, NODE_NAME)
        PartyHandlers(self.parties).register(self.pipeline)
        # Authoritative matches; the runtime fills in the handlers, ctx and nk it loads.
        self.match_registry = MatchRegistry(
            self.tracker,
            self.router,
            clock,
            node=NODE_NAME,
            handlers=self.runtime.matches,  # filled in place when modules load
            context_factory=self.runtime.match_context,
            nk=self.runtime.nk,
            logger=self.runtime.logger,
        )
        self.matches.authoritative = self.match_registry
        self.runtime.nk.bind_realtime(
            self.streams,
            self.match_registry,
            lambda match_filter: list_matches(self.match_registry, self.tracker, match_filter),
            self.channels,
        )
        # The matchmaker: a pass every matchmaker.interval_sec; parties queue through it.
        self.matchmaker = Matchmaker(
            config.matchmaker,
            clock,
            self.router,
            config.session.encryption_key,
            node=NODE_NAME,
            runtime=self.runtime,
        )
        #: How long each matchmaker pass took (its slices and the gaps between them).
        self.matchmaker_passes = Histograms(MATCHMAKER_BUCKETS)
        self.matchmaker.pass_observer = lambda seconds: self.matchmaker_passes.observe("", seconds)
        MatchmakerHandlers(self.matchmaker, NODE_NAME).register(self.pipeline)
        self.parties.matchmaker = self.matchmaker
        self.shutting_down = False

    # SessionHooks

    def session_opened(self, session: Session) -> None:
        if self.shutting_down:
            session.close(SHUTDOWN_REASON, CLOSE_GOING_AWAY)
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
        self.runtime.session_start(session)
        self.log.debug("session {sid} opened for {uid}", sid=session.id, uid=user_id)

    def process(self, session: Session, envelope: realtime_pb2.Envelope):
        return self.pipeline.process(session, envelope)

    def session_closed(self, session: Session, reason: str = "") -> None:
        """Clean up in Nakama's order: tickets, presences (leave events), follows,
        registry; then the session_end event, with the reason the socket closed."""
        self.matchmaker.remove_session_all(session.id)
        self.tracker.untrack_all(session.id, PresenceReason.DISCONNECT)
        self.status.unfollow_all(session.id)
        self.sessions.remove(session.id)
        self.runtime.session_end(session, reason)
        self.log.debug("session {sid} closed", sid=session.id)

    # Server-wide operations

    def _close_older_sockets(self, session: Session) -> None:
        stream = PresenceStream(StreamMode.NOTIFICATIONS, session.user_id)
        for session_id in self.tracker.session_ids_by_stream(stream):
            if session_id == session.id:
                continue
            older = self.sessions.get(session_id)
            if older is None:
                continue
            notice = api_pb2.Notification(
                id=str(uuid.uuid4()),
                subject="single_socket",
                content="{}",
                code=NotificationCode.SINGLE_SOCKET,
                create_time=timestamp_pb2.Timestamp(seconds=int(time.time())),
                persistent=False,
            )
            older.send_envelope(
                realtime_pb2.Envelope(
                    notifications=realtime_pb2.Notifications(notifications=[notice])
                )
            )
            older.close(SINGLE_SOCKET_REASON)

    def end_matches(self) -> Deferred:
        """Give authoritative matches ``shutdown_grace_sec`` to finish, then end them."""
        return self.match_registry.shutdown(self.config.shutdown_grace_sec)

    def shutdown(self) -> None:
        """Refuse new sockets, send every session the leave events of all the others
        while they can still receive them, then close each with 1001."""
        self.shutting_down = True
        self.matchmaker.stop()
        self.match_registry.shutdown(0)
        sessions = list(self.sessions)
        for session in sessions:
            self.tracker.untrack_all(session.id, PresenceReason.DISCONNECT)
        for session in sessions:
            session.close(SHUTDOWN_REASON, CLOSE_GOING_AWAY)
