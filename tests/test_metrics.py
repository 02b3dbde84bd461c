"""Prometheus metrics: real traffic moves the counters a real scrape of ``/metrics`` reads;
the options and config keys that turn the listener on; what the counts are made of."""

from __future__ import annotations

import pytest
import pytest_twisted
from prometheus_client.parser import text_string_to_metric_families
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.protocol import ClientCreator, Protocol
from twisted.internet.task import deferLater
from twisted.python import usage
from twisted.web.test.requesthelper import DummyRequest

from nakama_rt.config import ConfigError, config_from_mapping
from nakama_rt.core import limits
from nakama_rt.counters import Histograms, RealtimeCounts, reason_class
from nakama_rt.realtime import server
from nakama_rt.socket import lifecycle, session
from nakama_rt.tap import Options
from nakama_rt.web.metrics import MetricsResource, RealtimeCollector, metrics_registry, metrics_site
from nakama_rt.wire import close_reasons, codec
from tests.conftest import make_config, start_server, stop_server
from tests.wsclient import authenticate, connect, has, http, wait_for


class Scraper:
    """Reads ``/metrics`` from a listener of its own, as Prometheus would."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.text = ""

    async def scrape(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        answer = await http(self.port, "GET", "/metrics")
        assert answer.status == 200, answer
        assert answer.headers.getRawHeaders(b"content-type")[0].startswith(b"text/plain")
        self.text = answer.body.decode()
        samples = {}
        for family in text_string_to_metric_families(self.text):
            for sample in family.samples:
                samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        return samples


def value(samples, metric: str, **labels: str) -> float:
    return samples.get((metric, tuple(sorted(labels.items()))), 0.0)


@pytest_twisted.async_yield_fixture
async def metered(tmp_path):
    running = await start_server(make_config(tmp_path))
    listening = reactor.listenTCP(
        0, metrics_site(running.app.metrics_resource), interface="127.0.0.1"
    )
    yield running, Scraper(listening.getHost().port)
    await listening.stopListening()
    await stop_server(running)


async def until_no_sessions(scraper: Scraper):
    for _ in range(100):
        samples = await scraper.scrape()
        if value(samples, "nakama_rt_sessions") == 0:
            return samples
        await deferLater(reactor, 0.02, lambda: None)
    raise AssertionError("the sessions gauge never went back to 0")


@pytest_twisted.ensureDeferred
async def test_real_traffic_moves_the_counters_a_scrape_reads(metered) -> None:
    running, scraper = metered
    before = await scraper.scrape()
    assert value(before, "nakama_rt_sessions") == 0
    assert value(before, "nakama_rt_matches", kind="relayed") == 0
    assert value(before, "nakama_rt_match_tick_overruns_total") == 0

    alice = await authenticate(running.port, "metrics-alice", username="alice")
    client = await connect(running.port, alice["token"])
    assert await client.request({"cid": "1", "ping": {}}) == {"cid": "1", "pong": {}}
    answer = await client.request({"cid": "2", "status_follow": {"user_ids": ["nope"]}})
    assert answer["error"]["code"] == 3
    await client.request({"cid": "3", "channel_join": {"target": "lobby", "type": 1}})
    client.send({"cid": "4", "channel_message_send": {"channel_id": "2...lobby", "content": "{}"}})
    await wait_for(client, has("channel_message"))
    await client.request({"cid": "5", "match_create": {}})

    during = await scraper.scrape()
    assert value(during, "nakama_rt_sessions") == 1
    # The notifications stream, the chat room and the match.
    assert value(during, "nakama_rt_presences") >= 3
    assert value(during, "nakama_rt_matches", kind="relayed") == 1
    assert value(during, "nakama_rt_messages_in_total", type="ping") >= 1
    assert value(during, "nakama_rt_messages_in_total", type="channel_message_send") == 1
    assert value(during, "nakama_rt_messages_out_total", type="pong") >= 1
    assert value(during, "nakama_rt_messages_out_total", type="channel_message") == 1
    assert value(during, "nakama_rt_messages_out_total", type="error") >= 1
    assert value(during, "nakama_rt_error_envelopes_total", code="3", error="BAD_INPUT") >= 1
    assert value(during, "nakama_rt_handler_seconds_count", type="ping") >= 1
    assert value(during, "nakama_rt_handler_seconds_bucket", type="ping", le="+Inf") >= 1
    assert value(during, "nakama_rt_handler_seconds_sum", type="channel_join") > 0
    database_calls = [
        v for (name, _), v in during.items() if name == "nakama_rt_database_seconds_count"
    ]
    assert sum(database_calls) >= 2  # the account created, the chat message stored
    assert "process_cpu_seconds_total" in scraper.text

    client.sendClose(code=1000)
    await client.closed()
    broken = await connect(running.port, alice["token"])
    broken.sendMessage(b"[1,2]")
    assert await broken.closed() == (1000, "received malformed payload")
    after = await until_no_sessions(scraper)
    assert value(after, "nakama_rt_presences") == 0
    assert value(after, "nakama_rt_matches", kind="relayed") == 0
    assert value(after, "nakama_rt_socket_closes_total", code="1000", reason="client") == 1
    assert (
        value(after, "nakama_rt_socket_closes_total", code="1000", reason="malformed_payload") == 1
    )
    assert value(after, "nakama_rt_outgoing_queue_full_total") == 0


@pytest_twisted.ensureDeferred
async def test_two_servers_in_one_process_count_apart(tmp_path) -> None:
    first = await start_server(make_config(tmp_path / "a"))
    second = await start_server(make_config(tmp_path / "b"))
    try:
        session = await authenticate(first.port, "only-on-first")
        client = await connect(first.port, session["token"])
        await client.request({"cid": "1", "ping": {}})
        assert first.app.metrics_registry is not second.app.metrics_registry
        assert first.app.metrics_registry.get_sample_value("nakama_rt_sessions") == 1
        assert second.app.metrics_registry.get_sample_value("nakama_rt_sessions") == 0
        ping = {"type": "ping"}
        name = "nakama_rt_messages_in_total"
        assert first.app.metrics_registry.get_sample_value(name, ping) == 1
        assert second.app.metrics_registry.get_sample_value(name, ping) is None
        client.sendClose(code=1000)
        await client.closed()
    finally:
        await stop_server(first)
        await stop_server(second)


class FakeTracker:
    def __len__(self) -> int:
        return 0

    def streams_by_mode(self, mode: int) -> list:
        return []


class FakeMatchRegistry(list):
    tick_overruns = 0


class FakeServer:
    """What the collector reads of a RealtimeServer, empty."""

    def __init__(self, counts: RealtimeCounts | None = None) -> None:
        self.counts = counts or RealtimeCounts()
        self.sessions: list = []
        self.match_registry = FakeMatchRegistry()
        self.matchmaker: list = []
        self.tracker = FakeTracker()
        self.matchmaker_passes = Histograms([1.0])


def test_openmetrics_is_served_when_asked_for() -> None:
    resource = MetricsResource(metrics_registry(FakeServer()))
    request = DummyRequest([b""])
    request.requestHeaders.setRawHeaders(b"accept", [b"application/openmetrics-text"])
    body = resource.render_GET(request)
    content_type = request.responseHeaders.getRawHeaders(b"content-type")[0]
    assert content_type.startswith(b"application/openmetrics-text")
    assert body.endswith(b"# EOF\n")


# Options and configuration


def parse(*args: str):
    options = Options()
    options.parseOptions(list(args))
    return options["nakama_config"]


def test_metrics_are_off_by_default() -> None:
    assert parse().metrics_listen() == ""


def test_metrics_listen_takes_an_endpoint_description() -> None:
    config = parse("--metrics-listen", "tcp:9100:interface=127.0.0.1")
    assert config.metrics_listen() == "tcp:9100:interface=127.0.0.1"
    # Unlike --listen, TLS options do not turn it into an ssl: listener.
    assert config.listen == ("tcp:7350",)


def test_a_bad_metrics_listener_fails_with_its_reason() -> None:
    with pytest.raises(usage.UsageError, match="invalid listener 'bogus:1'"):
        parse("--metrics-listen", "bogus:1")


def test_nakamas_prometheus_port_serves_on_every_interface(tmp_path) -> None:
    path = tmp_path / "n.yml"
    path.write_text("metrics:\n  prometheus_port: 9100\n")
    assert parse("--config", str(path)).metrics_listen() == "tcp:9100"
    config = parse("--config", str(path), "--metrics-listen", "tcp:9200:interface=127.0.0.1")
    assert config.metrics_listen() == "tcp:9200:interface=127.0.0.1"


@pytest.mark.parametrize(
    "section, message",
    [
        ({"prometheus_port": 70000}, "metrics.prometheus_port must be between 0 and 65535"),
        ({"prometheus_port": "soon"}, "metrics.prometheus_port must be an integer"),
        ({"reporting_freq_sec": 60}, "unknown configuration key metrics.reporting_freq_sec"),
    ],
)
def test_bad_metrics_keys_are_refused(section, message) -> None:
    with pytest.raises(ConfigError, match=message):
        config_from_mapping({"metrics": section}).validate()


# The counts themselves


def test_every_close_reason_the_server_sends_has_its_own_class() -> None:
    reasons = {
        session.OUTGOING_QUEUE_FULL: "outgoing_queue_full",
        session.WRITE_TIMEOUT: "write_timeout",
        lifecycle.PONG_TIMEOUT: "pong_timeout",
        lifecycle.ERROR_PROCESSING: "error_processing",
        lifecycle.ERROR_OPENING: "error_opening",
        server.SHUTDOWN_REASON: "shutdown",
        server.SINGLE_SOCKET_REASON: "single_socket",
        codec.REASON_WRONG_FRAME_TYPE: "wrong_frame_type",
        codec.REASON_MALFORMED_PAYLOAD + ": unexpected end": "malformed_payload",
        lifecycle.MESSAGE_RATE_EXCEEDED: "message_rate",
        limits.TOO_MANY_USER_SOCKETS: "user_sockets",
        limits.TICKET_LIMIT_EXCEEDED: "matchmaker_tickets",
        limits.PARTY_LIMIT_EXCEEDED: "party_creations",
    }
    for reason, label in reasons.items():
        assert reason_class(reason, 1000) == label, reason
    assert reason_class("", 1009) == "message_too_big"
    assert reason_class("a game's own words", 4000) == "other"
    assert len(reasons) == len({label for _, label in close_reasons.CLASSES})


def test_full_queue_closes_are_counted_apart() -> None:
    counts = RealtimeCounts()
    counts.closed_by_server(1000, session.OUTGOING_QUEUE_FULL)
    counts.closed_by_server(1000, session.OUTGOING_QUEUE_FULL)
    counts.closed_by_server(1001, server.SHUTDOWN_REASON)
    counts.closed_by_client(None)
    families = {f.name: f for f in RealtimeCollector(FakeServer(counts)).collect()}
    assert families["nakama_rt_outgoing_queue_full"].samples[0].value == 2
    closes = {
        (s.labels["code"], s.labels["reason"]): s.value
        for s in families["nakama_rt_socket_closes"].samples
    }
    assert closes == {
        ("1000", "outgoing_queue_full"): 2,
        ("1001", "shutdown"): 1,
        ("1005", "client"): 1,
    }


def test_histograms_count_per_bucket_and_report_cumulatively() -> None:
    histograms = Histograms([0.001, 0.01])
    for seconds in (0.0005, 0.001, 0.005, 2.0):
        histograms.observe("ping", seconds)
    [(key, buckets, total)] = list(histograms.cumulative())
    assert key == "ping"
    assert buckets == [("0.001", 2), ("0.01", 3), ("+Inf", 4)]
    assert total == pytest.approx(2.0065)


@pytest_twisted.ensureDeferred
async def test_http_refusals_and_deadlines_reach_the_metrics(tmp_path) -> None:
    """The API's 4xx answers and the connections the HTTP limits end are the server's
    counts, read by its own registry (wired by NakamaRT, not by the test)."""
    running = await start_server(make_config(tmp_path, socket={"read_timeout_ms": 200}))
    listening = reactor.listenTCP(
        0, metrics_site(running.app.metrics_resource), interface="127.0.0.1"
    )
    scraper = Scraper(listening.getHost().port)
    try:
        refused = await http(running.port, "GET", "/v2/friend")  # no session: 401
        assert refused.status == 401
        slow = await ClientCreator(reactor, Protocol).connectTCP("127.0.0.1", running.port)
        closed = Deferred()
        slow.connectionLost = lambda reason: closed.callback(None)
        slow.transport.write(b"GET /healthcheck HTTP/1.1\r\nHost: x\r\n")  # never ends
        await closed
        samples = await scraper.scrape()
        assert value(samples, "nakama_rt_client_errors_total", kind="http", code="401") == 1
        assert (
            value(samples, "nakama_rt_http_limited_connections_total", reason="read_timeout") == 1
        )
        assert value(samples, "nakama_rt_http_limited_connections_total", reason="refused") == 0
    finally:
        await listening.stopListening()
        await stop_server(running)
