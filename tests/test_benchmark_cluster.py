"""``benchmarks/cluster.py`` end to end: a tiny run of two nodes on the test Redis, rooms
spread over both and kept on one, read back from the JSON line it ends with."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--workers", "1", "--warmup", "0.2", "--duration", "1", "--drain", "3"]


def test_two_nodes_spread_cost_redis_traffic_and_kept_rooms_none(redis_url) -> None:
    command = [
        sys.executable,
        str(ROOT / "benchmarks" / "cluster.py"),
        "chat",
        "--nodes",
        "2",
        "--layouts",
        "members,groups",
        "--redis",
        redis_url,
        "--",
        *TINY,
        "--rooms",
        "2",
        "--members",
        "4",
        "--rate",
        "20",
    ]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    (run,) = json.loads(done.stdout.strip().splitlines()[-1])["runs"]
    for layout in ("members", "groups"):
        figures = run[layout]
        assert (figures["lost"], figures["duplicated"]) == (0, 0)
        assert figures["counts"]["received"] == figures["counts"]["expected"] > 0
        assert len(figures["node_cpu_s"]) == 2
    spread, kept = run["members"]["redis"], run["groups"]["redis"]
    # Spread rooms cross Redis with (about) every message, 50 ms apart; rooms on one
    # node only with the presences of setup.
    sent = run["members"]["counts"]["sent"]
    assert spread["publishes"] - kept["publishes"] >= sent / 2
    assert spread["per_delivery"]["bytes_in"] > kept["per_delivery"]["bytes_in"]
    # Redis runs here: its CPU over the run is read, and divided by its PUBLISH calls.
    assert spread["counted_in_cpu"] and spread["cpu_s"] >= 0
    per_publish = spread["cpu_s"] / spread["publishes"] * 1e6  # (its CPU is in clock ticks)
    assert spread["cpu_us_per_publish"] == pytest.approx(per_publish, abs=0.1)


def test_a_window_too_short_for_the_cpu_clock_prints_a_dash() -> None:
    """A tiny load can cost the servers less than one clock tick of CPU over the
    window: load.py then has no work per CPU-second (None), and the summary says so."""
    path = ROOT / "benchmarks" / "cluster.py"
    spec = importlib.util.spec_from_file_location("cluster_bench", path)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    figures = {"per_cpu_second": None, "node_cpu_s": [0.0, 0.0], "lost": 0, "duplicated": 0}
    single = {"per_cpu_second": 1000.0}
    line = bench.summary("groups", figures, single)
    assert line.startswith("groups           - per CPU-s") and "x single" not in line
    figures["per_cpu_second"] = 500.0
    assert "(0.50x single)" in bench.summary("groups", figures, single)
