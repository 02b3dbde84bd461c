"""What one flooding socket costs everyone else, with the message rate limit on.

    python benchmarks/flood.py [--runs 3] [--seconds 5] [--controls 20] [--unlimited]

A server is started (``--spawn-server``'s, see ``benchmarks/loadgen/server.py``) with
``socket.max_messages_per_sec`` (``--rate``, 100; bursts of ``--burst``, 200) and
``socket.max_upgrades_per_sec_per_address`` (``--upgrades``, 5) on, and loopback not
exempt. ``--controls`` well-behaved clients (from 127.0.0.2, .3, ...) each ping, wait for the
pong, then pause ``--interval`` ms, for ``--seconds``; their round trips are the
figure. Each run measures three windows: no flood; one flooding socket (a process of
its own, from 127.0.0.1, starting half a second into the window) that writes pings as
fast as the server takes them and reads what comes back, until its socket is closed;
and a flooder that, after each close, opens a new socket ``--reconnect-ms`` later (an
attacker that keeps coming back, as often as the upgrade limit lets it). The report
gives the controls' p50/p99 in each window and its p99 over the quiet one's (medians
over the runs, and the median of each run's own ratio), how the flooder's sockets
ended (close code and reason) and what it got through, the server's CPU in each window
and the load generator's.
``--unlimited`` adds, once, a window with one flooding socket on a second server
with no limits, for contrast. The last line printed is one JSON object with every
figure.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import socket
import statistics
import struct
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
from websockets.asyncio.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loadgen.client import Authenticator  # noqa: E402
from loadgen.procstat import cpu_seconds, own_cpu_seconds  # noqa: E402
from loadgen.report import latency_ms  # noqa: E402
from loadgen.server import SpawnedServer  # noqa: E402

FLOOD_ADDRESS = "127.0.0.1"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs, each both windows (3)")
    parser.add_argument("--seconds", type=float, default=5.0, help="each window (5)")
    parser.add_argument("--controls", type=int, default=20, help="well-behaved clients (20)")
    parser.add_argument("--interval", type=float, default=20.0, help="ms between pings (20)")
    parser.add_argument("--rate", type=int, default=100, help="max_messages_per_sec (100)")
    parser.add_argument("--burst", type=int, default=200, help="message_burst (200)")
    parser.add_argument(
        "--upgrades", type=int, default=5, help="max_upgrades_per_sec_per_address (5)"
    )
    parser.add_argument(
        "--reconnect-ms", type=float, default=100.0, help="flooder's pause after a close (100)"
    )
    parser.add_argument(
        "--unlimited", action="store_true", help="also flood a server without limits (once)"
    )
    return parser.parse_args(argv)


# The flooder: a process of its own, plain sockets, two threads a socket


def _client_frame(payload: bytes) -> bytes:
    """A masked text frame (mask key zero, so the payload is as is)."""
    size = len(payload)
    head = bytes([0x81]) + (
        bytes([0x80 | size]) if size < 126 else b"\xfe" + struct.pack("!H", size)
    )
    return head + b"\0\0\0\0" + payload


def _upgrade(host: str, port: int, token: str) -> bytes:
    return (
        f"GET /ws?token={token}&format=json HTTP/1.1\r\nHost: {host}:{port}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


class _Reader(threading.Thread):
    """Reads one socket's frames: counts pongs and errors, notes the close frame."""

    def __init__(self, sock: socket.socket, buffer: bytes, stats: Counter) -> None:
        super().__init__(daemon=True)
        self.sock, self.buffer, self.stats = sock, buffer, stats
        self.close: tuple[int, str] | None = None

    def run(self) -> None:
        buffer = self.buffer
        try:
            while self.close is None:
                while len(buffer) >= 2 and self.close is None:
                    opcode, size, at = buffer[0] & 0x0F, buffer[1] & 0x7F, 2
                    if size == 126:
                        if len(buffer) < 4:
                            break
                        (size,) = struct.unpack_from("!H", buffer, 2)
                        at = 4
                    if len(buffer) < at + size:
                        break
                    payload, buffer = buffer[at : at + size], buffer[at + size :]
                    if opcode == 0x8:
                        code = struct.unpack_from("!H", payload)[0] if len(payload) >= 2 else 1005
                        self.close = (code, payload[2:].decode("utf-8", "replace"))
                    elif b'"pong"' in payload:
                        self.stats["pongs"] += 1
                    elif b'"error"' in payload:
                        self.stats["errors"] += 1
                if self.close is not None:
                    break
                data = self.sock.recv(65536)
                if not data:
                    break
                buffer += data
        except OSError:
            pass
        finally:
            try:  # wakes the writer, blocked on a socket the server stopped reading
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _flood_one(host: str, port: int, token: str, stop: Any, stats: Counter) -> None:
    sock = socket.create_connection((host, port), source_address=(FLOOD_ADDRESS, 0))
    try:
        sock.sendall(_upgrade(host, port, token))
        head = b""
        while b"\r\n\r\n" not in head:
            data = sock.recv(65536)
            if not data:
                stats["upgrades_dropped"] += 1
                return
            head += data
        head, _, rest = head.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101 "):
            stats[f"upgrade {head[9:12].decode()}"] += 1
            return
        stats["sockets"] += 1
        reader = _Reader(sock, rest, stats)
        reader.start()
        chunk = _client_frame(b'{"cid":"f","ping":{}}') * 256
        try:
            while reader.close is None and reader.is_alive() and not stop.is_set():
                sock.sendall(chunk)
                stats["sent"] += 256
        except OSError:
            pass
        reader.join(5)
        ended = "dropped" if reader.close is None else f"{reader.close[0]} {reader.close[1]}"
        if not stop.is_set():
            stats[f"closed: {ended}"] += 1
    finally:
        sock.close()


