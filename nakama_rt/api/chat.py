"""Chat history and notifications over HTTP: ``GET /v2/channel/{id}``,
``GET /v2/notification`` and ``DELETE /v2/notification``.

Cursors are opaque to clients (base64url of a small JSON object); they pin a
position ``(create time, id)`` in a stream, so paging is stable while others
keep writing.
"""

from __future__ import annotations

import base64
from typing import Any

import orjson

from nakama_rt.core.notifications import wire_notification
from nakama_rt.core.tracker import PresenceStream, StreamMode
from nakama_rt.realtime.chat.channel import (
    MEMBER_STATES,
    parse_channel_id,
    stream_key,
    wire_message,
)
from nakama_rt.storage.social import InvalidCursor
from nakama_rt.storage.social_core import load_cursor
from nakama_rt.wire.codec import Format, encode
from nakama_rt.wire.proto import api_pb2

from .context import ApiContext
from .http import ApiError, Call, Code, Route
from .social_http import query_list

LIMIT_ERROR = "Invalid limit - limit must be between 1 and 100."
CURSOR_ERROR = "Cursor is invalid or expired."


def as_json(message: Any) -> dict[str, Any]:
    """A proto message as grpc-gateway renders it (the socket's JSON rules)."""
    return orjson.loads(encode(Format.JSON, message))


def parse_limit(raw: str | None) -> int:
    if raw is None:
        return 1
    try:
        limit = int(raw)
    except ValueError:
        raise ApiError(Code.INVALID_ARGUMENT, LIMIT_ERROR) from None
    if not 1 <= limit <= 100:
        raise ApiError(Code.INVALID_ARGUMENT, LIMIT_ERROR)
    return limit


def encode_cursor(fields: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(fields)).rstrip(b"=").decode()


def decode_cursor(raw: str) -> dict[str, Any] | None:
    """The fields of a cursor made by :func:`encode_cursor`, or None when it is not one
    (:func:`~nakama_rt.storage.social_core.load_cursor` checks every value)."""
    try:
        data = load_cursor(raw, unpadded=True)
    except InvalidCursor:
        return None
    return data if isinstance(data, dict) else None


# Channel history ---------------------------------------------------------------------------


def _position_cursor(stream: PresenceStream, at: tuple[int, str], forward: bool, is_next: bool):
    return {
        "m": int(stream.mode),
        "s": stream.subject,
        "c": stream.subcontext,
        "l": stream.label,
        "t": at[0],
        "i": at[1],
        "f": forward,
        "n": is_next,
    }


def _check_cursor(raw: str, stream: PresenceStream, forward: bool) -> dict[str, Any]:
    cursor = decode_cursor(raw)
    if (
        cursor is None
        or cursor.get("f") is not forward
        or not isinstance(cursor.get("t"), int)
        or not isinstance(cursor.get("i"), str)
        or not isinstance(cursor.get("n"), bool)
        or (cursor.get("m"), cursor.get("s"), cursor.get("c"), cursor.get("l"))
        != (int(stream.mode), stream.subject, stream.subcontext, stream.label)
    ):
        raise ApiError(Code.INVALID_ARGUMENT, CURSOR_ERROR)
    return cursor


async def _check_access(ctx: ApiContext, stream: PresenceStream, user_id: str) -> None:
    if stream.mode == StreamMode.GROUP:
        state = await ctx.storage.group_member_state(stream.subject, user_id)
        if state not in MEMBER_STATES:
            raise ApiError(Code.INVALID_ARGUMENT, "Group not found.")
    elif stream.mode == StreamMode.DM and user_id not in (stream.subject, stream.subcontext):
        raise ApiError(Code.INVALID_ARGUMENT, "Channel not found.")


