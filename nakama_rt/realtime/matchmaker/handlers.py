"""``matchmaker_add`` and ``matchmaker_remove``, with Nakama's answers
(``pipeline_matchmaker.go``): bad counts are BAD_INPUT with Nakama's messages; any
failure to add (an invalid query, too many tickets) is RUNTIME_EXCEPTION "Error
adding to matchmaker"; removing an unknown ticket, or one the session does not own
(a party's), is BAD_INPUT "Matchmaker ticket not found".
"""

from __future__ import annotations

from nakama_rt.core.pipeline import ErrorCode, RealtimeError, Requester
from nakama_rt.logs import Logger
from nakama_rt.realtime.matchmaker import (
    InvalidCounts,
    Matchmaker,
    MatchmakerError,
    MatchmakerPresence,
    TicketNotFound,
    check_counts,
)
from nakama_rt.wire.proto import realtime_pb2

ADD_FAILED = "Error adding to matchmaker"
INVALID_TICKET = "Invalid matchmaker ticket"
TICKET_NOT_FOUND = "Matchmaker ticket not found"


class MatchmakerHandlers:
    log = Logger()

    def __init__(self, matchmaker: Matchmaker, node: str) -> None:
        self._matchmaker = matchmaker
        self._node = node

    def add(self, envelope: realtime_pb2.Envelope, requester: Requester) -> realtime_pb2.Envelope:
        request = envelope.matchmaker_add
        multiple = request.count_multiple.value if request.HasField("count_multiple") else None
        try:
            count_multiple = check_counts(request.min_count, request.max_count, multiple)
        except InvalidCounts as error:
            raise RealtimeError(ErrorCode.BAD_INPUT, str(error)) from None
        session_id = requester.session_id
        presence = MatchmakerPresence(requester.user_id, session_id, requester.username, self._node)
        try:
            ticket = self._matchmaker.add(
                [presence],
                session_id,
                "",
                request.query or "*",
                request.min_count,
                request.max_count,
                count_multiple,
                request.string_properties,
                request.numeric_properties,
            )
        except MatchmakerError as error:
            self.log.debug("matchmaker_add from {sid}: {error}", sid=session_id, error=error)
            raise RealtimeError(ErrorCode.RUNTIME_EXCEPTION, ADD_FAILED) from None
        ticket_reply = realtime_pb2.MatchmakerTicket(ticket=ticket)
        return realtime_pb2.Envelope(matchmaker_ticket=ticket_reply)

    def remove(
        self, envelope: realtime_pb2.Envelope, requester: Requester
    ) -> realtime_pb2.Envelope:
        ticket = envelope.matchmaker_remove.ticket
        if not ticket:
            raise RealtimeError(ErrorCode.BAD_INPUT, INVALID_TICKET)
        try:
            self._matchmaker.remove_session(requester.session_id, ticket)
        except TicketNotFound:
            raise RealtimeError(ErrorCode.BAD_INPUT, TICKET_NOT_FOUND) from None
        return realtime_pb2.Envelope()
