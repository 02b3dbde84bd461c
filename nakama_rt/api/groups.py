"""``/v2/group`` and ``/v2/user/{user_id}/group`` (Nakama's api_group.go).

Validation order, messages and codes are Nakama's, including its quirks (a
malformed user id in ``/v2/user/{user_id}/group`` is "Group ID must be a valid
ID."). Notifications as Nakama: a join request tells the group's superadmins and
admins (-5); being added tells the user (-4).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from nakama_rt.core.notifications import NewNotification, NotificationCode
from nakama_rt.logs import Logger
from nakama_rt.realtime.chat.group_chat import GroupMessageCode
from nakama_rt.storage import SYSTEM_USER_ID
from nakama_rt.storage.social import (
    GROUP_TEXT_LIMITS,
    JOIN_REQUEST,
    MEMBER,
    GroupFull,
    GroupLastSuperadmin,
    GroupNameTaken,
    GroupNotFound,
    GroupNotUpdated,
    GroupNoUpdate,
    GroupPermissionDenied,
    GroupUserNotFound,
    InvalidCursor,
)
from nakama_rt.wire.ids import canonical_uuid

from .account import user_json
from .context import ApiContext
from .friends import notify, online
from .http import ApiError, Call, Code, ErrorMap, Handler, Route
from .outage import best_effort
from .social_http import decode_typed_body, group_json, populated, query_int32, query_list

log = Logger()

_FULL = ApiError(Code.INVALID_ARGUMENT, "Group is full.")
_NOT_FOUND_OR_DENIED = ApiError(Code.NOT_FOUND, "Group not found or permission denied.")
_CURSOR_INVALID = ApiError(Code.INVALID_ARGUMENT, "Cursor is invalid.")


def _group_id(raw: str) -> str:
    if not raw:
        raise ApiError(Code.INVALID_ARGUMENT, "Group ID must be set.")
    canonical = canonical_uuid(raw)
    if canonical is None:
        raise ApiError(Code.INVALID_ARGUMENT, "Group ID must be a valid ID.")
    return canonical


def _list_paging(call: Call) -> tuple[int, int | None]:
    limit = query_int32(call, "limit")
    if limit is not None and not 1 <= limit <= 100:
        raise ApiError(Code.INVALID_ARGUMENT, "Invalid limit - limit must be between 1 and 100.")
    state = query_int32(call, "state")
    if state is not None and not 0 <= state <= 4:
        raise ApiError(Code.INVALID_ARGUMENT, "Invalid state - state must be between 0 and 4.")
    return limit or 100, state


def _max_body(ctx: ApiContext) -> int:
    return ctx.config.socket.max_request_size_bytes


def _check_lengths(body: dict[str, Any]) -> None:
    """Text that would not fit its column is refused here, alike on both backends
    (PostgreSQL would fail the insert, and Nakama answers that 500)."""
    for name, limit in GROUP_TEXT_LIMITS.items():
        if len(body.get(name, "")) > limit:
            raise ApiError(
                Code.INVALID_ARGUMENT,
                f'Invalid value for field "{name}": longer than {limit} characters.',
            )


# Create, update, delete --------------------------------------------------------------------


async def create_group(ctx: ApiContext, call: Call) -> dict[str, Any]:
    assert call.session is not None
    body = decode_typed_body(
        call,
        _max_body(ctx),
        {
            "name": "string",
            "description": "string",
            "lang_tag": "string",
            "avatar_url": "string",
            "open": "bool",
            "max_count": "int32",
        },
    )
    if not body.get("name"):
        raise ApiError(Code.INVALID_ARGUMENT, "Group name must be set.")
    max_count = body.get("max_count", 0) or 100
    if max_count < 1:
        raise ApiError(Code.INVALID_ARGUMENT, "Group max count must be >= 1 when set.")
    _check_lengths(body)
    group = await ctx.storage.create_group(
        call.session.user_id,
        body["name"],
        description=body.get("description", ""),
        lang_tag=body.get("lang_tag", ""),
        avatar_url=body.get("avatar_url", ""),
        open=body.get("open", False),
        max_count=max_count,
    )
    return group_json(group)


async def update_group(ctx: ApiContext, call: Call, raw_group_id: str) -> dict[str, Any]:
    assert call.session is not None
    body = decode_typed_body(
        call,
        _max_body(ctx),
        {
            "name": "string",
            "description": "string",
            "lang_tag": "string",
            "avatar_url": "string",
            "open": "bool",
        },
    )
    group_id = _group_id(raw_group_id)
    if body.get("name") == "":
        raise ApiError(Code.INVALID_ARGUMENT, "Group name cannot be empty.")
    if body.get("lang_tag") == "":
        raise ApiError(Code.INVALID_ARGUMENT, "Group language cannot be empty.")
    _check_lengths(body)
    await ctx.storage.update_group(group_id, call.session.user_id, **body)
    return {}


async def delete_group(ctx: ApiContext, call: Call, raw_group_id: str) -> dict[str, Any]:
    assert call.session is not None
    group_id = _group_id(raw_group_id)
    await ctx.storage.delete_group(group_id, call.session.user_id)
    if ctx.chat is not None:
        ctx.chat.close_group(group_id)
    return {}


# Join and leave ----------------------------------------------------------------------------


async def join_group(ctx: ApiContext, call: Call, raw_group_id: str) -> dict[str, Any]:
    assert call.session is not None
    group_id = _group_id(raw_group_id)
    user_id, username = call.session.user_id, call.session.username
    joined = await ctx.storage.join_group(group_id, user_id)
    if joined.state == MEMBER:
        await _group_messages(ctx, group_id, GroupMessageCode.JOIN, [(user_id, username)])
    if joined.state == JOIN_REQUEST:
        await notify(
            ctx,
            [
                NewNotification(
                    user_id=admin_id,
                    subject=f"User {username} wants to join your group",
                    content={"group_id": group_id, "username": username},
                    code=NotificationCode.GROUP_JOIN_REQUEST,
                    sender_id=user_id,
                )
                for admin_id in joined.admin_ids
            ],
        )
    return {}


async def leave_group(ctx: ApiContext, call: Call, raw_group_id: str) -> dict[str, Any]:
    assert call.session is not None
    group_id = _group_id(raw_group_id)
    left = await ctx.storage.leave_group(group_id, call.session.user_id)
    if left.previous_state is not None:
        user = (call.session.user_id, call.session.username)
        await _group_messages(ctx, group_id, GroupMessageCode.LEAVE, [user])
        _leave_channel(ctx, group_id, [call.session.user_id])
    return {}


# Acting on members -------------------------------------------------------------------------


def _user_ids(call: Call, required: bool) -> list[str] | None:
    raw = query_list(call, "user_ids")
    if not raw:
        if required:
            raise ApiError(Code.INVALID_ARGUMENT, "User IDs must be set.")
        return None
    user_ids = []
    for value in raw:
        canonical = canonical_uuid(value)
        if canonical in (None, SYSTEM_USER_ID):
            raise ApiError(Code.INVALID_ARGUMENT, "User ID must be a valid ID.")
        user_ids.append(canonical)
    return user_ids


MemberAction = Callable[[str, str, list[str]], Awaitable[Any]]


async def _group_messages(
    ctx: ApiContext, group_id: str, code: int, changed: Sequence[tuple[str, str]]
) -> None:
    """Write Nakama's membership messages into the group channel; never fails the call."""
    if ctx.chat is None:
        return
    for user_id, username in changed:
        await best_effort(
            log,
            "Could not write a group channel message",
            ctx.chat.group_message,
            group_id,
            code,
            user_id,
            username,
        )


