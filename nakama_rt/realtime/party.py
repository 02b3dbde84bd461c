"""The party messages of the socket (Nakama's pipeline_party.go).

Each handler checks the request as Nakama does, in Nakama's order, asks the
:class:`~nakama_rt.party.PartyRegistry`, and answers: the reply (``party``,
``party_join_request``, ``party_matchmaker_ticket``) or an empty envelope with the
request's ``cid``. A refusal is an ``Error`` (``BAD_INPUT``, Nakama's prefix and
reason, e.g. "Error joining party: party full"); the socket stays open.
"""

from __future__ import annotations

from collections.abc import Callable

from nakama_rt.party import MAX_SIZE_LIMIT, Party, PartyError, PartyPresence, PartyRegistry
from nakama_rt.pipeline import ErrorCode, Pipeline
from nakama_rt.proto import realtime_pb2
from nakama_rt.realtime.match import parse_match_id
from nakama_rt.session import Session

INVALID_PARTY_ID = "Invalid party ID"
INVALID_PRESENCE = "Invalid presence"
INVALID_MAX_SIZE = "Invalid party max size, must be 1-256"
INVALID_TICKET = "Invalid matchmaker ticket"
INVALID_MIN_COUNT = "Invalid minimum count, must be >= 2"
INVALID_MAX_COUNT = "Invalid maximum count, must be >= minimum count"
INVALID_COUNT_MULTIPLE = "Invalid count multiple, must be >= 1"
INVALID_MULTIPLE_MIN = "Invalid count multiple for minimum count, must divide"
INVALID_MULTIPLE_MAX = "Invalid count multiple for maximum count, must divide"


def _me(session: Session) -> PartyPresence:
    return PartyPresence(session.user_id, session.id, session.username)


def _ack(session: Session, cid: str) -> bool:
    session.send_envelope(realtime_pb2.Envelope(cid=cid))
    return True


def _refuse(session: Session, cid: str, message: str) -> bool:
    session.send_error(cid, ErrorCode.BAD_INPUT, message)
    return False


