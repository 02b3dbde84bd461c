"""The command line of ``benchmarks/load.py``."""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
from pathlib import Path

from . import report
from .plan import SCENARIOS, Params
from .runner import WorkerError, run
from .server import REPOSITORY, SpawnedServer

EXAMPLES = REPOSITORY / "examples" / "runtime"
DEFAULT_SOCKETS = {"connect": 1000, "ping": 50}

DESCRIPTION = """\
Load a Nakama-compatible server over its realtime socket and report throughput,
latency, loss and, with --server-pid or --spawn-server, the server's CPU and memory.
Scenarios: connect (open N sockets C at a time and hold them), ping (round trips back
to back), chat (rooms, open-loop message rate), match (relayed matches sending at H Hz),
authoritative (the same through examples/runtime/relay.py, which the server must run).
The last line printed is one JSON object with every figure."""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="benchmarks/load.py",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("scenario", choices=SCENARIOS)
    server = p.add_argument_group("server")
    server.add_argument("--host", default="127.0.0.1")
    server.add_argument("--port", type=int, default=7350)
    server.add_argument("--server-key", default="defaultkey")
    server.add_argument(
        "--also-port",
        type=int,
        action="append",
        default=[],
        metavar="PORT",
        help="another port of the same server, e.g. another node of a cluster (repeatable): "
        "sockets are spread over --port and these",
    )
    server.add_argument(
        "--spread",
        choices=("members", "groups"),
        default="members",
        help="with --also-port: socket by socket (every room or match spans the ports), "
        "or room by room (each room or match on one port)",
    )
    server.add_argument("--format", choices=("json", "protobuf"), default="json")
    server.add_argument(
        "--server-pid",
        action="append",
        default=[],
        metavar="PID[,PID...]",
        help="server process(es) whose CPU and RSS to sample over the window (repeatable)",
    )
    server.add_argument(
        "--metrics-url",
        help="a nakama-rt server's /metrics (its --metrics-listen), read for the "
        "authoritative tick overruns; --spawn-server sets it",
    )
    server.add_argument(
        "--spawn-server",
        action="store_true",
        help="run our server on a free loopback port with a temporary database "
        "(and examples/runtime for the authoritative scenario), stop it at the end",
    )
    server.add_argument(
        "--server-root",
        type=Path,
        default=REPOSITORY,
        help="the nakama-rt checkout --spawn-server runs (default: this one)",
    )
    server.add_argument(
        "--server-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="an extra option for the spawned server, e.g. --server-arg=--log-level=warn",
    )
    load = p.add_argument_group("load")
    load.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    load.add_argument(
        "--sockets", type=int, help="connect: N (default 1000); ping: C sockets (default 50)"
    )
    load.add_argument(
        "--concurrency", type=int, default=50, help="sockets opened at a time (default 50)"
    )
    load.add_argument("--rooms", type=int, default=20)
    load.add_argument("--members", type=int, default=25)
    load.add_argument(
        "--rate", type=float, default=1000.0, help="chat: messages/s over all senders"
    )
    load.add_argument("--matches", type=int, default=100)
    load.add_argument("--players", type=int, default=4)
    load.add_argument("--hz", type=float, default=10.0, help="match data per player per second")
    load.add_argument(
        "--tick-rate", type=int, default=10, help="authoritative: the relay's ticks per second"
    )
    load.add_argument(
        "--rpc-id", default="relay_create", help="authoritative: the RPC creating a relay match"
    )
    load.add_argument("--user-prefix", default="bench", help="custom ids, usernames and rooms")
    phases = p.add_argument_group("phases (seconds)")
    phases.add_argument("--warmup", type=float, default=2.0)
    phases.add_argument("--duration", type=float, default=10.0, help="the measured window")
    phases.add_argument("--drain", type=float, default=2.0, help="longest wait for stragglers")
    phases.add_argument("--hold", type=float, default=2.0, help="connect: idle time after")
    return p


def _params(args: argparse.Namespace, host: str, port: int) -> Params:
    sockets = args.sockets or DEFAULT_SOCKETS.get(args.scenario, 50)
    params = Params(
        scenario=args.scenario,
        format=args.format,
        host=host,
        port=port,
        server_key=args.server_key,
        workers=1,
        sockets=sockets,
        concurrency=args.concurrency,
        rooms=args.rooms,
        members=args.members,
        rate=args.rate,
        matches=args.matches,
        players=args.players,
        hz=args.hz,
        tick_rate=args.tick_rate,
        warmup=args.warmup,
        duration=args.duration,
        drain=args.drain,
        hold=args.hold,
        user_prefix=args.user_prefix,
        rpc_id=args.rpc_id,
        also_ports=tuple(args.also_port),
        spread=args.spread,
    )
    # More workers than sockets would only idle.
    workers = max(1, min(args.workers, params.total_sockets))
    return Params(**{**params.__dict__, "workers": workers})


def _check(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    positive = ["workers", "concurrency", "rooms", "members", "matches", "rate", "hz"]
    for name in positive:
        if getattr(args, name) <= 0:
            p.error(f"--{name.replace('_', '-')} must be positive")
    if args.sockets is not None and args.sockets <= 0:
        p.error("--sockets must be positive")
    if args.duration <= 0 or args.warmup < 0 or args.drain < 0 or args.hold < 0:
        p.error("--duration must be positive and the other phases not negative")
    if args.players < 2:
        p.error("--players must be at least 2: match data goes to the other players")
    if not 1 <= args.tick_rate <= 60:
        p.error("--tick-rate must be between 1 and 60")


def _server_pids(values: list[str]) -> list[int]:
    return [int(v) for value in values for v in value.split(",") if v.strip()]


def _raise_open_files_limit() -> None:
    """Thousands of sockets need thousands of descriptors, here and in a spawned server."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def say(line: str) -> None:
    print(line, flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run one benchmark; the exit status is 0 when it completed."""
    p = parser()
    args = p.parse_args(argv)
    _check(p, args)
    try:
        server_pids = _server_pids(args.server_pid)
    except ValueError:
        p.error("--server-pid takes process ids")
    _raise_open_files_limit()
    spawned = None
    host, port, metrics_url = args.host, args.port, args.metrics_url
    if args.spawn_server:
        runtime = EXAMPLES if args.scenario == "authoritative" else None
        spawned = SpawnedServer(runtime, args.server_arg, root=args.server_root)
        try:
            spawned.start()
        except RuntimeError as exc:
            spawned.stop()
            print(f"error: {exc}", file=sys.stderr)
            return 1
        host, port, metrics_url = spawned.host, spawned.port, spawned.metrics_url
        server_pids.append(spawned.pid)
        say(f"spawned server pid {spawned.pid} on {host}:{port}")
    params = _params(args, host, port)
    if not server_pids:
        say("no --server-pid: server CPU and memory will not be measured")
    try:
        result = run(params, server_pids, metrics_url, say)
    except (WorkerError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        if spawned is not None:
            print(f"server log tail:\n{spawned.log_tail()}", file=sys.stderr)
        return 1
    finally:
        if spawned is not None:
            crashed = spawned.process is not None and spawned.process.poll() is not None
            status = spawned.stop()
            if crashed:
                print(f"warning: the spawned server exited early ({status})", file=sys.stderr)
    for line in report.lines(result):
        say(line)
    print(json.dumps(result, separators=(",", ":")), flush=True)
    return 0
