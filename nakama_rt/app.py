"""The whole server as parts: what ``twistd nakama-rt`` runs and what an app embeds.

Embedding in an existing twisted.web application::

    from nakama_rt import NakamaRT, Config

    nakama = NakamaRT(Config(), reactor)
    root.putChild(b"ws", nakama.socket_resource)
    root.putChild(b"v2", nakama.api_resource)
    root.putChild(b"healthcheck", nakama.healthcheck_resource)
    yield nakama.start()          # opens the database
    ...
    yield nakama.stop()           # closes every socket (1001), then the database

or serve ``nakama.resource`` (all three under one root) in your own ``Site``.
"""

from __future__ import annotations

from autobahn.websocket import USES_NVX
from twisted.application.service import MultiService
from twisted.internet.defer import Deferred, DeferredList, inlineCallbacks, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.web.resource import Resource

from nakama_rt._version import __version__
from nakama_rt.api import BCRYPT_COST, HealthcheckResource, body_limited_request_factory, build_api
from nakama_rt.api.context import ApiContext
from nakama_rt.auth.session_cache import PurgeService, SessionCache
from nakama_rt.cluster import redis as cluster_redis
from nakama_rt.cluster.matchmaking import LeaseService
from nakama_rt.cluster.node import ClusterNode
from nakama_rt.cluster.nodes import HeartbeatService, NodeMembership, NodeWatch
from nakama_rt.config import Config, insecure_defaults, redact_address
from nakama_rt.console.auth import ConsoleAuth
from nakama_rt.console.figures import ConsoleSource
from nakama_rt.console.nodes import ConsoleNodes
from nakama_rt.console.site import console_site
from nakama_rt.logs import Logger, set_level
from nakama_rt.realtime.match.listing import list_matches
from nakama_rt.realtime.party.listing import list_parties
from nakama_rt.realtime.server import RealtimeServer
from nakama_rt.socket.protocol import NakamaSocketFactory, SocketEnvironment
from nakama_rt.socket.resume import ParkedSessions
from nakama_rt.socket.resume_remote import ResumeRelay
from nakama_rt.storage import open_storage
from nakama_rt.web.limits import HttpLimitCounts, HttpLimits, LimitedSite
from nakama_rt.web.metrics import MetricsResource, metrics_registry
from nakama_rt.web.resources import SocketResource, build_root


