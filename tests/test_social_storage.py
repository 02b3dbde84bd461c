"""The social graph's storage contract (friends, groups), identical on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import threading
import uuid

import pytest
import pytest_twisted
from storage_fixtures import clock_and_storage, create_users
from zope.interface.verify import verifyObject

from nakama_rt.storage.social import (
    ADMIN,
    BANNED,
    BLOCKED,
    FRIEND,
    INVITE_RECEIVED,
    INVITE_SENT,
    JOIN_REQUEST,
    MEMBER,
    SUPERADMIN,
    GroupFull,
    GroupLastSuperadmin,
    GroupNameTaken,
    GroupNotFound,
    GroupNotUpdated,
    GroupNoUpdate,
    GroupPermissionDenied,
    GroupUserChange,
    GroupUserNotFound,
    InvalidCursor,
    ISocialStorage,
    JoinResult,
    LeaveResult,
)

NOW = 1_700_000_000.25


clock, storage = clock_and_storage(NOW)


async def edge_counts(storage, *ids):
    return [(await storage.get_user(i)).edge_count for i in ids]


async def states(storage, a, b):
    return await storage.friend_state(a, b), await storage.friend_state(b, a)


async def expect(failure_type, deferred):
    with pytest.raises(failure_type):
        await deferred


def test_provides_interface(storage):
    assert verifyObject(ISocialStorage, storage)


# Friends -----------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_invite_accept_and_duplicates(storage, clock):
    alice, bob = await create_users(storage, "alice", "bob")
    assert await storage.add_friends(alice, [bob.upper(), bob], '{"a": 1, "b": 1}') == {bob: False}
    assert await states(storage, alice, bob) == (INVITE_SENT, INVITE_RECEIVED)
    assert await edge_counts(storage, alice, bob) == [1, 1]
    # Asking twice, or asking back with one's own request pending, changes nothing.
    assert await storage.add_friends(alice, [bob]) == {}
    clock.advance(5)
    assert await storage.add_friends(bob, [alice], '{"b": 2}') == {alice: True}
    assert await states(storage, alice, bob) == (FRIEND, FRIEND)
    assert await edge_counts(storage, alice, bob) == [1, 1]
    assert await storage.add_friends(bob, [alice]) == {}

    (friend,) = (await storage.list_friends(bob, 10)).friends
    assert friend.user.id == alice and friend.user.username == "alice"
    assert (friend.state, friend.update_time) == (FRIEND, pytest.approx(NOW + 5))
    assert friend.metadata.replace(" ", "") == '{"b":2}'
    (friend,) = (await storage.list_friends(alice, 10)).friends
    assert friend.metadata.replace(" ", "") == '{"a":1,"b":1}'


@pytest_twisted.ensureDeferred
async def test_add_skips_unknown_self_and_malformed(storage):
    (alice,) = await create_users(storage, "alice")
    assert await storage.add_friends(alice, [str(uuid.uuid4()), alice, "nope"]) == {}
    assert (await storage.list_friends(alice, 10)).friends == ()
    assert await storage.friend_state(alice, "nope") is None
    assert await edge_counts(storage, alice) == [0]


@pytest_twisted.ensureDeferred
async def test_list_friends_by_state_with_cursors(storage):
    me, *others = await create_users(storage, "me", "f1", "f2", "in1", "out1", "out2")
    f1, f2, in1, out1, out2 = others
    await storage.add_friends(me, [f1, f2, out1, out2])
    await storage.add_friends(f1, [me])
    await storage.add_friends(f2, [me])
    await storage.add_friends(in1, [me])

    page = await storage.list_friends(me, 2)
    assert [(f.user.id, f.state) for f in page.friends] == [(f1, FRIEND), (f2, FRIEND)]
    page = await storage.list_friends(me, 2, cursor=page.cursor)
    assert [(f.user.id, f.state) for f in page.friends] == [
        (out1, INVITE_SENT),
        (out2, INVITE_SENT),
    ]
    page = await storage.list_friends(me, 2, cursor=page.cursor)
    assert [(f.user.id, f.state) for f in page.friends] == [(in1, INVITE_RECEIVED)]
    assert page.cursor == ""

    sent = await storage.list_friends(me, 1, state=INVITE_SENT)
    assert [f.user.id for f in sent.friends] == [out1]
    rest = await storage.list_friends(me, 1, state=INVITE_SENT, cursor=sent.cursor)
    assert [f.user.id for f in rest.friends] == [out2] and rest.cursor == ""
    await expect(InvalidCursor, storage.list_friends(me, 1, state=FRIEND, cursor=sent.cursor))
    for bad in ("!!!", "e30=", "WzEsMl0", "WyJhIiwxXQ=="):
        await expect(InvalidCursor, storage.list_friends(me, 1, cursor=bad))


@pytest_twisted.ensureDeferred
async def test_delete_friends(storage):
    alice, bob, carol, dave = await create_users(storage, "alice", "bob", "carol", "dave")
    await storage.add_friends(alice, [bob, carol])
    await storage.add_friends(bob, [alice])
    # Removing a friend and cancelling an invite both remove two edges: both are told.
    assert sorted(await storage.delete_friends(alice, [bob, carol, dave])) == sorted([bob, carol])
    assert await states(storage, alice, bob) == (None, None)
    assert await states(storage, alice, carol) == (None, None)
    assert await edge_counts(storage, alice, bob, carol) == [0, 0, 0]
    assert await storage.delete_friends(alice, [bob]) == []


@pytest_twisted.ensureDeferred
async def test_block_and_unblock(storage):
    alice, bob, carol = await create_users(storage, "alice", "bob", "carol")
    await storage.add_friends(alice, [bob])
    await storage.add_friends(bob, [alice])
    await storage.block_friends(bob, [alice, carol, str(uuid.uuid4())])
    assert await states(storage, bob, alice) == (BLOCKED, None)
    assert await states(storage, bob, carol) == (BLOCKED, None)
    assert await edge_counts(storage, alice, bob, carol) == [0, 2, 0]

    # Neither side can befriend across a block.
    assert await storage.add_friends(alice, [bob]) == {}
    assert await storage.add_friends(bob, [alice]) == {}
    assert await states(storage, bob, alice) == (BLOCKED, None)

    # Mutual blocks: unblocking leaves the other's block alone, and tells nobody.
    await storage.block_friends(alice, [bob])
    assert await states(storage, alice, bob) == (BLOCKED, BLOCKED)
    assert await storage.delete_friends(bob, [alice]) == []
    assert await states(storage, alice, bob) == (BLOCKED, None)
    assert await edge_counts(storage, alice, bob) == [1, 1]
    assert await storage.delete_friends(alice, [bob]) == []
    assert await states(storage, alice, bob) == (None, None)
    assert await storage.add_friends(alice, [bob]) == {bob: False}

    # Blocking someone with a pending request from you turns your edge into the block.
    await storage.block_friends(alice, [bob])
    assert await states(storage, alice, bob) == (BLOCKED, None)
    assert await edge_counts(storage, alice, bob) == [1, 1]


@pytest_twisted.ensureDeferred
async def test_work_runs_off_the_reactor_thread(storage):
    (alice,) = await create_users(storage, "alice")
    await storage.list_friends(alice, 1)
    assert threading.get_ident() not in storage.worker_thread_ids


# Groups: create, update, delete ------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_create_and_get_group(storage):
    (alice,) = await create_users(storage, "alice")
    group = await storage.create_group(alice, "Knights", description="Ni", max_count=10)
    assert uuid.UUID(group.id).version == 4
    assert (group.creator_id, group.name, group.description, group.avatar_url) == (
        alice,
        "Knights",
        "Ni",
        "",
    )
    assert (group.lang_tag, group.metadata, group.open) == ("en", "{}", False)
    assert (group.edge_count, group.max_count) == (1, 10)
    assert group.create_time == group.update_time == pytest.approx(NOW)
    assert await storage.get_group(group.id.upper()) == group
    assert await storage.get_group(str(uuid.uuid4())) is None
    assert await storage.get_group("bad") is None
    assert await storage.group_member_state(group.id, alice) == SUPERADMIN
    assert await storage.group_member_state(group.id, str(uuid.uuid4())) is None
    assert await storage.group_member_state("bad", alice) is None

    await expect(GroupNameTaken, storage.create_group(alice, "Knights"))
    other = await storage.create_group(alice, "knights", open=True, lang_tag="fr", max_count=0)
    assert (other.open, other.lang_tag, other.max_count) == (True, "fr", 100)


@pytest_twisted.ensureDeferred
async def test_update_group(storage, clock):
    alice, bob = await create_users(storage, "alice", "bob")
    group = await storage.create_group(alice, "G", description="d", avatar_url="a")
    await storage.create_group(alice, "Taken")
    await expect(GroupPermissionDenied, storage.update_group(group.id, bob, name="X"))
    await storage.join_group(group.id, bob)  # A join request: still not allowed.
    await expect(GroupPermissionDenied, storage.update_group(group.id, bob, name="X"))
    await expect(GroupNoUpdate, storage.update_group(group.id, alice))
    await expect(GroupNameTaken, storage.update_group(group.id, alice, name="Taken"))
    await expect(GroupPermissionDenied, storage.update_group(str(uuid.uuid4()), alice, name="Y"))
    await expect(GroupNotUpdated, storage.update_group(str(uuid.uuid4()), None, name="Y"))

    clock.advance(10)
    await storage.update_group(
        group.id, alice, name="H", description="", avatar_url="", open=True, metadata='{"k":1}'
    )
    updated = await storage.get_group(group.id)
    assert (updated.name, updated.description, updated.avatar_url, updated.open) == (
        "H",
        "",
        "",
        True,
    )
    assert updated.metadata.replace(" ", "") == '{"k":1}'
    assert updated.update_time == pytest.approx(NOW + 10)
    assert updated.create_time == pytest.approx(NOW)


@pytest_twisted.ensureDeferred
async def test_delete_group(storage):
    alice, bob = await create_users(storage, "alice", "bob")
    group = await storage.create_group(alice, "G", open=True)
    await storage.join_group(group.id, bob)
    await storage.promote_group_users(group.id, alice, [bob])
    await expect(GroupPermissionDenied, storage.delete_group(group.id, bob))  # Admins may not.
    await storage.delete_group(group.id, alice)
    assert await storage.get_group(group.id) is None
    assert await storage.group_member_state(group.id, bob) is None
    assert (await storage.list_user_groups(bob, 10)).groups == ()
    await expect(GroupPermissionDenied, storage.delete_group(group.id, alice))
    await storage.delete_group(group.id, None)  # The server deleting nothing is no error.


# Groups: join and leave --------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_join_open_and_closed_groups(storage):
    alice, bob, carol, dave = await create_users(storage, "alice", "bob", "carol", "dave")
    public = await storage.create_group(alice, "Public", open=True, max_count=2)
    result = await storage.join_group(public.id, bob)
    assert (result.state, result.admin_ids) == (MEMBER, ())
    assert await storage.group_member_state(public.id, bob) == MEMBER
    assert (await storage.get_group(public.id)).edge_count == 2
    await expect(GroupFull, storage.join_group(public.id, carol))
    await expect(GroupFull, storage.join_group(public.id, bob))  # Full first, as Nakama.
    await expect(GroupNotFound, storage.join_group(str(uuid.uuid4()), bob))
    await expect(GroupNotFound, storage.join_group("bad", bob))

    private = await storage.create_group(alice, "Private")
    await storage.add_group_users(private.id, alice, [bob])
    await storage.promote_group_users(private.id, alice, [bob])
    result = await storage.join_group(private.id, carol)
    assert result == JoinResult(result.group, JOIN_REQUEST, (alice, bob))
    assert await storage.group_member_state(private.id, carol) == JOIN_REQUEST
    assert (await storage.get_group(private.id)).edge_count == 2
    assert (await storage.join_group(private.id, carol)).state is None
    assert (await storage.join_group(private.id, bob)).state is None
    await storage.ban_group_users(private.id, alice, [carol])
    assert (await storage.join_group(private.id, carol)).state is None
    assert await storage.group_member_state(private.id, carol) == BANNED
    assert (await storage.join_group(private.id, dave)).state == JOIN_REQUEST


@pytest_twisted.ensureDeferred
async def test_leave_group(storage):
    alice, bob, carol = await create_users(storage, "alice", "bob", "carol")
    group = await storage.create_group(alice, "G", open=True)
    await storage.join_group(group.id, bob)
    assert await storage.leave_group(group.id, carol) == LeaveResult(None)
    await expect(GroupLastSuperadmin, storage.leave_group(group.id, alice))
    assert await storage.leave_group(group.id, bob) == LeaveResult(MEMBER)
    assert await storage.group_member_state(group.id, bob) is None
    assert (await storage.get_group(group.id)).edge_count == 1

    # With another superadmin, a superadmin may leave.
    await storage.join_group(group.id, bob)
    await storage.promote_group_users(group.id, alice, [bob, bob])  # Once: ids are deduplicated.
    await storage.promote_group_users(group.id, alice, [bob])
    assert await storage.group_member_state(group.id, bob) == SUPERADMIN
    assert await storage.leave_group(group.id, alice) == LeaveResult(SUPERADMIN)

    # A join request leaving changes no count; a banned user cannot leave the ban.
    await storage.update_group(group.id, bob, open=False)
    await storage.join_group(group.id, carol)
    assert await storage.leave_group(group.id, carol) == LeaveResult(JOIN_REQUEST)
    assert (await storage.get_group(group.id)).edge_count == 1
    await storage.join_group(group.id, carol)
    await storage.ban_group_users(group.id, bob, [carol])
    assert await storage.leave_group(group.id, carol) == LeaveResult(None)
    assert await storage.group_member_state(group.id, carol) == BANNED

    # The last member leaving takes the group with them.
    assert await storage.leave_group(group.id, bob) == LeaveResult(SUPERADMIN, True)
    assert await storage.get_group(group.id) is None
    assert await storage.group_member_state(group.id, carol) is None


# Groups: acting on members -----------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_add_group_users(storage):
    alice, bob, carol, dave = await create_users(storage, "alice", "bob", "carol", "dave")
    group = await storage.create_group(alice, "G", max_count=3)
    await storage.join_group(group.id, carol)  # A join request.
    added = await storage.add_group_users(group.id, alice, [alice, bob, carol, bob])
    assert added.group_name == "G"
    assert added.added == (
        GroupUserChange(bob, "bob", MEMBER),
        GroupUserChange(carol, "carol", MEMBER),
    )
    assert (await storage.get_group(group.id)).edge_count == 3
    assert (await storage.add_group_users(group.id, alice, [bob])).added == ()

    await expect(GroupFull, storage.add_group_users(group.id, alice, [dave]))
    await expect(GroupPermissionDenied, storage.add_group_users(group.id, bob, [dave]))
    await expect(GroupPermissionDenied, storage.add_group_users(group.id, dave, [dave]))
    await expect(GroupPermissionDenied, storage.add_group_users("bad", dave, [dave]))
    await expect(GroupNotFound, storage.add_group_users(str(uuid.uuid4()), None, [dave]))

    # All or nothing: an unknown user fails the whole call.
    await storage.kick_group_users(group.id, alice, [carol])
    unknown = str(uuid.uuid4())
    await expect(GroupUserNotFound, storage.add_group_users(group.id, alice, [dave, unknown]))
    await expect(GroupUserNotFound, storage.add_group_users(group.id, alice, [dave, "bad"]))
    assert await storage.group_member_state(group.id, dave) is None
    # The server adds without being a member.
    assert (await storage.add_group_users(group.id, None, [dave])).added[0].user_id == dave


@pytest_twisted.ensureDeferred
async def test_kick_group_users(storage):
    alice, bob, carol, dave, erin = await create_users(
        storage, "alice", "bob", "carol", "dave", "erin"
    )
    group = await storage.create_group(alice, "G")
    await storage.add_group_users(group.id, alice, [bob, carol, dave])
    await storage.promote_group_users(group.id, alice, [bob, carol])  # Two admins.
    await storage.join_group(group.id, erin)
    await expect(GroupPermissionDenied, storage.kick_group_users(group.id, dave, [erin]))

    # An admin removes members and join requests, not admins nor superadmins.
    kicked = await storage.kick_group_users(group.id, bob, [carol, alice, dave, erin])
    assert kicked == [GroupUserChange(dave, "dave", MEMBER)]
    assert await storage.group_member_state(group.id, erin) is None
    assert (await storage.get_group(group.id)).edge_count == 3

    # A superadmin removes anyone but the last superadmin; the server too.
    assert await storage.kick_group_users(group.id, alice, [carol]) == [
        GroupUserChange(carol, "carol", ADMIN)
    ]
    assert await storage.kick_group_users(group.id, None, [alice]) == []
    assert await storage.group_member_state(group.id, alice) == SUPERADMIN
    assert (await storage.get_group(group.id)).edge_count == 2


@pytest_twisted.ensureDeferred
async def test_ban_group_users(storage):
    alice, bob, carol, dave = await create_users(storage, "alice", "bob", "carol", "dave")
    group = await storage.create_group(alice, "G", open=True)
    await storage.join_group(group.id, bob)
    await storage.join_group(group.id, carol)
    banned = await storage.ban_group_users(group.id, alice, [bob, carol, dave])
    assert [change.user_id for change in banned] == [bob, carol]
    assert await storage.group_member_state(group.id, bob) == BANNED
    assert await storage.group_member_state(group.id, dave) is None  # Never a member.
    assert (await storage.get_group(group.id)).edge_count == 1
    assert (await storage.list_user_groups(bob, 10)).groups == ()
    listed = await storage.list_group_users(group.id, 10)
    assert [m.user.id for m in listed.members] == [alice]
    listed = await storage.list_group_users(group.id, 10, state=BANNED)
    assert [(m.user.id, m.state) for m in listed.members] == [(bob, BANNED), (carol, BANNED)]
    assert (await storage.add_group_users(group.id, alice, [bob])).added == ()
    # Kicking a banned user lifts the ban.
    assert await storage.kick_group_users(group.id, alice, [bob]) == []
    assert (await storage.join_group(group.id, bob)).state == MEMBER


@pytest_twisted.ensureDeferred
async def test_promote_and_demote(storage):
    alice, bob, carol, dave = await create_users(storage, "alice", "bob", "carol", "dave")
    group = await storage.create_group(alice, "G")
    await storage.add_group_users(group.id, alice, [bob, carol, dave])
    await storage.join_group(group.id, str(uuid.uuid4()))

    assert await storage.promote_group_users(group.id, alice, [bob]) == [
        GroupUserChange(bob, "bob", ADMIN)
    ]
    # An admin promotes members to admin, never admins to superadmin.
    assert await storage.promote_group_users(group.id, bob, [carol]) == [
        GroupUserChange(carol, "carol", ADMIN)
    ]
    assert await storage.promote_group_users(group.id, bob, [carol, bob]) == []
    await expect(GroupPermissionDenied, storage.promote_group_users(group.id, dave, [dave]))
    assert await storage.promote_group_users(group.id, alice, [carol]) == [
        GroupUserChange(carol, "carol", SUPERADMIN)
    ]
    assert await storage.promote_group_users(group.id, alice, [carol]) == []

    # An admin demotes admins; a superadmin demotes superadmins, never the last one.
    assert await storage.demote_group_users(group.id, bob, [carol, dave]) == []
    assert await storage.demote_group_users(group.id, alice, [carol]) == [
        GroupUserChange(carol, "carol", ADMIN)
    ]
    assert await storage.demote_group_users(group.id, carol, [bob]) == [
        GroupUserChange(bob, "bob", MEMBER)
    ]
    assert await storage.demote_group_users(group.id, None, [alice]) == []
    assert await storage.demote_group_users(group.id, alice, [bob]) == []  # Members stay.
    states = [(m.user.id, m.state) for m in (await storage.list_group_users(group.id, 10)).members]
    assert states == [(alice, SUPERADMIN), (carol, ADMIN), (bob, MEMBER), (dave, MEMBER)]


# Listings ----------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_forged_edge_cursors_never_reach_the_database(storage):
    """Positions past BIGINT (which SQLite cannot bind), negative or fractional values,
    unknown states and other shapes are InvalidCursor on both backends."""
    (me,) = await create_users(storage, "alice")
    group = (await storage.create_group(me, "First")).id
    forged = [
        f"[0,{2**63}]",
        f"[0,{2**64 - 1}]",
        f"[{2**63},0]",
        "[-1,0]",
        "[0,-1]",
        "[0,1.5]",
        "[5,0]",
        '[0,"1"]',
        "[[0],1]",
        '{"s":0}',
    ]
    listings = [
        lambda cursor: storage.list_friends(me, 10, cursor=cursor),
        lambda cursor: storage.list_group_users(group, 10, cursor=cursor),
        lambda cursor: storage.list_user_groups(me, 10, cursor=cursor),
    ]
    for listing in listings:
        for text in forged:
            cursor = base64.urlsafe_b64encode(text.encode()).decode()
            await expect(InvalidCursor, listing(cursor))
        # The largest position is valid: a page after every edge.
        last = base64.urlsafe_b64encode(f"[0,{2**63 - 1}]".encode()).decode()
        page = await listing(last)
        assert page.cursor == ""
    # A user edge's states end at 3 (blocked): 4 is a group's ban only.
    four = base64.urlsafe_b64encode(b"[4,0]").decode()
    await expect(InvalidCursor, storage.list_friends(me, 10, cursor=four))
    assert (await storage.list_group_users(group, 10, cursor=four)).members == ()


@pytest_twisted.ensureDeferred
async def test_list_group_users_and_user_groups(storage):
    alice, bob, carol = await create_users(storage, "alice", "bob", "carol")
    first = await storage.create_group(alice, "First")
    second = await storage.create_group(bob, "Second", open=True)
    await storage.add_group_users(first.id, alice, [bob])
    await storage.join_group(first.id, carol)
    await storage.join_group(second.id, alice)

    page = await storage.list_group_users(first.id, 2)
    assert [(m.user.id, m.state) for m in page.members] == [(alice, SUPERADMIN), (bob, MEMBER)]
    page = await storage.list_group_users(first.id, 2, cursor=page.cursor)
    assert [(m.user.username, m.state) for m in page.members] == [("carol", JOIN_REQUEST)]
    assert page.cursor == ""
    await expect(InvalidCursor, storage.list_group_users(first.id, 1, cursor="bad"))
    assert (await storage.list_group_users(str(uuid.uuid4()), 10)).members == ()

    page = await storage.list_user_groups(alice, 1)
    assert [(g.group.name, g.state) for g in page.groups] == [("First", SUPERADMIN)]
    page = await storage.list_user_groups(alice, 1, cursor=page.cursor)
    assert [(g.group.name, g.state) for g in page.groups] == [("Second", MEMBER)]
    assert page.groups[0].group.edge_count == 2 and page.cursor == ""
    page = await storage.list_user_groups(carol, 10, state=JOIN_REQUEST)
    assert [g.group.id for g in page.groups] == [first.id]
    await expect(InvalidCursor, storage.list_user_groups(carol, 1, state=MEMBER, cursor="e30"))


@pytest_twisted.ensureDeferred
async def test_list_groups(storage):
    (alice,) = await create_users(storage, "alice")
    made = [
        await storage.create_group(alice, "Alpha", open=True, lang_tag="fr"),
        await storage.create_group(alice, "alphabet", open=False),
        await storage.create_group(alice, "Beta", open=True, max_count=5),
    ]
    by_id = sorted(made, key=lambda g: g.id)

    found = await storage.list_groups(10, name="ALPHA")
    assert [g.name for g in found.groups] == ["Alpha"]
    found = await storage.list_groups(1, name="%% alpha%")
    assert [g.name for g in found.groups] == ["Alpha"] and found.cursor
    found = await storage.list_groups(1, name="alpha%", cursor=found.cursor)
    assert [g.name for g in found.groups] == ["alphabet"] and found.cursor == ""

    everything = await storage.list_groups(2)
    assert [g.id for g in everything.groups] == [g.id for g in by_id[:2]]
    rest = await storage.list_groups(2, cursor=everything.cursor)
    assert [g.id for g in rest.groups] == [by_id[2].id] and rest.cursor == ""
    await expect(InvalidCursor, storage.list_groups(2, name="a%", cursor=everything.cursor))
    await expect(InvalidCursor, storage.list_groups(2, cursor="WyJpZCIsIngiXQ=="))

    opened = await storage.list_groups(10, open=True)
    assert sorted(g.name for g in opened.groups) == ["Alpha", "Beta"]
    french = await storage.list_groups(10, lang_tag="fr", open=True, members=1)
    assert [g.name for g in french.groups] == ["Alpha"]
    assert (await storage.list_groups(10, members=0)).groups == ()
    with pytest.raises(ValueError):
        await storage.list_groups(10, name="a", open=True)