class PartyHandlers:
    """The socket side of parties."""

    def __init__(self, registry: PartyRegistry) -> None:
        self._registry = registry

    def register(self, pipeline: Pipeline) -> None:
        handlers: dict[str, Callable[[Session, realtime_pb2.Envelope], bool]] = {
            "party_create": self.create,
            "party_join": self.join,
            "party_leave": self.leave,
            "party_promote": self.promote,
            "party_accept": self.accept,
            "party_remove": self.remove,
            "party_close": self.close,
            "party_join_request_list": self.join_request_list,
            "party_matchmaker_add": self.matchmaker_add,
            "party_matchmaker_remove": self.matchmaker_remove,
            "party_data_send": self.data_send,
            "party_update": self.update,
        }
        for message, handler in handlers.items():
            pipeline.register(message, handler)

    # Shared steps

    def _party(self, session: Session, cid: str, party_id: str, prefix: str) -> Party | None:
        """The party a request names, or None once the refusal is sent."""
        parsed = parse_match_id(party_id)
        if parsed is None:
            _refuse(session, cid, INVALID_PARTY_ID)
            return None
        try:
            return self._registry.find(*parsed)
        except PartyError as error:
            _refuse(session, cid, f"{prefix}: {error}")
            return None

    def _presence(self, session: Session, cid: str, request) -> PartyPresence | None:
        """The request's target presence; every field is required."""
        if not request.HasField("presence"):
            _refuse(session, cid, INVALID_PRESENCE)
            return None
        p = request.presence
        if not (p.user_id and p.session_id and p.username):
            _refuse(session, cid, INVALID_PRESENCE)
            return None
        return PartyPresence(p.user_id, p.session_id, p.username)

    def _act(
        self,
        session: Session,
        envelope: realtime_pb2.Envelope,
        prefix: str,
        action: Callable[..., object],
        with_presence: bool = False,
    ) -> bool:
        """The shape most requests share: check the target presence (when there is
        one) and the party id, act, then answer with an empty envelope."""
        cid = envelope.cid
        request = getattr(envelope, envelope.WhichOneof("message"))
        args: tuple = ()
        if with_presence:
            target = self._presence(session, cid, request)
            if target is None:
                return False
            args = (target,)
        party = self._party(session, cid, request.party_id, prefix)
        if party is None:
            return False
        try:
            action(party, session.id, *args)
        except PartyError as error:
            return _refuse(session, cid, f"{prefix}: {error}")
        return _ack(session, cid)

    # Handlers

    def create(self, session: Session, envelope: realtime_pb2.Envelope) -> bool:
        cid = envelope.cid
        request = envelope.party_create
        if not 0 <= request.max_size <= MAX_SIZE_LIMIT:
            return _refuse(session, cid, INVALID_MAX_SIZE)
        me = _me(session)
        try:
            party = self._registry.create(
                me, request.open, request.hidden, request.max_size, request.label
            )
        except PartyError as error:
            return _refuse(session, cid, f"Error creating party: {error}")
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
        session.send_envelope(realtime_pb2.Envelope(cid=cid, party=reply))
        self._registry.track(party, session)
        return True

    def join(self, session: Session, envelope: realtime_pb2.Envelope) -> bool:
        cid = envelope.cid
        prefix = "Error joining party"
        party = self._party(session, cid, envelope.party_join.party_id, prefix)
        if party is None:
            return False
        try:
            joins_now = party.join_request(_me(session))
        except PartyError as error:
            return _refuse(session, cid, f"{prefix}: {error}")
        _ack(session, cid)
        if joins_now:
            self._registry.track(party, session)
        return True

    def leave(self, session: Session, envelope: realtime_pb2.Envelope) -> bool:
        # As in Nakama: leaving a party one is not in (or that is gone) is not an error.
        parsed = parse_match_id(envelope.party_leave.party_id)
        if parsed is None:
            return _refuse(session, envelope.cid, INVALID_PARTY_ID)
        self._registry.leave(*parsed, session)
        return _ack(session, envelope.cid)

    def promote(self, session: Session, envelope: realtime_pb2.Envelope) -> bool:
        return self._act(session, envelope, "Error promoting new party leader", Party.promote, True)

    def accept(self, session: Session, envelope: realtime_pb2.Envelope) -> bool:
        return self._act(
            session, envelope, "Error accepting party join request", Party.accept, True
        )

    def remove(self, session: Session, envelope: realtime_pb2.Envelope) -> bool:
        return self._act(
            session, envelope, "Error removing party member or join request", Party.remove, True
        )

    def close(self, session: Session, envelope: realtime_pb2.Envelope) -> bool:
        return self._act(session, envelope, "Error closing party", Party.close)

    def data_send(self, session: Session, envelope: realtime_pb2.Envelope) -> bool:
        request = envelope.party_data_send
        return self._act(
            session,
            envelope,
            "Error sending party data",
            lambda party, sid: party.data_send(sid, request.op_code, request.data),
        )

    def join_request_list(self, session: Session, envelope: realtime_pb2.Envelope) -> bool:
        cid = envelope.cid
        prefix = "Error listing party join requests"
        request = envelope.party_join_request_list
        party = self._party(session, cid, request.party_id, prefix)
        if party is None:
            return False
        try:
            requests = party.join_request_list(session.id)
        except PartyError as error:
            return _refuse(session, cid, f"{prefix}: {error}")
        reply = realtime_pb2.PartyJoinRequest(
            party_id=request.party_id, presences=[p.wire() for p in requests]
        )
        session.send_envelope(realtime_pb2.Envelope(cid=cid, party_join_request=reply))
        return True

    def update(self, session: Session, envelope: realtime_pb2.Envelope) -> bool:
        cid = envelope.cid
        request = envelope.party_update
        parsed = parse_match_id(request.party_id)
        if parsed is None:
            return _refuse(session, cid, INVALID_PARTY_ID)
        try:
            self._registry.update(*parsed, session.id, request.label, request.open, request.hidden)
        except PartyError as error:
            return _refuse(session, cid, f"Error updating party: {error}")
        return _ack(session, cid)

    def matchmaker_add(self, session: Session, envelope: realtime_pb2.Envelope) -> bool:
        cid = envelope.cid
        request = envelope.party_matchmaker_add
        min_count, max_count = request.min_count, request.max_count
        if min_count < 2:
            return _refuse(session, cid, INVALID_MIN_COUNT)
        if max_count < min_count:
            return _refuse(session, cid, INVALID_MAX_COUNT)
        count_multiple = 1
        if request.HasField("count_multiple"):
            count_multiple = request.count_multiple.value
            if count_multiple < 1:
                return _refuse(session, cid, INVALID_COUNT_MULTIPLE)
            if min_count % count_multiple:
                return _refuse(session, cid, INVALID_MULTIPLE_MIN)
            if max_count % count_multiple:
                return _refuse(session, cid, INVALID_MULTIPLE_MAX)
        prefix = "Error adding party to matchmaker"
        party = self._party(session, cid, request.party_id, prefix)
        if party is None:
            return False
        try:
            ticket = party.matchmaker_add(
                session.id,
                request.query or "*",
                min_count,
                max_count,
                count_multiple,
                request.string_properties,
                request.numeric_properties,
            )
        except PartyError as error:
            return _refuse(session, cid, f"{prefix}: {error}")
        reply = realtime_pb2.PartyMatchmakerTicket(party_id=request.party_id, ticket=ticket)
        session.send_envelope(realtime_pb2.Envelope(cid=cid, party_matchmaker_ticket=reply))
        party.announce_ticket(ticket, session.id)
        return True

    def matchmaker_remove(self, session: Session, envelope: realtime_pb2.Envelope) -> bool:
        request = envelope.party_matchmaker_remove
        if not request.ticket:
            return _refuse(session, envelope.cid, INVALID_TICKET)
        # "Error closing party" is Nakama's own prefix for this one.
        return self._act(
            session,
            envelope,
            "Error closing party",
            lambda party, sid: party.matchmaker_remove(sid, request.ticket),
        )
