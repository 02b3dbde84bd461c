"""What the realtime hot paths count, in plain Python, for :mod:`nakama_rt.web.metrics` to read.

Messages in and out, Error envelopes and socket closes are counted with one
``defaultdict`` increment each (about 30 ns) and latencies with one bucket
increment (:class:`Histograms`, about 0.15 µs); prometheus_client's own
``Counter.labels(...).inc()`` costs ten to thirty times as much per call. The
Prometheus collector turns these counts into metric families only when scraped.

Everything here is touched on the reactor thread only.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Iterator

from nakama_rt.wire import close_reasons

#: Handler latency buckets (seconds): most handlers answer in microseconds, storage
#: round trips take milliseconds.
HANDLER_BUCKETS = (
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    1.0,
)
#: Database call buckets (seconds), thread pool queueing included.
DATABASE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
#: Matchmaker pass buckets (seconds).
MATCHMAKER_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

#: The ``reason`` label of a close the client started (or a dropped connection).
CLIENT = "client"
#: The reason class of closes for a full outgoing queue.
QUEUE_FULL = dict(close_reasons.CLASSES)[close_reasons.OUTGOING_QUEUE_FULL]
#: WebSocket's "no status code" for a close frame without one.
CLOSE_NO_STATUS = 1005
CLOSE_MESSAGE_TOO_BIG = 1009


def reason_class(reason: str, code: int) -> str:
    """The few-valued label for a close reason the server sent."""
    for prefix, label in close_reasons.CLASSES:
        if reason.startswith(prefix):
            return label
    if code == CLOSE_MESSAGE_TOO_BIG:
        return "message_too_big"
    return "other"


class Histograms:
    """Latency histograms by key (message type, database operation), as bucket counts.

    ``series[key]`` holds one count per bucket bound, one for +Inf, and the sum of
    the observed values last; counts are per bucket, made cumulative at scrape time.
    """

    __slots__ = ("bounds", "series")

    def __init__(self, bounds: Iterable[float]) -> None:
        self.bounds = tuple(bounds)
        self.series: dict[str, list[float]] = {}

    def observe(self, key: str, seconds: float) -> None:
        series = self.series.get(key)
        if series is None:
            series = self.series[key] = [0] * (len(self.bounds) + 2)
        series[bisect_left(self.bounds, seconds)] += 1
        series[-1] += seconds

    def cumulative(self) -> Iterator[tuple[str, list[tuple[str, float]], float]]:
        """``(key, [(le, cumulative count), ..., ("+Inf", total)], sum)`` per key."""
        labels = [_le(bound) for bound in self.bounds] + ["+Inf"]
        for key, series in list(self.series.items()):
            running = 0.0
            buckets = []
            for label, count in zip(labels, series[:-1], strict=True):
                running += count
                buckets.append((label, running))
            yield key, buckets, series[-1]


def _le(bound: float) -> str:
    return repr(float(bound))


class RealtimeCounts:
    """One server's counts: its pipeline, router and sessions add to them, and its
    HTTP API the requests it refused as the client's mistake."""

    __slots__ = (
        "closes",
        "errors",
        "handler_latency",
        "http_client_errors",
        "limit_refusals",
        "messages_in",
        "messages_out",
    )

    def __init__(self) -> None:
        #: Envelopes received, by message type (the Envelope's oneof field name).
        self.messages_in: defaultdict[str, int] = defaultdict(int)
        #: Envelopes delivered, by message type: one per recipient.
        self.messages_out: defaultdict[str, int] = defaultdict(int)
        #: Error envelopes sent, by Error.code.
        self.errors: defaultdict[int, int] = defaultdict(int)
        #: Sockets closed, by (close code, reason class).
        self.closes: defaultdict[tuple[int, str], int] = defaultdict(int)
        #: How long handlers take, by message type.
        self.handler_latency = Histograms(HANDLER_BUCKETS)
        #: HTTP API answers 4xx (requests the client got wrong), by HTTP status.
        self.http_client_errors: defaultdict[int, int] = defaultdict(int)
        #: Messages, requests and upgrades a limit refused, by limit
        #: (:mod:`nakama_rt.core.limits`).
        self.limit_refusals: defaultdict[str, int] = defaultdict(int)

    def closed_by_server(self, code: int, reason: str) -> None:
        self.closes[(code, reason_class(reason, code))] += 1

    def closed_by_client(self, code: int | None) -> None:
        self.closes[(code or CLOSE_NO_STATUS, CLIENT)] += 1
