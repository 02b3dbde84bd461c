"""Parties: small groups that stay together between matches, with Nakama's rules.

A party is a presence stream (mode 7, subject the party's uuid, label this node), so
the router delivers to its members and a closing socket leaves it like any stream.
One :class:`Party` per party keeps what the tracker does not: the ordered member
list (the oldest member leads when the leader goes), the leader, pending join
requests, and whether it is open. The tracker's join/leave events for mode 7 reach
the party through :class:`PartyRegistry` (as Nakama's party join/leave listeners),
then become ``party_presence_event`` for whoever is on the stream.

Operations raise :class:`PartyError` with Nakama's reason ("party leader only", ...);
the socket handlers in :mod:`nakama_rt.realtime.party.handlers` add Nakama's prefix and code.
Everything runs on the reactor thread.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Protocol

import orjson
from twisted.internet.interfaces import IReactorTime

from nakama_rt.core.directory import Directory
from nakama_rt.core.pipeline import Requester
from nakama_rt.core.refs import ListedParty
from nakama_rt.core.registry import SessionDirectory
from nakama_rt.core.router import IRouter
from nakama_rt.core.tracker import ITracker, Presence, PresenceMeta, PresenceStream, StreamMode
from nakama_rt.logs import Logger
from nakama_rt.wire.proto import realtime_pb2

#: ``party_create.max_size`` bounds (Nakama checks ``0 <= max_size <= 256``).
MAX_SIZE_LIMIT = 256
LABEL_MAX_BYTES = 2048

# Nakama's reasons (runtime.ErrParty* and the registry's own).
PARTY_NOT_FOUND = "party not found"
PARTY_CLOSED = "party closed"
PARTY_FULL = "party full"
JOIN_REQUEST_DUPLICATE = "party join request duplicate"
ALREADY_MEMBER = "party join request already member"
JOIN_REQUESTS_FULL = "party join requests full"
NOT_LEADER = "party leader only"
NOT_MEMBER = "party member not found"
NOT_REQUEST = "party join request not found"
ACCEPT_FAILED = "party could not accept request"
REMOVE_SELF = "party cannot remove self"
LABEL_TOO_LONG = "party label too long"
HIDDEN_WITH_LABEL = "party is hidden and label is not empty, invalid operation"
MATCHMAKER_UNAVAILABLE = "matchmaker not available"


class PartyError(Exception):
    """A party operation was refused; ``str(error)`` is Nakama's reason."""


@dataclass(frozen=True, slots=True)
class PartyPresence:
    """A member or a join request: who, from which session."""

    user_id: str
    session_id: str
    username: str

    def wire(self) -> realtime_pb2.UserPresence:
        return realtime_pb2.UserPresence(
            user_id=self.user_id, session_id=self.session_id, username=self.username
        )


class PartyMatchmaker(Protocol):
    """What parties need from the matchmaker."""

    def add_party(
        self,
        party_id: str,
        leader_session_id: str,
        presences: Sequence[PartyPresence],
        min_count: int,
        max_count: int,
        count_multiple: int,
        query: str,
        string_properties: Mapping[str, str],
        numeric_properties: Mapping[str, float],
    ) -> str:
        """Queue the whole party; return its ticket. Bad input raises with a message."""

    def remove_party(self, party_id: str, ticket: str) -> None:
        """Withdraw one of the party's tickets; raises when it is not found."""

    def remove_party_all(self, party_id: str) -> None:
        """Withdraw every ticket of the party."""


def check_label(label: str) -> None:
    """Nakama's label rules: at most 2048 bytes of JSON object (or ``null``); "" is ``{}``."""
    text = label or "{}"
    if len(text.encode()) > LABEL_MAX_BYTES:
        raise PartyError(LABEL_TOO_LONG)
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as error:
        raise PartyError(f"failed to unmarshal party label: {_json_reason(text, error)}") from None
    if value is None or isinstance(value, dict):
        return
    kind = {list: "array", str: "string", bool: "bool"}.get(type(value), "number")
    raise PartyError(
        "failed to unmarshal party label: "
        f"json: cannot unmarshal {kind} into Go value of type map[string]interface {{}}"
    )


