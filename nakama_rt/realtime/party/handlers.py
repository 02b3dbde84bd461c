"""The party messages of the socket (Nakama's pipeline_party.go).

Each handler checks the request as Nakama does, in Nakama's order, asks the
:class:`~nakama_rt.realtime.party.registry.PartyRegistry`, and answers: the reply (``party``,
``party_join_request``, ``party_matchmaker_ticket``) or an empty envelope with the
request's ``cid``. A refusal is an ``Error`` (``BAD_INPUT``, Nakama's prefix and
reason, e.g. "Error joining party: party full"); the socket stays open.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from nakama_rt.core.held import HeldPresences
from nakama_rt.core.pipeline import Answer, ErrorCode, RealtimeError, ReplyFirst, Requester
from nakama_rt.core.tracker import PresenceStream, StreamMode
from nakama_rt.realtime.party.registry import (
    MAX_SIZE_LIMIT,
    Party,
    PartyError,
    PartyPresence,
    PartyRegistry,
)
from nakama_rt.wire.ids import parse_match_id
from nakama_rt.wire.proto import realtime_pb2

INVALID_PARTY_ID = "Invalid party ID"
INVALID_PRESENCE = "Invalid presence"
INVALID_MAX_SIZE = "Invalid party max size, must be 1-256"
INVALID_TICKET = "Invalid matchmaker ticket"
INVALID_MIN_COUNT = "Invalid minimum count, must be >= 2"
INVALID_MAX_COUNT = "Invalid maximum count, must be >= minimum count"
INVALID_COUNT_MULTIPLE = "Invalid count multiple, must be >= 1"
INVALID_MULTIPLE_MIN = "Invalid count multiple for minimum count, must divide"
INVALID_MULTIPLE_MAX = "Invalid count multiple for maximum count, must divide"


#: The party messages not answered on the party's node: a new party is this node's, and
#: a leave is an untrack here (which the party's node hears).
HERE = frozenset({"party_create", "party_leave"})


def party_home(envelope: realtime_pb2.Envelope) -> str:
    """The node of the party a request names ("" when the id is not one)."""
    request = getattr(envelope, envelope.WhichOneof("message") or "")
    parsed = parse_match_id(request.party_id)
    return parsed[1] if parsed is not None else ""


def party_stream(envelope: realtime_pb2.Envelope) -> PresenceStream | None:
    """The stream of the party a ``party_join`` names (None when the id is not one)."""
    parsed = parse_match_id(envelope.party_join.party_id)
    return PresenceStream(StreamMode.PARTY, parsed[0], label=parsed[1]) if parsed else None


def _me(requester: Requester) -> PartyPresence:
    return PartyPresence(requester.user_id, requester.session_id, requester.username)


def _refused(message: str) -> RealtimeError:
    return RealtimeError(ErrorCode.BAD_INPUT, message)


def _ack() -> realtime_pb2.Envelope:
    """The empty envelope that answers a request with nothing to tell."""
    return realtime_pb2.Envelope()


class PartyHandlers:
    """The socket side of parties."""

    def __init__(self, registry: PartyRegistry, held: HeldPresences | None = None) -> None:
        self._registry = registry
        #: Parties resumed sessions kept over a drop: a re-join gets the party again.
        self._held = held if held is not None else HeldPresences()

    # Shared steps

    def _party(self, party_id: str, prefix: str) -> Party:
        """The party a request names; raises when there is none."""
        parsed = parse_match_id(party_id)
        if parsed is None:
            raise _refused(INVALID_PARTY_ID)
        try:
            return self._registry.find(*parsed)
        except PartyError as error:
            raise _refused(f"{prefix}: {error}") from None

    @staticmethod
    def _presence(request: Any) -> PartyPresence:
        """The request's target presence; every field is required."""
        if not request.HasField("presence"):
            raise _refused(INVALID_PRESENCE)
        p = request.presence
        if not (p.user_id and p.session_id and p.username):
            raise _refused(INVALID_PRESENCE)
        return PartyPresence(p.user_id, p.session_id, p.username)

    def _act(
        self,
        envelope: realtime_pb2.Envelope,
        requester: Requester,
        prefix: str,
        action: Callable[..., Callable[[], object] | None],
        with_presence: bool = False,
    ) -> realtime_pb2.Envelope | ReplyFirst:
        """The shape most requests share: check the target presence (when there is
        one) and the party id, act, then answer with an empty envelope (before the
        change the action returns, if any: a track or untrack whose events follow)."""
        request = getattr(envelope, envelope.WhichOneof("message"))
        args: tuple = (self._presence(request),) if with_presence else ()
        party = self._party(request.party_id, prefix)
        try:
            then = action(party, requester.session_id, *args)
        except PartyError as error:
            raise _refused(f"{prefix}: {error}") from None
        return _ack() if then is None else ReplyFirst(_ack(), then=then)

    # Handlers

    def create(self, envelope: realtime_pb2.Envelope, requester: Requester) -> ReplyFirst:
        request = envelope.party_create
        if not 0 <= request.max_size <= MAX_SIZE_LIMIT:
            raise _refused(INVALID_MAX_SIZE)
        me = _me(requester)
        try:
            party = self._registry.create(
                me, request.open, request.hidden, request.max_size, request.label
            )
        except PartyError as error:
            raise _refused(f"Error creating party: {error}") from None
        reply = realtime_pb2.Party(
            party_id=party.id,
            open=request.open,
            hidden=request.hidden,
            max_size=request.max_size,
            self=me.wire(),
            leader=me.wire(),
            presences=[me.wire()],
            label=request.label,
        )
        track = partial(self._registry.track, party, me)
        return ReplyFirst(realtime_pb2.Envelope(party=reply), then=track)

    def join(self, envelope: realtime_pb2.Envelope, requester: Requester) -> Answer:
        prefix = "Error joining party"
        party = self._party(envelope.party_join.party_id, prefix)
        me = _me(requester)
        if requester.session_id in party.members and self._held.take(
            requester.session_id, party.stream
        ):
            # Still a member: answered as an accepted join, with no join event (and
            # its matchmaking goes on).
            return ReplyFirst(_ack(), then=partial(party.welcome_back, me))
        try:
            joins_now = party.join_request(me)
        except PartyError as error:
            raise _refused(f"{prefix}: {error}") from None
        if joins_now:
            return ReplyFirst(_ack(), then=partial(self._registry.track, party, me))
        return _ack()

    def leave(self, envelope: realtime_pb2.Envelope, requester: Requester) -> realtime_pb2.Envelope:
        # As in Nakama: leaving a party one is not in (or that is gone) is not an error.
        parsed = parse_match_id(envelope.party_leave.party_id)
        if parsed is None:
            raise _refused(INVALID_PARTY_ID)
        self._registry.leave(*parsed, requester)
        return _ack()

    def promote(self, envelope: realtime_pb2.Envelope, requester: Requester) -> Answer:
        prefix = "Error promoting new party leader"
        return self._act(envelope, requester, prefix, Party.promote, True)

    def accept(self, envelope: realtime_pb2.Envelope, requester: Requester) -> Answer:
        prefix = "Error accepting party join request"
        return self._act(envelope, requester, prefix, Party.accept, True)

    def remove(self, envelope: realtime_pb2.Envelope, requester: Requester) -> Answer:
        prefix = "Error removing party member or join request"
        return self._act(envelope, requester, prefix, Party.remove, True)

    def close(self, envelope: realtime_pb2.Envelope, requester: Requester) -> Answer:
        return self._act(envelope, requester, "Error closing party", Party.close)

    def data_send(self, envelope: realtime_pb2.Envelope, requester: Requester) -> Answer:
        request = envelope.party_data_send
        return self._act(
            envelope,
            requester,
            "Error sending party data",
            lambda party, sid: party.data_send(sid, request.op_code, request.data),
        )

    def join_request_list(
        self, envelope: realtime_pb2.Envelope, requester: Requester
    ) -> realtime_pb2.Envelope:
        prefix = "Error listing party join requests"
        request = envelope.party_join_request_list
        party = self._party(request.party_id, prefix)
        try:
            requests = party.join_request_list(requester.session_id)
        except PartyError as error:
            raise _refused(f"{prefix}: {error}") from None
        reply = realtime_pb2.PartyJoinRequest(
            party_id=request.party_id, presences=[p.wire() for p in requests]
        )
        return realtime_pb2.Envelope(party_join_request=reply)

    def update(
        self, envelope: realtime_pb2.Envelope, requester: Requester
    ) -> realtime_pb2.Envelope:
        request = envelope.party_update
        parsed = parse_match_id(request.party_id)
        if parsed is None:
            raise _refused(INVALID_PARTY_ID)
        try:
            self._registry.update(
                *parsed, requester.session_id, request.label, request.open, request.hidden
            )
        except PartyError as error:
            raise _refused(f"Error updating party: {error}") from None
        return _ack()

    def matchmaker_add(self, envelope: realtime_pb2.Envelope, requester: Requester) -> ReplyFirst:
        request = envelope.party_matchmaker_add
        min_count, max_count = request.min_count, request.max_count
        if min_count < 2:
            raise _refused(INVALID_MIN_COUNT)
        if max_count < min_count:
            raise _refused(INVALID_MAX_COUNT)
        count_multiple = 1
        if request.HasField("count_multiple"):
            count_multiple = request.count_multiple.value
            if count_multiple < 1:
                raise _refused(INVALID_COUNT_MULTIPLE)
            if min_count % count_multiple:
                raise _refused(INVALID_MULTIPLE_MIN)
            if max_count % count_multiple:
                raise _refused(INVALID_MULTIPLE_MAX)
        prefix = "Error adding party to matchmaker"
        party = self._party(request.party_id, prefix)
        try:
            ticket = party.matchmaker_add(
                requester.session_id,
                request.query or "*",
                min_count,
                max_count,
                count_multiple,
                request.string_properties,
                request.numeric_properties,
            )
        except PartyError as error:
            raise _refused(f"{prefix}: {error}") from None
        reply = realtime_pb2.PartyMatchmakerTicket(party_id=request.party_id, ticket=ticket)
        # The leader is told by this reply, the other members after it.
        announce = partial(party.announce_ticket, ticket, requester.session_id)
        return ReplyFirst(realtime_pb2.Envelope(party_matchmaker_ticket=reply), then=announce)

    def matchmaker_remove(self, envelope: realtime_pb2.Envelope, requester: Requester) -> Answer:
        request = envelope.party_matchmaker_remove
        if not request.ticket:
            raise _refused(INVALID_TICKET)
        # "Error closing party" is Nakama's own prefix for this one.
        return self._act(
            envelope,
            requester,
            "Error closing party",
            lambda party, sid: party.matchmaker_remove(sid, request.ticket),
        )
