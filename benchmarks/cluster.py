"""One server against a cluster of nodes on this machine, under the same load.

    python benchmarks/cluster.py chat --nodes 2 --runs 3
    python benchmarks/cluster.py match --nodes 2 -- --matches 100 --players 4 --hz 10
    python benchmarks/cluster.py chat --nodes 8 --layouts members -- --rate 100 --rooms 8

Each run starts, for every layout asked, fresh servers of this checkout and loads them
with ``benchmarks/load.py`` (options after ``--`` go to it): ``single``, one process;
``members``, ``--nodes`` nodes of a cluster on ``--redis`` with every room or match
spread over all of them (each socket on the next node); ``groups``, the same nodes with
each room or match on one node. Work per server CPU-second sums the nodes' CPU and
the Redis server's (when it runs here); each node's CPU is shown beside the single
process's. The Redis commands, PUBLISH calls and bytes each way over the run (setup
included) are divided by the deliveries, and Redis's own CPU over the run by its
PUBLISH calls. Layouts alternate within a run; the last line printed is one JSON
object with every run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loadgen.server import REPOSITORY, SpawnedServer  # noqa: E402

LAYOUTS = ("single", "members", "groups")


def redis_info(url: str) -> dict[str, int]:
    import redis  # the bench extra

    client = redis.Redis.from_url(url)
    stats = client.info("all")
    publish = stats.get("cmdstat_publish", {}).get("calls", 0)
    client.close()
    return {
        "commands": stats["total_commands_processed"],
        "publishes": publish,
        "bytes_in": stats["total_net_input_bytes"],
        "bytes_out": stats["total_net_output_bytes"],
        "pid": stats["process_id"],
    }


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load(scenario: str, ports: list[int], pids: list[int], spread: str, extra: list[str]):
    command = [sys.executable, str(REPOSITORY / "benchmarks" / "load.py"), scenario]
    command += ["--port", str(ports[0]), "--spread", spread]
    for port in ports[1:]:
        command += ["--also-port", str(port)]
    command += [f"--server-pid={','.join(str(pid) for pid in pids)}", *extra]
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPOSITORY)
    if done.returncode:
        raise SystemExit(f"load.py failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_layout(layout: str, args: argparse.Namespace, extra: list[str]) -> dict:
    nodes = 1 if layout == "single" else args.nodes
    shared = Path(tempfile.mkdtemp(prefix="nakama-rt-cluster-"))
    servers = []
    try:
        if layout != "single":
            import redis

            redis.Redis.from_url(args.redis).flushdb()
        for index in range(nodes):
            options = ["--data-dir", str(shared), "--log-level", "warn"]
            if layout != "single":
                options += ["--cluster", args.redis, "--node", f"bench-{index + 1}"]
            server = SpawnedServer(extra_args=options)
            server.start()
            servers.append(server)
        pids = [s.pid for s in servers]
        before = redis_info(args.redis) if layout != "single" else None
        redis_here = before is not None and Path(f"/proc/{before['pid']}").exists()
        if redis_here:
            pids.append(before["pid"])
        cpu_before = [cpu_seconds(s.pid) for s in servers]
        redis_cpu_before = cpu_seconds(before["pid"]) if redis_here else 0.0
        spread = "groups" if layout == "groups" else "members"
        figures = load(args.scenario, [s.port for s in servers], pids, spread, extra)
        figures["node_cpu_s"] = [
            round(cpu_seconds(s.pid) - c, 2) for s, c in zip(servers, cpu_before, strict=True)
        ]
        if before is not None:
            after = redis_info(args.redis)
            received = max(figures["counts"].get("received", 0), 1)
            moved = {
                k: after[k] - before[k] for k in ("commands", "publishes", "bytes_in", "bytes_out")
            }
            figures["redis"] = {
                **moved,
                "per_delivery": {k: round(v / received, 3) for k, v in moved.items()},
                "counted_in_cpu": redis_here,
            }
            if redis_here:
                # Over the whole run, setup included, as the PUBLISH count is.
                redis_cpu = cpu_seconds(after["pid"]) - redis_cpu_before
                figures["redis"]["cpu_s"] = round(redis_cpu, 2)
                if moved["publishes"]:
                    per_publish = redis_cpu / moved["publishes"] * 1e6
                    figures["redis"]["cpu_us_per_publish"] = round(per_publish, 1)
        return figures
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(shared, ignore_errors=True)


def summary(layout: str, figures: dict, single: dict | None) -> str:
    # None when the servers' CPU over the window was below the clock's tick (a tiny load).
    per = figures.get("per_cpu_second")
    line = (
        f"{layout:8} {'-' if per is None else f'{per:,.0f}':>9} per CPU-s"
        f"  p99 {figures['latency_ms']['p99'] if 'latency_ms' in figures else '-'} ms"
        f"  nodes CPU {figures['node_cpu_s']} s  machine {figures.get('machine_busy_pct')}%"
        f"  load generator {figures.get('loadgen_cpu_s')} CPU-s"
        f"  lost {figures.get('lost')} duplicated {figures.get('duplicated')}"
    )
    if per and single and single.get("per_cpu_second"):
        line += f"  ({per / single['per_cpu_second']:.2f}x single)"
    if "redis" in figures:
        redis = figures["redis"]
        line += f"  Redis per delivery {redis['per_delivery']}"
        if "cpu_s" in redis:
            line += f"  Redis CPU {redis['cpu_s']} s"
        if "cpu_us_per_publish" in redis:
            line += f" ({redis['cpu_us_per_publish']} us a PUBLISH)"
    return line


def main() -> int:
    argv = sys.argv[1:]
    extra: list[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, extra = argv[:at], argv[at + 1 :]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", choices=("chat", "match", "connect", "ping"))
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--layouts", default=",".join(LAYOUTS))
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/11")
    args = parser.parse_args(argv)
    layouts = [layout for layout in args.layouts.split(",") if layout]
    runs = []
    for number in range(1, args.runs + 1):
        run: dict[str, dict] = {}
        for layout in layouts:
            run[layout] = run_layout(layout, args, extra)
            print(f"run {number}: " + summary(layout, run[layout], run.get("single")), flush=True)
        runs.append(run)
    print(json.dumps({"scenario": args.scenario, "nodes": args.nodes, "runs": runs}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
