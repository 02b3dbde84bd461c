"""``GET /v2/matchmaker/stats``: Nakama's matchmaker statistics (tickets in the pool, the
oldest one's creation, the last players matched with their tickets' creation and
match times).

Nakama answers with the figures of its last pass (a snapshot taken each interval);
here they are read when asked. Times are written as protojson writes a Timestamp.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from .context import ApiContext
from .http import Call, Route


def _time(nanoseconds: int) -> str:
    stamp = Timestamp()
    stamp.FromNanoseconds(nanoseconds)
    return stamp.ToJsonString()


async def matchmaker_stats(ctx: ApiContext, call: Call) -> dict[str, Any]:
    stats = ctx.matchmaker_stats()
    answer: dict[str, Any] = {}
    if stats.ticket_count:
        answer["ticket_count"] = stats.ticket_count
    if stats.oldest_ticket_create_time is not None:
        answer["oldest_ticket_create_time"] = _time(stats.oldest_ticket_create_time)
    if stats.completions:
        answer["completions"] = [
            {"create_time": _time(created), "complete_time": _time(matched)}
            for created, matched in stats.completions
        ]
    return answer


ROUTES = [
    Route(
        b"GET",
        (b"matchmaker", b"stats"),
        matchmaker_stats,
        auth="bearer",
        hook="GetMatchmakerStats",
    )
]
