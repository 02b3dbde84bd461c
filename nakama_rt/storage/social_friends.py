"""Friend rules, Nakama's (core_friend.go), as functions of one transaction.

Consistent edge pairs between two users A and B are: none; friends (0, 0); an
invite (A->B 1, B->A 2); a block (A->B 3, with no B->A edge or B's own block).
``users.edge_count`` counts a user's edges that are friendships, invites or
their own blocks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from .social import BLOCKED, FRIEND, INVITE_RECEIVED, INVITE_SENT, Friend, FriendList
from .social_core import USER_COLUMNS, Tx, edge_page, one, scalar, user_from

_EDGE_STATE = "SELECT state FROM user_edge WHERE source_id = ? AND destination_id = ?"


def _lock_users(tx: Tx, user_id: str, others: Sequence[str]) -> None:
    """Lock the rows of the users a friend operation touches, in id order, before it
    reads any edge.

    Two requests between the same users (A invites B while B invites A) then run one
    after the other, and the second sees the first's edges: it accepts the invite
    instead of finding its own insert in conflict. Locking everyone up front and in one
    order keeps operations that share users from deadlocking.
    """
    ids = sorted({user_id, *others})
    marks = ", ".join("?" * len(ids))
    tx.rows(f"SELECT id FROM users WHERE id IN ({marks}) ORDER BY id{tx.for_update}", ids)


def _count(tx: Tx, delta: int, user_ids: Sequence[str], now: Any) -> None:
    for user_id in user_ids:
        tx.run(
            "UPDATE users SET edge_count = edge_count + ?, update_time = ? WHERE id = ?",
            (delta, now, user_id),
        )


def _merged(old: str, new: str) -> str:
    """The edge metadata after an accept: a shallow merge, as JSONB's ``||`` of objects."""
    before, after = orjson.loads(old), orjson.loads(new)
    if isinstance(before, dict) and isinstance(after, dict):
        return orjson.dumps({**before, **after}).decode()
    return new


def friend_state(tx: Tx, user_id: str, other_id: str) -> int | None:
    return scalar(tx, _EDGE_STATE, (user_id, other_id))


def add_friends(
    tx: Tx, user_id: str, friend_ids: Sequence[str], metadata: str, now: float, position: int
) -> dict[str, bool]:
    metadata = metadata or "{}"
    orjson.loads(metadata)  # Invalid JSON fails the whole call, as in Nakama.
    _lock_users(tx, user_id, friend_ids)
    time = tx.time(now)
    made: dict[str, bool] = {}
    for offset, friend_id in enumerate(friend_ids):
        mine = one(
            tx,
            "SELECT state, metadata FROM user_edge WHERE source_id = ? AND destination_id = ?",
            (user_id, friend_id),
        )
        theirs = friend_state(tx, friend_id, user_id)
        if mine is not None and mine[0] == INVITE_RECEIVED and theirs == INVITE_SENT:
            tx.run(
                "UPDATE user_edge SET state = ?, update_time = ?, metadata = ? "
                "WHERE source_id = ? AND destination_id = ?",
                (FRIEND, time, _merged(mine[1], metadata), user_id, friend_id),
            )
            tx.run(
                "UPDATE user_edge SET state = ?, update_time = ? "
                "WHERE source_id = ? AND destination_id = ?",
                (FRIEND, time, friend_id, user_id),
            )
            made[friend_id] = True
            continue
        # Already invited, befriended or blocked either way: nothing to do.
        if mine is not None or theirs is not None:
            continue
        if scalar(tx, "SELECT 1 FROM users WHERE id = ?", (friend_id,)) is None:
            continue
        inserted = tx.run(
            "INSERT INTO user_edge "
            "(source_id, destination_id, state, position, update_time, metadata) "
            "VALUES (?, ?, ?, ?, ?, ?), (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (source_id, destination_id) DO NOTHING",
            (
                *(user_id, friend_id, INVITE_SENT, position + offset, time, metadata),
                *(friend_id, user_id, INVITE_RECEIVED, position + offset, time, "{}"),
            ),
        )
        if inserted == 2:
            _count(tx, 1, (user_id, friend_id), time)
            made[friend_id] = False
    return made


def delete_friends(tx: Tx, user_id: str, friend_ids: Sequence[str], now: float) -> list[str]:
    _lock_users(tx, user_id, friend_ids)
    time = tx.time(now)
    removed: list[str] = []
    for friend_id in friend_ids:
        deleted = tx.run(
            "DELETE FROM user_edge WHERE (source_id = ? AND destination_id = ?) "
            "OR (source_id = ? AND destination_id = ? AND state <> ?)",
            (user_id, friend_id, friend_id, user_id, BLOCKED),
        )
        if deleted == 1:  # Unblocked (the other side had no edge, or its own block).
            _count(tx, -1, (user_id,), time)
        elif deleted == 2:
            _count(tx, -1, (user_id, friend_id), time)
            removed.append(friend_id)
    return removed


def block_friends(
    tx: Tx, user_id: str, friend_ids: Sequence[str], now: float, position: int
) -> None:
    _lock_users(tx, user_id, friend_ids)
    time = tx.time(now)
    for offset, friend_id in enumerate(friend_ids):
        updated = tx.run(
            "UPDATE user_edge SET state = ?, update_time = ? "
            "WHERE source_id = ? AND destination_id = ?",
            (BLOCKED, time, user_id, friend_id),
        )
        if not updated:
            if scalar(tx, "SELECT 1 FROM users WHERE id = ?", (friend_id,)) is None:
                continue
            tx.run(
                "INSERT INTO user_edge (source_id, destination_id, state, position, update_time) "
                "VALUES (?, ?, ?, ?, ?)",
                (user_id, friend_id, BLOCKED, position + offset, time),
            )
            _count(tx, 1, (user_id,), time)
        dropped = tx.run(
            "DELETE FROM user_edge WHERE source_id = ? AND destination_id = ? AND state <> ?",
            (friend_id, user_id, BLOCKED),
        )
        if dropped:
            _count(tx, -1, (friend_id,), time)


def list_friends(
    tx: Tx, user_id: str, limit: int, state: int | None, after: tuple[int, int] | None
) -> FriendList:
    sql = (
        f"SELECT {USER_COLUMNS}, e.update_time, e.metadata, e.state, e.position "
        "FROM users u JOIN user_edge e ON u.id = e.destination_id WHERE e.source_id = ?"
    )
    rows, cursor = edge_page(tx, sql, (user_id,), state, after, limit)
    friends = tuple(
        Friend(
            user=user_from(tx, row),
            state=row[-2],
            update_time=tx.seconds(row[-4]),
            metadata=row[-3],
        )
        for row in rows
    )
    return FriendList(friends, cursor)
