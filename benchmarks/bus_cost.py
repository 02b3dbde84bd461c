"""CPU a PUBLISH costs the cluster: the publishing node, the subscribed node and Redis.

    python benchmarks/bus_cost.py [--gaps 2,5] [--messages 1,5] [--runs 3]

Two processes of this checkout's cluster code and no server: one publishes with its
``ClusterBus`` and ``RedisConnection``, one message of 120 bytes (or ``--messages`` of
them, one PUBLISH) every gap, from a reactor timer; the other subscribes, as a node
does, and splits each batch. Each process's CPU, and Redis's when it runs here, is read
from ``/proc/<pid>/schedstat`` (the scheduler's runtime) over ``--seconds`` and
divided by the PUBLISH commands sent meanwhile; the publisher's includes the wake of
its timer, which the line of 0 messages shows alone (per tick). Gaps must be at least the bus's
own (2 ms), so that each tick is one PUBLISH. Each figure is the median of ``--runs``.
``pip install '.[bench]'``; Redis on 127.0.0.1:6379 (database 12 by default).
"""

from __future__ import annotations

import argparse
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from cluster import redis_info  # noqa: E402
from wake_cost import runtime_ns  # noqa: E402

from nakama_rt.cluster.bus import PUBLISH_GAP  # noqa: E402

BODY = b"x" * 120


def subscriber(url: str) -> None:
    """Subscribe as node ``b``; say ``ready``; split every batch until killed."""
    from twisted.internet import reactor
    from twisted.internet.defer import ensureDeferred

    from nakama_rt.cluster.bus import ClusterBus, split
    from nakama_rt.cluster.redis import parse_redis_url, subscribe

    bus = ClusterBus("b", reactor, parse_redis_url(url).database)

    async def start() -> None:
        await subscribe(url, reactor, [bus.channel("b")], lambda _, batch: split(batch))
        print("ready", flush=True)

    ensureDeferred(start())
    reactor.run()


def publisher(url: str, gap: float, messages: int) -> None:
    """Publish ``messages`` to node ``b`` every ``gap`` seconds as node ``a``; say
    ``ready``; on SIGUSR1, print how many PUBLISH commands went so far."""
    from twisted.internet import reactor, task
    from twisted.internet.defer import ensureDeferred

    from nakama_rt.cluster.bus import ClusterBus
    from nakama_rt.cluster.redis import connect, parse_redis_url

    bus = ClusterBus("a", reactor, parse_redis_url(url).database)
    signal.signal(signal.SIGUSR1, lambda *_: print(bus.published, flush=True))

    def tick() -> None:
        for _ in range(messages):
            bus.send("b", b"D", BODY)

    async def start() -> None:
        bus.attach(await connect(url, reactor), lambda kind, sender, body: None)
        task.LoopingCall(tick).start(gap)
        print("ready", flush=True)

    ensureDeferred(start())
    reactor.run()


def redis_pid(url: str) -> int | None:
    """Redis's process id, if it runs on this machine."""
    pid = redis_info(url)["pid"]
    return pid if Path(f"/proc/{pid}").exists() else None


def measure(url: str, gap: float, messages: int, seconds: float) -> dict[str, float]:
    """Microseconds of CPU a PUBLISH (a tick, with no message) in each process."""
    role = [sys.executable, __file__, "--redis", url, "--role"]
    sub = subprocess.Popen([*role, "sub"], stdout=subprocess.PIPE, text=True)
    pub = None
    try:
        assert sub.stdout is not None and sub.stdout.readline().strip() == "ready"
        args = ["--gap", str(gap), "--count", str(messages)]
        pub = subprocess.Popen([*role, "pub", *args], stdout=subprocess.PIPE, text=True)
        assert pub.stdout is not None and pub.stdout.readline().strip() == "ready"
        time.sleep(1.0)  # warm
        pids = {"publisher": pub.pid, "subscriber": sub.pid}
        if (pid := redis_pid(url)) is not None:
            pids["redis"] = pid

        def published() -> int:
            assert pub is not None and pub.stdout is not None
            pub.send_signal(signal.SIGUSR1)
            return int(pub.stdout.readline())

        first, before = published(), {name: runtime_ns(p) for name, p in pids.items()}
        started = time.perf_counter()
        time.sleep(seconds)
        after = {name: runtime_ns(p) for name, p in pids.items()}
        count = published() - first
        # With no message there is no PUBLISH: per tick of the timer instead.
        count = count or round((time.perf_counter() - started) / gap)
        return {name: (after[name] - before[name]) / count / 1e3 for name in pids}
    finally:
        for process in (pub, sub):
            if process is not None:
                process.kill()
                process.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gaps", default="2,5", help="milliseconds between PUBLISH commands")
    parser.add_argument("--messages", default="1,5", help="messages a PUBLISH carries")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--role", choices=("pub", "sub"), help=argparse.SUPPRESS)
    parser.add_argument("--gap", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "sub":
        subscriber(args.redis)
        return 0
    if args.role == "pub":
        publisher(args.redis, args.gap, args.count)
        return 0
    gaps = [float(g) / 1000 for g in args.gaps.split(",")]
    if min(gaps) < PUBLISH_GAP:
        parser.error(f"each gap must be at least the bus's own {PUBLISH_GAP * 1000:g} ms")
    print("gap ms  messages  publisher us  subscriber us  Redis us   (a PUBLISH; medians)")
    for gap in gaps:
        for messages in [0, *(int(m) for m in args.messages.split(","))]:
            runs = [measure(args.redis, gap, messages, args.seconds) for _ in range(args.runs)]
            figure = {name: statistics.median(run[name] for run in runs) for name in runs[0]}
            redis = f"{figure['redis']:9.1f}" if "redis" in figure else "        -"
            print(
                f"{gap * 1000:6g}  {messages:8}  {figure['publisher']:12.1f}"
                f"  {figure['subscriber']:13.1f}  {redis}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
