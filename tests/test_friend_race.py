"""Friend requests that cross: both users end up friends, on SQLite and on PostgreSQL.

PostgreSQL runs the two requests at once; without the row locks each saw no edge,
one inserted the invite and the other's insert met it in conflict, leaving an
invite instead of a friendship (Nakama has the same race).
"""

from __future__ import annotations

import itertools

import pytest_twisted
from storage_fixtures import ShiftedReactor, start_test_storage
from twisted.internet.defer import gatherResults

from nakama_rt.storage.social import FRIEND

PAIRS = 50


@pytest_twisted.async_yield_fixture
async def storage(storage_kind, tmp_path):
    opened = await start_test_storage(storage_kind, tmp_path, ShiftedReactor())
    yield opened.storage
    await opened.close()


async def make_users(storage, prefix: str, count: int) -> list[str]:
    made = await gatherResults([storage.create_user(f"{prefix}{n}") for n in range(count)])
    return [user.id for user in made]


async def outgoing_edges(storage, user_id: str) -> dict[str, int]:
    listed = await storage.list_friends(user_id, 1000)
    return {friend.user.id: friend.state for friend in listed.friends}


@pytest_twisted.ensureDeferred
async def test_crossed_requests_between_two_users_make_them_friends(storage) -> None:
    ids = await make_users(storage, "p", 2 * PAIRS)
    pairs = list(zip(ids[::2], ids[1::2], strict=True))
    # Both requests of every pair at once: the storage's worker threads run them together.
    calls = []
    for one, two in pairs:
        calls += [storage.add_friends(one, [two]), storage.add_friends(two, [one])]
    results = await gatherResults(calls)
    for (one, two), first, second in zip(pairs, results[::2], results[1::2], strict=True):
        # One request invited, the other accepted that invite; both tell their friend.
        assert {**first, **second} in ({two: False, one: True}, {two: True, one: False})
        states = (await storage.friend_state(one, two), await storage.friend_state(two, one))
        assert states == (FRIEND, FRIEND), (one, two)
    users = await storage.get_users(ids=ids)
    assert {user.edge_count for user in users} == {1}


@pytest_twisted.ensureDeferred
async def test_everyone_inviting_everyone_at_once_ends_all_friends(storage) -> None:
    """Many requests naming several users each, all at once: no deadlock, no lost
    accept, and each user's edge count is their number of edges."""
    ids = await make_users(storage, "m", 8)
    await gatherResults([storage.add_friends(me, [o for o in ids if o != me]) for me in ids])
    for one, two in itertools.combinations(ids, 2):
        assert await storage.friend_state(one, two) == FRIEND
        assert await storage.friend_state(two, one) == FRIEND
    # Then everyone removes, blocks and re-invites others at once.
    calls = []
    for n, me in enumerate(ids):
        others = ids[n + 1 :] + ids[:n]
        calls += [
            storage.delete_friends(me, others[:2]),
            storage.block_friends(me, others[2:3]),
            storage.add_friends(me, others[3:]),
        ]
    await gatherResults(calls)
    for me in ids:
        edges = await outgoing_edges(storage, me)
        assert (await storage.get_user(me)).edge_count == len(edges)
        for other, state in edges.items():
            theirs = (await outgoing_edges(storage, other)).get(me)
            assert (state, theirs) in ((0, 0), (1, 2), (2, 1), (3, None), (3, 3)), (me, other)
