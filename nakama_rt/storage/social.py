"""The social graph behind one interface: friends and groups, as Nakama keeps them.

Friendship is a pair of directed ``user_edge`` rows; group membership a pair of
``group_edge`` rows (group -> user and user -> group), except a ban, which is the
group -> user row alone. Edge states are Nakama's:

* user edge: 0 friend, 1 invite sent, 2 invite received, 3 blocked;
* group edge: 0 superadmin, 1 admin, 2 member, 3 join request, 4 banned.

Every method returns a Deferred and does its work off the reactor thread. Ids are
UUID strings in any case; a malformed id is treated as one that does not exist.
Lists are ordered by edge state, then by when the edge was made, and paged with
opaque cursors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from twisted.internet.defer import Deferred
from zope.interface import Interface

from .interface import StorageError, User

FRIEND, INVITE_SENT, INVITE_RECEIVED, BLOCKED = 0, 1, 2, 3
SUPERADMIN, ADMIN, MEMBER, JOIN_REQUEST, BANNED = 0, 1, 2, 3, 4

#: Nakama's default ``max_count`` of a new group.
DEFAULT_MAX_COUNT = 100

#: The most characters each text column of ``groups`` holds (PostgreSQL's VARCHAR sizes,
#: as Nakama's schema has them; SQLite would keep more, the API takes no more on either).
GROUP_TEXT_LIMITS = {"name": 255, "description": 255, "lang_tag": 18, "avatar_url": 512}


@dataclass(frozen=True)
class Friend:
    """One of a user's edges: the other user (devices not loaded), its state, when it
    last changed (UNIX seconds) and the edge's metadata (JSON text)."""

    user: User
    state: int
    update_time: float
    metadata: str = "{}"


@dataclass(frozen=True)
class FriendList:
    friends: tuple[Friend, ...]
    #: Pass back to get the next page; empty when this is the last one.
    cursor: str = ""


@dataclass(frozen=True)
class Group:
    """A group as the ``groups`` table holds it; empty strings stand for NULLs.

    ``open`` is Nakama's ``state`` column read as a flag (0 open, 1 closed);
    ``edge_count`` counts superadmins, admins and members, never join requests
    or bans.
    """

    id: str
    creator_id: str
    name: str
    description: str
    avatar_url: str
    lang_tag: str
    metadata: str
    open: bool
    edge_count: int
    max_count: int
    create_time: float
    update_time: float


@dataclass(frozen=True)
class GroupList:
    groups: tuple[Group, ...]
    cursor: str = ""


@dataclass(frozen=True)
class GroupMember:
    """A user of a group (devices not loaded) and their state in it."""

    user: User
    state: int


@dataclass(frozen=True)
class GroupMemberList:
    members: tuple[GroupMember, ...]
    cursor: str = ""


@dataclass(frozen=True)
class UserGroup:
    """A group a user is in, and their state in it."""

    group: Group
    state: int


@dataclass(frozen=True)
class UserGroupList:
    groups: tuple[UserGroup, ...]
    cursor: str = ""


@dataclass(frozen=True)
class GroupUserChange:
    """A user an operation changed: who, and the state they have now (for kicks,
    the state they had). The caller uses it for notifications and channel messages."""

    user_id: str
    username: str
    state: int


@dataclass(frozen=True)
class JoinResult:
    """What :meth:`ISocialStorage.join_group` did.

    ``state`` is :data:`MEMBER` (joined an open group), :data:`JOIN_REQUEST`
    (asked to join a closed one; ``admin_ids`` are the superadmins and admins to
    tell) or None (the user already had an edge, a ban included: nothing changed).
    ``group`` is the group as it was before the join.
    """

    group: Group
    state: int | None
    admin_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class LeaveResult:
    """What :meth:`ISocialStorage.leave_group` did: the state the user left (None when
    nothing changed: not in the group, or banned) and whether the group went with
    them (its last member, a superadmin, left)."""

    previous_state: int | None
    group_deleted: bool = False


@dataclass(frozen=True)
class GroupAddResult:
    """The group's name and the users :meth:`ISocialStorage.add_group_users` made members."""

    group_name: str
    added: tuple[GroupUserChange, ...]


class SocialError(StorageError):
    """Base of the social graph's expected failures."""


class InvalidCursor(SocialError):
    """The cursor is malformed, or was made for another state filter."""


class GroupNotFound(SocialError):
    """No such group (or it is disabled)."""


class GroupNameTaken(SocialError):
    """Another group already has this name."""


class GroupPermissionDenied(SocialError):
    """The caller's state in the group does not allow the operation."""


class GroupFull(SocialError):
    """The group has ``max_count`` members already."""


class GroupLastSuperadmin(SocialError):
    """The last superadmin cannot leave while other members remain."""


class GroupUserNotFound(SocialError):
    """A user to add, kick, ban, promote or demote does not exist."""


class GroupNoUpdate(SocialError):
    """An update named no field to change."""


class GroupNotUpdated(SocialError):
    """The update matched no group (it is gone or disabled)."""


