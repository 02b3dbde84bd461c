"""The :class:`~.social.ISocialStorage` methods, shared by both backends.

Each checks and normalises its arguments on the reactor thread, stamps the time
and edge positions there, and runs one rule function of :mod:`.social_friends`,
:mod:`.social_groups` or :mod:`.social_lists` in one transaction on the
storage's worker thread (the backend's ``_social_tx``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from twisted.internet.defer import Deferred, fail, succeed

from ..ids import canonical_uuid
from . import social_friends as friends
from . import social_groups as groups
from . import social_lists as lists
from .social import (
    BANNED,
    BLOCKED,
    DEFAULT_MAX_COUNT,
    FriendList,
    Group,
    GroupAddResult,
    GroupList,
    GroupMemberList,
    GroupNotFound,
    GroupPermissionDenied,
    GroupUserChange,
    GroupUserNotFound,
    InvalidCursor,
    JoinResult,
    LeaveResult,
    UserGroupList,
)
from .social_core import edge_cursor


def _ids(values: Iterable[str]) -> list[str]:
    """Canonical ids, without duplicates (first occurrence kept) or malformed ones."""
    seen: dict[str, None] = {}
    for value in values:
        canonical = canonical_uuid(value)
        if canonical is not None:
            seen.setdefault(canonical, None)
    return list(seen)


def _no_group(group_id: str, caller_id: str | None) -> Deferred[Any]:
    """What an operation on a malformed group id fails with: as for an unknown group."""
    if caller_id is None:
        return fail(GroupNotFound(group_id))
    return fail(GroupPermissionDenied(group_id))


class SocialMethods:
    """Mixed into a storage that has ``_run``, ``_now`` and a ``_social_tx``."""

    _run: Callable[..., Deferred[Any]]
    _now: Callable[[], float]
    _social_position = 0

    def _social_tx(self, fn: Callable[..., Any], *args: Any) -> Any:  # pragma: no cover
        raise NotImplementedError

    def _social(self, fn: Callable[..., Any], *args: Any) -> Deferred[Any]:
        return self._run(self._social_tx, fn, *args)

    def _positions(self, count: int) -> int:
        """The first of ``count`` new edge positions: nanoseconds now, never reused."""
        start = max(int(self._now() * 1_000_000_000), self._social_position + 1)
        self._social_position = start + max(count, 1) - 1
        return start

    # Friends -------------------------------------------------------------------------------

    def friend_state(self, user_id: str, other_id: str) -> Deferred[int | None]:
        source, destination = canonical_uuid(user_id), canonical_uuid(other_id)
        if source is None or destination is None:
            return succeed(None)
        return self._social(friends.friend_state, source, destination)

    def add_friends(
        self, user_id: str, friend_ids: Sequence[str], metadata: str = ""
    ) -> Deferred[dict[str, bool]]:
        source = canonical_uuid(user_id)
        others = [i for i in _ids(friend_ids) if i != source]
        if source is None or not others:
            return succeed({})
        return self._social(
            friends.add_friends,
            source,
            others,
            metadata,
            self._now(),
            self._positions(len(others)),
        )

    def delete_friends(self, user_id: str, friend_ids: Sequence[str]) -> Deferred[list[str]]:
        source = canonical_uuid(user_id)
        others = [i for i in _ids(friend_ids) if i != source]
        if source is None or not others:
            return succeed([])
        return self._social(friends.delete_friends, source, others, self._now())

    def block_friends(self, user_id: str, friend_ids: Sequence[str]) -> Deferred[None]:
        source = canonical_uuid(user_id)
        others = [i for i in _ids(friend_ids) if i != source]
        if source is None or not others:
            return succeed(None)
        return self._social(
            friends.block_friends, source, others, self._now(), self._positions(len(others))
        )

    def list_friends(
        self, user_id: str, limit: int, state: int | None = None, cursor: str = ""
    ) -> Deferred[FriendList]:
        source = canonical_uuid(user_id)
        try:
            after = edge_cursor(cursor, state, BLOCKED)
        except InvalidCursor as invalid:
            return fail(invalid)
        if source is None:
            return succeed(FriendList(()))
        return self._social(friends.list_friends, source, limit, state, after)

    # Groups --------------------------------------------------------------------------------

    def create_group(
        self,
        user_id: str,
        name: str,
        description: str = "",
        lang_tag: str = "",
        avatar_url: str = "",
        metadata: str = "",
        open: bool = False,
        max_count: int = DEFAULT_MAX_COUNT,
    ) -> Deferred[Group]:
        creator = canonical_uuid(user_id)
        if creator is None:
            return fail(ValueError(f"invalid creator id {user_id!r}"))
        fields = {
            "name": name,
            "description": description,
            "lang_tag": lang_tag,
            "avatar_url": avatar_url,
            "metadata": metadata,
            "open": open,
            "max_count": max_count if max_count > 0 else DEFAULT_MAX_COUNT,
        }
        group_id = str(uuid.uuid4())
        return self._social(
            groups.create_group, group_id, creator, fields, self._now(), self._positions(1)
        )

    def get_group(self, group_id: str) -> Deferred[Group | None]:
        canonical = canonical_uuid(group_id)
        if canonical is None:
            return succeed(None)
        return self._social(groups.get_group, canonical)

    def group_member_state(self, group_id: str, user_id: str) -> Deferred[int | None]:
        group, user = canonical_uuid(group_id), canonical_uuid(user_id)
        if group is None or user is None:
            return succeed(None)
        return self._social(groups.member_state, group, user)

    def update_group(
        self,
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
        group, caller = canonical_uuid(group_id), self._caller(caller_id)
        if group is None or caller is False:
            return _no_group(group_id, caller_id)
        changes = {
            column: value
            for column, value in (
                ("name", name),
                ("description", description),
                ("lang_tag", lang_tag),
                ("avatar_url", avatar_url),
                ("metadata", metadata),
                ("open", open),
                ("max_count", max_count if max_count and max_count > 0 else None),
            )
            if value is not None
        }
        return self._social(groups.update_group, group, caller, changes, self._now())

    @staticmethod
    def _caller(caller_id: str | None) -> str | None | bool:
        """The canonical caller id, None for the server, False when malformed."""
        if caller_id is None:
            return None
        canonical = canonical_uuid(caller_id)
        return False if canonical is None else canonical

    def delete_group(self, group_id: str, caller_id: str | None) -> Deferred[None]:
        group, caller = canonical_uuid(group_id), self._caller(caller_id)
        if group is None or caller is False:
            if caller_id is None:
                return succeed(None)
            return _no_group(group_id, caller_id)
        return self._social(groups.delete_group, group, caller)

    def join_group(self, group_id: str, user_id: str) -> Deferred[JoinResult]:
        group, user = canonical_uuid(group_id), canonical_uuid(user_id)
        if group is None or user is None:
            return fail(GroupNotFound(group_id))
        return self._social(groups.join_group, group, user, self._now(), self._positions(1))

    def leave_group(self, group_id: str, user_id: str) -> Deferred[LeaveResult]:
        group, user = canonical_uuid(group_id), canonical_uuid(user_id)
        if group is None or user is None:
            return succeed(LeaveResult(None))
        return self._social(groups.leave_group, group, user, self._now())

    def _members_call(
        self, group_id: str, caller_id: str | None, user_ids: Sequence[str]
    ) -> tuple[str, str | None, list[str]] | Deferred[Any]:
        group, caller = canonical_uuid(group_id), self._caller(caller_id)
        if group is None or caller is False:
            return _no_group(group_id, caller_id)
        assert caller is not True
        return group, caller, _ids(user_ids)

    def add_group_users(
        self, group_id: str, caller_id: str | None, user_ids: Sequence[str]
    ) -> Deferred[GroupAddResult]:
        checked = self._members_call(group_id, caller_id, user_ids)
        if isinstance(checked, Deferred):
            return checked
        group, caller, users = checked
        if any(canonical_uuid(user_id) is None for user_id in user_ids):
            return fail(GroupUserNotFound(group_id))
        return self._social(
            groups.add_group_users,
            group,
            caller,
            users,
            self._now(),
            self._positions(len(users)),
        )

    def kick_group_users(
        self, group_id: str, caller_id: str | None, user_ids: Sequence[str]
    ) -> Deferred[list[GroupUserChange]]:
        checked = self._members_call(group_id, caller_id, user_ids)
        if isinstance(checked, Deferred):
            return checked
        return self._social(groups.remove_group_users, *checked, self._now(), None)

    def ban_group_users(
        self, group_id: str, caller_id: str | None, user_ids: Sequence[str]
    ) -> Deferred[list[GroupUserChange]]:
        checked = self._members_call(group_id, caller_id, user_ids)
        if isinstance(checked, Deferred):
            return checked
        position = self._positions(len(checked[2]))
        return self._social(groups.remove_group_users, *checked, self._now(), position)

    def promote_group_users(
        self, group_id: str, caller_id: str | None, user_ids: Sequence[str]
    ) -> Deferred[list[GroupUserChange]]:
        checked = self._members_call(group_id, caller_id, user_ids)
        if isinstance(checked, Deferred):
            return checked
        return self._social(groups.promote_group_users, *checked, self._now())

    def demote_group_users(
        self, group_id: str, caller_id: str | None, user_ids: Sequence[str]
    ) -> Deferred[list[GroupUserChange]]:
        checked = self._members_call(group_id, caller_id, user_ids)
        if isinstance(checked, Deferred):
            return checked
        return self._social(groups.demote_group_users, *checked, self._now())

    def list_group_users(
        self, group_id: str, limit: int, state: int | None = None, cursor: str = ""
    ) -> Deferred[GroupMemberList]:
        group = canonical_uuid(group_id)
        try:
            after = edge_cursor(cursor, state, BANNED)
        except InvalidCursor as invalid:
            return fail(invalid)
        if group is None:
            return succeed(GroupMemberList(()))
        return self._social(lists.list_group_users, group, limit, state, after)

    def list_user_groups(
        self, user_id: str, limit: int, state: int | None = None, cursor: str = ""
    ) -> Deferred[UserGroupList]:
        user = canonical_uuid(user_id)
        try:
            after = edge_cursor(cursor, state, BANNED)
        except InvalidCursor as invalid:
            return fail(invalid)
        if user is None:
            return succeed(UserGroupList(()))
        return self._social(lists.list_user_groups, user, limit, state, after)

    def list_groups(
        self,
        limit: int,
        name: str = "",
        lang_tag: str = "",
        open: bool | None = None,
        members: int | None = None,
        cursor: str = "",
    ) -> Deferred[GroupList]:
        if name and (lang_tag or open is not None or members is not None):
            return fail(ValueError("name filter cannot be combined with any other filter"))
        # Nakama drops leading wildcards and spaces: no unanchored (unindexable) search.
        name = name.lstrip("% ")
        return self._social(lists.list_groups, limit, name, lang_tag, open, members, cursor)