class NakamaRT:
    """Storage, session cache, realtime server, socket factory and HTTP resources."""

    log = Logger()

    def __init__(
        self, config: Config, reactor: IReactorTime | None = None, *, bcrypt_cost: int = BCRYPT_COST
    ) -> None:
        if reactor is None:
            from twisted.internet import reactor as default_reactor

            reactor = default_reactor
        self.config = config.validate()
        set_level(config.logger.level)
        self.reactor = reactor
        self.storage = open_storage(config.database_address(), reactor)
        self.session_cache = SessionCache(config.session, reactor)
        #: The cluster's Redis and this node's place in it, once :meth:`open` joined.
        self.redis: cluster_redis.RedisConnection | None = None
        self.membership: NodeMembership | None = None
        #: The server's periodic work, started once the database is open: a child of
        #: the twistd service, or started by :meth:`start` for an embedding app.
        self.timers = MultiService()
        PurgeService(self.session_cache, reactor).setServiceParent(self.timers)
        #: The cluster's bus, tracker and router when ``cluster.redis`` is set.
        self.cluster: ClusterNode | None = None
        delivery = None
        if config.cluster.redis:
            database = cluster_redis.parse_redis_url(config.cluster.redis).database
            gap = config.cluster.publish_gap_ms / 1000
            self.cluster = ClusterNode.build(config.name, reactor, database, gap)
            delivery = self.cluster.delivery
        self.server = RealtimeServer(
            config, reactor, self.storage, self.session_cache, delivery=delivery
        )
        if config.runtime.path:
            # Game logic loads now, so that a broken module fails construction (startup).
            self.server.runtime.load(config.runtime.path)
        #: Sessions whose sockets dropped, kept for ``session.resume_grace_ms``.
        resume_directory = delivery.parked if delivery is not None else None
        self.parking = (
            ParkedSessions(
                config.session,
                reactor,
                self.server,
                self.server.accepting_sockets,
                node=config.name,
                directory=resume_directory,
            )
            if config.session.resume_grace_ms
            else None
        )
        #: In a cluster, sessions other nodes keep are resumed through them.
        self.resume_relay = (
            ResumeRelay(
                delivery.remote,
                resume_directory,
                self.parking,
                self.server,
                reactor,
                config.socket,
            )
            if self.parking is not None
            and delivery is not None
            and delivery.remote is not None
            and resume_directory is not None
            else None
        )
        self.socket_factory = NakamaSocketFactory(
            SocketEnvironment(
                config=config,
                clock=reactor,
                session_cache=self.session_cache,
                counts=self.server.counts,
                hooks=self.server,
                accepting=self.server.accepting_sockets,
                parking=self.parking,
                relay=self.resume_relay,
            )
        )
        self.socket_resource = SocketResource(self.socket_factory)
        self.api_context = ApiContext(
            reactor=reactor,
            config=config,
            storage=self.storage,
            session_cache=self.session_cache,
            bcrypt_cost=bcrypt_cost,
            is_online=self.server.status.is_online,
            notifier=self.server.notifier,
            chat=self.server.chat_events,
            list_matches=lambda match_filter: list_matches(
                self.server.match_registry, self.server.tracker, match_filter
            ),
            # The client API never lists hidden parties.
            list_parties=lambda limit, open, query, cursor: list_parties(
                self.server.parties, limit, open, False, query, cursor
            ),
            counts=self.server.counts,
            matchmaker_stats=self.server.matchmaker.stats,
        )
        self.api_resource = build_api(self.api_context, self.server.runtime)
        self.healthcheck_resource = HealthcheckResource(self.storage, reactor)
        self.resource: Resource = build_root(
            self.socket_resource, self.api_resource, self.healthcheck_resource
        )
        #: The operator console's login (served by console_site()); its failures are a metric.
        self.console_auth = ConsoleAuth(config.console, reactor)
        #: This server's Prometheus registry and its ``GET /metrics`` resource.
        #: What the HTTP limits stopped, on every site this server builds.
        self.http_counts = HttpLimitCounts()
        self.metrics_registry = metrics_registry(
            self.server,
            self.storage,
            self.http_counts,
            self.cluster,
            self.parking,
            self.resume_relay,
            console=self.console_auth,
        )
        self.metrics_resource = MetricsResource(self.metrics_registry)
        #: What the console reads.
        self.console_source = ConsoleSource(config, self.server, self.cluster, self.parking)
        #: Every node answers the consoles of the cluster, whether it serves one or not.
        cluster = self.cluster
        self.console_nodes = (
            ConsoleNodes(self.console_source, cluster.calls, lambda: cluster.bus.peers)
            if cluster is not None
            else ConsoleNodes(self.console_source)
        )

    def console_site(self) -> LimitedSite:
        """A ``Site`` serving the operator console (``nakama_rt.console``), with the
        socket section's HTTP limits, for a listener of its own."""
        return console_site(
            self.console_source,
            self.console_nodes,
            self.console_auth,
            self.reactor,
            HttpLimits.from_config(self.config.socket),
        )

    def site(self) -> LimitedSite:
        """A ``Site`` serving :attr:`resource`, quiet about each request, with the
        socket section's HTTP limits (:mod:`nakama_rt.web.limits`)."""
        site = LimitedSite(
            self.resource,
            HttpLimits.from_config(self.config.socket),
            requestFactory=body_limited_request_factory(self.config.socket.max_request_size_bytes),
            reactor=self.reactor,
            counts=self.http_counts,
        )
        return site

    @inlineCallbacks
    def start(self):
        """Open the database, then start the timers (an embedding app's start)."""
        yield self.open()
        self.timers.startService()

    @inlineCallbacks
    def open(self):
        """Open (and migrate) the database, join the cluster when there is one; say what
        runs, and what is insecure."""
        yield self.storage.start()
        cluster = self.config.cluster
        if cluster.redis:
            yield self._join_cluster()
        self.log.info(
            "nakama-rt {version} ready (database {db}{cluster})",
            version=__version__,
            db=redact_address(self.config.database_address()),
            cluster=f", node {self.config.name} of cluster {cluster.redis}"
            if cluster.redis
            else "",
        )
        for key, option in insecure_defaults(self.config):
            self.log.warn(
                "insecure default value for {param}: change it for production "
                "({option} or {param} in the config file)",
                param=key,
                option=option,
            )
        if not USES_NVX:
            self.log.warn(
                "Autobahn's NVX accelerators are off (no compiler when it was installed?): "
                "unmasking and UTF-8 checks of incoming frames run in pure Python"
            )

    @inlineCallbacks
    def _join_cluster(self):
        """Connect to the cluster's Redis and take this node's name in it."""
        cluster = self.config.cluster
        self.redis = yield Deferred.fromCoroutine(
            cluster_redis.connect(cluster.redis, self.reactor)
        )
        membership = NodeMembership(self.redis, self.config.name, cluster.node_ttl_sec)
        try:
            yield Deferred.fromCoroutine(membership.join())
        except Exception:
            yield self.redis.disconnect()
            self.redis = None
            raise
        self.membership = membership
        HeartbeatService(membership, self.reactor).setServiceParent(self.timers)
        if self.config.database_address().startswith("sqlite:"):
            self.log.warn(
                "cluster with the embedded SQLite database: only nodes on this machine, "
                "with the same --data-dir, share it; nodes on other machines need "
                "PostgreSQL (--database postgresql://...)"
            )
        assert self.cluster is not None  # built with the config that has cluster.redis
        yield Deferred.fromCoroutine(
            self.cluster.bus.listen(
                cluster.redis,
                self.reactor,
                self.redis,
                self.cluster.received,
                self.cluster.resync,
            )
        )
        nodes = yield Deferred.fromCoroutine(membership.live_nodes())
        self.cluster.start(nodes)
        LeaseService(
            self.cluster.tickets, self.redis, self.config.matchmaker.interval_sec, self.reactor
        ).setServiceParent(self.timers)
        watch = NodeWatch(
            membership, self.cluster.known_nodes, self.cluster.node_died, self.reactor
        )
        watch.setServiceParent(self.timers)
        self.redis.on_reconnect(watch.redis_back)
        self.log.info(
            "node {name} joined cluster {url}: {count} live ({nodes})",
            name=self.config.name,
            url=cluster.redis,
            count=len(nodes),
            nodes=", ".join(nodes),
        )

    @inlineCallbacks
    def stop(self):
        """End the matches (within ``shutdown_grace_sec``), close every socket with 1001
        and wait (bounded) for them, then the database."""
        yield self.server.end_matches()
        self.server.shutdown()
        yield self._wait_for_sockets()
        if self.timers.running:
            yield self.timers.stopService()
        if self.membership is not None:
            yield Deferred.fromCoroutine(self.membership.leave())
            if self.cluster is not None:
                self.cluster.leave()
                yield Deferred.fromCoroutine(self.cluster.bus.stop())
            yield self.redis.disconnect()
        yield self.storage.stop()

    def _wait_for_sockets(self) -> Deferred:
        closing = [p.is_closed for p in list(self.socket_factory.open_protocols)]
        if not closing:
            return succeed(None)
        waiting = DeferredList(closing, consumeErrors=True)
        limit = self.config.socket.close_ack_wait_ms / 1000.0 + 1.0
        waiting.addTimeout(limit, self.reactor)
        waiting.addErrback(lambda failure: None)
        return waiting
