"""What a Redis publish costs this process, with each Redis client the cluster could use.

    python benchmarks/redis_clients.py              # every client, 3 runs each
    python benchmarks/redis_clients.py --messages 50000 --runs 5

The cluster (issue 15) publishes one envelope per node with recipients and reads the
envelopes other nodes publish, on the reactor thread. The candidates: nakama-rt's own
(``nakama_rt/cluster/redis.py``: hiredis' encoder and parser on a Twisted connection, on
the default reactor), txredisapi (Twisted-native, with hiredis too, on the default
reactor; ``pip install txredisapi`` to measure it) and redis-py's asyncio client with
hiredis (on Twisted's asyncio reactor, which the whole server would then run on). Each
run is a child process with its reactor of choice: it subscribes to a channel on
one connection and publishes ``--messages`` payloads of ``--size`` bytes on another, in
bursts of ``--burst`` without waiting for each reply (as a busy node would), until every
message has come back through the subscription. It reports the child's CPU time per
message (publish and receive together) and Redis' own CPU over the same span, so a reader
can tell the client's cost from the server's. Redis at ``--redis`` (database 15, nothing
is stored: PUBLISH keeps nothing).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import time

CLIENTS = ("nakama-rt", "txredisapi", "redis-py")


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _redis_cpu(host: str, port: int) -> float:
    """Redis' own CPU seconds so far (INFO cpu), read over a plain socket: the reply is
    one bulk string, ``$<length>`` then that many bytes."""
    with socket.create_connection((host, port)) as sock, sock.makefile("rb") as reply:
        sock.sendall(b"INFO cpu\r\n")
        data = reply.read(int(reply.readline()[1:]))
    fields = dict(line.split(":", 1) for line in data.decode().splitlines() if ":" in line)
    return float(fields["used_cpu_sys"]) + float(fields["used_cpu_user"])


def child(args: argparse.Namespace) -> None:
    """One measured run in this process; prints one JSON line."""
    if args.client == "redis-py":
        from twisted.internet import asyncioreactor

        asyncioreactor.install()
    from twisted.internet import defer, reactor

    payload = os.urandom(args.size // 2).hex().encode()[: args.size]
    channel = "nakama-rt-bench"
    received = 0
    done: defer.Deferred[None] = defer.Deferred()

    def on_message(_data: object) -> None:
        nonlocal received
        received += 1
        if received == args.messages and not done.called:
            done.callback(None)

    async def run_ours() -> None:
        from nakama_rt.cluster import redis as cluster_redis

        url = f"redis://{args.host}:{args.port}/15"
        sub = await cluster_redis.subscribe(
            url, reactor, [channel.encode()], lambda _channel, message: on_message(message)
        )
        pub = await cluster_redis.connect(url, reactor)

        def burst() -> defer.Deferred:
            # Its PUBLISH commands get no reply: one PING answers once Redis ran them.
            for _ in range(args.burst):
                pub.publish(channel.encode(), payload)
            return pub.ping()

        await measure(burst)
        await sub.disconnect()
        await pub.disconnect()

    async def run_txredisapi() -> None:
        import txredisapi
        from twisted.internet.endpoints import TCP4ClientEndpoint

        class Subscriber(txredisapi.SubscriberProtocol):
            def messageReceived(self, pattern, channel, message):  # noqa: N802
                on_message(message)

        factory = txredisapi.SubscriberFactory()
        factory.protocol = Subscriber
        factory.charset = None  # envelopes are bytes
        factory.reconnect = False
        factory.startConnecting(TCP4ClientEndpoint(reactor, args.host, args.port))
        sub = await factory.deferred
        await sub.subscribe(channel)
        pub = await txredisapi.Connection(
            args.host, args.port, dbid=15, reconnect=False, charset=None
        )

        def burst() -> defer.Deferred:
            return defer.gatherResults([pub.publish(channel, payload) for _ in range(args.burst)])

        await measure(burst)
        await sub.disconnect()
        await pub.disconnect()

    async def run_redis_py() -> None:
        import asyncio

        import redis.asyncio as aioredis

        pub = aioredis.Redis(host=args.host, port=args.port, db=15)
        sub_client = aioredis.Redis(host=args.host, port=args.port, db=15)
        pubsub = sub_client.pubsub()
        await defer.Deferred.fromFuture(asyncio.ensure_future(pubsub.subscribe(channel)))

        async def reader() -> None:
            while received < args.messages:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is not None:
                    on_message(message["data"])

        reading = asyncio.ensure_future(reader())

        def burst() -> defer.Deferred:
            async def publish_all() -> None:
                async with pub.pipeline(transaction=False) as pipe:
                    for _ in range(args.burst):
                        pipe.publish(channel, payload)
                    await pipe.execute()

            return defer.Deferred.fromFuture(asyncio.ensure_future(publish_all()))

        await measure(burst)
        await defer.Deferred.fromFuture(reading)
        await defer.Deferred.fromFuture(asyncio.ensure_future(pubsub.aclose()))
        await defer.Deferred.fromFuture(asyncio.ensure_future(sub_client.aclose()))
        await defer.Deferred.fromFuture(asyncio.ensure_future(pub.aclose()))

    result: dict[str, object] = {}

    async def measure(burst) -> None:
        redis_before, cpu_before, wall_before = (
            _redis_cpu(args.host, args.port),
            _cpu(),
            time.perf_counter(),
        )
        for _ in range(args.messages // args.burst):
            await burst()
        await done
        wall = time.perf_counter() - wall_before
        cpu = _cpu() - cpu_before
        redis_cpu = _redis_cpu(args.host, args.port) - redis_before
        result.update(
            client=args.client,
            reactor=type(reactor).__name__,
            messages=args.messages,
            size=args.size,
            burst=args.burst,
            wall_s=round(wall, 3),
            client_cpu_s=round(cpu, 3),
            client_us_per_message=round(cpu / args.messages * 1e6, 2),
            redis_cpu_s=round(redis_cpu, 3),
            redis_us_per_message=round(redis_cpu / args.messages * 1e6, 2),
        )

    async def main() -> None:
        try:
            runs = {"nakama-rt": run_ours, "txredisapi": run_txredisapi, "redis-py": run_redis_py}
            await runs[args.client]()
        finally:
            reactor.stop()

    reactor.callWhenRunning(lambda: defer.ensureDeferred(main()))
    reactor.run()
    print(json.dumps(result))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--client", choices=CLIENTS, help="run one measurement in this process")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=6379)
    p.add_argument("--messages", type=int, default=100_000)
    p.add_argument("--size", type=int, default=200, help="payload bytes (an envelope)")
    p.add_argument("--burst", type=int, default=100)
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args()
    if args.client:
        child(args)
        return
    results: dict[str, list[dict]] = {name: [] for name in CLIENTS}
    for _ in range(args.runs):
        for name in CLIENTS:  # alternating, so drift hits both alike
            out = subprocess.run(
                [sys.executable, __file__, "--client", name, *_forward(args)],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            results[name].append(json.loads(out.strip().splitlines()[-1]))
    for name, runs in results.items():
        per = [r["client_us_per_message"] for r in runs]
        redis = [r["redis_us_per_message"] for r in runs]
        print(
            f"{name:11} {runs[0]['reactor']:24} client {statistics.median(per):6.2f} us/msg"
            f" (runs {', '.join(f'{x:.2f}' for x in per)}); redis {statistics.median(redis):5.2f}"
            f" us/msg; wall {statistics.median(r['wall_s'] for r in runs):.2f} s"
        )
    print(json.dumps(results, separators=(",", ":")))


def _forward(args: argparse.Namespace) -> list[str]:
    return [
        "--host", args.host, "--port", str(args.port), "--messages", str(args.messages),
        "--size", str(args.size), "--burst", str(args.burst),
    ]  # fmt: skip


if __name__ == "__main__":
    main()