def _leave_channel(ctx: ApiContext, group_id: str, user_ids: Sequence[str]) -> None:
    if ctx.chat is not None:
        for user_id in user_ids:
            ctx.chat.remove_from_group(group_id, user_id)


async def _act_on_members(
    call: Call, raw_group_id: str, action: MemberAction, required: bool = False
) -> Any:
    """Validate, then run ``action(group_id, caller_id, user_ids)`` (its refusals are
    answered as :data:`_MEMBER_ERRORS` says)."""
    assert call.session is not None
    group_id = _group_id(raw_group_id)
    user_ids = _user_ids(call, required)
    if user_ids is None:
        return None
    return await action(group_id, call.session.user_id, user_ids)


async def add_group_users(ctx: ApiContext, call: Call, raw_group_id: str) -> dict[str, Any]:
    result = await _act_on_members(
        call,
        raw_group_id,
        ctx.storage.add_group_users,
    )
    if result is not None:
        assert call.session is not None
        group_id = _group_id(raw_group_id)
        added = [(user.user_id, user.username) for user in result.added]
        await _group_messages(ctx, group_id, GroupMessageCode.ADD, added)
        await notify(
            ctx,
            [
                NewNotification(
                    user_id=added.user_id,
                    subject=f"You've been added to group {result.group_name}",
                    content={"group_id": group_id, "name": result.group_name},
                    code=NotificationCode.GROUP_ADD,
                    sender_id=call.session.user_id,
                )
                for added in result.added
            ],
        )
    return {}


