"""The parent process: starts the workers, walks them through the phases of a run
(setup, warmup, measured window, drain, close) and samples CPU and memory at the
exact edges of the window.

The result is one dict, the JSON line the benchmark ends with; the human-readable
report is made from it (:mod:`.report`), so the two can never disagree.
"""

from __future__ import annotations

import multiprocessing
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from . import plan
from .plan import Params
from .procstat import Snapshot, Usage, snapshot
from .report import latency_ms
from .worker import run_worker

#: nakama-rt's counter of authoritative ticks that ran over a whole tick late.
OVERRUNS_METRIC = "nakama_rt_match_tick_overruns_total"
#: Time the workers get between a command and the instant it names.
LEAD_TIME = 0.5

Say = Callable[[str], None]


class WorkerError(Exception):
    """A worker failed or stopped answering; the run cannot be trusted."""


class Fleet:
    """The worker processes, each with its pipe."""

    def __init__(self, params: Params) -> None:
        # "spawn": fresh interpreters, nothing inherited from the parent's state.
        context = multiprocessing.get_context("spawn")
        self.pipes: list[Connection] = []
        self.processes: list[multiprocessing.process.BaseProcess] = []
        for index in range(params.workers):
            parent_end, child_end = context.Pipe()
            process = context.Process(
                target=run_worker,
                args=(child_end, params, index),
                name=f"loadgen-{index}",
                daemon=True,
            )
            process.start()
            child_end.close()
            self.pipes.append(parent_end)
            self.processes.append(process)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes if p.pid is not None]

    def send(self, command: str, arguments: list[Any] | None = None) -> None:
        """The same command to every worker, with one argument each (or none)."""
        for index, pipe in enumerate(self.pipes):
            pipe.send((command, arguments[index] if arguments is not None else None))

    def gather(self, command: str, timeout: float) -> list[Any]:
        """Every worker's answer to ``command``, in worker order."""
        deadline = time.monotonic() + timeout
        answers = []
        for index, pipe in enumerate(self.pipes):
            if not pipe.poll(max(0.0, deadline - time.monotonic())):
                raise WorkerError(f"worker {index} did not finish {command} in {timeout:.0f} s")
            try:
                status, result = pipe.recv()
            except EOFError:
                raise WorkerError(f"worker {index} exited during {command}") from None
            if status != "ok":
                raise WorkerError(f"worker {index} failed in {command}:\n{result}")
            answers.append(result)
        return answers

    def call(
        self, command: str, arguments: list[Any] | None = None, timeout: float = 600
    ) -> list[Any]:
        self.send(command, arguments)
        return self.gather(command, timeout)

    def stop(self) -> None:
        try:
            self.call("stop", timeout=10)
        except (WorkerError, OSError):
            pass
        for process in self.processes:
            process.join(5)
            if process.is_alive():
                process.terminate()
                process.join(5)


class Probe:
    """Samples the server's processes (if known) and the load generator's."""

    def __init__(self, server_pids: list[int], fleet: Fleet, metrics_url: str | None) -> None:
        self.server_pids = server_pids
        self.fleet = fleet
        self.metrics_url = metrics_url

    def sample(self) -> tuple[Snapshot, float | None]:
        """Processes' CPU and memory now, and the server's tick overrun count when it
        serves metrics (None when it does not)."""
        wall = time.time()
        overruns = read_metric(self.metrics_url, OVERRUNS_METRIC) if self.metrics_url else None
        return snapshot(wall, self.server_pids, self.fleet.pids), overruns


