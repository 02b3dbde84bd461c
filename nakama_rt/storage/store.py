"""The one storage class: every storage interface, on any :class:`~.sql.Database`.

Each method checks and normalises its arguments on the reactor thread (a malformed
id answers at once, without a thread hop), stamps the time and edge positions
there, and runs one query of a feature's query object on a worker thread.
Database drivers block, so every call is shipped to a private thread pool and
comes back as a Deferred; the guard in :meth:`Storage._in_worker` makes a call
that somehow lands on the reactor thread fail loudly instead of stalling it.
Every call is timed, by operation, for the metrics.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from time import perf_counter
from typing import Any, TypeVar

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.threads import deferToThreadPool
from twisted.python.threadable import isInIOThread
from twisted.python.threadpool import ThreadPool
from zope.interface import implementer

from nakama_rt.counters import DATABASE_BUCKETS, Histograms
from nakama_rt.logs import Logger
from nakama_rt.wire.ids import canonical_uuid

from .chat import ChatQueries, IChatStorage, StoredMessage, StoredNotification, StreamKey
from .interface import CustomIdTaken, EmailTaken, IStorage, User, UserNotFound, ValueRefused
from .leaderboards import ILeaderboardStorage, Leaderboard, LeaderboardRecord, RecordList
from .leaderboards_queries import LeaderboardQueries
from .objects import (
    IObjectStorage,
    ObjectId,
    StorageAck,
    StorageObject,
    StorageObjectList,
    StorageWrite,
)
from .objects_cursor import ListPosition, decode_cursor, encode_cursor
from .objects_queries import (
    ObjectQueries,
    checked_ids,
    checked_writes,
    listing,
    optional_owner,
    readable_ids,
)
from .objects_queries import owner as owner_of
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
    ISocialStorage,
    JoinResult,
    LeaveResult,
    UserGroupList,
)
from .social_core import edge_cursor
from .social_friends import FriendQueries
from .social_groups import GroupQueries
from .social_lists import ListQueries
from .sql import Database
from .users import UserQueries, checked_profile, new_user_id, normalise_email, refuse_nul

T = TypeVar("T")


def _ids(values: Iterable[str]) -> list[str]:
    """Canonical ids, without duplicates (first occurrence kept) or malformed ones."""
    seen: dict[str, None] = {}
    for value in values:
        canonical = canonical_uuid(value)
        if canonical is not None:
            seen.setdefault(canonical, None)
    return list(seen)


def _caller(caller_id: str | None) -> str | None | bool:
    """The canonical caller id, None for the server, False when malformed."""
    if caller_id is None:
        return None
    canonical = canonical_uuid(caller_id)
    return False if canonical is None else canonical


def _no_group(group_id: str, caller_id: str | None) -> Deferred[Any]:
    """What an operation on a malformed group id fails with: as for an unknown group."""
    if caller_id is None:
        return fail(GroupNotFound(group_id))
    return fail(GroupPermissionDenied(group_id))


class IServerStorage(IStorage, IChatStorage, ISocialStorage, IObjectStorage, ILeaderboardStorage):
    """Every storage interface in one: accounts, chat, the social graph, the storage
    engine and leaderboards, as :class:`Storage` provides them and the server's parts use
    them."""


@implementer(IServerStorage)
class Storage:
    """Accounts, chat, the social graph and storage objects on one database."""

    log = Logger()

    def __init__(self, database: Database, reactor: Any) -> None:
        self._db = database
        self.address = database.address
        self._reactor = reactor
        self._pool = ThreadPool(minthreads=0, maxthreads=database.threads, name=database.name)
        self._shutdown_trigger: Any = None
        #: Ident of every thread that ran a storage call (tests check the reactor's is absent).
        self.worker_thread_ids: set[int] = set()
        #: How long calls take, queueing for a thread included, by operation.
        self.latency = Histograms(DATABASE_BUCKETS)
        #: The last edge position handed out (see :meth:`_positions`).
        self._position = 0
        dialect = database.dialect
        self._users = UserQueries(dialect)
        self._chat = ChatQueries(dialect)
        self._friends = FriendQueries(dialect)
        self._groups = GroupQueries(dialect)
        self._lists = ListQueries(dialect)
        self._objects = ObjectQueries(dialect)
        self._leaderboards = LeaderboardQueries(dialect)

    # Threads ----------------------------------------------------------------------------------

    def _now(self) -> float:
        """Wall time from the injected reactor, read on the reactor thread, in whole
        microseconds: what the databases keep (PostgreSQL's ``to_timestamp`` of a finer
        value may land a microsecond away from this process's rounding of it, and an
        answer would then show a time that a later read does not)."""
        return round(self._reactor.seconds() * 1_000_000) / 1_000_000

    def _in_worker(self, fn: Callable[..., T], *args: Any) -> T:
        if isInIOThread():
            raise RuntimeError("storage call attempted on the reactor thread")
        self.worker_thread_ids.add(threading.get_ident())
        return fn(*args)

    def _call(self, operation: str, fn: Callable[..., T], *args: Any) -> Deferred[T]:
        started = perf_counter()
        called = deferToThreadPool(self._reactor, self._pool, self._in_worker, fn, *args)
        return called.addBoth(self._timed, operation, started)

    def _timed(self, result: Any, operation: str, started: float) -> Any:
        self.latency.observe(operation, perf_counter() - started)
        return result

    def _run(self, fn: Callable[..., T], *args: Any) -> Deferred[T]:
        """``fn(*args)`` on a worker thread, timed under its name."""
        return self._call(getattr(fn, "__name__", "call"), fn, *args)

    def _tx(self, query: Callable[..., T], *args: Any) -> Deferred[T]:
        """``query(tx, *args)`` in one transaction, timed under the query's name."""
        return self._call(query.__name__, self._db.transaction, query, *args)

    def _read(self, query: Callable[..., T], *args: Any) -> Deferred[T]:
        """``query(tx, *args)`` in autocommit (plain reads), timed under its name."""
        return self._call(query.__name__, self._db.autocommit, query, *args)

    # Lifecycle --------------------------------------------------------------------------------

    def start(self) -> Deferred[None]:
        self._pool.start()
        self._shutdown_trigger = self._reactor.addSystemEventTrigger(
            "during", "shutdown", self._stop_pool
        )
        return self._run(self._db.open, self._now()).addCallback(self._opened)

    def _opened(self, warning: str | None) -> None:
        if warning is not None:
            self.log.warn("{why}", why=warning)

    def stop(self) -> Deferred[None]:
        def stopped(result: object) -> object:
            self._stop_pool()
            return result

        if not self._pool.started:
            return succeed(None)
        return self._run(self._db.close).addBoth(stopped)

    def _stop_pool(self) -> None:
        if self._shutdown_trigger is not None:
            try:
                self._reactor.removeSystemEventTrigger(self._shutdown_trigger)
            except (ValueError, KeyError):
                pass  # Already fired: we are being called by it.
            self._shutdown_trigger = None
        if self._pool.started:
            self._pool.stop()

    def ping(self) -> Deferred[None]:
        return self._run(self._db.ping)

    # Accounts ---------------------------------------------------------------------------------

    def get_user(self, user_id: str) -> Deferred[User | None]:
        canonical = canonical_uuid(user_id)
        if canonical is None:
            return succeed(None)
        return self._read(self._users.get_user, self._users.by_id, canonical)

    def get_user_by_username(self, username: str) -> Deferred[User | None]:
        return self._read(self._users.get_user, self._users.by_username, username)

    def get_user_by_custom_id(self, custom_id: str) -> Deferred[User | None]:
        return self._read(self._users.get_user, self._users.by_custom_id, custom_id)

    def get_user_by_device_id(self, device_id: str) -> Deferred[User | None]:
        return self._read(self._users.get_user, self._users.by_device_id, device_id)

    def get_user_by_email(self, email: str) -> Deferred[User | None]:
        return self._read(self._users.get_user, self._users.by_email, normalise_email(email))

    def get_users(
        self, ids: Iterable[str] = (), usernames: Iterable[str] = ()
    ) -> Deferred[list[User]]:
        wanted_ids = sorted({c for c in map(canonical_uuid, ids) if c is not None})
        wanted_names = sorted(set(usernames))
        try:
            refuse_nul(*wanted_names)
        except ValueRefused as refused:
            return fail(refused)
        if not wanted_ids and not wanted_names:
            return succeed([])
        return self._read(self._users.get_users, wanted_ids, wanted_names)

    def create_user(
        self,
        username: str,
        custom_id: str | None = None,
        device_id: str | None = None,
        email: str | None = None,
        password_hash: bytes | None = None,
        user_id: str | None = None,
    ) -> Deferred[User]:
        values = {
            "id": canonical_uuid(user_id) if user_id else new_user_id(),
            "username": username,
            "custom_id": custom_id,
            "email": normalise_email(email),
            "password": password_hash,
            "device_id": device_id,
        }
        return self._tx(self._users.create_user, values, self._now())

    def link_device(self, user_id: str, device_id: str) -> Deferred[None]:
        canonical = canonical_uuid(user_id)
        if canonical is None:
            return fail(UserNotFound(""))
        return self._tx(self._users.link_device, canonical, device_id, self._now())

    def link_custom(self, user_id: str, custom_id: str) -> Deferred[None]:
        canonical = canonical_uuid(user_id)
        if canonical is None:
            return fail(CustomIdTaken(custom_id))
        return self._tx(self._users.link_custom, canonical, custom_id, self._now())

    def link_email(self, user_id: str, email: str, password_hash: bytes | None) -> Deferred[None]:
        canonical, lowered = canonical_uuid(user_id), normalise_email(email) or ""
        if canonical is None:
            return fail(EmailTaken(lowered))
        return self._tx(self._users.link_email, canonical, lowered, password_hash, self._now())

    def _unlink(self, query: Callable[..., bool], user_id: str, value: str) -> Deferred[bool]:
        canonical = canonical_uuid(user_id)
        try:
            refuse_nul(value)
        except ValueRefused as refused:
            return fail(refused)
        if canonical is None:
            return succeed(False)
        return self._tx(query, canonical, value, self._now())

    def unlink_device(self, user_id: str, device_id: str) -> Deferred[bool]:
        return self._unlink(self._users.unlink_device, user_id, device_id)

    def unlink_custom(self, user_id: str, custom_id: str = "") -> Deferred[bool]:
        return self._unlink(self._users.unlink_custom, user_id, custom_id)

    def unlink_email(self, user_id: str, email: str = "") -> Deferred[bool]:
        return self._unlink(self._users.unlink_email, user_id, normalise_email(email) or "")

    def update_account(self, user_id: str, changes: Mapping[str, str]) -> Deferred[None]:
        try:
            values = checked_profile(dict(changes))
        except ValueRefused as refused:
            return fail(refused)
        canonical = canonical_uuid(user_id)
        if canonical is None or not values:
            return succeed(None)
        return self._tx(self._users.update_account, canonical, values, self._now())

    def update_username(self, user_id: str, username: str) -> Deferred[None]:
        canonical = canonical_uuid(user_id)
        if canonical is None:
            return fail(UserNotFound(""))
        return self._tx(self._users.update_username, canonical, username, self._now())

    # Chat -------------------------------------------------------------------------------------

    def add_message(self, message: StoredMessage) -> Deferred[None]:
        return self._tx(self._chat.add_message, message)

    def update_message(
        self, message_id: str, sender_id: str, content: str, username: str, update_time_us: int
    ) -> Deferred[int | None]:
        return self._tx(
            self._chat.update_message, message_id, sender_id, content, username, update_time_us
        )

    def remove_message(self, message_id: str, sender_id: str) -> Deferred[tuple[int, int] | None]:
        return self._tx(self._chat.remove_message, message_id, sender_id)

    def list_messages(
        self, stream: StreamKey, limit: int, ascending: bool, after: tuple[int, str] | None
    ) -> Deferred[list[StoredMessage]]:
        return self._tx(self._chat.list_messages, stream, limit, ascending, after)

    def add_notifications(self, notifications: Sequence[StoredNotification]) -> Deferred[None]:
        return self._tx(self._chat.add_notifications, list(notifications))

    def list_notifications(
        self, user_id: str, limit: int, after: tuple[int, str] | None
    ) -> Deferred[list[StoredNotification]]:
        return self._tx(self._chat.list_notifications, user_id, limit, after)

    def delete_notifications(self, user_id: str, ids: Sequence[str]) -> Deferred[None]:
        return self._tx(self._chat.delete_notifications, user_id, list(ids))

    # Friends ----------------------------------------------------------------------------------

    def _positions(self, count: int) -> int:
        """The first of ``count`` new edge positions: nanoseconds now, never reused."""
        start = max(int(self._now() * 1_000_000_000), self._position + 1)
        self._position = start + max(count, 1) - 1
        return start

    def friend_state(self, user_id: str, other_id: str) -> Deferred[int | None]:
        source, destination = canonical_uuid(user_id), canonical_uuid(other_id)
        if source is None or destination is None:
            return succeed(None)
        return self._tx(self._friends.friend_state, source, destination)

    def add_friends(
        self, user_id: str, friend_ids: Sequence[str], metadata: str = ""
    ) -> Deferred[dict[str, bool]]:
        source = canonical_uuid(user_id)
        others = [i for i in _ids(friend_ids) if i != source]
        if source is None or not others:
            return succeed({})
        position = self._positions(len(others))
        return self._tx(self._friends.add_friends, source, others, metadata, self._now(), position)

    def delete_friends(self, user_id: str, friend_ids: Sequence[str]) -> Deferred[list[str]]:
        source = canonical_uuid(user_id)
        others = [i for i in _ids(friend_ids) if i != source]
        if source is None or not others:
            return succeed([])
        return self._tx(self._friends.delete_friends, source, others, self._now())

    def block_friends(self, user_id: str, friend_ids: Sequence[str]) -> Deferred[None]:
        source = canonical_uuid(user_id)
        others = [i for i in _ids(friend_ids) if i != source]
        if source is None or not others:
            return succeed(None)
        position = self._positions(len(others))
        return self._tx(self._friends.block_friends, source, others, self._now(), position)

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
        return self._tx(self._friends.list_friends, source, limit, state, after)

    # Groups -----------------------------------------------------------------------------------

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
        position = self._positions(1)
        return self._tx(self._groups.create_group, group_id, creator, fields, self._now(), position)

    def get_group(self, group_id: str) -> Deferred[Group | None]:
        canonical = canonical_uuid(group_id)
        if canonical is None:
            return succeed(None)
        return self._tx(self._groups.get_group, canonical)

    def group_member_state(self, group_id: str, user_id: str) -> Deferred[int | None]:
        group, user = canonical_uuid(group_id), canonical_uuid(user_id)
        if group is None or user is None:
            return succeed(None)
        return self._tx(self._groups.member_state, group, user)

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
        group, caller = canonical_uuid(group_id), _caller(caller_id)
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
        return self._tx(self._groups.update_group, group, caller, changes, self._now())

    def delete_group(self, group_id: str, caller_id: str | None) -> Deferred[None]:
        group, caller = canonical_uuid(group_id), _caller(caller_id)
        if group is None or caller is False:
            if caller_id is None:
                return succeed(None)
            return _no_group(group_id, caller_id)
        return self._tx(self._groups.delete_group, group, caller)

    def join_group(self, group_id: str, user_id: str) -> Deferred[JoinResult]:
        group, user = canonical_uuid(group_id), canonical_uuid(user_id)
        if group is None or user is None:
            return fail(GroupNotFound(group_id))
        position = self._positions(1)
        return self._tx(self._groups.join_group, group, user, self._now(), position)

    def leave_group(self, group_id: str, user_id: str) -> Deferred[LeaveResult]:
        group, user = canonical_uuid(group_id), canonical_uuid(user_id)
        if group is None or user is None:
            return succeed(LeaveResult(None))
        return self._tx(self._groups.leave_group, group, user, self._now())

    def _members_call(
        self, group_id: str, caller_id: str | None, user_ids: Sequence[str]
    ) -> tuple[str, str | None, list[str]] | Deferred[Any]:
        group, caller = canonical_uuid(group_id), _caller(caller_id)
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
        if any(canonical_uuid(user_id) is None for user_id in user_ids):
            return fail(GroupUserNotFound(group_id))
        position = self._positions(len(checked[2]))
        return self._tx(self._groups.add_group_users, *checked, self._now(), position)

    def kick_group_users(
        self, group_id: str, caller_id: str | None, user_ids: Sequence[str]
    ) -> Deferred[list[GroupUserChange]]:
        checked = self._members_call(group_id, caller_id, user_ids)
        if isinstance(checked, Deferred):
            return checked
        return self._tx(self._groups.remove_group_users, *checked, self._now(), None)

    def ban_group_users(
        self, group_id: str, caller_id: str | None, user_ids: Sequence[str]
    ) -> Deferred[list[GroupUserChange]]:
        checked = self._members_call(group_id, caller_id, user_ids)
        if isinstance(checked, Deferred):
            return checked
        position = self._positions(len(checked[2]))
        return self._tx(self._groups.remove_group_users, *checked, self._now(), position)

    def promote_group_users(
        self, group_id: str, caller_id: str | None, user_ids: Sequence[str]
    ) -> Deferred[list[GroupUserChange]]:
        checked = self._members_call(group_id, caller_id, user_ids)
        if isinstance(checked, Deferred):
            return checked
        return self._tx(self._groups.promote_group_users, *checked, self._now())

    def demote_group_users(
        self, group_id: str, caller_id: str | None, user_ids: Sequence[str]
    ) -> Deferred[list[GroupUserChange]]:
        checked = self._members_call(group_id, caller_id, user_ids)
        if isinstance(checked, Deferred):
            return checked
        return self._tx(self._groups.demote_group_users, *checked, self._now())

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
        return self._tx(self._lists.list_group_users, group, limit, state, after)

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
        return self._tx(self._lists.list_user_groups, user, limit, state, after)

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
        return self._tx(self._lists.list_groups, limit, name, lang_tag, open, members, cursor)

    # Storage objects --------------------------------------------------------------------------

    def read_objects(
        self, caller_id: str | None, object_ids: Sequence[ObjectId]
    ) -> Deferred[list[StorageObject]]:
        try:
            client = optional_owner(caller_id)
        except ValueError as invalid:
            return fail(invalid)
        wanted = readable_ids(object_ids)
        if not wanted:
            return succeed([])
        return self._read(self._objects.read_objects, client, wanted)

    def write_objects(
        self, caller_id: str | None, writes: Sequence[StorageWrite]
    ) -> Deferred[list[StorageAck]]:
        try:
            checked = checked_writes(optional_owner(caller_id), writes)
        except ValueError as invalid:
            return fail(invalid)
        if not checked:
            return succeed([])
        client = caller_id is not None
        return self._tx(self._objects.write_objects, client, checked, self._now())

    def delete_objects(
        self, caller_id: str | None, object_ids: Sequence[ObjectId]
    ) -> Deferred[None]:
        try:
            checked = checked_ids(optional_owner(caller_id), object_ids)
        except ValueError as invalid:
            return fail(invalid)
        if not checked:
            return succeed(None)
        return self._tx(self._objects.delete_objects, caller_id is not None, checked)

    def list_objects(
        self,
        caller_id: str | None,
        owner_id: str | None,
        collection: str,
        limit: int,
        cursor: str = "",
    ) -> Deferred[StorageObjectList]:
        try:
            client, listed = optional_owner(caller_id), optional_owner(owner_id)
            after = decode_cursor(cursor) if cursor else None
        except (ValueError, InvalidCursor) as invalid:
            return fail(invalid)
        if limit < 1:
            return succeed(StorageObjectList(()))
        kind = listing(client, listed)
        page = self._read(self._objects.list_objects, kind, listed, collection, limit, after)
        return page.addCallback(self._object_page, cursor)

    def _object_page(
        self, page: tuple[list[StorageObject], ListPosition | None], cursor: str
    ) -> StorageObjectList:
        objects, last = page
        following = "" if last is None else encode_cursor(last)
        # Nakama's guard against a listing that would page forever.
        return StorageObjectList(tuple(objects), "" if following == cursor else following)

    # Leaderboards -----------------------------------------------------------------------------

    def create_leaderboard(
        self,
        leaderboard_id: str,
        authoritative: bool,
        sort_order: int,
        operator: int,
        reset_schedule: str,
        metadata: str,
        enable_ranks: bool,
    ) -> Deferred[tuple[Leaderboard, bool]]:
        board = Leaderboard(
            leaderboard_id,
            authoritative,
            sort_order,
            operator,
            reset_schedule,
            metadata,
            0,
            enable_ranks,
        )
        return self._tx(self._leaderboards.create_leaderboard, board, self._now())

    def delete_leaderboard(self, leaderboard_id: str) -> Deferred[bool]:
        return self._tx(self._leaderboards.delete_leaderboard, leaderboard_id)

    def get_leaderboards(self, leaderboard_ids: Sequence[str]) -> Deferred[list[Leaderboard]]:
        wanted = list(dict.fromkeys(leaderboard_ids))
        if not wanted:
            return succeed([])
        return self._read(self._leaderboards.get_leaderboards, wanted)

    def write_leaderboard_record(
        self,
        caller_id: str | None,
        leaderboard_id: str,
        owner_id: str,
        username: str | None,
        score: int,
        subscore: int,
        metadata: str | None,
        override: int = 0,
    ) -> Deferred[LeaderboardRecord]:
        try:
            owner = owner_of(owner_id)
        except ValueError as invalid:
            return fail(invalid)
        query = self._leaderboards.write_record
        values = (leaderboard_id, owner, username, score, subscore, metadata, override)
        return self._tx(query, caller_id is not None, *values, self._now())

    def delete_leaderboard_record(
        self, caller_id: str | None, leaderboard_id: str, owner_id: str
    ) -> Deferred[None]:
        try:
            owner = owner_of(owner_id)
        except ValueError as invalid:
            return fail(invalid)
        query = self._leaderboards.delete_record
        return self._tx(query, caller_id is not None, leaderboard_id, owner, self._now())

    def list_leaderboard_records(
        self,
        leaderboard_id: str,
        limit: int | None,
        cursor: str,
        owner_ids: Sequence[str],
        expiry: int,
    ) -> Deferred[RecordList]:
        try:
            owners = list(dict.fromkeys(owner_of(owner) for owner in owner_ids))
        except ValueError as invalid:
            return fail(invalid)
        query = self._leaderboards.list_records
        return self._read(query, leaderboard_id, limit, cursor, owners, expiry, self._now())

    def leaderboard_records_around(
        self, leaderboard_id: str, owner_id: str, limit: int, cursor: str, expiry: int
    ) -> Deferred[RecordList]:
        try:
            owner = owner_of(owner_id)
        except ValueError as invalid:
            return fail(invalid)
        query = self._leaderboards.records_around
        return self._read(query, leaderboard_id, owner, limit, cursor, expiry, self._now())
