"""CPU a process spends on the same work when it sleeps between messages: this
machine's cost of waking up, which load spread over more processes pays more often.

    python benchmarks/wake_cost.py [--gaps 0,0.2,1,2,5] [--server] [--runs 3]

A sender (which never sleeps: it spins between sends) sends one small message every
gap (0: the next as soon as the last was answered) and waits for the answer:

* to a plain ``select.epoll`` loop in Python that answers each message;
* with ``--server``, as a Nakama ``ping`` to this checkout's server, which answers a
  ``pong``.

The receiver's CPU is read from ``/proc/<pid>/task/<tid>/schedstat`` (the scheduler's
own runtime, in nanoseconds, not the tick-sampled user and system times); each figure
is the median of ``--runs`` runs. On a
machine whose idle CPUs stay warm the figures barely grow with the gap; on one whose
idle CPUs halt and come back cold (a VM without guest halt-polling, deep C-states),
the same message costs several times more after a long sleep.
"""

from __future__ import annotations

import argparse
import os
import select
import socket
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def runtime_ns(pid: int, tid: int | None = None) -> int:
    """The scheduler's CPU time of one thread (the main one by default)."""
    with open(f"/proc/{pid}/task/{tid or pid}/schedstat") as stat:
        return int(stat.read().split()[0])


def pace(started: float, count: int, gap: float) -> None:
    """Spin (never sleep) until the ``count``-th message is due."""
    due = started + count * gap
    while time.perf_counter() < due:
        pass


def messages_for(gap: float) -> int:
    return 5000 if gap == 0 else max(500, min(5000, int(2 / gap)))


def plain_loop(gap: float) -> float:
    """Microseconds of CPU a message for an epoll loop answering each one."""
    ours, theirs = socket.socketpair()
    child = os.fork()
    if child == 0:
        ours.close()
        poller = select.epoll()
        poller.register(theirs.fileno(), select.EPOLLIN)
        while True:
            poller.poll()
            data = theirs.recv(64)
            if not data:
                os._exit(0)
            theirs.send(b"a")
    theirs.close()
    try:
        for _ in range(200):
            ours.send(b"m")
            ours.recv(64)
        count = messages_for(gap)
        before = runtime_ns(child)
        started = time.perf_counter()
        for n in range(count):
            ours.send(b"m")
            ours.recv(64)
            pace(started, n + 1, gap)
        spent = runtime_ns(child) - before
    finally:
        ours.close()
        os.waitpid(child, 0)
    return spent / count / 1e3


def server_pings(gaps: list[float]) -> list[float]:
    """Microseconds of the server's CPU a ping, for each gap."""
    from loadgen.client import Authenticator, socket_url
    from loadgen.server import SpawnedServer
    from websockets.sync.client import connect

    server = SpawnedServer(extra_args=["--log-level", "warn"])
    server.start()
    try:
        token = Authenticator(server.host, server.port, "defaultkey").token(
            "wake-cost-user", "wakecost"
        )
        with connect(socket_url(server.host, server.port, token, "json")) as ws:
            ping = '{"ping":{}}'
            for _ in range(200):
                ws.send(ping)
                ws.recv()
            figures = []
            for gap in gaps:
                count = messages_for(gap)
                before = runtime_ns(server.pid)
                started = time.perf_counter()
                for n in range(count):
                    ws.send(ping)
                    ws.recv()
                    pace(started, n + 1, gap)
                figures.append((runtime_ns(server.pid) - before) / count / 1e3)
            return figures
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gaps", default="0,0.2,1,2,5", help="milliseconds between messages")
    parser.add_argument("--server", action="store_true", help="also ping this checkout's server")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    gaps = [float(g) / 1000 for g in args.gaps.split(",")]
    idle = Path("/sys/module/haltpoll/parameters/guest_halt_poll_ns")
    if idle.exists():
        print(f"guest halt-polling: {idle.read_text().strip()} ns")
    loops, servers = [], []
    for _ in range(args.runs):
        loops.append([plain_loop(gap) for gap in gaps])
    # After the loops: a server's start and stop disturb what runs beside them.
    for _ in range(args.runs if args.server else 0):
        servers.append(server_pings(gaps))
    loop = [statistics.median(run[at] for run in loops) for at in range(len(gaps))]
    server = (
        [statistics.median(run[at] for run in servers) for at in range(len(gaps))]
        if servers
        else None
    )
    print("gap ms   epoll loop us/message" + ("   server us/ping" if server else ""))
    for at, gap in enumerate(gaps):
        line = f"{gap * 1000:6.1f}   {loop[at]:21.1f}"
        if server:
            line += f"   {server[at]:15.1f}"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
