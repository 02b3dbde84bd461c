"""Prometheus metrics: ``GET /metrics`` from one server's own ``CollectorRegistry``.

Nothing here runs on the hot paths. Gauges (sessions, presences, matches, matchmaker
tickets) are read from the registries when scraped, and counters and histograms from
the plain counts the pipeline, router and sessions keep (:mod:`nakama_rt.counters`).
The registry is per server, not prometheus_client's global one, so that several
servers in one process (tests, an app embedding two) each report their own.

Scrapes are rendered on the reactor thread, since that is the one thread allowed
to read realtime state; prometheus_client's own Twisted resource would run them in
the reactor's thread pool instead.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from twisted.internet.interfaces import IReactorTime
from twisted.web.resource import Resource
from twisted.web.server import Request, Site

from nakama_rt.cluster.node import ClusterNode
from nakama_rt.core.limits import CONCURRENT_UPGRADES
from nakama_rt.core.pipeline import ErrorCode
from nakama_rt.core.tracker import StreamMode
from nakama_rt.counters import QUEUE_FULL, Histograms
from nakama_rt.socket.resume import ParkedSessions
from nakama_rt.socket.resume_remote import ResumeRelay
from nakama_rt.web.limits import HttpLimitCounts, HttpLimits, LimitedSite

#: The prefix of every metric this module defines.
PREFIX = "nakama_rt_"


class RealtimeCollector:
    """Turns one server's state and counts into metric families at scrape time.

    ``server`` is a :class:`~nakama_rt.realtime.server.RealtimeServer`; ``storage`` is
    optional and timed when it keeps ``latency`` histograms (both backends do);
    ``http`` is what the HTTP limits stopped on this server's sites.
    """

    def __init__(
        self,
        server: Any,
        storage: Any = None,
        http: HttpLimitCounts | None = None,
        parking: ParkedSessions | None = None,
        relay: ResumeRelay | None = None,
    ) -> None:
        self._server = server
        self._storage = storage
        self._http = http
        #: Session resume (session.resume_grace_ms), when it is on.
        self._parking = parking
        self._relay = relay

    def collect(self) -> Iterator[Metric]:
        server = self._server
        counts = server.counts
        yield GaugeMetricFamily(
            PREFIX + "sessions", "Sockets open on this node.", value=len(server.sessions)
        )
        yield GaugeMetricFamily(
            PREFIX + "presences",
            "Presences the tracker holds, on every stream, hidden ones included.",
            value=len(server.tracker),
        )
        matches = GaugeMetricFamily(
            PREFIX + "matches", "Matches running on this node, by kind.", labels=["kind"]
        )
        relayed = server.tracker.streams_by_mode(StreamMode.MATCH_RELAYED)
        matches.add_metric(["relayed"], len(relayed))
        matches.add_metric(["authoritative"], len(server.match_registry))
        yield matches
        yield CounterMetricFamily(
            PREFIX + "match_tick_overruns",
            "Authoritative match ticks that ran more than a whole tick late.",
            value=server.match_registry.tick_overruns,
        )
        yield GaugeMetricFamily(
            PREFIX + "matchmaker_tickets",
            "Tickets in the matchmaker's pool, searching or waiting.",
            value=len(server.matchmaker),
        )
        yield _counter(
            "messages_in",
            "Envelopes received, by message type (the Envelope's field name).",
            "type",
            counts.messages_in,
        )
        yield _counter(
            "messages_out",
            "Envelopes sent, by message type; a broadcast counts once per recipient.",
            "type",
            counts.messages_out,
        )
        errors = CounterMetricFamily(
            PREFIX + "error_envelopes",
            "Error envelopes sent, by Error.code.",
            labels=["code", "error"],
        )
        for code, total in list(counts.errors.items()):
            errors.add_metric([str(code), _error_name(code)], total)
        yield errors
        yield _client_errors(counts)
        closes = CounterMetricFamily(
            PREFIX + "socket_closes",
            "Sockets closed, by close code and reason (the server's reason, or client).",
            labels=["code", "reason"],
        )
        queue_full = 0
        for (code, reason), total in list(counts.closes.items()):
            closes.add_metric([str(code), reason], total)
            if reason == QUEUE_FULL:
                queue_full += total
        yield closes
        yield CounterMetricFamily(
            PREFIX + "outgoing_queue_full",
            "Sockets closed because the client read too slowly for its outgoing queue.",
            value=queue_full,
        )
        yield _histogram(
            "handler_seconds",
            "Time handlers take, by message type (until an asynchronous one answers).",
            "type",
            counts.handler_latency,
        )
        latency = getattr(self._storage, "latency", None)
        if isinstance(latency, Histograms):
            yield _histogram(
                "database_seconds",
                "Database calls, queueing for a worker thread included, by operation.",
                "operation",
                latency,
            )
        if self._http is not None:
            stopped = CounterMetricFamily(
                PREFIX + "http_limited_connections",
                "HTTP connections the limits ended: refused over the per-address cap, "
                "or closed at the read or idle deadline.",
                labels=["reason"],
            )
            stopped.add_metric(["refused"], self._http.refused_connections)
            stopped.add_metric(["read_timeout"], self._http.read_timeouts)
            stopped.add_metric(["idle_timeout"], self._http.idle_timeouts)
            yield stopped
        refusals = CounterMetricFamily(
            PREFIX + "limit_refusals",
            "Messages, requests, sockets and connections a limit refused, by limit.",
            labels=["limit"],
        )
        for limit, total in list(counts.limit_refusals.items()):
            refusals.add_metric([limit], total)
        if self._http is not None and self._http.concurrent_upgrades:
            refusals.add_metric([CONCURRENT_UPGRADES], self._http.concurrent_upgrades)
        yield refusals
        if self._parking is not None:
            yield from _resume_metrics(self._parking, self._relay)
        yield _histogram(
            "matchmaker_pass_seconds",
            "How long each matchmaker pass (one interval's matching) takes.",
            None,
            server.matchmaker_passes,
        )


def _resume_metrics(parking: ParkedSessions, relay: ResumeRelay | None) -> Iterator[Metric]:
    yield GaugeMetricFamily(
        PREFIX + "parked_sessions",
        "Sessions kept for their dropped sockets to resume (session.resume_grace_ms).",
        value=len(parking),
    )
    counts = parking.counts
    outcomes = CounterMetricFamily(
        PREFIX + "session_resume_events",
        "Sessions parked when their socket dropped, and how each parking ended: resumed "
        "by a new socket, expired, ended for an overflowing buffer, or closed by the "
        "server.",
        labels=["event"],
    )
    for event in ("parked", "resumed", "expired", "overflowed", "closed"):
        outcomes.add_metric([event], getattr(counts, event))
    yield outcomes
    yield CounterMetricFamily(
        PREFIX + "session_resume_replayed",
        "Envelopes replayed to resumed sockets: what they missed while dropped.",
        value=counts.replayed,
    )
    if relay is not None:
        relayed = GaugeMetricFamily(
            PREFIX + "relayed_sockets",
            "Resumed sessions whose socket and home are on different nodes: sockets here "
            "relaying to their session's node (edge), sessions here whose socket is on "
            "another (home).",
            labels=["side"],
        )
        relayed.add_metric(["edge"], len(relay.edges))
        relayed.add_metric(["home"], len(relay.homes))
        yield relayed


def _counter(name: str, documentation: str, label: str, totals: Mapping[Any, int]) -> Metric:
    family = CounterMetricFamily(PREFIX + name, documentation, labels=[label])
    for key, total in list(totals.items()):
        family.add_metric([str(key)], total)
    return family


def _histogram(name: str, documentation: str, label: str | None, histograms: Histograms) -> Metric:
    family = HistogramMetricFamily(PREFIX + name, documentation, labels=[label] if label else [])
    for key, buckets, total in histograms.cumulative():
        family.add_metric([key] if label else [], buckets, total)
    return family


#: Error envelopes that tell the client it was wrong (not that the server or game failed).
CLIENT_ERROR_CODES = (
    ErrorCode.UNRECOGNIZED_PAYLOAD,
    ErrorCode.MISSING_PAYLOAD,
    ErrorCode.BAD_INPUT,
    ErrorCode.MATCH_NOT_FOUND,
    ErrorCode.RUNTIME_FUNCTION_NOT_FOUND,
)


def _client_errors(counts: Any) -> Metric:
    """Requests refused as the client's mistake: HTTP answers 4xx by status, and the
    socket's client-error envelopes by code (read from the Error envelope counts, so
    the hot path counts nothing twice)."""
    family = CounterMetricFamily(
        PREFIX + "client_errors",
        "Requests refused as the client's mistake: HTTP 4xx by status, socket Errors by code.",
        labels=["kind", "code"],
    )
    for status, total in list(counts.http_client_errors.items()):
        family.add_metric(["http", str(status)], total)
    for code in CLIENT_ERROR_CODES:
        total = counts.errors.get(code, 0)
        if total:
            family.add_metric(["socket", str(int(code))], total)
    return family


def _error_name(code: int) -> str:
    try:
        return ErrorCode(code).name
    except ValueError:
        return "OTHER"


class LoginFailures(Protocol):
    """What the console's login keeps (:class:`nakama_rt.console.auth.ConsoleAuth`):
    its wrong passwords, in all. A protocol, because the console is a layer above
    this one."""

    @property
    def failures(self) -> int: ...


class ConsoleCollector:
    """The operator console's refused logins, read from its count at scrape time."""

    def __init__(self, console: LoginFailures) -> None:
        self._console = console

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(
            PREFIX + "console_login_failures",
            "Wrong console username/password attempts (logins the console refused).",
            value=self._console.failures,
        )