class ISocialStorage(Interface):
    """Friends and groups. All methods return Deferreds and never block the reactor.

    ``caller_id`` None means the server itself acts (no permission check), as
    Nakama's runtime does with the nil user id.
    """

    # Friends -------------------------------------------------------------------------------

    def friend_state(user_id: str, other_id: str) -> Deferred[int | None]:
        """The state of the edge ``user_id -> other_id``, or None when there is none.

        ``friend_state(target, sender) == BLOCKED`` means the target blocked the sender.
        """

    def add_friends(
        user_id: str, friend_ids: Sequence[str], metadata: str = ""
    ) -> Deferred[dict[str, bool]]:
        """Invite each user, or accept their invite; fire with ``{friend_id: accepted}``
        for each edge made (False: a new invite, True: an invite accepted).

        Absent from the result (nothing done): unknown users, users already invited or
        befriended, users ``user_id`` blocked, users who blocked ``user_id``.
        ``metadata`` (JSON) goes on the caller's edge; on accepting it is merged into it.
        Metadata that is not JSON is a ValueError.
        """

    def delete_friends(user_id: str, friend_ids: Sequence[str]) -> Deferred[list[str]]:
        """Remove friends, cancel or reject invites, or unblock; fire with the ids whose
        two-way relationship was removed (Nakama tells them). A block the other user
        holds on ``user_id`` stays."""

    def block_friends(user_id: str, friend_ids: Sequence[str]) -> Deferred[None]:
        """Block users (unknown ones are skipped); their edge towards ``user_id`` goes,
        unless it is a block too."""

    def list_friends(
        user_id: str, limit: int, state: int | None = None, cursor: str = ""
    ) -> Deferred[FriendList]:
        """A page of ``user_id``'s edges, optionally of one state; :class:`InvalidCursor`."""

    # Groups --------------------------------------------------------------------------------

    def create_group(
        user_id: str,
        name: str,
        description: str = "",
        lang_tag: str = "",
        avatar_url: str = "",
        metadata: str = "",
        open: bool = False,
        max_count: int = DEFAULT_MAX_COUNT,
    ) -> Deferred[Group]:
        """A new group with ``user_id`` its superadmin (``lang_tag`` defaults to "en",
        ``metadata`` to "{}"); :class:`GroupNameTaken`."""

    def get_group(group_id: str) -> Deferred[Group | None]:
        """The group, or None when there is none (or it is disabled)."""

    def group_member_state(group_id: str, user_id: str) -> Deferred[int | None]:
        """The user's state in the group (:data:`BANNED` included), or None if they have
        no edge to it at all."""

    def update_group(
        group_id: str,
        caller_id: str | None,
        name: str | None = None,
        description: str | None = None,
        lang_tag: str | None = None,
        avatar_url: str | None = None,
        metadata: str | None = None,
        open: bool | None = None,
        max_count: int | None = None,
    ) -> Deferred[None]:
        """Change the given fields (an empty description or avatar clears it); only
        superadmins and admins may. Fails, in this order, with
        :class:`GroupPermissionDenied`, :class:`GroupNoUpdate`, :class:`GroupNameTaken`,
        :class:`GroupNotUpdated`."""

    def delete_group(group_id: str, caller_id: str | None) -> Deferred[None]:
        """Delete the group and all its edges; only a superadmin may
        (:class:`GroupPermissionDenied`). An unknown group is no error for the server."""

    def join_group(group_id: str, user_id: str) -> Deferred[JoinResult]:
        """Join an open group, or ask to join a closed one; :class:`GroupNotFound`,
        :class:`GroupFull` (checked first, as Nakama, even for a member)."""

    def leave_group(group_id: str, user_id: str) -> Deferred[LeaveResult]:
        """Leave (or withdraw a join request). The last superadmin cannot leave while
        other members remain (:class:`GroupLastSuperadmin`); when they are the last
        member, the group is deleted."""

    def add_group_users(
        group_id: str, caller_id: str | None, user_ids: Sequence[str]
    ) -> Deferred[GroupAddResult]:
        """Add users as members or accept their join requests (admins and superadmins
        only). All or nothing: :class:`GroupPermissionDenied`, :class:`GroupNotFound`,
        :class:`GroupUserNotFound`, :class:`GroupFull`. Members already in, banned users
        and the caller are skipped."""

    def kick_group_users(
        group_id: str, caller_id: str | None, user_ids: Sequence[str]
    ) -> Deferred[list[GroupUserChange]]:
        """Remove users (join requests included: that rejects them). An admin may only
        remove members and requests; a superadmin anyone but the last superadmin.
        Fire with the members removed (join requests not listed)."""

    def ban_group_users(
        group_id: str, caller_id: str | None, user_ids: Sequence[str]
    ) -> Deferred[list[GroupUserChange]]:
        """As :meth:`kick_group_users`, then keep each removed user out with a ban
        edge; fire with the members removed. Users with no edge are not banned."""

    def promote_group_users(
        group_id: str, caller_id: str | None, user_ids: Sequence[str]
    ) -> Deferred[list[GroupUserChange]]:
        """Move members to admin, admins to superadmin: only users below the caller.
        Fire with the promoted users and their new state."""

    def demote_group_users(
        group_id: str, caller_id: str | None, user_ids: Sequence[str]
    ) -> Deferred[list[GroupUserChange]]:
        """Move superadmins to admin (never the last one), admins to member: users at or
        below the caller's level. Fire with the demoted users and their new state."""

    def list_group_users(
        group_id: str, limit: int, state: int | None = None, cursor: str = ""
    ) -> Deferred[GroupMemberList]:
        """A page of a group's users; without ``state`` banned users are left out."""

    def list_user_groups(
        user_id: str, limit: int, state: int | None = None, cursor: str = ""
    ) -> Deferred[UserGroupList]:
        """A page of the groups a user is in (join requests included)."""

    def list_groups(
        limit: int,
        name: str = "",
        lang_tag: str = "",
        open: bool | None = None,
        members: int | None = None,
        cursor: str = "",
    ) -> Deferred[GroupList]:
        """Search groups: by ``name`` (case-insensitive, ``%`` wildcards; alone, ordered by
        name) or by any of language, open flag and at most ``members`` members (ordered
        by id). Combining ``name`` with another filter is a ValueError."""
