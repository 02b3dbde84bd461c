"""Group rules, Nakama's (core_group.go), as functions of one transaction.

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
from .social_core import GROUP_COLUMNS, Tx, group_from, one, scalar

_STATE = "SELECT state FROM group_edge WHERE source_id = ? AND destination_id = ?"
_BOTH_EDGES = "((source_id = ? AND destination_id = ?) OR (source_id = ? AND destination_id = ?))"


def _epoch(tx: Tx) -> Any:
    """The ``disable_time`` of a group that is not disabled."""
    return tx.time(0)


def get_group(tx: Tx, group_id: str) -> Group | None:
    row = one(
        tx,
        f"SELECT {GROUP_COLUMNS} FROM groups g WHERE g.id = ? AND g.disable_time = ?",
        (group_id, _epoch(tx)),
    )
    return group_from(tx, row) if row else None


def member_state(tx: Tx, group_id: str, user_id: str) -> int | None:
    return scalar(tx, _STATE, (group_id, user_id))


def _add_edges(tx: Tx, group_id: str, user_id: str, state: int, position: int, now: Any) -> int:
    return tx.run(
        "INSERT INTO group_edge (source_id, destination_id, state, position, update_time) "
        "VALUES (?, ?, ?, ?, ?), (?, ?, ?, ?, ?) "
        "ON CONFLICT (source_id, destination_id) DO NOTHING",
        (group_id, user_id, state, position, now, user_id, group_id, state, position, now),
    )


def _grow(tx: Tx, group_id: str, delta: int, now: Any) -> bool:
    """Change the member count; growing past ``max_count`` changes nothing: False."""
    return bool(
        tx.run(
            "UPDATE groups SET edge_count = edge_count + ?, update_time = ? "
            "WHERE id = ? AND edge_count + ? <= max_count",
            (delta, now, group_id, delta),
        )
    )


def _username(tx: Tx, user_id: str) -> str:
    username = scalar(tx, "SELECT username FROM users WHERE id = ?", (user_id,))
    if username is None:
        raise GroupUserNotFound(user_id)
    return username


def _check_name(tx: Tx, name: str, group_id: str) -> None:
    if scalar(tx, "SELECT 1 FROM groups WHERE name = ? AND id <> ?", (name, group_id)):
        raise GroupNameTaken(name)


def create_group(
    tx: Tx, group_id: str, user_id: str, fields: dict[str, Any], now: float, position: int
) -> Group:
    _check_name(tx, fields["name"], group_id)
    time = tx.time(now)
    tx.run(
        "INSERT INTO groups (id, creator_id, name, description, avatar_url, lang_tag, metadata, "
        "state, edge_count, max_count, create_time, update_time) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?)",
        (
            group_id,
            user_id,
            fields["name"],
            fields["description"] or None,
            fields["avatar_url"] or None,
            fields["lang_tag"] or "en",
            fields["metadata"] or "{}",
            0 if fields["open"] else 1,
            fields["max_count"],
            time,
            time,
        ),
    )
    _add_edges(tx, group_id, user_id, SUPERADMIN, position, time)
    group = get_group(tx, group_id)
    assert group is not None
    return group


def _caller_state(tx: Tx, group_id: str, caller_id: str | None, at_most: int) -> int:
    """The caller's state, if it is ``at_most`` or better; the server acts as superadmin."""
    if caller_id is None:
        return SUPERADMIN
    state = member_state(tx, group_id, caller_id)
    if state is None or state > at_most:
        raise GroupPermissionDenied(group_id)
    return state


def update_group(
    tx: Tx, group_id: str, caller_id: str | None, changes: dict[str, Any], now: float
) -> None:
    _caller_state(tx, group_id, caller_id, ADMIN)
    if not changes:
        raise GroupNoUpdate(group_id)
    values = dict(changes)
    if "name" in values:
        _check_name(tx, values["name"], group_id)
    for column in ("description", "avatar_url"):
        if column in values:
            values[column] = values[column] or None
    if "open" in values:
        values["state"] = 0 if values.pop("open") else 1
    assignments = ", ".join(f"{column} = ?" for column in values)
    updated = tx.run(
        f"UPDATE groups SET update_time = ?, {assignments} WHERE id = ? AND disable_time = ?",
        (tx.time(now), *values.values(), group_id, _epoch(tx)),
    )
    if not updated:
        raise GroupNotUpdated(group_id)


