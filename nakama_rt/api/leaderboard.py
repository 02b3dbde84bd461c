"""``/v2/leaderboard/{leaderboard_id}``: a player's scores, as Nakama's api_leaderboard.go
answers: write one's own record, delete it, list records, list those around an owner.

Checks run in Nakama's order and answer in its words. What Nakama leaves PostgreSQL to
refuse (a negative or overflowing score, metadata PostgreSQL cannot store) is the same
500 here on both backends.
"""

from __future__ import annotations

from typing import Any

from nakama_rt.storage.jsonb import InvalidValue, object_value
from nakama_rt.storage.leaderboards import (
    LeaderboardAuthoritative,
    LeaderboardNotFound,
    LeaderboardRecord,
    RecordList,
)
from nakama_rt.storage.social import InvalidCursor
from nakama_rt.wire.ids import canonical_uuid

from .account import timestamp
from .context import ApiContext
from .http import ApiError, Call, Code, Route
from .social_http import (
    decode_typed_body,
    populated,
    query_int32,
    query_integer,
    query_list,
    query_one,
)

_NOT_FOUND = ApiError(Code.NOT_FOUND, "Leaderboard not found.")
_NO_ID = ApiError(Code.INVALID_ARGUMENT, "Invalid leaderboard ID.")
_WRITE_FAILED = "Error writing score to leaderboard."
_NULL_BODY = "proto: syntax error (line 1:1): unexpected token null"
_DELETE_FAILED = "Error deleting score from leaderboard."
_LIST_FAILED = "Error listing records from leaderboard."
_AROUND_FAILED = "Error querying records from leaderboard."
#: The API's ``Operator`` enum by name, as protojson reads it.
_OPERATORS = {"NO_OVERRIDE": 0, "BEST": 1, "SET": 2, "INCREMENT": 3, "DECREMENT": 4}
#: The ranges of the ``Int64Value`` and ``UInt32Value`` query parameters.
_INT64, _UINT32 = (-(2**63), 2**63), (0, 2**32)


# Rendering ---------------------------------------------------------------------------------


def record_json(record: LeaderboardRecord) -> dict[str, Any]:
    """Nakama's ``LeaderboardRecord`` message (int64 fields as JSON strings)."""
    return populated(
        [
            ("leaderboard_id", record.leaderboard_id),
            ("owner_id", record.owner_id),
            ("username", record.username),
            ("score", str(record.score) if record.score else None),
            ("subscore", str(record.subscore) if record.subscore else None),
            ("num_score", record.num_score),
            ("metadata", record.metadata),
            ("create_time", timestamp(record.create_time)),
            ("update_time", timestamp(record.update_time)),
            ("expiry_time", timestamp(record.expiry_time) if record.expiry_time else None),
            ("rank", str(record.rank) if record.rank else None),
            ("max_num_score", record.max_num_score),
        ],
        always=("username",) if record.username is not None else (),
    )


def record_list_json(page: RecordList) -> dict[str, Any]:
    """Nakama's ``LeaderboardRecordList`` message."""
    return populated(
        [
            ("records", [record_json(record) for record in page.records]),
            ("owner_records", [record_json(record) for record in page.owner_records]),
            ("next_cursor", page.next_cursor),
            ("prev_cursor", page.prev_cursor),
            ("rank_count", str(page.rank_count) if page.rank_count else None),
        ]
    )


# Handlers ----------------------------------------------------------------------------------


async def write_record(ctx: ApiContext, call: Call, leaderboard_id: str) -> dict[str, Any]:
    """``POST /v2/leaderboard/{leaderboard_id}``: the body is the record to write."""
    assert call.session is not None
    if call.json_body(ctx.config.socket.max_request_size_bytes) is None:
        # grpc-gateway decodes the body into the record message, which JSON null is not.
        raise ApiError(Code.INVALID_ARGUMENT, _NULL_BODY)
    record = decode_typed_body(
        call,
        ctx.config.socket.max_request_size_bytes,
        {"score": "int64", "subscore": "int64", "metadata": "string", "operator": "enum"},
    )
    operator = record.get("operator", 0)
    if isinstance(operator, str):  # protojson drops a name it does not know (0)
        operator = _OPERATORS.get(operator, 0)
    if not leaderboard_id:
        raise _NO_ID
    metadata: str | None = record.get("metadata") or None
    if metadata is not None:
        try:
            metadata = object_value(metadata).text
        except InvalidValue as refused:
            if refused.reason == "not_object":
                raise ApiError(
                    Code.INVALID_ARGUMENT, "Metadata value must be JSON, if provided."
                ) from None
            raise ApiError(Code.INTERNAL, _WRITE_FAILED) from None
    written = await ctx.storage.write_leaderboard_record(
        call.session.user_id,
        leaderboard_id,
        call.session.user_id,
        call.session.username or None,
        record.get("score", 0),
        record.get("subscore", 0),
        metadata,
        operator,
    )
    return record_json(written)