def flooder(
    host: str, port: int, token: str, reconnect: float | None, go: Any, stop: Any, out: Any
) -> None:
    """Once ``go`` is set, flood until ``stop`` is, from one socket (``reconnect``
    None) or from a new one ``reconnect`` seconds after each close; put the counts and
    this process's CPU on ``out``."""
    stats: Counter = Counter()
    go.wait()
    while not stop.is_set():
        _flood_one(host, port, token, stop, stats)
        if reconnect is None:
            stop.wait()
        stop.wait(reconnect)
    stats["cpu_s"] = own_cpu_seconds()
    out.put(dict(stats))


# The controls: asyncio clients in this process


async def control(
    host: str, port: int, token: str, source: str, until: float, interval: float
) -> list[float]:
    url = f"ws://{host}:{port}/ws?token={token}&format=json"
    rounds: list[float] = []
    async with connect(
        url, compression=None, proxy=None, ping_interval=None, local_addr=(source, 0)
    ) as ws:
        n = 0
        while time.monotonic() < until:
            n += 1
            cid = str(n)
            sent = time.perf_counter()
            await ws.send(orjson.dumps({"cid": cid, "ping": {}}).decode())
            while True:
                answer = orjson.loads(await ws.recv())
                if answer.get("cid") == cid:
                    break
            rounds.append(time.perf_counter() - sent)
            if "pong" not in answer:
                raise RuntimeError(f"a control client was answered {answer}")
            await asyncio.sleep(interval)
    return rounds


async def controls(server: SpawnedServer, tokens: list[str], args) -> list[float]:
    until = time.monotonic() + args.seconds
    # Each from an address of its own (127.0.0.2, .3, ...): the upgrade limit is per address.
    rounds = await asyncio.gather(
        *(
            control(server.host, server.port, t, f"127.0.0.{2 + n}", until, args.interval / 1000)
            for n, t in enumerate(tokens)
        )
    )
    return [r for each in rounds for r in each]


def window(
    server: SpawnedServer,
    tokens: list[str],
    args,
    flood_token: str | None = None,
    reconnect: float | None = None,
) -> dict:
    """One measured window: the controls, and a flooder when ``flood_token`` is given
    (one socket, or a new one ``reconnect`` seconds after each close)."""
    context = multiprocessing.get_context("fork")
    go, stop, out = context.Event(), context.Event(), context.Queue()
    process = None
    if flood_token is not None:
        # Forked before the window (a fork stalls this process a moment), flooding
        # a moment after the controls start.
        process = context.Process(
            target=flooder,
            args=(server.host, server.port, flood_token, reconnect, go, stop, out),
        )
        process.start()
        threading.Timer(min(0.5, args.seconds / 4), go.set).start()
    cpu_before, own_before = cpu_seconds(server.pid), own_cpu_seconds()
    rounds = asyncio.run(controls(server, tokens, args))
    result: dict[str, Any] = {
        "controls": latency_ms(rounds),
        "server_cpu_s": round(cpu_seconds(server.pid) - cpu_before, 3),
        "loadgen_cpu_s": round(own_cpu_seconds() - own_before, 3),
    }
    if process is not None:
        stop.set()
        result["flooder"] = out.get(timeout=30)
        process.join(10)
    return result


WINDOWS = ("quiet", "one socket", "reconnecting")


def measure(server: SpawnedServer, tokens: list[str], flood_token: str, args) -> dict:
    """Each window once: no flood, one flooding socket, a flooder that comes back."""
    reconnect = args.reconnect_ms / 1000
    run = {
        "quiet": window(server, tokens, args),
        "one socket": window(server, tokens, args, flood_token),
        "reconnecting": window(server, tokens, args, flood_token, reconnect),
    }
    quiet = run["quiet"]["controls"]["p99"]
    for name in WINDOWS[1:]:
        run[name]["p99_ratio"] = round(run[name]["controls"]["p99"] / quiet, 3)
    return run