def _delete(tx: Tx, group_id: str) -> None:
    if tx.run("DELETE FROM groups WHERE id = ?", (group_id,)):
        tx.run(
            "DELETE FROM group_edge WHERE source_id = ? OR destination_id = ?",
            (group_id, group_id),
        )


def delete_group(tx: Tx, group_id: str, caller_id: str | None) -> None:
    _caller_state(tx, group_id, caller_id, SUPERADMIN)
    _delete(tx, group_id)


def join_group(tx: Tx, group_id: str, user_id: str, now: float, position: int) -> JoinResult:
    group = get_group(tx, group_id)
    if group is None:
        raise GroupNotFound(group_id)
    if group.edge_count >= group.max_count:
        raise GroupFull(group_id)
    if member_state(tx, group_id, user_id) is not None:
        return JoinResult(group, None)
    time = tx.time(now)
    if not group.open:
        _add_edges(tx, group_id, user_id, JOIN_REQUEST, position, time)
        admins = tx.rows(
            "SELECT destination_id FROM group_edge WHERE source_id = ? AND state <= ? "
            "ORDER BY state, position",
            (group_id, ADMIN),
        )
        return JoinResult(group, JOIN_REQUEST, tuple(str(row[0]) for row in admins))
    _add_edges(tx, group_id, user_id, MEMBER, position, time)
    if not _grow(tx, group_id, 1, time):
        raise GroupFull(group_id)
    return JoinResult(group, MEMBER)


def leave_group(tx: Tx, group_id: str, user_id: str, now: float) -> LeaveResult:
    state = member_state(tx, group_id, user_id)
    if state is None or state == BANNED:
        return LeaveResult(None)
    if state == SUPERADMIN:
        others = tx.rows(
            "SELECT state, count(*) FROM group_edge "
            "WHERE source_id = ? AND destination_id <> ? AND state <= ? GROUP BY state",
            (group_id, user_id, MEMBER),
        )
        if not any(state == SUPERADMIN for state, _count in others):
            if others:
                raise GroupLastSuperadmin(group_id)
            _delete(tx, group_id)
            return LeaveResult(SUPERADMIN, group_deleted=True)
    tx.run(f"DELETE FROM group_edge WHERE {_BOTH_EDGES}", (group_id, user_id, user_id, group_id))
    if state < JOIN_REQUEST:
        shrunk = tx.run(
            "UPDATE groups SET edge_count = edge_count - 1, update_time = ? "
            "WHERE id = ? AND disable_time = ?",
            (tx.time(now), group_id, _epoch(tx)),
        )
        if not shrunk:
            raise GroupNotFound(group_id)
    return LeaveResult(state)


def _group_name(tx: Tx, group_id: str) -> str:
    name = scalar(
        tx, "SELECT name FROM groups WHERE id = ? AND disable_time = ?", (group_id, _epoch(tx))
    )
    if name is None:
        raise GroupNotFound(group_id)
    return name


def add_group_users(
    tx: Tx,
    group_id: str,
    caller_id: str | None,
    user_ids: Sequence[str],
    now: float,
    position: int,
) -> GroupAddResult:
    _caller_state(tx, group_id, caller_id, ADMIN)
    name = _group_name(tx, group_id)
    time = tx.time(now)
    added: list[GroupUserChange] = []
    for offset, user_id in enumerate(user_ids):
        if user_id == caller_id:
            continue
        username = _username(tx, user_id)
        if member_state(tx, group_id, user_id) is None:
            _add_edges(tx, group_id, user_id, MEMBER, position + offset, time)
        elif (
            tx.run(
                f"UPDATE group_edge SET state = ?, update_time = ? WHERE {_BOTH_EDGES} "
                "AND state = ?",
                (MEMBER, time, group_id, user_id, user_id, group_id, JOIN_REQUEST),
            )
            != 2
        ):
            continue  # Already a member, or banned.
        if not _grow(tx, group_id, 1, time):
            raise GroupFull(group_id)
        added.append(GroupUserChange(user_id, username, MEMBER))
    return GroupAddResult(name, tuple(added))


