"""``GET /v2/match``: list matches as Nakama does (limit, authoritative, label, sizes, query)."""

from __future__ import annotations

from typing import Any

from nakama_rt.core.refs import ListError, MatchFilter
from nakama_rt.query import QueryError
from nakama_rt.wire.proto import api_pb2

from .chat import as_json
from .context import ApiContext
from .http import ApiError, Call, Code, Route
from .social_http import query_int32


async def list_matches(ctx: ApiContext, call: Call) -> dict[str, Any]:
    limit = query_int32(call, "limit")
    label = call.query.get("label")
    query = call.query.get("query")
    match_filter = MatchFilter(
        limit=10 if limit is None else limit,
        authoritative=call.query.get("authoritative"),
        label=label,
        min_size=query_int32(call, "min_size"),
        max_size=query_int32(call, "max_size"),
        query=query,
    )
    match_filter.check()
    return as_json(api_pb2.MatchList(matches=ctx.list_matches(match_filter)))


ROUTES = [
    Route(
        b"GET",
        (b"match",),
        list_matches,
        auth="bearer",
        query={"authoritative": "bool", "label": "string", "query": "string"},
        errors={
            ListError: lambda refused: ApiError(Code.INVALID_ARGUMENT, str(refused)),
            # Nakama answers a query it cannot parse as an internal error. It is the
            # client's mistake all the same: one debug line, as for every refusal.
            QueryError: ApiError(Code.INTERNAL, "Error listing matches."),
        },
        hook="ListMatches",
    ),
]
