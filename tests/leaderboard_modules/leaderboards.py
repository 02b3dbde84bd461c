"""RPCs the leaderboard conformance cases set their boards up with (the same two as
``leaderboards.lua`` gives the reference Nakama): ``lb_create`` makes a board,
``lb_write`` writes a record as the server (authoritative boards too)."""

from __future__ import annotations

import json

_OPERATORS = {"": None, "best": 1, "set": 2, "incr": 3, "decr": 4}


async def lb_create(ctx, logger, nk, payload: str) -> str:
    p = json.loads(payload)
    await nk.leaderboard_create(
        p["id"],
        p.get("authoritative", False),
        p.get("sort", "desc"),
        p.get("operator", "best"),
        p.get("reset", ""),
        p.get("metadata") or {},
        p.get("enable_ranks", True),
    )
    return "{}"


async def lb_write(ctx, logger, nk, payload: str) -> str:
    p = json.loads(payload)
    await nk.leaderboard_record_write(
        p["id"],
        p["owner_id"],
        p.get("username", ""),
        p.get("score", 0),
        p.get("subscore", 0),
        p.get("metadata"),
        _OPERATORS[p.get("operator", "")],
    )
    return "{}"


def init_module(ctx, logger, nk, initializer) -> None:
    initializer.register_rpc("lb_create", lb_create)
    initializer.register_rpc("lb_write", lb_write)