def spawn(args, limited: bool) -> tuple[SpawnedServer, str]:
    config = Path(tempfile.mkdtemp(prefix="nakama-rt-flood-")) / "config.yml"
    if limited:
        config.write_text(
            "socket:\n"
            f"  max_messages_per_sec: {args.rate}\n"
            f"  message_burst: {args.burst}\n"
            f"  max_upgrades_per_sec_per_address: {args.upgrades}\n"
            "  exempt_private_addresses: false\n"
            "  max_connections_per_address: 0\n"
        )
    else:
        config.write_text("socket:\n  exempt_private_addresses: true\n")
    server = SpawnedServer(extra_args=["--config", str(config)])
    server.start()
    return server, str(config)


def setup(server: SpawnedServer, count: int) -> tuple[list[str], str]:
    auth = Authenticator(server.host, server.port, "defaultkey")
    tokens = [auth.token(f"flood-control-{os.getpid()}-{n}", f"c{n}") for n in range(count)]
    return tokens, auth.token(f"flooder-{os.getpid()}", "flooder")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    result: dict[str, Any] = {"params": vars(args), "runs": []}
    warm_up = argparse.Namespace(**{**vars(args), "seconds": 1.0})
    server, _ = spawn(args, limited=True)
    try:
        tokens, flood_token = setup(server, args.controls)
        window(server, tokens, warm_up)
        for n in range(args.runs):
            run = measure(server, tokens, flood_token, args)
            result["runs"].append(run)
            print(
                f"run {n + 1}: p99 "
                + ", ".join(f"{name} {run[name]['controls']['p99']:.2f} ms" for name in WINDOWS),
                flush=True,
            )
    finally:
        server.stop()
    if args.unlimited:
        server, _ = spawn(args, limited=False)
        try:
            tokens, flood_token = setup(server, args.controls)
            window(server, tokens, warm_up)
            result["unlimited"] = {
                "quiet": window(server, tokens, args),
                "one socket": window(server, tokens, args, flood_token),
            }
        finally:
            server.stop()
    _report(result)
    print(orjson.dumps(result).decode())
    return 0


def _median(runs: list[dict], *path: str) -> float:
    values = []
    for run in runs:
        value: Any = run
        for key in path:
            value = value[key]
        values.append(value)
    return statistics.median(values)


def _report(result: dict) -> None:
    p, runs = result["params"], result["runs"]
    print()
    print(
        f"{p['controls']} control clients (ping, pong, {p['interval']:g} ms pause), "
        f"{p['seconds']:g} s windows, {p['runs']} runs, {os.cpu_count()} CPUs; limits: "
        f"{p['rate']} msgs/s (bursts of {p['burst']}), {p['upgrades']} upgrades/s "
        f"per address; medians of the runs:"
    )
    quiet = _median(runs, "quiet", "controls", "p99")
    for name in WINDOWS:
        p99 = _median(runs, name, "controls", "p99")
        line = (
            f"  {name:13} controls' ping p50 {_median(runs, name, 'controls', 'p50'):.2f} ms, "
            f"p99 {p99:.2f} ms ({p99 / quiet:.2f}x); server "
            f"{_median(runs, name, 'server_cpu_s'):.2f} CPU-s, controls "
            f"{_median(runs, name, 'loadgen_cpu_s'):.2f}"
        )
        if name != "quiet":
            # Each run's windows are back to back: its own ratio is the side-by-side
            # figure, less exposed to the machine's minute-to-minute noise.
            paired = _median(runs, name, "p99_ratio")
            line += f", flooder {_median(runs, name, 'flooder', 'cpu_s'):.2f}"
            line += f"; median of the runs' own p99 ratios {paired:.2f}x"
        print(line)
        if name != "quiet":
            flood = runs[-1][name]["flooder"]
            shown = {k: v for k, v in flood.items() if k != "cpu_s"}
            print(f"    flooder (last run): {shown}")
    unlimited = result.get("unlimited")
    if unlimited:
        q = unlimited["quiet"]["controls"]["p99"]
        f = unlimited["one socket"]["controls"]["p99"]
        flood = {k: v for k, v in unlimited["one socket"]["flooder"].items() if k != "cpu_s"}
        print(
            f"  without limits, one flooding socket: p99 {q:.2f} ms quiet, {f:.2f} ms "
            f"flooded ({f / q:.2f}x); flooder {flood}"
        )


if __name__ == "__main__":
    sys.exit(main())