class ClusterCollector:
    """This node's view of its cluster: the nodes with players, the replica of their
    presences, and what the bus sent."""

    def __init__(self, node: ClusterNode) -> None:
        self._node = node

    def collect(self) -> Iterator[Metric]:
        tracker, bus = self._node.tracker, self._node.bus
        yield GaugeMetricFamily(
            PREFIX + "cluster_nodes_with_presences",
            "Other nodes of the cluster whose sessions this node knows of.",
            value=len(tracker.nodes()),
        )
        yield GaugeMetricFamily(
            PREFIX + "cluster_remote_presences",
            "Presences of the other nodes' sessions, as this node's replica holds them.",
            value=tracker.remote_count,
        )
        yield CounterMetricFamily(
            PREFIX + "cluster_messages_sent",
            "Messages this node sent to other nodes (presence changes, deliveries).",
            value=bus.sent_messages,
        )
        yield CounterMetricFamily(
            PREFIX + "cluster_publishes",
            "Redis PUBLISH commands those messages took (one a channel a reactor turn).",
            value=bus.published,
        )


def metrics_registry(
    server: Any,
    storage: Any = None,
    http: HttpLimitCounts | None = None,
    cluster: ClusterNode | None = None,
    parking: ParkedSessions | None = None,
    relay: ResumeRelay | None = None,
    *,
    console: LoginFailures | None = None,
) -> CollectorRegistry:
    """A registry of this server's metrics plus the process's (CPU, memory, GC), the
    cluster's when this node is in one, and the console's failed logins when given
    its login."""
    registry = CollectorRegistry()
    registry.register(RealtimeCollector(server, storage, http, parking, relay))
    if cluster is not None:
        registry.register(ClusterCollector(cluster))
    if console is not None:
        registry.register(ConsoleCollector(console))
    for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
        registry.register(collector)
    return registry


class MetricsResource(Resource):
    """``GET /metrics``: the registry in Prometheus' text format, or OpenMetrics when
    the scraper asks for it."""

    isLeaf = True

    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__()
        self.registry = registry

    def render_GET(self, request: Request) -> bytes:  # noqa: N802 (twisted.web's name)
        accept = request.getHeader("accept") or ""
        encoder, content_type = choose_encoder(accept)
        request.setHeader(b"content-type", content_type.encode())
        return encoder(self.registry)


def metrics_site(
    resource: Resource,
    limits: HttpLimits | None = None,
    reactor: IReactorTime | None = None,
    counts: HttpLimitCounts | None = None,
) -> Site:
    """A ``Site`` serving ``resource`` at ``/metrics``, for a listener of its own, with
    the API's HTTP limits (Nakama's defaults unless ``limits`` are given)."""
    root = Resource()
    root.putChild(b"metrics", resource)
    site = LimitedSite(root, limits, reactor=reactor, counts=counts)
    return site
