"""``matchmaker_add`` and ``matchmaker_remove``, with Nakama's answers
(``pipeline_matchmaker.go``): bad counts are BAD_INPUT with Nakama's messages; any
failure to add (an invalid query, too many tickets) is RUNTIME_EXCEPTION "Error
adding to matchmaker"; removing an unknown ticket, or one the session does not own
(a party's), is BAD_INPUT "Matchmaker ticket not found".
"""

from __future__ import annotations

from nakama_rt.logs import Logger
from nakama_rt.matchmaker import (
    InvalidCounts,
    Matchmaker,
    MatchmakerError,
    MatchmakerPresence,
    TicketNotFound,
    check_counts,
)
from nakama_rt.pipeline import ErrorCode, Pipeline
from nakama_rt.proto import realtime_pb2
from nakama_rt.session import Session

ADD_FAILED = "Error adding to matchmaker"
INVALID_TICKET = "Invalid matchmaker ticket"
TICKET_NOT_FOUND = "Matchmaker ticket not found"


class MatchmakerHandlers:
    log = Logger()

    def __init__(self, matchmaker: Matchmaker, node: str) -> None:
        self._matchmaker = matchmaker
        self._node = node

    def register(self, pipeline: Pipeline) -> None:
        pipeline.register("matchmaker_add", self.add)
        pipeline.register("matchmaker_remove", self.remove)

    def add(self, session: Session, envelope: realtime_pb2.Envelope) -> bool:
        request = envelope.matchmaker_add
        cid = envelope.cid
        multiple = request.count_multiple.value if request.HasField("count_multiple") else None
        try:
            count_multiple = check_counts(request.min_count, request.max_count, multiple)
        except InvalidCounts as error:
            session.send_error(cid, ErrorCode.BAD_INPUT, str(error))
            return False
        presence = MatchmakerPresence(session.user_id, session.id, session.username, self._node)
        try:
            ticket = self._matchmaker.add(
                [presence],
                session.id,
                "",
                request.query or "*",
                request.min_count,
                request.max_count,
                count_multiple,
                request.string_properties,
                request.numeric_properties,
            )
        except MatchmakerError as error:
            self.log.debug("matchmaker_add from {sid}: {error}", sid=session.id, error=error)
            session.send_error(cid, ErrorCode.RUNTIME_EXCEPTION, ADD_FAILED)
            return False
        session.send_envelope(
            realtime_pb2.Envelope(
                cid=cid, matchmaker_ticket=realtime_pb2.MatchmakerTicket(ticket=ticket)
            )
        )
        return True

    def remove(self, session: Session, envelope: realtime_pb2.Envelope) -> bool:
        ticket = envelope.matchmaker_remove.ticket
        if not ticket:
            session.send_error(envelope.cid, ErrorCode.BAD_INPUT, INVALID_TICKET)
            return False
        try:
            self._matchmaker.remove_session(session.id, ticket)
        except TicketNotFound:
            session.send_error(envelope.cid, ErrorCode.BAD_INPUT, TICKET_NOT_FOUND)
            return False
        session.send_envelope(realtime_pb2.Envelope(cid=envelope.cid))
        return True
