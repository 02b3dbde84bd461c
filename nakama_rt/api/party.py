"""``GET /v2/party``: list open and closed parties as Nakama 3.40 does (limit, open,
query, cursor); hidden parties are never listed to clients."""

from __future__ import annotations

from typing import Any

from nakama_rt.realtime.party.listing import DEFAULT_LIMIT, LIMIT_MAX, LIMIT_MIN, PartyListError

from .context import ApiContext
from .http import ApiError, Call, Code, Route
from .social_http import query_int32

INVALID_LIMIT = "Invalid limit - limit must be between 1 and 100."


async def list_parties(ctx: ApiContext, call: Call) -> dict[str, Any]:
    limit = query_int32(call, "limit")
    if limit is None:
        limit = DEFAULT_LIMIT
    elif not LIMIT_MIN <= limit <= LIMIT_MAX:
        raise ApiError(Code.INVALID_ARGUMENT, INVALID_LIMIT)
    parties, cursor = ctx.list_parties(
        limit, call.query.get("open"), call.query.get("query") or "", call.query.get("cursor") or ""
    )
    listed: dict[str, Any] = {"parties": parties} if parties else {}
    if cursor:
        listed["cursor"] = cursor
    return listed


ROUTES = [
    Route(
        b"GET",
        (b"party",),
        list_parties,
        auth="bearer",
        query={"open": "bool", "query": "string", "cursor": "string"},
        # Nakama answers a bad cursor or query as an internal error, in its words for
        # matches. It is the client's mistake all the same (one debug line).
        errors={PartyListError: ApiError(Code.INTERNAL, "Error listing matches.")},
        hook="ListParties",
    ),
]
