"""What counting ranks in the database costs: one board of ``count`` records.

    python benchmarks/leaderboard_ranks.py sqlite:/tmp/ranks.sqlite3 [count]
    python benchmarks/leaderboard_ranks.py 'postgresql://postgres@127.0.0.1/test' [count]

Fills a new "set" board with ``count`` owners of random scores (writes 200 at a time
through ``nk``), then prints the median of 20 writes by one owner at the top rank and
at the bottom rank (each write counts the records ranked before it), and of 20
listings of 100 records with 5 owners' records (a rank count per owner, and the
period's count). Wall times, the storage's own thread pool included.
"""

from __future__ import annotations

import random
import statistics
import sys
import time
import uuid

from twisted.internet import defer, task

from nakama_rt.runtime import NakamaModule
from nakama_rt.storage import open_storage

RUNS = 20


async def median_ms(call) -> float:
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        await call()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


async def measure(reactor, address: str, count: int) -> None:
    storage = open_storage(address, reactor)
    await storage.start()
    try:
        nk = NakamaModule(storage, None)
        board = f"bench{uuid.uuid4().hex[:8]}"
        await nk.leaderboard_create(board, operator="set")
        owners = [str(uuid.uuid4()) for _ in range(count)]
        chance = random.Random(1)
        started = time.perf_counter()
        for first in range(0, count, 200):
            writes = [
                nk.leaderboard_record_write(board, owner, "", chance.randrange(10**6))
                for owner in owners[first : first + 200]
            ]
            await defer.gatherResults(writes)
        print(f"{address.split(':')[0]}: {count} records written in "
              f"{time.perf_counter() - started:.1f} s")  # fmt: skip
        for score, place in ((10**6, "top"), (0, "bottom")):
            ms = await median_ms(
                lambda s=score: nk.leaderboard_record_write(board, owners[0], "", s)
            )
            print(f"  write at the {place} rank: median {ms:.2f} ms")
        listed = await median_ms(
            lambda: storage.list_leaderboard_records(board, 100, "", owners[:5], 0)
        )
        print(f"  list 100 records + 5 owners: median {listed:.2f} ms")
    finally:
        await storage.stop()


def main(reactor, address: str, count: str = "50000"):
    return defer.ensureDeferred(measure(reactor, address, int(count)))


if __name__ == "__main__":
    task.react(main, sys.argv[1:3])