async def delete_record(ctx: ApiContext, call: Call, leaderboard_id: str) -> dict[str, Any]:
    """``DELETE /v2/leaderboard/{leaderboard_id}``: the caller's own record."""
    assert call.session is not None
    if not leaderboard_id:
        raise _NO_ID
    user_id = call.session.user_id
    await ctx.storage.delete_leaderboard_record(user_id, leaderboard_id, user_id)
    return {}


async def list_records(ctx: ApiContext, call: Call, leaderboard_id: str) -> dict[str, Any]:
    """``GET /v2/leaderboard/{leaderboard_id}?owner_ids=&limit=&cursor=&expiry=``."""
    owner_ids = query_list(call, "owner_ids")
    limit = query_int32(call, "limit")
    cursor = query_one(call, "cursor") or ""
    expiry = query_integer(call, "expiry", *_INT64)
    if not leaderboard_id:
        raise _NO_ID
    if limit is not None:
        if not 1 <= limit <= 1000:
            raise ApiError(
                Code.INVALID_ARGUMENT, "Invalid limit - limit must be between 1 and 1000."
            )
    elif not owner_ids or cursor:
        limit = 1
    if any(canonical_uuid(owner) is None for owner in owner_ids):
        raise ApiError(Code.INVALID_ARGUMENT, "One or more owner IDs are invalid.")
    page = await ctx.storage.list_leaderboard_records(
        leaderboard_id, limit, cursor, owner_ids, expiry or 0
    )
    return record_list_json(page)


async def records_around(
    ctx: ApiContext, call: Call, leaderboard_id: str, owner_id: str
) -> dict[str, Any]:
    """``GET /v2/leaderboard/{leaderboard_id}/owner/{owner_id}?limit=&expiry=&cursor=``."""
    limit = query_integer(call, "limit", *_UINT32)
    expiry = query_integer(call, "expiry", *_INT64)
    cursor = query_one(call, "cursor") or ""
    if not leaderboard_id:
        raise _NO_ID
    if limit is None:
        limit = 1
    elif not 1 <= limit <= 100:
        raise ApiError(Code.INVALID_ARGUMENT, "Invalid limit - limit must be between 1 and 100.")
    if not owner_id:
        raise ApiError(Code.INVALID_ARGUMENT, "Owner ID must be provided for a haystack query.")
    if canonical_uuid(owner_id) is None:
        raise ApiError(Code.INVALID_ARGUMENT, "Invalid owner ID provided.")
    page = await ctx.storage.leaderboard_records_around(
        leaderboard_id, owner_id, limit, cursor, expiry or 0
    )
    return record_list_json(page)


ROUTES = [
    Route(
        b"POST",
        (b"leaderboard", b"{leaderboard_id}"),
        write_record,
        auth="bearer",
        hook="WriteLeaderboardRecord",
        errors={
            LeaderboardNotFound: _NOT_FOUND,
            LeaderboardAuthoritative: ApiError(
                Code.PERMISSION_DENIED, "Leaderboard only allows authoritative score submissions."
            ),
        },
        internal=_WRITE_FAILED,
    ),
    Route(
        b"DELETE",
        (b"leaderboard", b"{leaderboard_id}"),
        delete_record,
        auth="bearer",
        hook="DeleteLeaderboardRecord",
        errors={
            LeaderboardNotFound: _NOT_FOUND,
            LeaderboardAuthoritative: ApiError(
                Code.PERMISSION_DENIED, "Leaderboard only allows authoritative score deletions."
            ),
        },
        internal=_DELETE_FAILED,
    ),
    Route(
        b"GET",
        (b"leaderboard", b"{leaderboard_id}"),
        list_records,
        auth="bearer",
        hook="ListLeaderboardRecords",
        errors={
            LeaderboardNotFound: _NOT_FOUND,
            InvalidCursor: ApiError(Code.INVALID_ARGUMENT, "Cursor is invalid or expired."),
        },
        internal=_LIST_FAILED,
    ),
    Route(
        b"GET",
        (b"leaderboard", b"{leaderboard_id}", b"owner", b"{owner_id}"),
        records_around,
        auth="bearer",
        hook="ListLeaderboardRecordsAroundOwner",
        errors={LeaderboardNotFound: _NOT_FOUND},
        internal=_AROUND_FAILED,
    ),
]