def _removable(tx: Tx, group_id: str, user_id: str, caller_state: int) -> int | None:
    """The state of a user the caller may remove, or None."""
    state = member_state(tx, group_id, user_id)
    if state is None:
        return None
    if caller_state != SUPERADMIN:
        return state if state > ADMIN else None
    if state == SUPERADMIN and not _other_superadmins(tx, group_id, user_id):
        return None
    return state


def _other_superadmins(tx: Tx, group_id: str, user_id: str) -> int:
    return scalar(
        tx,
        "SELECT count(*) FROM group_edge WHERE source_id = ? AND destination_id <> ? AND state = ?",
        (group_id, user_id, SUPERADMIN),
    )


def remove_group_users(
    tx: Tx,
    group_id: str,
    caller_id: str | None,
    user_ids: Sequence[str],
    now: float,
    ban_position: int | None,
) -> list[GroupUserChange]:
    """Kick (``ban_position`` None) or ban users; the members removed."""
    caller_state = _caller_state(tx, group_id, caller_id, ADMIN)
    _group_name(tx, group_id)
    time = tx.time(now)
    removed: list[GroupUserChange] = []
    for offset, user_id in enumerate(user_ids):
        if user_id == caller_id:
            continue
        state = _removable(tx, group_id, user_id, caller_state)
        if state is None:
            continue
        tx.run(
            f"DELETE FROM group_edge WHERE {_BOTH_EDGES}",
            (group_id, user_id, user_id, group_id),
        )
        if ban_position is not None:
            tx.run(
                "INSERT INTO group_edge (source_id, destination_id, state, position, "
                "update_time) VALUES (?, ?, ?, ?, ?)",
                (group_id, user_id, BANNED, ban_position + offset, time),
            )
        if state < JOIN_REQUEST:
            _grow(tx, group_id, -1, time)
            removed.append(GroupUserChange(user_id, _username(tx, user_id), state))
    return removed


def promote_group_users(
    tx: Tx, group_id: str, caller_id: str | None, user_ids: Sequence[str], now: float
) -> list[GroupUserChange]:
    caller_state = _caller_state(tx, group_id, caller_id, ADMIN)
    _group_name(tx, group_id)
    return _restate(tx, group_id, caller_id, user_ids, now, -1, caller_state)


def demote_group_users(
    tx: Tx, group_id: str, caller_id: str | None, user_ids: Sequence[str], now: float
) -> list[GroupUserChange]:
    caller_state = _caller_state(tx, group_id, caller_id, ADMIN)
    _group_name(tx, group_id)
    return _restate(tx, group_id, caller_id, user_ids, now, 1, caller_state)


def _restate(
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
    time = tx.time(now)
    changed: list[GroupUserChange] = []
    for user_id in user_ids:
        if user_id == caller_id:
            continue
        state = member_state(tx, group_id, user_id)
        if state is None:
            continue
        if step < 0 and not (SUPERADMIN < state <= MEMBER and state > caller_state):
            continue
        if step > 0:
            if not caller_state <= state < MEMBER:
                continue
            if caller_state == SUPERADMIN and not _other_superadmins(tx, group_id, user_id):
                continue
        tx.run(
            f"UPDATE group_edge SET state = ?, update_time = ? WHERE {_BOTH_EDGES}",
            (state + step, time, group_id, user_id, user_id, group_id),
        )
        changed.append(GroupUserChange(user_id, _username(tx, user_id), state + step))
    return changed
