"""What an open operator console page costs the realtime path.

    python benchmarks/console_overhead.py chat --runs 3

Each run loads a fresh server of this checkout twice with ``benchmarks/load.py``
(options after ``--`` go to it), both with the console on a port of its own: once with
no page open, once with a logged-in page's live stream (``GET /events``, the overview's
figures and newest sessions once a second) read throughout, in alternating order from
run to run. It prints both runs' work per server CPU-second, delivery p99 and the load
generator's CPU, then the medians and their ratio, then one JSON object with every run.
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

REPOSITORY = Path(__file__).resolve().parent.parent
VARIANTS = ("none", "open")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Page(threading.Thread):
    """A browser tab on the overview: logs in, then reads the event stream."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.events = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        cookie = None
        while cookie is None and not self.stopping.is_set():
            try:
                cookie = self._log_in()
            except OSError:
                time.sleep(0.2)  # the server is still starting
        if cookie is None:
            return
        stream = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        stream.request("GET", "/events", headers={"cookie": cookie})
        answer = stream.getresponse()
        while not self.stopping.is_set():
            line = answer.readline()
            if not line:
                break
            if line.startswith(b"data: "):
                self.events += 1
        stream.close()

    def _log_in(self) -> str | None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        body = urlencode({"username": "admin", "password": "password"})
        headers = {"content-type": "application/x-www-form-urlencoded"}
        connection.request("POST", "/login", body, headers)
        answer = connection.getresponse()
        answer.read()
        connection.close()
        cookie = answer.getheader("set-cookie")
        return cookie.split(";")[0] if cookie else None


def run_load(scenario: str, variant: str, extra: list[str]) -> dict:
    port = free_port()
    command = [sys.executable, str(REPOSITORY / "benchmarks" / "load.py"), scenario]
    command += ["--spawn-server", "--server-arg=--log-level=warn"]
    command += [f"--server-arg=--console-listen=tcp:{port}:interface=127.0.0.1", *extra]
    page = Page(port) if variant == "open" else None
    if page is not None:
        page.start()
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    finally:
        if page is not None:
            page.stopping.set()
    if done.returncode != 0:
        raise SystemExit(
            f"load.py failed ({variant}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["variant"] = variant
    result["page_events"] = page.events if page is not None else 0
    return result


def line(result: dict) -> str:
    return (
        f"  page {result['variant']:>4}: {result['per_cpu_second']:9.0f} per server CPU-s, "
        f"p99 {result['latency_ms']['p99']:.2f} ms, server {result['server_cpu_s']:.2f} CPU-s, "
        f"load generator {result['loadgen_cpu_s']:.2f} CPU-s of "
        f"{result['window_s'] * result['cpus']:.0f}, machine {result['machine_busy_pct']:.0f}% "
        f"busy, events read {result['page_events']}, lost {result.get('lost', '-')}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", choices=("chat", "match", "authoritative"))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("extra", nargs="*", help="options for load.py, after --")
    args = parser.parse_args()
    results: list[dict] = []
    for run in range(args.runs):
        order = VARIANTS if run % 2 == 0 else VARIANTS[::-1]
        print(f"run {run + 1} of {args.runs}", flush=True)
        for variant in order:
            result = run_load(args.scenario, variant, args.extra)
            results.append(result)
            print(line(result), flush=True)
    medians = {
        v: statistics.median(r["per_cpu_second"] for r in results if r["variant"] == v)
        for v in VARIANTS
    }
    print(
        f"medians: no page {medians['none']:.0f}, page open {medians['open']:.0f} per server "
        f"CPU-s (open/none {medians['open'] / medians['none']:.3f})"
    )
    print(json.dumps({"scenario": args.scenario, "medians": medians, "runs": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
