"""Throughput check: ``python -m nakama_rt.query [count]``."""

from __future__ import annotations

import random
import time

from ._engine import compile_query
from ._index import Document, index_document

QUERIES = (
    "+properties.region:europe",
    "+properties.region:europe +properties.mode:ranked properties.rank:>=5^2",
    "+properties.rank:>=3 +properties.rank:<=7 -properties.blocked:T",
    "properties.mode:ranked properties.mode:casual",
    "+properties.region:eu* properties.level:10^10",
)


def make_documents(count: int, seed: int = 1) -> list[Document]:
    rng = random.Random(seed)
    regions = ("europe", "us-east", "us-west", "asia", "eu-north")
    modes = ("ranked", "casual", "custom")
    return [
        index_document(
            {
                "region": rng.choice(regions),
                "mode": rng.choice(modes),
                "rank": rng.randint(1, 10),
                "level": rng.randint(1, 20),
                "blocked": rng.random() < 0.1,
            },
            "properties",
        )
        for _ in range(count)
    ]


def run(count: int = 10_000, repeat: int = 5) -> dict[str, float]:
    documents = make_documents(count)
    results: dict[str, float] = {}
    for text in QUERIES:
        query = compile_query(text)
        for label, fn in (("match", query.matcher), ("score", query.scorer)):
            best = float("inf")
            for _ in range(repeat):
                start = time.perf_counter()
                for doc in documents:
                    fn(doc)
                best = min(best, time.perf_counter() - start)
            results[f"{label} {text}"] = count / best
    return results


def main(count: int = 10_000) -> None:
    for name, rate in run(count).items():
        print(f"{rate / 1e6:6.2f} M evals/s  {name}")
