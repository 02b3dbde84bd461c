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
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loadgen.compare import (  # noqa: E402
    load_spawned,
    median,
    parse_with_load_options,
    run_alternating,
    usage,
)

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
    server = [f"--console-listen=tcp:{port}:interface=127.0.0.1"]
    page = Page(port) if variant == "open" else None
    if page is not None:
        page.start()
    try:
        result = load_spawned(scenario, server, extra, variant)
    finally:
        if page is not None:
            page.stopping.set()
    result["page_events"] = page.events if page is not None else 0
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", choices=("chat", "match", "authoritative"))
    parser.add_argument("--runs", type=int, default=3)
    args = parse_with_load_options(parser)
    results = run_alternating(
        args.runs,
        VARIANTS,
        lambda variant: run_load(args.scenario, variant, args.extra),
        lambda v, r: f"  page {v:>4}: {usage(r)}, events read {r['page_events']}",
    )
    medians = {v: median(results, v, "per_cpu_second") for v in VARIANTS}
    print(
        f"medians: no page {medians['none']:.0f}, page open {medians['open']:.0f} per server "
        f"CPU-s (open/none {medians['open'] / medians['none']:.3f})"
    )
    print(json.dumps({"scenario": args.scenario, "medians": medians, "runs": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
