"""Group rules, Nakama's (core_group.go), each in one transaction.

Membership is a pair of ``group_edge`` rows with the same state and position
(group -> user, user -> group); a ban is the group -> user row alone.
``groups.edge_count`` counts superadmins, admins and members.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .social import (
    ADMIN,
    BANNED,
    JOIN_REQUEST,
    MEMBER,
    SUPERADMIN,
    Group,
    GroupAddResult,
    GroupFull,
    GroupLastSuperadmin,
    GroupNameTaken,
    GroupNotFound,
    GroupNotUpdated,
    GroupNoUpdate,
    GroupPermissionDenied,
    GroupUserChange,
    GroupUserNotFound,
    JoinResult,
    LeaveResult,
)
from .social_core import group_columns, group_from
from .sql import Dialect, Tx, UniqueViolation

_BOTH_EDGES = "((source_id = ? AND destination_id = ?) OR (source_id = ? AND destination_id = ?))"


class GroupQueries:
    """The group queries, rendered for one dialect when the storage is built."""

    def __init__(self, d: Dialect) -> None:
        self._d = d
        live = f"disable_time = {d.epoch}"
        self._get = d.sql(f"SELECT {group_columns(d)} FROM groups g WHERE g.id = ? AND g.{live}")
        self._name = d.sql(f"SELECT name FROM groups WHERE id = ? AND {live}")
        self._state = d.sql(
            "SELECT state FROM group_edge WHERE source_id = ? AND destination_id = ?"
        )
        self._add_edges = d.sql(
            "INSERT INTO group_edge (source_id, destination_id, state, position, update_time) "
            f"VALUES (?, ?, ?, ?, {d.time}), (?, ?, ?, ?, {d.time}) "
            "ON CONFLICT (source_id, destination_id) DO NOTHING"
        )
        self._ban = d.sql(
            "INSERT INTO group_edge (source_id, destination_id, state, position, update_time) "
            f"VALUES (?, ?, ?, ?, {d.time})"
        )
        self._grow = d.sql(
            f"UPDATE groups SET edge_count = edge_count + ?, update_time = {d.time} "
            "WHERE id = ? AND edge_count + ? <= max_count"
        )
        self._shrink = d.sql(
            f"UPDATE groups SET edge_count = edge_count - 1, update_time = {d.time} "
            f"WHERE id = ? AND {live}"
        )
        self._username = d.sql("SELECT username FROM users WHERE id = ?")
        self._name_used = d.sql("SELECT 1 FROM groups WHERE name = ? AND id <> ?")
        self._insert = d.sql(
            "INSERT INTO groups (id, creator_id, name, description, avatar_url, lang_tag, "
            "metadata, state, edge_count, max_count, create_time, update_time) "
            f"VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?, {d.time}, {d.time})"
        )
        #: The start of an update; the columns set and its WHERE clause follow.
        self._update = d.sql(f"UPDATE groups SET update_time = {d.time}, ")
        self._update_where = d.sql(f" WHERE id = ? AND {live}")
        self._delete = d.sql("DELETE FROM groups WHERE id = ?")
        self._delete_edges = d.sql(
            "DELETE FROM group_edge WHERE source_id = ? OR destination_id = ?"
        )
        self._admins = d.sql(
            "SELECT destination_id FROM group_edge WHERE source_id = ? AND state <= ? "
            "ORDER BY state, position"
        )
        self._others_by_state = d.sql(
            "SELECT state, count(*) FROM group_edge "
            "WHERE source_id = ? AND destination_id <> ? AND state <= ? GROUP BY state"
        )
        self._other_superadmins = d.sql(
            "SELECT count(*) FROM group_edge "
            "WHERE source_id = ? AND destination_id <> ? AND state = ?"
        )
        self._delete_member = d.sql(f"DELETE FROM group_edge WHERE {_BOTH_EDGES}")
        self._restate = d.sql(
            f"UPDATE group_edge SET state = ?, update_time = {d.time} WHERE {_BOTH_EDGES}"
        )
        self._accept = d.sql(
            f"UPDATE group_edge SET state = ?, update_time = {d.time} WHERE {_BOTH_EDGES} "
            "AND state = ?"
        )

    # Helpers ----------------------------------------------------------------------------------

    def _named(self, tx: Tx, sql: str, params: Sequence[Any], name: str) -> int:
        """Run a statement that sets a group's name; another group's name is taken."""
        try:
            return tx.run(sql, params)
        except UniqueViolation as violation:
            if violation.constraint != "groups_name_key":
                raise
            raise GroupNameTaken(name) from violation

    def _add_member_edges(
        self, tx: Tx, group_id: str, user_id: str, state: int, position: int, now: float
    ) -> int:
        return tx.run(
            self._add_edges,
            (group_id, user_id, state, position, now, user_id, group_id, state, position, now),
        )

    def _resize(self, tx: Tx, group_id: str, delta: int, now: float) -> bool:
        """Change the member count; growing past ``max_count`` changes nothing: False."""
        return bool(tx.run(self._grow, (delta, now, group_id, delta)))

    def _user_name(self, tx: Tx, user_id: str) -> str:
        username = tx.scalar(self._username, (user_id,))
        if username is None:
            raise GroupUserNotFound(user_id)
        return username

    def _check_name(self, tx: Tx, name: str, group_id: str) -> None:
        if tx.scalar(self._name_used, (name, group_id)):
            raise GroupNameTaken(name)

    def _caller_state(self, tx: Tx, group_id: str, caller_id: str | None, at_most: int) -> int:
        """The caller's state, if it is ``at_most`` or better; the server acts as superadmin."""
        if caller_id is None:
            return SUPERADMIN
        state = self.member_state(tx, group_id, caller_id)
        if state is None or state > at_most:
            raise GroupPermissionDenied(group_id)
        return state

    def _group_name(self, tx: Tx, group_id: str) -> str:
        name = tx.scalar(self._name, (group_id,))
        if name is None:
            raise GroupNotFound(group_id)
        return name

    def _remove(self, tx: Tx, group_id: str) -> None:
        if tx.run(self._delete, (group_id,)):
            tx.run(self._delete_edges, (group_id, group_id))

    def _others_superadmins(self, tx: Tx, group_id: str, user_id: str) -> int:
        return tx.scalar(self._other_superadmins, (group_id, user_id, SUPERADMIN))

    # Rules ------------------------------------------------------------------------------------

    def get_group(self, tx: Tx, group_id: str) -> Group | None:
        row = tx.one(self._get, (group_id,))
        return group_from(row) if row else None

    def member_state(self, tx: Tx, group_id: str, user_id: str) -> int | None:
        return tx.scalar(self._state, (group_id, user_id))

    def create_group(
        self,
        tx: Tx,
        group_id: str,
        user_id: str,
        fields: dict[str, Any],
        now: float,
        position: int,
    ) -> Group:
        name = fields["name"]
        self._check_name(tx, name, group_id)
        values = (
            group_id,
            user_id,
            name,
            fields["description"] or None,
            fields["avatar_url"] or None,
            fields["lang_tag"] or "en",
            fields["metadata"] or "{}",
            0 if fields["open"] else 1,
            fields["max_count"],
            now,
            now,
        )
        self._named(tx, self._insert, values, name)
        self._add_member_edges(tx, group_id, user_id, SUPERADMIN, position, now)
        group = self.get_group(tx, group_id)
        assert group is not None
        return group

    def update_group(
        self, tx: Tx, group_id: str, caller_id: str | None, changes: dict[str, Any], now: float
    ) -> None:
        self._caller_state(tx, group_id, caller_id, ADMIN)
        if not changes:
            raise GroupNoUpdate(group_id)
        values = dict(changes)
        if "name" in values:
            self._check_name(tx, values["name"], group_id)
        for column in ("description", "avatar_url"):
            if column in values:
                values[column] = values[column] or None
        if "open" in values:
            values["state"] = 0 if values.pop("open") else 1
        assignments = ", ".join(f"{column} = {self._d.mark}" for column in values)
        sql = self._update + assignments + self._update_where
        params = (now, *values.values(), group_id)
        if not self._named(tx, sql, params, values.get("name", "")):
            raise GroupNotUpdated(group_id)

    def delete_group(self, tx: Tx, group_id: str, caller_id: str | None) -> None:
        self._caller_state(tx, group_id, caller_id, SUPERADMIN)
        self._remove(tx, group_id)

    def join_group(
        self, tx: Tx, group_id: str, user_id: str, now: float, position: int
    ) -> JoinResult:
        group = self.get_group(tx, group_id)
        if group is None:
            raise GroupNotFound(group_id)
        if group.edge_count >= group.max_count:
            raise GroupFull(group_id)
        if self.member_state(tx, group_id, user_id) is not None:
            return JoinResult(group, None)
        if not group.open:
            self._add_member_edges(tx, group_id, user_id, JOIN_REQUEST, position, now)
            admins = tx.rows(self._admins, (group_id, ADMIN))
            return JoinResult(group, JOIN_REQUEST, tuple(str(row[0]) for row in admins))
        self._add_member_edges(tx, group_id, user_id, MEMBER, position, now)
        if not self._resize(tx, group_id, 1, now):
            raise GroupFull(group_id)
        return JoinResult(group, MEMBER)

    def leave_group(self, tx: Tx, group_id: str, user_id: str, now: float) -> LeaveResult:
        state = self.member_state(tx, group_id, user_id)
        if state is None or state == BANNED:
            return LeaveResult(None)
        if state == SUPERADMIN:
            others = tx.rows(self._others_by_state, (group_id, user_id, MEMBER))
            if not any(state == SUPERADMIN for state, _count in others):
                if others:
                    raise GroupLastSuperadmin(group_id)
                self._remove(tx, group_id)
                return LeaveResult(SUPERADMIN, group_deleted=True)
        tx.run(self._delete_member, (group_id, user_id, user_id, group_id))
        if state < JOIN_REQUEST and not tx.run(self._shrink, (now, group_id)):
            raise GroupNotFound(group_id)
        return LeaveResult(state)

    def add_group_users(
        self,
        tx: Tx,
        group_id: str,
        caller_id: str | None,
        user_ids: Sequence[str],
        now: float,
        position: int,
    ) -> GroupAddResult:
        self._caller_state(tx, group_id, caller_id, ADMIN)
        name = self._group_name(tx, group_id)
        added: list[GroupUserChange] = []
        for offset, user_id in enumerate(user_ids):
            if user_id == caller_id:
                continue
            username = self._user_name(tx, user_id)
            if self.member_state(tx, group_id, user_id) is None:
                self._add_member_edges(tx, group_id, user_id, MEMBER, position + offset, now)
            elif (
                tx.run(
                    self._accept,
                    (MEMBER, now, group_id, user_id, user_id, group_id, JOIN_REQUEST),
                )
                != 2
            ):
                continue  # Already a member, or banned.
            if not self._resize(tx, group_id, 1, now):
                raise GroupFull(group_id)
            added.append(GroupUserChange(user_id, username, MEMBER))
        return GroupAddResult(name, tuple(added))

    def _removable(self, tx: Tx, group_id: str, user_id: str, caller_state: int) -> int | None:
        """The state of a user the caller may remove, or None."""
        state = self.member_state(tx, group_id, user_id)
        if state is None:
            return None
        if caller_state != SUPERADMIN:
            return state if state > ADMIN else None
        if state == SUPERADMIN and not self._others_superadmins(tx, group_id, user_id):
            return None
        return state

    def remove_group_users(
        self,
        tx: Tx,
        group_id: str,
        caller_id: str | None,
        user_ids: Sequence[str],
        now: float,
        ban_position: int | None,
    ) -> list[GroupUserChange]:
        """Kick (``ban_position`` None) or ban users; the members removed."""
        caller_state = self._caller_state(tx, group_id, caller_id, ADMIN)
        self._group_name(tx, group_id)
        removed: list[GroupUserChange] = []
        for offset, user_id in enumerate(user_ids):
            if user_id == caller_id:
                continue
            state = self._removable(tx, group_id, user_id, caller_state)
            if state is None:
                continue
            tx.run(self._delete_member, (group_id, user_id, user_id, group_id))
            if ban_position is not None:
                tx.run(self._ban, (group_id, user_id, BANNED, ban_position + offset, now))
            if state < JOIN_REQUEST:
                self._resize(tx, group_id, -1, now)
                removed.append(GroupUserChange(user_id, self._user_name(tx, user_id), state))
        return removed

    def promote_group_users(
        self, tx: Tx, group_id: str, caller_id: str | None, user_ids: Sequence[str], now: float
    ) -> list[GroupUserChange]:
        caller_state = self._caller_state(tx, group_id, caller_id, ADMIN)
        self._group_name(tx, group_id)
        return self._restate_users(tx, group_id, caller_id, user_ids, now, -1, caller_state)

    def demote_group_users(
        self, tx: Tx, group_id: str, caller_id: str | None, user_ids: Sequence[str], now: float
    ) -> list[GroupUserChange]:
        caller_state = self._caller_state(tx, group_id, caller_id, ADMIN)
        self._group_name(tx, group_id)
        return self._restate_users(tx, group_id, caller_id, user_ids, now, 1, caller_state)

    def _restate_users(
        self,
        tx: Tx,
        group_id: str,
        caller_id: str | None,
        user_ids: Sequence[str],
        now: float,
        step: int,
        caller_state: int,
    ) -> list[GroupUserChange]:
        """Promote (``step`` -1) or demote (+1) each user the caller outranks (promotion)
        or equals or outranks (demotion), within superadmin..member."""
        changed: list[GroupUserChange] = []
        for user_id in user_ids:
            if user_id == caller_id:
                continue
            state = self.member_state(tx, group_id, user_id)
            if state is None:
                continue
            if step < 0 and not (SUPERADMIN < state <= MEMBER and state > caller_state):
                continue
            if step > 0:
                if not caller_state <= state < MEMBER:
                    continue
                if caller_state == SUPERADMIN and not self._others_superadmins(
                    tx, group_id, user_id
                ):
                    continue
            tx.run(self._restate, (state + step, now, group_id, user_id, user_id, group_id))
            changed.append(GroupUserChange(user_id, self._user_name(tx, user_id), state + step))
        return changed
