"""``GET /v2/user``: other users by id or username, as Nakama's api_user.go answers."""

from __future__ import annotations

from typing import Any

from nakama_rt.storage import ValueRefused
from nakama_rt.wire.ids import canonical_uuid

from .account import user_json
from .context import ApiContext
from .http import ApiError, Call, Code, Route
from .social_http import query_list

_FAILED = "Error retrieving user accounts."


async def get_users(ctx: ApiContext, call: Call) -> dict[str, Any]:
    """``GET /v2/user?ids=&usernames=&facebook_ids=``: the users found, in no set order.

    Nobody here has a Facebook id: those find no one, as unknown ids do in Nakama."""
    ids = query_list(call, "ids", check_nul=False)
    usernames = query_list(call, "usernames", check_nul=False)
    if not ids and not usernames and not query_list(call, "facebook_ids", check_nul=False):
        return {}
    for user_id in ids:
        if canonical_uuid(user_id) is None:
            raise ApiError(Code.INVALID_ARGUMENT, f"ID '{user_id}' is not a valid system ID.")
    users = await ctx.storage.get_users(ids=ids, usernames=usernames)
    if not users:
        return {}
    is_online = ctx.is_online or (lambda user_id: False)
    return {"users": [user_json(user, bool(is_online(user.id))) for user in users]}


# Nakama's rule answers a NUL in an id; PostgreSQL refuses one in a username, which
# Nakama answers as a failed query (ValueRefused here, on both backends).
ROUTES = [
    Route(
        b"GET",
        (b"user",),
        get_users,
        auth="bearer",
        check_nul=False,
        errors={ValueRefused: ApiError(Code.INTERNAL, _FAILED)},
        internal=_FAILED,
        hook="GetUsers",
    ),
]