def read_metric(url: str, name: str) -> float | None:
    """One unlabelled sample from a Prometheus text endpoint; None if unavailable."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=2) as answer:
            text = answer.read().decode()
    except (urllib.error.URLError, OSError):
        return None
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def _sleep_until(wall: float) -> None:
    delay = wall - time.time()
    if delay > 0:
        time.sleep(delay)


def _setup_timeout(params: Params) -> float:
    return 120 + params.total_sockets * 0.1


def run(
    params: Params, server_pids: list[int], metrics_url: str | None, say: Say
) -> dict[str, Any]:
    """One benchmark run; returns the result dict (the final JSON line)."""
    fleet = Fleet(params)
    probe = Probe(server_pids, fleet, metrics_url)
    try:
        began = time.monotonic()
        fleet.call("auth", timeout=_setup_timeout(params))
        say(f"setup: {params.total_sockets} accounts authenticated in {_since(began)}")
        if params.scenario == "connect":
            return _connect(params, fleet, probe, say)
        return _traffic(params, fleet, probe, say)
    finally:
        fleet.stop()


def _since(began: float) -> str:
    return f"{time.monotonic() - began:.1f} s"


def _connect_arguments(params: Params, start: float) -> list[dict[str, float]]:
    return [
        {"start": start, "concurrency": plan.concurrency_share(params, w)}
        for w in range(params.workers)
    ]


def _connect(params: Params, fleet: Fleet, probe: Probe, say: Say) -> dict[str, Any]:
    """Open N sockets C at a time (timed), hold them idle, close them."""
    start = time.time() + LEAD_TIME
    fleet.send("connect", _connect_arguments(params, start))
    _sleep_until(start)
    before, _ = probe.sample()
    answers = fleet.gather("connect", _setup_timeout(params))
    end, _ = probe.sample()
    finished = max(a["finished"] for a in answers)
    opened = sum(a["opened"] for a in answers)
    failures = sum(a["failures"] for a in answers)
    for error in {e for a in answers for e in a["errors"]}:
        say(f"connect failure: {error}")
    say(f"holding {opened} sockets idle for {params.hold:g} s")
    time.sleep(params.hold)
    held, _ = probe.sample()
    checks = fleet.call("check")
    closed = fleet.call("close", timeout=_setup_timeout(params))
    window = Usage.between(before, end)
    hold = Usage.between(before, held)
    seconds = max(finished - start, 1e-9)
    result = _base(params)
    result["counts"] = {
        "sockets": params.sockets,
        "connects": opened,
        "failures": failures,
        "open_after_hold": sum(c["open"] for c in checks),
        "closed_cleanly": sum(closed),
    }
    result["rates"] = {"connects_per_s": round(opened / seconds, 1)}
    result["window_s"] = round(seconds, 3)
    result["latency_ms"] = latency_ms([x for a in answers for x in a["latencies"]])
    result["lost"] = sum(c["dropped"] for c in checks)
    result["duplicated"] = 0
    _add_usage(result, window, opened)
    if hold.server_rss_end_kb is not None and hold.server_rss_start_kb is not None and opened:
        # Per socket actually opened (N when none failed), measured after the hold.
        result["server_rss_kb"] = hold.server_rss_end_kb
        growth = hold.server_rss_end_kb - hold.server_rss_start_kb
        result["server_rss_per_socket_kb"] = round(growth / opened, 2)
    return result


def _traffic(params: Params, fleet: Fleet, probe: Probe, say: Say) -> dict[str, Any]:
    """Ping, chat and match runs: set up, warm up, measure, drain, close."""
    began = time.monotonic()
    arguments = _connect_arguments(params, time.time())
    answers = fleet.call("connect", arguments, timeout=_setup_timeout(params))
    failures = [e for a in answers for e in a["errors"]]
    if failures:
        raise WorkerError(f"{len(failures)} sockets failed to open, e.g. {failures[0]}")
    joined = ""
    if params.scenario in plan.GROUP_SCENARIOS:
        match_ids: dict[int, str] | None = None
        if params.scenario != "chat":
            match_ids = {}
            for created in fleet.call("create", timeout=_setup_timeout(params)):
                match_ids.update(created)
        fleet.call("join", [match_ids] * params.workers, timeout=_setup_timeout(params))
        what = "rooms" if params.scenario == "chat" else "matches"
        joined = f", {params.groups} {what} joined"
    say(f"setup: {params.total_sockets} sockets open{joined} in {_since(began)}")

    start = time.time() + LEAD_TIME
    window_start = start + params.warmup
    end = window_start + params.duration
    times = {"start": start, "window_start": window_start, "end": end}
    fleet.send("traffic", [times] * params.workers)
    say(f"warmup {params.warmup:g} s, then measuring for {params.duration:g} s")
    _sleep_until(window_start)
    first, first_overruns = probe.sample()
    _sleep_until(end)
    last, last_overruns = probe.sample()
    sent_by_worker = fleet.gather("traffic", params.duration + params.warmup + 60)
    usage = Usage.between(first, last)

    sent: dict[int, int] = {}
    for part in sent_by_worker:
        sent.update(part)
    expected = plan.expected_deliveries(params, sent) if sent else [0] * params.workers
    drains = [{"expected": n, "deadline": end + params.drain} for n in expected]
    results = fleet.call("drain", drains, timeout=params.drain + 60)
    closed = fleet.call("close", timeout=_setup_timeout(params))

    result = _base(params)
    result["window_s"] = params.duration
    dropped = sum(r["dropped"] for r in results)
    if params.scenario == "ping":
        round_trips = [x for r in results for x in r["round_trips"]]
        result["counts"] = {
            "sockets": params.total_sockets,
            "round_trips": len(round_trips),
            "timeouts": sum(r["ping_timeouts"] for r in results),
            "dropped": dropped,
        }
        result["rates"] = {"round_trips_per_s": round(len(round_trips) / params.duration, 1)}
        result["latency_ms"] = latency_ms(round_trips)
        result["lost"] = result["counts"]["timeouts"]
        result["duplicated"] = 0
        work = len(round_trips)
    else:
        latencies = [x for r in results for x in r["latencies"]]
        lags = [x for r in results for x in r["send_lags"]]
        received = sum(r["unique"] for r in results)
        total_expected = sum(expected)
        result["counts"] = {
            "sockets": params.total_sockets,
            "sent": sum(sent.values()),
            "sent_in_window": len(lags),
            "expected": total_expected,
            "received": received,
            "deliveries": len(latencies),
            "unsent": sum(r["unsent"] for r in results),
            "foreign": sum(r["foreign"] for r in results),
            "dropped": dropped,
        }
        result["rates"] = {
            "offered_per_s": round(len(lags) / params.duration, 1),
            "deliveries_per_s": round(len(latencies) / params.duration, 1),
        }
        result["latency_ms"] = latency_ms(latencies)
        result["send_lag_ms"] = latency_ms(lags)
        result["lost"] = max(0, total_expected - received)
        result["duplicated"] = sum(r["duplicated"] for r in results)
        work = len(latencies)
    result["counts"]["closed_cleanly"] = sum(closed)
    _add_usage(result, usage, work)
    if params.scenario == "authoritative":
        known = first_overruns is not None and last_overruns is not None
        result["tick_overruns"] = int(last_overruns - first_overruns) if known else None
    return result


def _base(params: Params) -> dict[str, Any]:
    return {"scenario": params.scenario, "format": params.format, "params": params.public()}


def _add_usage(result: dict[str, Any], usage: Usage, work: int) -> None:
    """Server and load generator CPU over the window, and work per server CPU-second."""
    cpu = usage.server_cpu_s
    result["server_cpu_s"] = round(cpu, 3) if cpu is not None else None
    result["per_cpu_second"] = round(work / cpu, 1) if cpu else None
    result["server_rss_kb"] = usage.server_rss_end_kb
    result["loadgen_cpu_s"] = round(usage.loadgen_cpu_s, 3)
    result["machine_busy_pct"] = round(usage.machine_busy * 100, 1)
    # CPU the machine spent on neither side (other processes, the kernel's softirqs):
    # if it is large, the run competed for CPUs and its figures are pessimistic.
    ours = usage.loadgen_cpu_s + (cpu or 0.0)
    result["other_cpu_s"] = round(max(0.0, usage.machine_busy_s - ours), 3)
    result["cpus"] = os.cpu_count()