async def _announce_changes(
    ctx: ApiContext, raw_group_id: str, changed: Any, code: int, leave_channel: bool
) -> None:
    """After kick/ban/promote/demote: the group channel messages, and for kicks and bans
    the users' places in the channel."""
    if not changed:
        return
    group_id = _group_id(raw_group_id)
    users = [(user.user_id, user.username) for user in changed]
    await _group_messages(ctx, group_id, code, users)
    if leave_channel:
        _leave_channel(ctx, group_id, [user_id for user_id, _ in users])


async def kick_group_users(ctx: ApiContext, call: Call, raw_group_id: str) -> dict[str, Any]:
    changed = await _act_on_members(
        call,
        raw_group_id,
        ctx.storage.kick_group_users,
    )
    await _announce_changes(ctx, raw_group_id, changed, GroupMessageCode.KICK, leave_channel=True)
    return {}


async def ban_group_users(ctx: ApiContext, call: Call, raw_group_id: str) -> dict[str, Any]:
    changed = await _act_on_members(
        call,
        raw_group_id,
        ctx.storage.ban_group_users,
    )
    await _announce_changes(ctx, raw_group_id, changed, GroupMessageCode.BAN, leave_channel=True)
    return {}


async def promote_group_users(ctx: ApiContext, call: Call, raw_group_id: str) -> dict[str, Any]:
    changed = await _act_on_members(
        call,
        raw_group_id,
        ctx.storage.promote_group_users,
    )
    await _announce_changes(
        ctx, raw_group_id, changed, GroupMessageCode.PROMOTE, leave_channel=False
    )
    return {}


async def demote_group_users(ctx: ApiContext, call: Call, raw_group_id: str) -> dict[str, Any]:
    changed = await _act_on_members(
        call,
        raw_group_id,
        ctx.storage.demote_group_users,
        required=True,
    )
    await _announce_changes(
        ctx, raw_group_id, changed, GroupMessageCode.DEMOTE, leave_channel=False
    )
    return {}


# Listings ----------------------------------------------------------------------------------


async def list_group_users(ctx: ApiContext, call: Call, raw_group_id: str) -> dict[str, Any]:
    group_id = _group_id(raw_group_id)
    limit, state = _list_paging(call)
    listed = await ctx.storage.list_group_users(
        group_id, limit, state, call.query.get("cursor", "")
    )
    members = [
        populated(
            [("user", user_json(m.user, online(ctx, m.user.id))), ("state", m.state)],
            always=("state",),
        )
        for m in listed.members
    ]
    return populated([("group_users", members), ("cursor", listed.cursor)])


async def list_user_groups(ctx: ApiContext, call: Call, raw_user_id: str) -> dict[str, Any]:
    user_id = canonical_uuid(raw_user_id)
    if user_id is None:
        raise ApiError(Code.INVALID_ARGUMENT, "Group ID must be a valid ID.")
    limit, state = _list_paging(call)
    listed = await ctx.storage.list_user_groups(user_id, limit, state, call.query.get("cursor", ""))
    groups = [
        populated([("group", group_json(g.group)), ("state", g.state)], always=("state",))
        for g in listed.groups
    ]
    return populated([("user_groups", groups), ("cursor", listed.cursor)])


async def list_groups(ctx: ApiContext, call: Call) -> dict[str, Any]:
    limit = query_int32(call, "limit")
    if limit is not None and not 1 <= limit <= 100:
        raise ApiError(Code.INVALID_ARGUMENT, "Invalid limit - limit must be between 1 and 100.")
    name, lang_tag = call.query.get("name", ""), call.query.get("lang_tag", "")
    open_, members = call.query.get("open"), query_int32(call, "members")
    if name and (lang_tag or open_ is not None or members is not None):
        raise ApiError(
            Code.INVALID_ARGUMENT, "name filter cannot be combined with any other filter"
        )
    listed = await ctx.storage.list_groups(
        limit or 1, name, lang_tag, open_, members, call.query.get("cursor", "")
    )
    return populated(
        [("groups", [group_json(g) for g in listed.groups]), ("cursor", listed.cursor)]
    )


