"""``nk``: the server API runtime code calls, named as Nakama's ``nk`` functions.

Arguments are checked at once, with Nakama's messages, and bad ones raise
``ValueError`` before anything happens; work that touches the database returns a
Deferred (``await`` it in an ``async def``). Stream, match and channel functions use
the server's stream manager, match registry, match listing and channels, given to the
constructor as the protocols of :mod:`.realtime` (the runtime never imports
``nakama_rt.realtime``).
"""

from __future__ import annotations

import copy
import json
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.internet.threads import deferToThread

from nakama_rt.core.accounts import (
    BCRYPT_COST,
    custom_id_link_problem,
    device_id_link_problem,
    email_link_problem,
    link_hash,
)
from nakama_rt.core.notifications import NewNotification
from nakama_rt.core.refs import MatchFilter, StreamRef
from nakama_rt.storage import SYSTEM_USER_ID, User
from nakama_rt.storage.leaderboards import Leaderboard, LeaderboardRecord, RecordList
from nakama_rt.storage.objects import StorageAck, StorageObject
from nakama_rt.wire.ids import canonical_uuid
from nakama_rt.wire.proto import api_pb2, realtime_pb2

from . import nk_accounts, nk_leaderboards, nk_storage
from .context import Event
from .logger import RuntimeLogger
from .nk_accounts import AccountStore
from .nk_leaderboards import LeaderboardStore
from .nk_storage import ObjectStore
from .realtime import ListMatches, ListParties, NkChannels, NkMatches, NkStreams

if TYPE_CHECKING:
    from nakama_rt.core.tracker import Presence, PresenceMeta

_Part = TypeVar("_Part")


class UserLookup(Protocol):
    """What ``nk`` needs of the storage (``IStorage`` has it): users by id or name."""

    def get_users(
        self, ids: Iterable[str] = (), usernames: Iterable[str] = ()
    ) -> Deferred[list[User]]: ...


class NotificationSender(Protocol):
    """What ``nk`` needs of the :class:`~nakama_rt.core.notifications.Notifier`."""

    def send(self, notifications: Sequence[NewNotification]) -> Deferred[None]: ...


def _valid_uuid(value: Any) -> bool:
    return canonical_uuid(value) is not None


def _notification(
    user_id: str,
    subject: str,
    content: Mapping[str, Any] | None,
    code: int,
    sender_id: str,
    persistent: bool,
) -> NewNotification:
    """Nakama's checks for one notification, then the notification."""
    if not _valid_uuid(user_id):
        raise ValueError("expects userID to be a valid UUID")
    if not isinstance(subject, str) or not subject:
        raise ValueError("expects subject to be a non-empty string")
    if content is not None and not isinstance(content, Mapping):
        raise ValueError("expects content to be a mapping")
    if not isinstance(code, int) or (code <= 0 and not -2000 <= code <= -1000):
        raise ValueError("expects code to number above 0")
    if sender_id and not _valid_uuid(sender_id):
        raise ValueError("expects sender to either be an empty string or a valid UUID")
    return NewNotification(
        user_id=str(uuid.UUID(user_id)),
        subject=subject,
        content=dict(content or {}),
        code=code,
        sender_id=str(uuid.UUID(sender_id)) if sender_id else SYSTEM_USER_ID,
        persistent=bool(persistent),
    )