async def list_channel_messages(ctx: ApiContext, call: Call, channel_id: str) -> dict[str, Any]:
    assert call.session is not None
    if not channel_id:
        raise ApiError(Code.INVALID_ARGUMENT, "Invalid channel ID.")
    limit = parse_limit(call.query.get("limit"))
    forward = call.query.get("forward", True)
    stream = parse_channel_id(channel_id)
    if stream is None:
        raise ApiError(Code.INVALID_ARGUMENT, "Invalid channel ID.")
    incoming = (
        _check_cursor(call.query["cursor"], stream, forward) if call.query.get("cursor") else None
    )
    await _check_access(ctx, stream, call.session.user_id)

    if incoming is None:
        ascending, after = forward, None
    else:
        ascending = forward == incoming["n"]
        after = (incoming["t"], incoming["i"])
    rows = await ctx.storage.list_messages(stream_key(stream), limit + 1, ascending, after)

    page, more = rows[:limit], len(rows) > limit
    next_cursor = prev_cursor = None
    if more:
        last = page[-1]
        next_cursor = _position_cursor(stream, (last.create_time_us, last.id), forward, True)
    if incoming is not None and page:
        first = page[0]
        prev_cursor = _position_cursor(stream, (first.create_time_us, first.id), forward, False)
    if incoming is not None and not incoming["n"]:
        next_cursor, prev_cursor = prev_cursor, next_cursor
        for cursor in (next_cursor, prev_cursor):
            if cursor is not None:
                cursor["n"] = not cursor["n"]
        page.reverse()

    if page:
        last = page[-1]
        cacheable = _position_cursor(stream, (last.create_time_us, last.id), True, True)
    elif incoming is not None:
        cacheable = {**incoming, "f": True, "n": True} if not forward else incoming
    else:
        cacheable = None

    result = api_pb2.ChannelMessageList(
        messages=[wire_message(m, stream, True) for m in page],
        next_cursor=encode_cursor(next_cursor) if next_cursor else "",
        prev_cursor=encode_cursor(prev_cursor) if prev_cursor else "",
        cacheable_cursor=encode_cursor(cacheable) if cacheable else "",
    )
    return as_json(result)


# Notifications -----------------------------------------------------------------------------


async def list_notifications(ctx: ApiContext, call: Call) -> dict[str, Any]:
    assert call.session is not None
    limit = parse_limit(call.query.get("limit"))
    raw = call.query.get("cacheable_cursor") or ""
    after = None
    if raw:
        cursor = decode_cursor(raw)
        if (
            cursor is None
            or not isinstance(cursor.get("t"), int)
            or not isinstance(cursor.get("i"), str)
        ):
            raise ApiError(Code.INVALID_ARGUMENT, "Malformed cursor was used.")
        after = (cursor["t"], cursor["i"]) if cursor["i"] else None
    rows = await ctx.storage.list_notifications(call.session.user_id, limit + 1, after)
    page = rows[:limit]
    if page:
        last = page[-1]
        cursor_text = encode_cursor({"t": last.create_time_us, "i": last.id})
    else:
        cursor_text = raw or encode_cursor({"t": 0, "i": ""})
    result = api_pb2.NotificationList(
        notifications=[wire_notification(n) for n in page], cacheable_cursor=cursor_text
    )
    return as_json(result)


async def delete_notifications(ctx: ApiContext, call: Call) -> dict[str, Any]:
    assert call.session is not None
    ids = query_list(call, "ids")
    if not ids:
        return {}
    await ctx.storage.delete_notifications(call.session.user_id, ids)
    return {}


ROUTES = [
    Route(
        b"GET",
        (b"channel", b"{channel_id}"),
        list_channel_messages,
        auth="bearer",
        query={"limit": "string", "forward": "bool", "cursor": "string"},
        internal="Error listing messages from channel.",
        hook="ListChannelMessages",
    ),
    Route(
        b"GET",
        (b"notification",),
        list_notifications,
        auth="bearer",
        query={"limit": "string", "cacheable_cursor": "string"},
        internal="Error retrieving notifications.",
        hook="ListNotifications",
    ),
    Route(
        b"DELETE",
        (b"notification",),
        delete_notifications,
        auth="bearer",
        internal="Error while deleting notifications.",
        hook="DeleteNotifications",
    ),
]
