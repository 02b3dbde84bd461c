"""Group listings: a group's users, a user's groups, and the group search."""

from __future__ import annotations

from typing import Any

from ..ids import canonical_uuid
from .social import GroupList, GroupMember, GroupMemberList, InvalidCursor, UserGroup, UserGroupList
from .social_core import (
    GROUP_COLUMNS,
    USER_COLUMNS,
    Tx,
    decode_cursor,
    edge_page,
    encode_cursor,
    group_from,
    user_from,
)


def list_group_users(
    tx: Tx, group_id: str, limit: int, state: int | None, after: tuple[int, int] | None
) -> GroupMemberList:
    sql = (
        f"SELECT {USER_COLUMNS}, e.state, e.position "
        "FROM users u JOIN group_edge e ON u.id = e.destination_id WHERE e.source_id = ?"
    )
    rows, cursor = edge_page(tx, sql, (group_id,), state, after, limit)
    members = tuple(GroupMember(user_from(tx, row), row[-2]) for row in rows)
    return GroupMemberList(members, cursor)


def list_user_groups(
    tx: Tx, user_id: str, limit: int, state: int | None, after: tuple[int, int] | None
) -> UserGroupList:
    sql = (
        f"SELECT {GROUP_COLUMNS}, e.state, e.position "
        "FROM groups g JOIN group_edge e ON g.id = e.destination_id WHERE e.source_id = ?"
    )
    rows, cursor = edge_page(tx, sql, (user_id,), state, after, limit)
    groups = tuple(UserGroup(group_from(tx, row), row[-2]) for row in rows)
    return UserGroupList(groups, cursor)


def list_groups(
    tx: Tx,
    limit: int,
    name: str,
    lang_tag: str,
    open: bool | None,
    members: int | None,
    cursor: str,
) -> GroupList:
    """By name alone (Nakama's ILIKE, ordered by name), or by the other filters
    (ordered by id: Nakama's order changes with the filters used)."""
    sql = f"SELECT {GROUP_COLUMNS} FROM groups g WHERE "
    params: list[Any] = []
    if name:
        sql += f"g.name {tx.ilike} ?"
        params.append(name)
        if cursor:
            sql += " AND g.name > ?"
            params.append(_after(cursor, "name"))
        sql += " ORDER BY g.name"
    else:
        sql += "g.disable_time = ?"
        params.append(tx.time(0))
        if open is not None:
            sql += " AND g.state = ?"
            params.append(0 if open else 1)
        if lang_tag:
            sql += " AND g.lang_tag = ?"
            params.append(lang_tag)
        if members is not None:
            sql += " AND g.edge_count <= ?"
            params.append(members)
        if cursor:
            sql += " AND g.id > ?"
            params.append(_after(cursor, "id"))
        sql += " ORDER BY g.id"
    rows = tx.rows(sql + " LIMIT ?", (*params, limit + 1))
    groups = tuple(group_from(tx, row) for row in rows[:limit])
    following = ""
    if len(rows) > limit:
        last = groups[-1]
        following = encode_cursor("name", last.name) if name else encode_cursor("id", last.id)
    return GroupList(groups, following)


def _after(cursor: str, kind: str) -> str:
    """The position in a group-search cursor made for the same kind of search."""
    made_for, value = decode_cursor(cursor, str, str)
    if made_for != kind or (kind == "id" and canonical_uuid(value) != value):
        raise InvalidCursor(cursor)
    return value