class NakamaModule:
    """The ``nk`` object. Collaborators are the server's own: ``storage`` (an
    ``IStorage``), ``notifier`` (a :class:`~nakama_rt.core.notifications.Notifier`),
    ``is_online`` (user id -> bool) for the users' ``online`` flag, and the realtime
    side for ``stream_*``, ``match_*`` and ``channel_message_send``: ``streams``,
    ``matches``, ``list_matches``, ``list_parties`` and ``channels`` (protocols of
    :mod:`.realtime`).
    Without them those functions raise ``RuntimeError``. ``nk.link_email`` hashes the
    password with ``bcrypt_cost`` in ``in_thread`` (the reactor's thread pool when not
    given), never on the reactor thread."""

    def __init__(
        self,
        storage: UserLookup,
        notifier: NotificationSender,
        is_online: Callable[[str], bool] | None = None,
        logger: RuntimeLogger | None = None,
        *,
        streams: NkStreams | None = None,
        matches: NkMatches | None = None,
        list_matches: ListMatches | None = None,
        list_parties: ListParties | None = None,
        channels: NkChannels | None = None,
        bcrypt_cost: int = BCRYPT_COST,
        in_thread: Callable[..., Deferred[Any]] = deferToThread,
        custom_event: Callable[[Event], None] | None = None,
        run_once: Callable[[Callable[..., Any]], bool] | None = None,
        clock: IReactorTime | None = None,
    ) -> None:
        self._storage = storage
        self._notifier = notifier
        self._is_online = is_online or (lambda user_id: False)
        self.logger = logger or RuntimeLogger()
        self._streams = streams
        self._matches = matches
        self._list_matches = list_matches
        self._list_parties = list_parties
        self._channels = channels
        self._bcrypt_cost = bcrypt_cost
        self._in_thread = in_thread
        self._custom_event = custom_event
        self._run_once = run_once
        self._clock = clock

    # Notifications

    def notification_send(
        self,
        user_id: str,
        subject: str,
        content: Mapping[str, Any] | None,
        code: int,
        sender_id: str = "",
        persistent: bool = False,
    ) -> Deferred[None]:
        """Send one notification, live to the user's sockets and, if ``persistent``,
        kept for ``GET /v2/notification``. ``code`` is above 0 (-2000..-1000 reserved)."""
        return self._notifier.send(
            [_notification(user_id, subject, content, code, sender_id, persistent)]
        )

    def notifications_send(self, notifications: Iterable[Mapping[str, Any]]) -> Deferred[None]:
        """Send several; each a mapping with ``user_id``, ``subject``, ``content``,
        ``code`` and optionally ``sender_id`` and ``persistent``."""
        batch = []
        for item in notifications:
            if not isinstance(item, Mapping):
                raise ValueError("expects each notification to be a mapping")
            batch.append(
                _notification(
                    item.get("user_id", ""),
                    item.get("subject", ""),
                    item.get("content"),
                    item.get("code", 0),
                    item.get("sender_id", ""),
                    item.get("persistent", False),
                )
            )
        return self._notifier.send(batch) if batch else succeed(None)

    # Users

    def users_get_id(self, user_ids: Iterable[str]) -> Deferred[list[api_pb2.User]]:
        """The users with these ids (unknown ones are left out), as Nakama's ``User``."""
        ids = list(user_ids)
        if not all(_valid_uuid(user_id) for user_id in ids):
            raise ValueError("each user id must be a valid id string")
        if not ids:
            return succeed([])
        return self._storage.get_users(ids=ids).addCallback(self._wire_users)

    def users_get_username(self, usernames: Iterable[str]) -> Deferred[list[api_pb2.User]]:
        """The users with these usernames (unknown ones are left out)."""
        names = list(usernames)
        if not all(isinstance(name, str) and name for name in names):
            raise ValueError("each username must be a string")
        if not names:
            return succeed([])
        return self._storage.get_users(usernames=names).addCallback(self._wire_users)

    def _wire_users(self, users: list[User]) -> list[api_pb2.User]:
        return [nk_accounts.wire_user(user, self._is_online(user.id)) for user in users]

    # Accounts: nk acts as the server, on any account (see :mod:`.nk_accounts`).

    def _accounts(self) -> AccountStore:
        if not isinstance(self._storage, AccountStore):
            raise RuntimeError("nk.account_*, nk.link_* and nk.unlink_* need the server's storage")
        return self._storage

    def account_get_id(self, user_id: str) -> Deferred[api_pb2.Account]:
        """The account, as Nakama's ``Account`` (its disable time too); fails with
        ``NakamaError("account not found")`` when there is none."""
        canonical = nk_accounts.user_id(user_id, "invalid user id")
        found = self._accounts().get_user(canonical)
        return found.addCallback(
            lambda user: nk_accounts.wire_account(user, self._is_online(canonical))
        )

    def account_update_id(
        self,
        user_id: str,
        username: str = "",
        metadata: Mapping[str, Any] | None = None,
        display_name: str = "",
        timezone: str = "",
        location: str = "",
        lang_tag: str = "",
        avatar_url: str = "",
    ) -> Deferred[None]:
        """Update an account; an empty text leaves its field as it is, ``metadata`` (a
        mapping) replaces the account's. Fails with ``NakamaError`` for a username in
        use (code 6) or a value the database refuses (13)."""
        canonical = nk_accounts.user_id(user_id, "expects user ID to be a valid identifier")
        fields = {
            "display_name": display_name,
            "timezone": timezone,
            "location": location,
            "lang_tag": lang_tag,
            "avatar_url": avatar_url,
        }
        changes = nk_accounts.profile_changes(username, metadata, fields)
        updated = self._accounts().update_account(canonical, changes)
        return updated.addErrback(nk_accounts.refusals(nk_accounts.UPDATE_REFUSALS))

    def link_custom(self, user_id: str, custom_id: str) -> Deferred[None]:
        """Link a custom id (6-128 bytes, no spaces); fails with ``NakamaError`` (6)
        when another account has it."""
        canonical = nk_accounts.user_id(user_id)
        nk_accounts.checked(custom_id_link_problem(nk_accounts.text(custom_id, "custom_id")))
        linked = self._accounts().link_custom(canonical, custom_id)
        return linked.addErrback(nk_accounts.refusals(nk_accounts.LINK_REFUSALS["custom"]))

    def link_device(self, user_id: str, device_id: str) -> Deferred[None]:
        """Link a device id (10-128 bytes, no spaces); fails with ``NakamaError`` (6)
        when another account has it."""
        canonical = nk_accounts.user_id(user_id)
        nk_accounts.checked(device_id_link_problem(nk_accounts.text(device_id, "device_id")))
        linked = self._accounts().link_device(canonical, device_id)
        return linked.addErrback(nk_accounts.refusals(nk_accounts.LINK_REFUSALS["device"]))

    def link_email(self, user_id: str, email: str, password: str) -> Deferred[None]:
        """Link an email (stored lowercased) and password (hashed off the reactor
        thread); fails with ``NakamaError`` (6) when another account has the email."""
        canonical = nk_accounts.user_id(user_id)
        email, password = nk_accounts.text(email, "email"), nk_accounts.text(password, "password")
        nk_accounts.checked(email_link_problem(email, password))
        accounts = self._accounts()
        hashed = self._in_thread(link_hash, password, self._bcrypt_cost)
        linked = hashed.addCallback(lambda hash_: accounts.link_email(canonical, email, hash_))
        return linked.addErrback(nk_accounts.refusals(nk_accounts.LINK_REFUSALS["email"]))

    def unlink_custom(self, user_id: str, custom_id: str = "") -> Deferred[None]:
        """Unlink the custom id (only if it is ``custom_id``, when given); fails with
        ``NakamaError`` (7) when it is not the account's or its last way to log in."""
        canonical = nk_accounts.user_id(user_id)
        custom_id = nk_accounts.text(custom_id, "custom_id")
        unlinked = self._accounts().unlink_custom(canonical, custom_id)
        return self._unlinked(unlinked, "custom")

    def unlink_device(self, user_id: str, device_id: str) -> Deferred[None]:
        """Unlink a device id; fails with ``NakamaError`` (7) as :meth:`unlink_custom`."""
        canonical = nk_accounts.user_id(user_id)
        if not nk_accounts.text(device_id, "device_id"):
            raise ValueError("A device ID must be supplied.")
        return self._unlinked(self._accounts().unlink_device(canonical, device_id), "device")

    def unlink_email(self, user_id: str, email: str = "") -> Deferred[None]:
        """Unlink the email and password (only if the email is ``email``, compared
        lowercased, when given); fails with ``NakamaError`` (7) as :meth:`unlink_custom`."""
        canonical, email = nk_accounts.user_id(user_id), nk_accounts.text(email, "email")
        unlinked = self._accounts().unlink_email(canonical, email)
        return self._unlinked(unlinked, "email")

    def _unlinked(self, unlinked: Deferred[bool], kind: str) -> Deferred[None]:
        done = unlinked.addCallback(nk_accounts.done_or_last_link)
        return done.addErrback(nk_accounts.refusals(nk_accounts.UNLINK_REFUSALS[kind]))

    # Storage objects: nk acts as the server, so no permission applies.

    def _objects(self) -> ObjectStore:
        if not isinstance(self._storage, ObjectStore):
            raise RuntimeError("nk.storage_* need the server's storage engine")
        return self._storage

    def storage_read(
        self, object_ids: Iterable[Mapping[str, Any]]
    ) -> Deferred[list[StorageObject]]:
        """The objects that exist, whatever their read permission, in the order asked;
        each id a mapping with ``collection``, ``key`` and optionally ``user_id`` (none:
        the system user's)."""
        ids = nk_storage.reads(object_ids)
        return self._objects().read_objects(None, ids) if ids else succeed([])

    def storage_write(self, objects: Iterable[Mapping[str, Any]]) -> Deferred[list[StorageAck]]:
        """Write all or none, whatever their write permission; each a mapping with
        ``collection``, ``key``, ``value`` (a mapping, or the JSON text of an object) and
        optionally ``user_id``, ``version`` ("*" only creates, a hash must match),
        ``permission_read`` (0-2) and ``permission_write`` (0-1), both 1 by default. Fails
        with ``VersionRejected`` (:mod:`nakama_rt.storage.objects`)."""
        batch = nk_storage.writes(objects)
        return self._objects().write_objects(None, batch) if batch else succeed([])

    def storage_delete(self, object_ids: Iterable[Mapping[str, Any]]) -> Deferred[None]:
        """Delete all or none, whatever their write permission; ids as
        :meth:`storage_read`'s, with an optional ``version`` that must match (else
        ``DeleteRejected``). Deleting what is not there, unguarded, is no error."""
        ids = nk_storage.deletes(object_ids)
        return self._objects().delete_objects(None, ids) if ids else succeed(None)

    def storage_list(
        self,
        user_id: str | None,
        collection: str,
        limit: int = 100,
        cursor: str = "",
        caller_id: str | None = None,
    ) -> Deferred[tuple[list[StorageObject], str]]:
        """A page of a collection, of one user's objects or (``user_id`` None) of
        everyone's, and the cursor to the next page ("" on the last). Without
        ``caller_id`` every object is listed; with it, what that user may list."""
        caller = nk_storage.optional_id(caller_id, "caller")
        owner = nk_storage.optional_id(user_id, "user")
        if not isinstance(collection, str):
            raise ValueError("expects collection to be a string")
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
            raise ValueError("limit must not be negative")
        listed = self._objects().list_objects(caller, owner, collection, limit, cursor or "")
        return listed.addCallback(lambda page: (list(page.objects), page.cursor))

    # Leaderboards: nk acts as the server, authoritative boards included.

    def _leaderboards(self) -> LeaderboardStore:
        if not isinstance(self._storage, LeaderboardStore):
            raise RuntimeError("nk.leaderboard_* need the server's storage")
        return self._storage

    def leaderboard_create(
        self,
        id: str,
        authoritative: bool = False,
        sort_order: str = "desc",
        operator: str = "best",
        reset_schedule: str = "",
        metadata: Mapping[str, Any] | str | None = None,
        enable_ranks: bool = True,
    ) -> Deferred[None]:
        """Create a board unless one has the id (then nothing changes). ``sort_order``
        "asc" or "desc"; ``operator`` "best", "set", "incr" or "decr";
        ``reset_schedule`` a CRON expression ("" never resets)."""
        settings = nk_leaderboards.created(
            authoritative, sort_order, operator, reset_schedule, enable_ranks
        )
        text = nk_leaderboards.metadata_text(metadata, "{}") or "{}"
        leaderboard_id = nk_leaderboards.board_id(id)
        authority, order, merge, schedule, ranks = settings
        made = self._leaderboards().create_leaderboard(
            leaderboard_id, authority, order, merge, schedule, text, ranks
        )
        return made.addCallback(lambda _: None)

    def leaderboard_delete(self, id: str) -> Deferred[None]:
        """Delete a board and all its records (none there: no error)."""
        deleted = self._leaderboards().delete_leaderboard(nk_leaderboards.board_id(id))
        return deleted.addCallback(lambda _: None)

    def leaderboards_get_id(self, ids: Iterable[str]) -> Deferred[list[Leaderboard]]:
        """The boards that exist of ``ids``, in that order."""
        return self._leaderboards().get_leaderboards([i for i in ids if isinstance(i, str)])

    def leaderboard_record_write(
        self,
        id: str,
        owner_id: str,
        username: str = "",
        score: int = 0,
        subscore: int = 0,
        metadata: Mapping[str, Any] | str | None = None,
        override_operator: int | None = None,
    ) -> Deferred[LeaderboardRecord]:
        """Submit a score for ``owner_id`` with the board's operator, or
        ``override_operator`` (1 best, 2 set, 3 incr, 4 decr); the record as it stands."""
        leaderboard_id = nk_leaderboards.board_id(id)
        owner = nk_leaderboards.owner_id(owner_id)
        if not isinstance(username, str):
            raise ValueError("expects username to be a string")
        points = nk_leaderboards.scores(score, subscore)
        text = nk_leaderboards.metadata_text(metadata, None)
        operator = nk_leaderboards.override(override_operator)
        return self._leaderboards().write_leaderboard_record(
            None, leaderboard_id, owner, username or None, *points, text, operator
        )

    def leaderboard_record_delete(self, id: str, owner_id: str) -> Deferred[None]:
        """Delete the owner's record of the board's current period, if any."""
        leaderboard_id = nk_leaderboards.board_id(id)
        owner = nk_leaderboards.owner_id(owner_id)
        return self._leaderboards().delete_leaderboard_record(None, leaderboard_id, owner)

    def leaderboard_records_list(
        self,
        id: str,
        owner_ids: Iterable[str] = (),
        limit: int = 10,
        cursor: str = "",
        expiry: int = 0,
    ) -> Deferred[tuple[list[LeaderboardRecord], list[LeaderboardRecord], str, str]]:
        """A page of records (``limit`` 0: none) and the records of ``owner_ids``, of the
        period ending at ``expiry`` (0: the current one): ``(records, owner_records,
        next_cursor, prev_cursor)``."""
        leaderboard_id = nk_leaderboards.board_id(id)
        owners = [nk_leaderboards.owner_id(owner) for owner in owner_ids]
        page_size = nk_leaderboards.records_limit(limit)
        until = nk_leaderboards.expiry(expiry)
        listed = self._leaderboards().list_leaderboard_records(
            leaderboard_id, page_size, cursor or "", owners, until
        )
        return listed.addCallback(
            lambda page: (
                list(page.records),
                list(page.owner_records),
                page.next_cursor,
                page.prev_cursor,
            )
        )

    def leaderboard_records_haystack(
        self, id: str, owner_id: str, limit: int = 10, cursor: str = "", expiry: int = 0
    ) -> Deferred[RecordList]:
        """``limit`` records around the owner's (1-100), or the page ``cursor`` names."""
        leaderboard_id = nk_leaderboards.board_id(id)
        owner = nk_leaderboards.owner_id(owner_id)
        size = nk_leaderboards.around_limit(limit)
        until = nk_leaderboards.expiry(expiry)
        return self._leaderboards().leaderboard_records_around(
            leaderboard_id, owner, size, cursor or "", until
        )

    # Streams, matches and channels: the realtime side given to the constructor.

    def _realtime(self, name: str, part: _Part | None) -> _Part:
        if part is None:
            raise RuntimeError(
                f"nk.{name} needs the server's streams and matches (not given to this nk)"
            )
        return part

    def _reaching(
        self,
        *,
        streams: NkStreams | None,
        matches: NkMatches | None,
        list_matches: ListMatches | None,
        channels: NkChannels | None = None,
    ) -> NakamaModule:
        """A new ``nk`` over this one's storage, notifier and logger (and, being a
        shallow copy, a :class:`~nakama_rt.testing.FakeNakama`'s records) that reaches
        another realtime side; this one is unchanged. For
        :class:`~nakama_rt.testing.MatchHarness`, whose world is built after the
        runtime's ``nk``."""
        other = copy.copy(self)
        other._streams = streams
        other._matches = matches
        other._list_matches = list_matches
        other._channels = channels
        return other

    def channel_message_send(
        self,
        channel_id: str,
        content: Mapping[str, Any] | None,
        sender_id: str = "",
        sender_username: str = "",
        persist: bool = True,
    ) -> Deferred[realtime_pb2.ChannelMessageAck]:
        """Post to a chat channel as game code; a Deferred of the ``ChannelMessageAck``."""
        channels = self._realtime("channel_message_send", self._channels)
        text = "{}" if content is None else json.dumps(content, separators=(",", ":"))
        return channels.post(channel_id, text, sender_id, sender_username, persist)

    def _stream(self, mode: int, subject: str, subcontext: str, label: str) -> StreamRef:
        return StreamRef(int(mode), subject or "", subcontext or "", label or "")

    def stream_user_join(
        self,
        mode: int,
        subject: str,
        subcontext: str,
        label: str,
        user_id: str,
        session_id: str,
        hidden: bool = False,
        persistence: bool = True,
        status: str = "",
    ) -> bool:
        """Put a session into a stream; True when it was not there already."""
        streams = self._realtime("stream_user_join", self._streams)
        ref = self._stream(mode, subject, subcontext, label)
        return streams.user_join(ref, user_id, session_id, hidden, persistence, status)

    def stream_user_update(
        self,
        mode: int,
        subject: str,
        subcontext: str,
        label: str,
        user_id: str,
        session_id: str,
        hidden: bool = False,
        persistence: bool = True,
        status: str = "",
    ) -> None:
        streams = self._realtime("stream_user_update", self._streams)
        ref = self._stream(mode, subject, subcontext, label)
        streams.user_update(ref, user_id, session_id, hidden, persistence, status)

    def stream_user_leave(
        self, mode: int, subject: str, subcontext: str, label: str, user_id: str, session_id: str
    ) -> None:
        streams = self._realtime("stream_user_leave", self._streams)
        streams.user_leave(self._stream(mode, subject, subcontext, label), user_id, session_id)

    def stream_user_get(
        self, mode: int, subject: str, subcontext: str, label: str, user_id: str, session_id: str
    ) -> PresenceMeta | None:
        """The presence meta (hidden, persistence, status, username) or None."""
        streams = self._realtime("stream_user_get", self._streams)
        ref = self._stream(mode, subject, subcontext, label)
        return streams.user_get(ref, user_id, session_id)

    def stream_user_list(
        self,
        mode: int,
        subject: str = "",
        subcontext: str = "",
        label: str = "",
        include_hidden: bool = True,
        include_not_hidden: bool = True,
    ) -> list[Presence]:
        """The presences on a stream (each has user_id, session_id and meta)."""
        streams = self._realtime("stream_user_list", self._streams)
        ref = self._stream(mode, subject, subcontext, label)
        return streams.user_list(ref, include_hidden, include_not_hidden)

    def stream_count(
        self, mode: int, subject: str = "", subcontext: str = "", label: str = ""
    ) -> int:
        streams = self._realtime("stream_count", self._streams)
        return streams.count(self._stream(mode, subject, subcontext, label))

    def stream_close(
        self, mode: int, subject: str = "", subcontext: str = "", label: str = ""
    ) -> None:
        streams = self._realtime("stream_close", self._streams)
        streams.close(self._stream(mode, subject, subcontext, label))

    def stream_send(
        self,
        mode: int,
        subject: str,
        subcontext: str,
        label: str,
        data: str,
        presences: Iterable[Presence] | None = None,
        reliable: bool = True,
    ) -> None:
        """``stream_data`` to the stream's members, or only to ``presences``."""
        streams = self._realtime("stream_send", self._streams)
        ref = self._stream(mode, subject, subcontext, label)
        streams.send(ref, data, presences, reliable)

    def match_create(self, module: str, params: Mapping[str, Any] | None = None) -> str:
        """Start an authoritative match with the handler registered as ``module``."""
        matches = self._realtime("match_create", self._matches)
        return matches.create(module, params or {}, self)

    def match_get(self, match_id: str) -> api_pb2.Match | None:
        matches = self._realtime("match_get", self._matches)
        return matches.describe(match_id)

    def match_list(
        self,
        limit: int = 1,
        authoritative: bool | None = True,
        label: str | None = None,
        min_size: int | None = None,
        max_size: int | None = None,
        query: str | None = None,
    ) -> list[api_pb2.Match]:
        """Matches as ``GET /v2/match`` lists them, less its refusals of bad filters
        (as Nakama's runtime: a limit of 0, or a label or query with
        ``authoritative=False``, lists nothing)."""
        list_matches = self._realtime("match_list", self._list_matches)
        return list_matches(MatchFilter(limit, authoritative, label, min_size, max_size, query))

    def party_list(
        self,
        limit: int = 10,
        open: bool | None = None,
        show_hidden: bool = False,
        query: str = "",
        cursor: str = "",
    ) -> tuple[list[dict[str, Any]], str]:
        """Parties as ``GET /v2/party`` lists them (each an ``api.Party`` as JSON), hidden
        ones too when ``show_hidden``, and the cursor of the next page ("" on the last);
        of every node in a cluster. ``limit`` is 1-100 (ValueError, as Nakama's runtime);
        a bad query or cursor raises ``PartyListError``."""
        if not 1 <= limit <= 100:
            raise ValueError("limit must be 1-100")
        list_parties = self._realtime("party_list", self._list_parties)
        return list_parties(limit, open, show_hidden, query, cursor)

    # Events, run once, time

    def event(
        self,
        name: str,
        properties: Mapping[str, str] | None = None,
        timestamp: float | None = None,
        external: bool = False,
    ) -> None:
        """Send an event to the ``register_event`` functions, which get it in a later
        reactor turn (as Nakama queues it); ``timestamp`` (UNIX seconds) is now unless
        given."""
        if not isinstance(name, str) or not name:
            raise ValueError("an event name must be a non-empty string")
        props = dict(properties or {})
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in props.items()):
            raise TypeError("event properties must map strings to strings")
        when = self.time() / 1000 if timestamp is None else float(timestamp)
        send = self._realtime("event", self._custom_event)
        send(Event(name, props, when, bool(external)))

    def run_once(self, fn: Callable[..., Any]) -> None:
        """Call ``fn(ctx, logger, nk)`` once per process start: the first call does,
        every later one (another module's, a reload's) does nothing."""
        if not callable(fn):
            raise TypeError("run_once expects a function")
        self._realtime("run_once", self._run_once)(fn)

    def time(self) -> int:
        """Now, in milliseconds since the UNIX epoch, by the server's clock."""
        seconds = self._clock.seconds() if self._clock is not None else time.time()
        return int(seconds * 1000)

    def match_signal(self, match_id: str, data: str) -> Deferred[str]:
        """The match handler's answer to ``data``: a Deferred, as the match may run on
        another node of the cluster."""
        matches = self._realtime("match_signal", self._matches)
        return matches.signal_anywhere(match_id, data)


#: The ``nk`` functions: every public method of :class:`NakamaModule` (its wiring is
#: the constructor's), in the order they are defined. Derived from the class, so a new
#: function is listed (and recorded by :class:`nakama_rt.testing.FakeNakama`) as soon
#: as it is written.
NK_FUNCTIONS: tuple[str, ...] = tuple(
    name
    for name in vars(NakamaModule)
    if not name.startswith("_") and callable(getattr(NakamaModule, name))
)