def _json_reason(text: str, error: orjson.JSONDecodeError) -> str:
    """Go's wording for the common syntax errors; orjson's for the rest."""
    rest = text[error.pos :] if 0 <= error.pos <= len(text) else ""
    if not rest.strip():
        return "unexpected end of JSON input"
    char = repr(rest.lstrip()[0])
    if not text[: error.pos].strip():
        return f"invalid character {char} looking for beginning of value"
    if error.msg == "unexpected content after document":
        return f"invalid character {char} after top-level value"
    return error.msg


class Party:
    """One party's state and rules (Nakama's PartyHandler)."""

    log = Logger()

    def __init__(
        self,
        registry: PartyRegistry,
        subject: str,
        leader: PartyPresence,
        open: bool,
        hidden: bool,
        max_size: int,
        label: str,
    ) -> None:
        self.registry = registry
        self.subject = subject
        self.node = registry.node
        self.id = f"{subject}.{registry.node}"
        self.stream = PresenceStream(StreamMode.PARTY, subject, label=registry.node)
        self.open = open
        self.hidden = hidden
        self.max_size = max_size
        self.label = label
        self.create_time = registry.clock.seconds()
        #: When listings last took it in (created, or updated since).
        self.indexed_at = self.create_time
        self.leader: PartyPresence | None = leader
        #: Members by session id, oldest first.
        self.members: dict[str, PartyPresence] = {leader.session_id: leader}
        self.join_requests: list[PartyPresence] = []
        self.stopped = False

    def __repr__(self) -> str:
        return f"<Party {self.id} members={len(self.members)}>"

    def listed(self) -> ListedParty:
        return ListedParty(
            self.subject,
            self.node,
            self.open,
            self.hidden,
            self.max_size,
            self.label,
            self.indexed_at,
        )

    # Leader-only operations

    def _require_leader(self, session_id: str) -> PartyPresence:
        if self.stopped:
            raise PartyError(PARTY_CLOSED)
        leader = self.leader
        if leader is None or leader.session_id != session_id:
            raise PartyError(NOT_LEADER)
        return leader

    def promote(self, session_id: str, presence: PartyPresence) -> None:
        self._require_leader(session_id)
        for member in self.members.values():
            if member == presence:
                self.leader = member
                self._to_stream(
                    realtime_pb2.Envelope(
                        party_leader=realtime_pb2.PartyLeader(
                            party_id=self.id, presence=member.wire()
                        )
                    )
                )
                return
        raise PartyError(NOT_MEMBER)

    def accept(self, session_id: str, presence: PartyPresence) -> Callable[[], object]:
        """Let a pending request in; return the track that follows the leader's answer
        (as in Nakama, whose tracker sends the join after it): the newcomer gets
        ``party``, everyone a presence event."""
        self._require_leader(session_id)
        if len(self.members) >= self.max_size:
            raise PartyError(PARTY_FULL)
        for request in self.join_requests:
            if request == presence:
                break
        else:
            raise PartyError(NOT_REQUEST)
        self.join_requests.remove(request)
        if self.registry.member_meta(request.session_id, request.username) is None:
            raise PartyError(ACCEPT_FAILED)
        return partial(self.registry.track, self, request)

    def remove(self, session_id: str, presence: PartyPresence) -> Callable[[], object] | None:
        """Kick a member (it gets ``party_close``; the untrack, whose leave event the
        others get, is returned to follow the leader's answer, as in Nakama), or
        silently decline a join request."""
        leader = self._require_leader(session_id)
        if presence == leader:
            raise PartyError(REMOVE_SELF)
        member = self.members.get(presence.session_id)
        if member is None or member != presence:
            if presence in self.join_requests:
                self.join_requests.remove(presence)
                return None
            raise PartyError(NOT_MEMBER)
        del self.members[member.session_id]
        self._cancel_matchmaking()
        self.registry.router.send_to_session_ids(
            [member.session_id],
            realtime_pb2.Envelope(party_close=realtime_pb2.PartyClose(party_id=self.id)),
        )
        untrack = self.registry.tracker.untrack
        return partial(untrack, member.session_id, self.stream, member.user_id)

    def close(self, session_id: str) -> None:
        """End the party: every member gets ``party_close``."""
        self._require_leader(session_id)
        self.stopped = True
        self._to_stream(
            realtime_pb2.Envelope(party_close=realtime_pb2.PartyClose(party_id=self.id))
        )
        self._stop()

    def join_request_list(self, session_id: str) -> list[PartyPresence]:
        self._require_leader(session_id)
        return list(self.join_requests)

    def update(self, session_id: str, label: str, open: bool, hidden: bool) -> None:
        """Change label, openness and visibility; every member gets ``party_update``."""
        self._require_leader(session_id)
        check_label(label)
        self.label, self.open, self.hidden = label, open, hidden
        self.indexed_at = self.registry.clock.seconds()
        self.registry.listing_changed(self)
        self._to_stream(
            realtime_pb2.Envelope(
                party_update=realtime_pb2.PartyUpdate(
                    party_id=self.id, label=label, open=open, hidden=hidden
                )
            )
        )

    def matchmaker_add(
        self,
        session_id: str,
        query: str,
        min_count: int,
        max_count: int,
        count_multiple: int,
        string_properties: Mapping[str, str],
        numeric_properties: Mapping[str, float],
    ) -> str:
        """Put the whole party in the matchmaker; return the ticket."""
        leader = self._require_leader(session_id)
        matchmaker = self.registry.matchmaker
        if matchmaker is None:
            raise PartyError(MATCHMAKER_UNAVAILABLE)
        try:
            return matchmaker.add_party(
                self.id,
                leader.session_id,
                list(self.members.values()),
                min_count,
                max_count,
                count_multiple,
                query,
                dict(string_properties),
                dict(numeric_properties),
            )
        except Exception as error:
            raise _matchmaker_error(error) from None

    def announce_ticket(self, ticket: str, leader_session_id: str) -> None:
        """Tell the members other than the leader (answered already) about a ticket."""
        others = [sid for sid in self.members if sid != leader_session_id]
        if others:
            envelope = realtime_pb2.Envelope(
                party_matchmaker_ticket=realtime_pb2.PartyMatchmakerTicket(
                    party_id=self.id, ticket=ticket
                )
            )
            self.registry.router.send_to_session_ids(others, envelope)

    def matchmaker_remove(self, session_id: str, ticket: str) -> None:
        self._require_leader(session_id)
        matchmaker = self.registry.matchmaker
        if matchmaker is None:
            raise PartyError(MATCHMAKER_UNAVAILABLE)
        try:
            matchmaker.remove_party(self.id, ticket)
        except Exception as error:
            raise _matchmaker_error(error) from None

    # Member operations

    def join_request(self, presence: PartyPresence) -> bool:
        """True when the party is open (track the session now); otherwise the leader
        gets a ``party_join_request`` and the requester waits for the answer."""
        if self.stopped:
            raise PartyError(PARTY_CLOSED)
        if len(self.members) >= self.max_size:
            raise PartyError(PARTY_FULL)
        if self.open:
            return True
        if len(self.join_requests) >= self.max_size:
            raise PartyError(JOIN_REQUESTS_FULL)
        if any(r.user_id == presence.user_id for r in self.join_requests):
            raise PartyError(JOIN_REQUEST_DUPLICATE)
        if presence.session_id in self.members:
            raise PartyError(ALREADY_MEMBER)
        self.join_requests.append(presence)
        if self.leader is not None:
            envelope = realtime_pb2.Envelope(
                party_join_request=realtime_pb2.PartyJoinRequest(
                    party_id=self.id, presences=[presence.wire()]
                )
            )
            self.registry.router.send_to_session_ids([self.leader.session_id], envelope)
        return False

    def data_send(self, session_id: str, op_code: int, data: bytes) -> None:
        """Relay to the other members, with the sender's presence."""
        if self.stopped:
            raise PartyError(PARTY_CLOSED)
        sender = self.members.get(session_id)
        if sender is None:
            raise PartyError(NOT_MEMBER)
        recipients = [sid for sid in self.members if sid != session_id]
        if not recipients:
            return
        envelope = realtime_pb2.Envelope(
            party_data=realtime_pb2.PartyData(
                party_id=self.id, presence=sender.wire(), op_code=op_code, data=data
            )
        )
        self.registry.router.send_to_session_ids(recipients, envelope)

    # Stream membership (from the tracker)

    def members_joined(self, joins: list[Presence]) -> None:
        """New presences on the stream become members; each gets ``party`` with the
        leader and every member (the creator too, after its create reply, as Nakama)."""
        if self.stopped:
            return
        # Only a change of an existing party voids its matchmaking (not its creation).
        changed = bool(set(self.members) - {p.session_id for p in joins})
        newcomers = []
        for presence in joins:
            member = PartyPresence(presence.user_id, presence.session_id, presence.meta.username)
            if member.session_id not in self.members:
                self.members[member.session_id] = member
            newcomers.append(member)
        if not newcomers:
            return
        for member in newcomers:
            self.registry.router.send_to_session_ids(
                [member.session_id], realtime_pb2.Envelope(party=self._party_for(member))
            )
        if changed:
            self._cancel_matchmaking()

    def welcome_back(self, member: PartyPresence) -> None:
        """A member whose session resumed re-joined: it gets ``party`` as a joining
        member does, and nobody else hears of it."""
        if not self.stopped and member.session_id in self.members:
            self.registry.router.send_to_session_ids(
                [member.session_id], realtime_pb2.Envelope(party=self._party_for(member))
            )

    def _party_for(self, member: PartyPresence) -> realtime_pb2.Party:
        return realtime_pb2.Party(
            party_id=self.id,
            open=self.open,
            max_size=self.max_size,
            self=member.wire(),
            leader=self.leader.wire() if self.leader is not None else None,
            presences=[m.wire() for m in self.members.values()],
        )

    def members_left(self, session_ids: list[str]) -> None:
        """Members leave; a leaving leader hands over to the oldest member (all get
        ``party_leader``), and the last one out ends the party."""
        if self.stopped:
            return
        left = [sid for sid in session_ids if self.members.pop(sid, None) is not None]
        if not left:
            return
        if not self.members:
            self.stopped = True
            self._stop()
            return
        if self.leader is not None and self.leader.session_id in left:
            self.leader = next(iter(self.members.values()))
            self._to_stream(
                realtime_pb2.Envelope(
                    party_leader=realtime_pb2.PartyLeader(
                        party_id=self.id, presence=self.leader.wire()
                    )
                )
            )
        self._cancel_matchmaking()

    # Internals

    def _to_stream(self, envelope: realtime_pb2.Envelope) -> None:
        self.registry.router.send_to_stream(self.stream, envelope)

    def _cancel_matchmaking(self) -> None:
        """Membership changed: the party's tickets no longer describe it."""
        matchmaker = self.registry.matchmaker
        if matchmaker is None:
            return
        try:
            matchmaker.remove_party_all(self.id)
        except Exception:
            self.log.failure("party {pid}: removing matchmaker tickets failed", pid=self.id)

    def _stop(self) -> None:
        self.registry._forget(self)
        self.registry.tracker.untrack_by_stream(self.stream)
        self._cancel_matchmaking()
        self.log.debug("party {pid} closed", pid=self.id)


