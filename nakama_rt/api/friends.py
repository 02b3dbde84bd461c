"""``/v2/friend``: list, add, delete and block friends (Nakama's api_friend.go).

Ids and usernames come as repeated query parameters (``?ids=a&ids=b``), as
grpc-gateway takes them. Validation order, messages and codes are Nakama's, and
so are the notifications: a friend request (-2), an accepted request (-3), a
removal (-9), each sent by the caller with content ``{"username": ...}``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import orjson

from nakama_rt.core.notifications import NewNotification, NotificationCode
from nakama_rt.logs import Logger
from nakama_rt.storage import SYSTEM_USER_ID
from nakama_rt.storage.social import Friend, InvalidCursor
from nakama_rt.wire.ids import canonical_uuid

from .account import timestamp, user_json
from .context import ApiContext
from .http import ApiError, Call, Code, Route, holds_nul, nul_refused
from .outage import best_effort
from .social_http import populated, query_int32, query_list

log = Logger()

_METADATA_NOT_JSON = 'Invalid value for query parameter "metadata": not JSON.'


def online(ctx: ApiContext, user_id: str) -> bool:
    return bool(ctx.is_online(user_id)) if ctx.is_online is not None else False


async def notify(ctx: ApiContext, notifications: Sequence[NewNotification]) -> None:
    """Send through the server's notifier; a failure is logged, never the caller's error."""
    if ctx.notifier is not None and notifications:
        await best_effort(log, "Could not send notifications", ctx.notifier.send, notifications)


def friend_json(ctx: ApiContext, friend: Friend) -> dict[str, Any]:
    # Nakama's friend listing does not read the friend's edge count.
    user = dataclasses.replace(friend.user, edge_count=0)
    return populated(
        [
            ("user", user_json(user, online(ctx, user.id))),
            ("state", friend.state),
            ("update_time", timestamp(friend.update_time)),
            ("metadata", friend.metadata),
        ],
        always=("state",),
    )


async def list_friends(ctx: ApiContext, call: Call) -> dict[str, Any]:
    assert call.session is not None
    limit = query_int32(call, "limit")
    if limit is not None and not 1 <= limit <= 1000:
        raise ApiError(Code.INVALID_ARGUMENT, "Invalid limit - limit must be between 1 and 1000.")
    state = query_int32(call, "state")
    if state is not None and not 0 <= state <= 3:
        raise ApiError(Code.INVALID_ARGUMENT, "Invalid state - state must be between 0 and 3.")
    listed = await ctx.storage.list_friends(
        call.session.user_id, limit or 1000, state, call.query.get("cursor", "")
    )
    return populated(
        [("friends", [friend_json(ctx, f) for f in listed.friends]), ("cursor", listed.cursor)]
    )


async def _targets(ctx: ApiContext, call: Call, self_error: str) -> list[str] | None:
    """The user ids a request names (ids, then those of known usernames), checked as
    Nakama checks them; None when it names nobody at all."""
    assert call.session is not None
    ids, usernames = query_list(call, "ids"), query_list(call, "usernames")
    if not ids and not usernames:
        return None
    for user_id in ids:
        if user_id == call.session.user_id:
            raise ApiError(Code.INVALID_ARGUMENT, self_error)
        if canonical_uuid(user_id) in (None, SYSTEM_USER_ID):
            raise ApiError(Code.INVALID_ARGUMENT, f"Invalid user ID '{user_id}'.")
    for username in usernames:
        if not username:
            raise ApiError(Code.INVALID_ARGUMENT, "Username must not be empty.")
        if username == call.session.username:
            raise ApiError(Code.INVALID_ARGUMENT, self_error)
    found: list[str] = []
    if usernames:
        found = [user.id for user in await ctx.storage.get_users(usernames=usernames)]
    return [*ids, *found]


async def add_friends(ctx: ApiContext, call: Call) -> dict[str, Any]:
    assert call.session is not None
    targets = await _targets(ctx, call, "Cannot add self as friend.")
    if targets is None:
        return {}
    if not targets:
        raise ApiError(Code.INVALID_ARGUMENT, "No valid ID or username was provided.")
    user_id, username = call.session.user_id, call.session.username
    metadata = call.query.get("metadata", "")
    if metadata:
        # Nakama's database refuses either (a 500 there): here it is the client's mistake.
        try:
            decoded = orjson.loads(metadata)
        except orjson.JSONDecodeError:
            raise ApiError(Code.INVALID_ARGUMENT, _METADATA_NOT_JSON) from None
        if holds_nul(decoded):
            raise nul_refused("metadata", "query parameter")
    made = await ctx.storage.add_friends(user_id, targets, metadata)
    await notify(
        ctx,
        [
            NewNotification(
                user_id=friend_id,
                subject=f"{username} accepted your friend request"
                if accepted
                else f"{username} wants to add you as a friend",
                content={"username": username},
                code=NotificationCode.FRIEND_ACCEPT
                if accepted
                else NotificationCode.FRIEND_REQUEST,
                sender_id=user_id,
            )
            for friend_id, accepted in made.items()
        ],
    )
    return {}


async def delete_friends(ctx: ApiContext, call: Call) -> dict[str, Any]:
    assert call.session is not None
    targets = await _targets(ctx, call, "Cannot delete self.")
    if not targets:
        return {}
    user_id, username = call.session.user_id, call.session.username
    removed = await ctx.storage.delete_friends(user_id, targets)
    await notify(
        ctx,
        [
            NewNotification(
                user_id=friend_id,
                subject=f"{username} removed you as a friend",
                content={"username": username},
                code=NotificationCode.FRIEND_REMOVE,
                sender_id=user_id,
            )
            for friend_id in removed
        ],
    )
    return {}


async def block_friends(ctx: ApiContext, call: Call) -> dict[str, Any]:
    assert call.session is not None
    targets = await _targets(ctx, call, "Cannot block self.")
    if targets is None:
        return {}
    if not targets:
        raise ApiError(Code.INVALID_ARGUMENT, "No valid ID or username was provided.")
    await ctx.storage.block_friends(call.session.user_id, targets)
    if ctx.chat is not None:
        for target in targets:  # a block ends the direct message channel, as in Nakama
            ctx.chat.close_dm(call.session.user_id, target)
    return {}


def _failing_to(action: str) -> str:
    """Nakama's message for a failed query while acting on friends."""
    return f"Error while trying to {action} friends."


ROUTES = [
    Route(
        b"GET",
        (b"friend",),
        list_friends,
        auth="bearer",
        query={"cursor": "string"},
        errors={InvalidCursor: ApiError(Code.INVALID_ARGUMENT, "Cursor is invalid.")},
        internal=_failing_to("list"),
        hook="ListFriends",
    ),
    Route(
        b"POST",
        (b"friend",),
        add_friends,
        auth="bearer",
        query={"metadata": "string"},
        internal=_failing_to("add"),
        hook="AddFriends",
    ),
    Route(
        b"DELETE",
        (b"friend",),
        delete_friends,
        auth="bearer",
        internal=_failing_to("delete"),
        hook="DeleteFriends",
    ),
    Route(
        b"POST",
        (b"friend", b"block"),
        block_friends,
        auth="bearer",
        internal=_failing_to("block"),
        hook="BlockFriends",
    ),
]
