"""Friend rules, Nakama's (core_friend.go), each in one transaction.

Consistent edge pairs between two users A and B are: none; friends (0, 0); an
invite (A->B 1, B->A 2); a block (A->B 3, with no B->A edge or B's own block).
``users.edge_count`` counts a user's edges that are friendships, invites or
their own blocks.
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson

from .social import BLOCKED, FRIEND, INVITE_RECEIVED, INVITE_SENT, Friend, FriendList
from .social_core import EdgePage, user_columns, user_from
from .sql import Dialect, Tx


def _merged(old: str, new: str) -> str:
    """The edge metadata after an accept: a shallow merge, as JSONB's ``||`` of objects."""
    before, after = orjson.loads(old), orjson.loads(new)
    if isinstance(before, dict) and isinstance(after, dict):
        return orjson.dumps({**before, **after}).decode()
    return new


class FriendQueries:
    """The friend queries, rendered for one dialect when the storage is built."""

    def __init__(self, d: Dialect) -> None:
        self._d = d
        edge = "FROM user_edge WHERE source_id = ? AND destination_id = ?"
        self._state = d.sql(f"SELECT state {edge}")
        self._state_and_metadata = d.sql(f"SELECT state, metadata {edge}")
        self._user_exists = d.sql("SELECT 1 FROM users WHERE id = ?")
        self._count = d.sql(
            f"UPDATE users SET edge_count = edge_count + ?, update_time = {d.time} WHERE id = ?"
        )
        self._accept = d.sql(
            f"UPDATE user_edge SET state = ?, update_time = {d.time}, metadata = ? "
            "WHERE source_id = ? AND destination_id = ?"
        )
        self._restate = d.sql(
            f"UPDATE user_edge SET state = ?, update_time = {d.time} "
            "WHERE source_id = ? AND destination_id = ?"
        )
        self._invite = d.sql(
            "INSERT INTO user_edge "
            "(source_id, destination_id, state, position, update_time, metadata) "
            f"VALUES (?, ?, ?, ?, {d.time}, ?), (?, ?, ?, ?, {d.time}, ?) "
            "ON CONFLICT (source_id, destination_id) DO NOTHING"
        )
        self._delete_pair = d.sql(
            "DELETE FROM user_edge WHERE (source_id = ? AND destination_id = ?) "
            "OR (source_id = ? AND destination_id = ? AND state <> ?)"
        )
        self._block = d.sql(
            "INSERT INTO user_edge (source_id, destination_id, state, position, update_time) "
            f"VALUES (?, ?, ?, ?, {d.time})"
        )
        self._delete_unless = d.sql(
            "DELETE FROM user_edge WHERE source_id = ? AND destination_id = ? AND state <> ?"
        )
        self._page = EdgePage(
            d,
            f"SELECT {user_columns(d)}, {d.seconds('e.update_time')}, e.metadata, e.state, "
            "e.position FROM users u JOIN user_edge e ON u.id = e.destination_id "
            "WHERE e.source_id = ?",
        )

    def _lock_users(self, tx: Tx, user_id: str, others: Sequence[str]) -> None:
        """Lock the rows of the users a friend operation touches, in id order, before it
        reads any edge.

        Two requests between the same users (A invites B while B invites A) then run one
        after the other, and the second sees the first's edges: it accepts the invite
        instead of finding its own insert in conflict. Locking everyone up front and in
        one order keeps operations that share users from deadlocking.
        """
        ids = sorted({user_id, *others})
        marks = self._d.marks(len(ids))
        tx.rows(f"SELECT id FROM users WHERE id IN ({marks}) ORDER BY id{self._d.lock}", ids)

    def _count_edges(self, tx: Tx, delta: int, user_ids: Sequence[str], now: float) -> None:
        for user_id in user_ids:
            tx.run(self._count, (delta, now, user_id))

    def friend_state(self, tx: Tx, user_id: str, other_id: str) -> int | None:
        return tx.scalar(self._state, (user_id, other_id))

    def add_friends(
        self,
        tx: Tx,
        user_id: str,
        friend_ids: Sequence[str],
        metadata: str,
        now: float,
        position: int,
    ) -> dict[str, bool]:
        metadata = metadata or "{}"
        orjson.loads(metadata)  # Invalid JSON fails the whole call, as in Nakama.
        self._lock_users(tx, user_id, friend_ids)
        made: dict[str, bool] = {}
        for offset, friend_id in enumerate(friend_ids):
            mine = tx.one(self._state_and_metadata, (user_id, friend_id))
            theirs = self.friend_state(tx, friend_id, user_id)
            if mine is not None and mine[0] == INVITE_RECEIVED and theirs == INVITE_SENT:
                merged = _merged(mine[1], metadata)
                tx.run(self._accept, (FRIEND, now, merged, user_id, friend_id))
                tx.run(self._restate, (FRIEND, now, friend_id, user_id))
                made[friend_id] = True
                continue
            # Already invited, befriended or blocked either way: nothing to do.
            if mine is not None or theirs is not None:
                continue
            if tx.scalar(self._user_exists, (friend_id,)) is None:
                continue
            inserted = tx.run(
                self._invite,
                (
                    *(user_id, friend_id, INVITE_SENT, position + offset, now, metadata),
                    *(friend_id, user_id, INVITE_RECEIVED, position + offset, now, "{}"),
                ),
            )
            if inserted == 2:
                self._count_edges(tx, 1, (user_id, friend_id), now)
                made[friend_id] = False
        return made

    def delete_friends(
        self, tx: Tx, user_id: str, friend_ids: Sequence[str], now: float
    ) -> list[str]:
        self._lock_users(tx, user_id, friend_ids)
        removed: list[str] = []
        for friend_id in friend_ids:
            deleted = tx.run(self._delete_pair, (user_id, friend_id, friend_id, user_id, BLOCKED))
            if deleted == 1:  # Unblocked (the other side had no edge, or its own block).
                self._count_edges(tx, -1, (user_id,), now)
            elif deleted == 2:
                self._count_edges(tx, -1, (user_id, friend_id), now)
                removed.append(friend_id)
        return removed

    def block_friends(
        self, tx: Tx, user_id: str, friend_ids: Sequence[str], now: float, position: int
    ) -> None:
        self._lock_users(tx, user_id, friend_ids)
        for offset, friend_id in enumerate(friend_ids):
            if not tx.run(self._restate, (BLOCKED, now, user_id, friend_id)):
                if tx.scalar(self._user_exists, (friend_id,)) is None:
                    continue
                tx.run(self._block, (user_id, friend_id, BLOCKED, position + offset, now))
                self._count_edges(tx, 1, (user_id,), now)
            if tx.run(self._delete_unless, (friend_id, user_id, BLOCKED)):
                self._count_edges(tx, -1, (friend_id,), now)

    def list_friends(
        self, tx: Tx, user_id: str, limit: int, state: int | None, after: tuple[int, int] | None
    ) -> FriendList:
        rows, cursor = self._page(tx, (user_id,), state, after, limit)
        friends = tuple(
            Friend(user_from(row), state=row[-2], update_time=float(row[-4]), metadata=row[-3])
            for row in rows
        )
        return FriendList(friends, cursor)
