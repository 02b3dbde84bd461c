"""``/v2/account``: the caller's own account, read and updated as Nakama's
api_account.go does.

grpc-gateway marshals with proto field names and leaves out unpopulated fields
(empty strings, false, zero, empty lists, unset timestamps); this module builds
the same shape. Nakama never shows the disable time here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from nakama_rt.core.accounts import new_username_problem
from nakama_rt.storage import User, UsernameTaken, ValueRefused

from .authenticate import refuse_input
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


#: The ``UpdateAccountRequest`` fields a client may set (wrappers: ``null`` is unset).
#: Nakama takes no ``metadata`` from a client.
_PROFILE_FIELDS = ("username", "display_name", "timezone", "location", "lang_tag", "avatar_url")

_UPDATE_FAILED = "Error while trying to update account."


async def update_account(ctx: ApiContext, call: Call) -> dict[str, Any]:
    assert call.session is not None
    changes = call.body or {}
    username = changes.get("username")
    if username is not None:
        refuse_input(new_username_problem(username))
    if not changes:
        raise ApiError(Code.INVALID_ARGUMENT, "No fields to update.")
    await ctx.storage.update_account(call.session.user_id, changes)
    return {}


ROUTES = [
    Route(
        b"GET",
        (b"account",),
        get_account,
        auth="bearer",
        internal="Error retrieving user account.",
        hook="GetAccount",
    ),
    # Nakama's own rules answer a NUL in a username; PostgreSQL refuses it elsewhere,
    # which Nakama answers as a failed update (ValueRefused here, on both backends).
    Route(
        b"PUT",
        (b"account",),
        update_account,
        auth="bearer",
        body={name: "string" for name in _PROFILE_FIELDS},
        check_nul=False,
        errors={
            # Nakama wraps this refusal in another, whose text it sends.
            UsernameTaken: ApiError(
                Code.INVALID_ARGUMENT,
                "rpc error: code = AlreadyExists desc = Username is already in use.",
            ),
            ValueRefused: ApiError(Code.INTERNAL, _UPDATE_FAILED),
        },
        internal=_UPDATE_FAILED,
        hook="UpdateAccount",
    ),
]
