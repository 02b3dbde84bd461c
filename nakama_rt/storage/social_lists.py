"""Group listings: a group's users, a user's groups, and the group search."""

from __future__ import annotations

from typing import Any

from nakama_rt.wire.ids import canonical_uuid

from .social import GroupList, GroupMember, GroupMemberList, InvalidCursor, UserGroup, UserGroupList
from .social_core import (
    EdgePage,
    decode_cursor,
    encode_cursor,
    group_columns,
    group_from,
    user_columns,
    user_from,
)
from .sql import Dialect, Tx


def _after(cursor: str, kind: str) -> str:
    """The position in a group-search cursor made for the same kind of search."""
    made_for, value = decode_cursor(cursor, str, str)
    if made_for != kind or (kind == "id" and canonical_uuid(value) != value):
        raise InvalidCursor(cursor)
    return value


class ListQueries:
    """The group listings, rendered for one dialect when the storage is built."""

    def __init__(self, d: Dialect) -> None:
        self._d = d
        self._group_users = EdgePage(
            d,
            f"SELECT {user_columns(d)}, e.state, e.position "
            "FROM users u JOIN group_edge e ON u.id = e.destination_id WHERE e.source_id = ?",
        )
        self._user_groups = EdgePage(
            d,
            f"SELECT {group_columns(d)}, e.state, e.position "
            "FROM groups g JOIN group_edge e ON g.id = e.destination_id WHERE e.source_id = ?",
        )
        self._search = f"SELECT {group_columns(d)} FROM groups g WHERE "
        self._live = f"g.disable_time = {d.epoch}"

    def list_group_users(
        self, tx: Tx, group_id: str, limit: int, state: int | None, after: tuple[int, int] | None
    ) -> GroupMemberList:
        rows, cursor = self._group_users(tx, (group_id,), state, after, limit)
        return GroupMemberList(tuple(GroupMember(user_from(row), row[-2]) for row in rows), cursor)

    def list_user_groups(
        self, tx: Tx, user_id: str, limit: int, state: int | None, after: tuple[int, int] | None
    ) -> UserGroupList:
        rows, cursor = self._user_groups(tx, (user_id,), state, after, limit)
        return UserGroupList(tuple(UserGroup(group_from(row), row[-2]) for row in rows), cursor)

    def list_groups(
        self,
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
        mark = self._d.mark
        sql = self._search
        params: list[Any] = []
        if name:
            sql += f"g.name {self._d.ilike} {mark}"
            params.append(name)
            if cursor:
                sql += f" AND g.name > {mark}"
                params.append(_after(cursor, "name"))
            sql += " ORDER BY g.name"
        else:
            sql += self._live
            if open is not None:
                sql += f" AND g.state = {mark}"
                params.append(0 if open else 1)
            if lang_tag:
                sql += f" AND g.lang_tag = {mark}"
                params.append(lang_tag)
            if members is not None:
                sql += f" AND g.edge_count <= {mark}"
                params.append(members)
            if cursor:
                sql += f" AND g.id > {mark}"
                params.append(_after(cursor, "id"))
            sql += " ORDER BY g.id"
        rows = tx.rows(f"{sql} LIMIT {mark}", (*params, limit + 1))
        groups = tuple(group_from(row) for row in rows[:limit])
        following = ""
        if len(rows) > limit:
            last = groups[-1]
            following = encode_cursor("name", last.name) if name else encode_cursor("id", last.id)
        return GroupList(groups, following)
