"""What session resume costs a server whose sockets never drop.

    python benchmarks/resume_overhead.py chat --runs 3
    python benchmarks/resume_overhead.py match --runs 3 -- --matches 100 --players 4

Each run loads a fresh server of this checkout twice with ``benchmarks/load.py``
(options after ``--`` go to it), once with resume off (Nakama's behaviour) and once
with ``--resume-grace-ms`` set, in alternating order from run to run, and prints both
runs' work per server CPU-second, delivery p99 and the load generator's CPU (to show
whether it, rather than the server, was the limit). The last lines are the medians and
their ratio, then one JSON object with every run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
VARIANTS = ("off", "on")


def run_load(scenario: str, variant: str, grace_ms: int, extra: list[str]) -> dict:
    command = [sys.executable, str(REPOSITORY / "benchmarks" / "load.py"), scenario]
    command += ["--spawn-server", "--server-arg=--log-level=warn", *extra]
    if variant == "on":
        command.append(f"--server-arg=--resume-grace-ms={grace_ms}")
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(
            f"load.py failed ({variant}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["variant"] = variant
    return result


def line(result: dict) -> str:
    p99 = result["latency_ms"].get("p99")
    return (
        f"  resume {result['variant']:>3}: {result['per_cpu_second']:9.0f} per server CPU-s, "
        f"p99 {p99:.2f} ms, server {result['server_cpu_s']:.2f} CPU-s, load generator "
        f"{result['loadgen_cpu_s']:.2f} CPU-s of {result['window_s'] * result['cpus']:.0f}, "
        f"machine {result['machine_busy_pct']:.0f}% busy, lost {result.get('lost', '-')}, "
        f"duplicated {result.get('duplicated', '-')}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", choices=("ping", "chat", "match", "authoritative"))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--grace-ms", type=int, default=30_000)
    parser.add_argument("extra", nargs="*", help="options for load.py, after --")
    args = parser.parse_args()
    results: list[dict] = []
    for run in range(args.runs):
        order = VARIANTS if run % 2 == 0 else VARIANTS[::-1]
        print(f"run {run + 1} of {args.runs}", flush=True)
        for variant in order:
            result = run_load(args.scenario, variant, args.grace_ms, args.extra)
            results.append(result)
            print(line(result), flush=True)
    medians = {
        variant: statistics.median(r["per_cpu_second"] for r in results if r["variant"] == variant)
        for variant in VARIANTS
    }
    p99s = {
        variant: statistics.median(
            r["latency_ms"]["p99"] for r in results if r["variant"] == variant
        )
        for variant in VARIANTS
    }
    print(
        f"medians: off {medians['off']:.0f}, on {medians['on']:.0f} per server CPU-s "
        f"(on/off {medians['on'] / medians['off']:.3f}); p99 off {p99s['off']:.2f} ms, "
        f"on {p99s['on']:.2f} ms"
    )
    print(json.dumps({"scenario": args.scenario, "medians": medians, "p99": p99s, "runs": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
