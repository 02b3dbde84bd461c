"""Tickets and the entries runtime code sees, with Nakama's errors and count rules."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from nakama_rt.core.refs import TicketData
from nakama_rt.query import Document, Query
from nakama_rt.wire.proto import realtime_pb2

_User = realtime_pb2.MatchmakerMatched.MatchmakerUser

# Nakama's runtime errors (``runtime.ErrMatchmaker...``), word for word.
QUERY_INVALID = "matchmaker query invalid"
DUPLICATE_SESSION = "matchmaker duplicate session"
NOT_AVAILABLE = "matchmaker not available"
TOO_MANY_TICKETS = "matchmaker too many tickets"
TICKET_NOT_FOUND = "matchmaker ticket not found"

# The pipeline's BAD_INPUT messages for counts (``pipeline_matchmaker.go``).
INVALID_MIN_COUNT = "Invalid minimum count, must be >= 2"
INVALID_MAX_COUNT = "Invalid maximum count, must be >= minimum count"
INVALID_COUNT_MULTIPLE = "Invalid count multiple, must be >= 1"
INVALID_MULTIPLE_MIN = "Invalid count multiple for minimum count, must divide"
INVALID_MULTIPLE_MAX = "Invalid count multiple for maximum count, must divide"


class MatchmakerError(ValueError):
    """A ticket cannot be added or removed; the message is Nakama's."""


class InvalidCounts(MatchmakerError):
    """min/max/count_multiple break Nakama's rules (answered as BAD_INPUT)."""


class TicketNotFound(MatchmakerError, LookupError):
    """No such ticket, or the caller does not own it."""

    def __init__(self, message: str = TICKET_NOT_FOUND) -> None:
        super().__init__(message)


def check_counts(min_count: int, max_count: int, count_multiple: int | None) -> int:
    """Nakama's count rules; the count multiple to use (1 when not given)."""
    if min_count < 2:
        raise InvalidCounts(INVALID_MIN_COUNT)
    if max_count < min_count:
        raise InvalidCounts(INVALID_MAX_COUNT)
    if count_multiple is None:
        return 1
    if count_multiple < 1:
        raise InvalidCounts(INVALID_COUNT_MULTIPLE)
    if min_count % count_multiple:
        raise InvalidCounts(INVALID_MULTIPLE_MIN)
    if max_count % count_multiple:
        raise InvalidCounts(INVALID_MULTIPLE_MAX)
    return count_multiple


@dataclass(frozen=True, slots=True)
class MatchmakerPresence:
    """One matched user (Nakama's ``runtime.Presence`` of a matchmaker entry)."""

    user_id: str
    session_id: str
    username: str
    node: str = ""


@dataclass(frozen=True, slots=True)
class MatchmakerEntry:
    """One matched user as the ``matchmaker_matched`` function receives it, with the
    fields of Nakama's ``runtime.MatchmakerEntry``: the ``ticket`` it came in with,
    its ``presence``, the ticket's ``properties`` (string and numeric merged, numeric
    winning on a shared key), ``party_id`` ("" when solo) and ``create_time`` (the
    ticket's creation, Unix nanoseconds). ``string_properties`` and
    ``numeric_properties`` are the two maps as given, as the client is sent them."""

    ticket: str
    presence: MatchmakerPresence
    properties: Mapping[str, Any]
    party_id: str
    create_time: int
    string_properties: Mapping[str, str]
    numeric_properties: Mapping[str, float]


class Ticket:
    """One ticket in the pool (Nakama's ``MatchmakerIndex``): a session's or a whole
    party's, indexed once when added."""

    __slots__ = (
        "id",
        "session_id",
        "party_id",
        "session_ids",
        "user_ids",
        "query",
        "plan",
        "min_count",
        "max_count",
        "count_multiple",
        "count",
        "created_at",
        "seq",
        "intervals",
        "doc",
        "entries",
        "slots",
        "live",
        "data",
    )

    def __init__(
        self, data: TicketData, *, query: Query, plan: Any, seq: int, doc: Document
    ) -> None:
        #: The ticket as plain values, as a cluster's nodes tell it each other; what
        #: searches read is kept in slots of its own below.
        self.data = data
        ticket_id, party_id, created_at = data.ticket_id, data.party_id, data.created_at
        presences = [MatchmakerPresence(*p) for p in data.presences]
        self.id = ticket_id
        self.session_id = data.session_id
        self.party_id = party_id
        self.session_ids = frozenset(p.session_id for p in presences)
        self.user_ids = frozenset(p.user_id for p in presences)
        self.query = query
        self.plan = plan
        self.min_count = data.min_count
        self.max_count = data.max_count
        self.count_multiple = data.count_multiple
        self.count = len(presences)
        self.created_at = created_at
        self.seq = seq
        self.intervals = 0
        self.doc = doc
        self.live = True
        strings = dict(data.string_properties)
        numbers = dict(data.numeric_properties)
        properties = MappingProxyType({**strings, **numbers})
        frozen_strings, frozen_numbers = MappingProxyType(strings), MappingProxyType(numbers)
        self.entries = tuple(
            MatchmakerEntry(
                ticket_id, p, properties, party_id, created_at, frozen_strings, frozen_numbers
            )
            for p in presences
        )
        #: (ticket, entry, wire user): the players match candidates are built from,
        #: each with its ``MatchmakerMatched.MatchmakerUser`` made once.
        self.slots = tuple(
            (
                self,
                entry,
                _User(
                    presence=realtime_pb2.UserPresence(
                        user_id=entry.presence.user_id,
                        session_id=entry.presence.session_id,
                        username=entry.presence.username,
                    ),
                    party_id=party_id,
                    string_properties=strings,
                    numeric_properties=numbers,
                ),
            )
            for entry in self.entries
        )

    def __repr__(self) -> str:
        return (
            f"<Ticket {self.id} count={self.count} {self.min_count}-{self.max_count}"
            f" q={self.query.text!r}>"
        )
