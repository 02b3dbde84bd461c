"""``GET /v2/account``: the caller's own account, as Nakama's ``Account`` message in JSON.

grpc-gateway marshals with proto field names and leaves out unpopulated fields
(empty strings, false, zero, empty lists, unset timestamps); this module builds
the same shape. Nakama never shows the disable time here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from nakama_rt.storage import User

from .context import ApiContext
from .http import ApiError, Call, Code, Route


def timestamp(seconds: float) -> str:
    """A ``google.protobuf.Timestamp`` in JSON: RFC 3339 in UTC, whole seconds as Nakama stores."""
    return datetime.fromtimestamp(int(seconds), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _populated(fields: list[tuple[str, Any]]) -> dict[str, Any]:
    return {name: value for name, value in fields if value not in (None, "", 0, False, [])}


def user_json(user: User, online: bool) -> dict[str, Any]:
    """The ``User`` message (fields in proto order)."""
    return _populated(
        [
            ("id", user.id),
            ("username", user.username),
            ("display_name", user.display_name),
            ("avatar_url", user.avatar_url),
            ("lang_tag", user.lang_tag),
            ("location", user.location),
            ("timezone", user.timezone),
            ("metadata", user.metadata),
            ("online", online),
            ("edge_count", user.edge_count),
            ("create_time", timestamp(user.create_time)),
            ("update_time", timestamp(user.update_time)),
        ]
    )


def account_json(user: User, online: bool) -> dict[str, Any]:
    """The ``Account`` message (fields in proto order), without ``disable_time``."""
    return _populated(
        [
            ("user", user_json(user, online)),
            ("wallet", user.wallet),
            ("email", user.email),
            ("devices", [{"id": device_id} for device_id in user.device_ids]),
            ("custom_id", user.custom_id),
            ("verify_time", timestamp(user.verify_time) if user.verify_time else None),
        ]
    )


async def get_account(ctx: ApiContext, call: Call) -> dict[str, Any]:
    assert call.session is not None
    user_id = call.session.user_id
    user = await ctx.storage.get_user(user_id)
    if user is None:
        raise ApiError(Code.NOT_FOUND, "Account not found.")
    online = bool(ctx.is_online(user_id)) if ctx.is_online is not None else False
    return account_json(user, online)


ROUTES = [
    Route(
        b"GET",
        (b"account",),
        get_account,
        auth="bearer",
        internal="Error retrieving user account.",
    ),
]