_GROUP = (b"group", b"{group_id}")
_PAGE: dict[str, Any] = {"cursor": "string"}
#: Refusals of the storage's member actions (add, kick, ban, promote, demote).
_MEMBER_ERRORS: ErrorMap = {
    GroupPermissionDenied: _NOT_FOUND_OR_DENIED,
    GroupNotFound: _NOT_FOUND_OR_DENIED,
    GroupFull: _FULL,
    GroupUserNotFound: ApiError(Code.INVALID_ARGUMENT, "One or more users not found."),
}


def _on_members(verb: str, handler: Handler, where: str) -> Route:
    """``POST /group/{group_id}/<verb>``, acting on the users of ``?user_ids=``."""
    return Route(
        b"POST",
        (*_GROUP, verb.encode("ascii")),
        handler,
        auth="bearer",
        errors=_MEMBER_ERRORS,
        internal=f"Error while trying to {verb} users {where} a group.",
        hook=f"{verb.capitalize()}GroupUsers",
    )


ROUTES = [
    Route(
        b"GET",
        (b"group",),
        list_groups,
        auth="bearer",
        query={"name": "string", "lang_tag": "string", "open": "bool", "cursor": "string"},
        errors={InvalidCursor: ApiError(Code.INVALID_ARGUMENT, "Malformed cursor was used.")},
        internal="Error while trying to list groups.",
        hook="ListGroups",
    ),
    Route(
        b"POST",
        (b"group",),
        create_group,
        auth="bearer",
        errors={GroupNameTaken: ApiError(Code.ALREADY_EXISTS, "Group name is in use.")},
        internal="Error while trying to create group.",
        hook="CreateGroup",
    ),
    Route(
        b"PUT",
        _GROUP,
        update_group,
        auth="bearer",
        errors={
            GroupPermissionDenied: ApiError(
                Code.NOT_FOUND, "Group not found or you're not allowed to update."
            ),
            GroupNoUpdate: ApiError(Code.INVALID_ARGUMENT, "Specify at least one field to update."),
            GroupNotUpdated: ApiError(Code.INVALID_ARGUMENT, "No new fields in group update."),
            GroupNameTaken: ApiError(Code.INVALID_ARGUMENT, "Group name is in use."),
        },
        internal="Error while trying to update group.",
        hook="UpdateGroup",
    ),
    Route(
        b"DELETE",
        _GROUP,
        delete_group,
        auth="bearer",
        errors={
            GroupPermissionDenied: ApiError(
                Code.INVALID_ARGUMENT, "Group not found or you're not allowed to delete."
            )
        },
        internal="Error while trying to delete group.",
        hook="DeleteGroup",
    ),
    Route(
        b"POST",
        (*_GROUP, b"join"),
        join_group,
        auth="bearer",
        errors={GroupNotFound: ApiError(Code.NOT_FOUND, "Group not found."), GroupFull: _FULL},
        internal="Error while trying to join group.",
        hook="JoinGroup",
    ),
    Route(
        b"POST",
        (*_GROUP, b"leave"),
        leave_group,
        auth="bearer",
        errors={
            GroupLastSuperadmin: ApiError(
                Code.INVALID_ARGUMENT, "Cannot leave group when you are the last superadmin."
            )
        },
        internal="Error while trying to leave group.",
        hook="LeaveGroup",
    ),
    _on_members("add", add_group_users, "to"),
    _on_members("kick", kick_group_users, "from"),
    _on_members("ban", ban_group_users, "from"),
    _on_members("promote", promote_group_users, "in"),
    _on_members("demote", demote_group_users, "in"),
    Route(
        b"GET",
        (*_GROUP, b"user"),
        list_group_users,
        auth="bearer",
        query=_PAGE,
        errors={InvalidCursor: _CURSOR_INVALID},
        internal="Error while trying to list users in a group.",
        hook="ListGroupUsers",
    ),
    Route(
        b"GET",
        (b"user", b"{user_id}", b"group"),
        list_user_groups,
        auth="bearer",
        query=_PAGE,
        errors={InvalidCursor: _CURSOR_INVALID},
        internal="Error while trying to list groups for a user.",
        hook="ListUserGroups",
    ),
]
