"""Runs of ``benchmarks/load.py`` on servers it spawns, for scripts that compare two
settings of one server side by side (``resume_overhead.py``, ``console_overhead.py``)."""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

LOAD = Path(__file__).resolve().parent.parent / "load.py"


def load_spawned(scenario: str, server_args: list[str], extra: list[str], variant: str) -> dict:
    """One load run on a fresh server given ``server_args``; its result, tagged with
    ``variant``. Exits with load.py's output when it fails."""
    command = [
        sys.executable,
        str(LOAD),
        scenario,
        "--spawn-server",
        "--server-arg=--log-level=warn",
    ]
    command += [f"--server-arg={arg}" for arg in server_args] + extra
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(
            f"load.py failed ({variant}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["variant"] = variant
    return result


def alternating(runs: int, variants: tuple[str, str]) -> list[list[str]]:
    """The order of the variants in each run: swapped every other run."""
    return [list(variants) if run % 2 == 0 else list(variants[::-1]) for run in range(runs)]


def parse_with_load_options(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """The script's own options, with what follows ``--`` (load.py's) as ``extra``."""
    args, extra = parser.parse_known_args()
    args.extra = [arg for arg in extra if arg != "--"]
    return args


def run_alternating(
    runs: int,
    variants: tuple[str, str],
    run_one: Callable[[str], dict],
    describe: Callable[[str, dict], str],
) -> list[dict]:
    """``run_one`` of each variant in every run, alternating their order; each
    result printed as ``describe`` words it."""
    results: list[dict] = []
    for run, order in enumerate(alternating(runs, variants)):
        print(f"run {run + 1} of {runs}", flush=True)
        for variant in order:
            result = run_one(variant)
            results.append(result)
            print(describe(variant, result), flush=True)
    return results


def median(results: list[dict], variant: str, *path: str) -> float:
    """The median over a variant's runs of the figure at ``path`` in each result."""
    values = []
    for result in results:
        if result["variant"] == variant:
            value = result
            for key in path:
                value = value[key]
            values.append(value)
    return statistics.median(values)


def usage(result: dict) -> str:
    """A run's work per server CPU-second, p99 and who used the CPU, in one line."""
    return (
        f"{result['per_cpu_second']:9.0f} per server CPU-s, "
        f"p99 {result['latency_ms']['p99']:.2f} ms, server {result['server_cpu_s']:.2f} CPU-s, "
        f"load generator {result['loadgen_cpu_s']:.2f} CPU-s of "
        f"{result['window_s'] * result['cpus']:.0f}, machine "
        f"{result['machine_busy_pct']:.0f}% busy, lost {result.get('lost', '-')}, "
        f"duplicated {result.get('duplicated', '-')}"
    )