def _matchmaker_error(error: Exception) -> PartyError:
    if isinstance(error, PartyError):
        return error
    if not isinstance(error, ValueError | LookupError):
        Party.log.failure("party matchmaker call failed")
    return PartyError(str(error))


class PartyRegistry:
    """Every party hosted by this node, and the tracker listener for party streams."""

    log = Logger()

    def __init__(
        self,
        tracker: ITracker,
        router: IRouter,
        sessions: SessionDirectory,
        clock: IReactorTime,
        node: str,
        matchmaker: PartyMatchmaker | None = None,
        directory: Directory[ListedParty] | None = None,
        single_party: bool = False,
    ) -> None:
        self.tracker = tracker
        self.router = router
        self.sessions = sessions
        self.clock = clock
        self.node = node
        #: Without one, party matchmaking is refused.
        self.matchmaker = matchmaker
        #: The other nodes' parties, for listings (None in one process).
        self.directory = directory
        #: ``session.single_party``: joining a party leaves the others.
        self.single_party = single_party
        self._parties: dict[str, Party] = {}
        tracker.add_listener(StreamMode.PARTY, self._presence_changed)

    def __len__(self) -> int:
        return len(self._parties)

    def __iter__(self) -> Iterator[Party]:
        return iter(list(self._parties.values()))

    def create(
        self, leader: PartyPresence, open: bool, hidden: bool, max_size: int, label: str
    ) -> Party:
        """A new party led by ``leader`` (a member already; track its session next)."""
        check_label(label)
        party = Party(self, str(uuid.uuid4()), leader, open, hidden, max_size, label)
        self._parties[party.subject] = party
        self.listing_changed(party)
        self.log.debug("party {pid} created", pid=party.id)
        return party

    def find(self, subject: str, node: str) -> Party:
        party = self._parties.get(subject) if node == self.node else None
        if party is None:
            raise PartyError(PARTY_NOT_FOUND)
        return party

    def get(self, party_id: str) -> Party | None:
        subject, _, node = party_id.partition(".")
        try:
            return self.find(subject, node)
        except PartyError:
            return None

    def update(
        self, subject: str, node: str, session_id: str, label: str, open: bool, hidden: bool
    ) -> None:
        if hidden and label not in ("", "{}"):
            raise PartyError(HIDDEN_WITH_LABEL)
        self.find(subject, node).update(session_id, label, open, hidden)

    def track(self, party: Party, member: PartyPresence) -> bool:
        """Put a session on the party's stream (the join events follow from the
        tracker). A session that closed meanwhile is not tracked and leaves."""
        meta = self.member_meta(member.session_id, member.username)
        if meta is None:
            party.members_left([member.session_id])
            return False
        tracked = self.tracker.track(member.session_id, party.stream, member.user_id, meta)
        if tracked and self.single_party:
            # session.single_party: the session leaves its other parties, whose members
            # get the leave (Nakama's UntrackLocalByModes after the track).
            for stream in self.tracker.streams_by_session(member.session_id):
                if stream.mode == StreamMode.PARTY and stream != party.stream:
                    self.tracker.untrack(member.session_id, stream, member.user_id)
        return tracked

    def member_meta(self, session_id: str, username: str) -> PresenceMeta | None:
        """A member's presence on a party stream, in its socket's format; None when the
        session is gone. A session of another node is known by its presences there."""
        requester = self.sessions.requester(session_id)
        if requester is not None:
            return PresenceMeta(username=username, format=requester.format.value)
        presence = self.tracker.elsewhere(session_id)
        if presence is not None:
            return PresenceMeta(username=username, format=presence.meta.format)
        return None

    def leave(self, subject: str, node: str, member: Requester) -> None:
        stream = PresenceStream(StreamMode.PARTY, subject, label=node)
        self.tracker.untrack(member.session_id, stream, member.user_id)

    def _forget(self, party: Party) -> None:
        if self._parties.pop(party.subject, None) is not None and self.directory is not None:
            self.directory.remove(party.subject)

    def listing_changed(self, party: Party) -> None:
        """Tell the other nodes what listings show of ``party`` now."""
        if self.directory is not None:
            self.directory.put(party.listed())

    def listed(self) -> list[ListedParty]:
        """Every party, hidden or not: this node's, then the other nodes'."""
        listed = [party.listed() for party in self._parties.values()]
        if self.directory is not None:
            listed.extend(self.directory.others())
        return listed

    def _presence_changed(
        self, stream: PresenceStream, joins: list[Presence], leaves: list[Presence]
    ) -> None:
        """The party reacts first (``party``, ``party_leader``), then everyone still on
        the stream gets the ``party_presence_event``, in Nakama's order."""
        party = self._parties.get(stream.subject) if stream.label == self.node else None
        if party is not None:
            if joins:
                party.members_joined(joins)
            if leaves:
                party.members_left([p.session_id for p in leaves])
        event = realtime_pb2.PartyPresenceEvent(
            party_id=f"{stream.subject}.{stream.label}",
            joins=[_user_presence(p) for p in joins],
            leaves=[_user_presence(p) for p in leaves],
        )
        self.router.send_to_stream(stream, realtime_pb2.Envelope(party_presence_event=event))


def _user_presence(presence: Presence) -> realtime_pb2.UserPresence:
    return realtime_pb2.UserPresence(
        user_id=presence.user_id, session_id=presence.session_id, username=presence.meta.username
    )
