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
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loadgen.compare import (  # noqa: E402
    load_spawned,
    median,
    parse_with_load_options,
    run_alternating,
    usage,
)

VARIANTS = ("off", "on")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", choices=("ping", "chat", "match", "authoritative"))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--grace-ms", type=int, default=30_000)
    args = parse_with_load_options(parser)

    def run_one(variant: str) -> dict:
        server = [f"--resume-grace-ms={args.grace_ms}"] if variant == "on" else []
        return load_spawned(args.scenario, server, args.extra, variant)

    results = run_alternating(
        args.runs, VARIANTS, run_one, lambda v, r: f"  resume {v:>3}: {usage(r)}"
    )
    medians = {v: median(results, v, "per_cpu_second") for v in VARIANTS}
    p99s = {v: median(results, v, "latency_ms", "p99") for v in VARIANTS}
    print(
        f"medians: off {medians['off']:.0f}, on {medians['on']:.0f} per server CPU-s "
        f"(on/off {medians['on'] / medians['off']:.3f}); p99 off {p99s['off']:.2f} ms, "
        f"on {p99s['on']:.2f} ms"
    )
    print(json.dumps({"scenario": args.scenario, "medians": medians, "p99": p99s, "runs": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
