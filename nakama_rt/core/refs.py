"""Plain data the runtime and the realtime features both name, below both.

``nk`` builds these and hands them to the realtime side through the protocols of
:mod:`nakama_rt.runtime.realtime`; the realtime side reads them. Neither side owns
them, so ``nakama_rt.runtime`` never imports ``nakama_rt.realtime``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StreamRef:
    """A stream as runtime code names it (subject/subcontext are UUIDs or empty)."""

    mode: int
    subject: str = ""
    subcontext: str = ""
    label: str = ""


class ListError(ValueError):
    """A listing request Nakama refuses; the message is Nakama's."""


@dataclass(frozen=True)
class MatchFilter:
    limit: int = 10
    authoritative: bool | None = None
    label: str | None = None
    min_size: int | None = None
    max_size: int | None = None
    query: str | None = None

    def check(self) -> MatchFilter:
        """Raise :class:`ListError` for what ``GET /v2/match`` refuses."""
        if not 1 <= self.limit <= 100:
            raise ListError("Invalid limit - limit must be between 1 and 100.")
        if self.label is not None and self.authoritative is False:
            raise ListError("Label filtering is not supported for non-authoritative matches.")
        if self.query is not None and self.authoritative is False:
            raise ListError("Query filtering is not supported for non-authoritative matches.")
        if self.min_size is not None and self.min_size < 0:
            raise ListError("Minimum size must be 0 or above.")
        if self.max_size is not None and self.max_size < 0:
            raise ListError("Maximum size must be 0 or above.")
        if (
            self.min_size is not None
            and self.max_size is not None
            and self.min_size > self.max_size
        ):
            raise ListError(
                "Maximum size must be greater than or equal to minimum size when both are "
                "specified."
            )
        return self


@dataclass(frozen=True)
class ListedMatch:
    """An authoritative match as listings show it (``GET /v2/match``, ``nk.match_list``),
    wherever it runs: in a cluster every node keeps those of the others."""

    subject: str
    node: str
    label: str
    tick_rate: int
    handler_name: str
    create_time: float

    @property
    def match_id(self) -> str:
        return f"{self.subject}.{self.node}"


@dataclass(frozen=True)
class ListedParty:
    """A party as listings show it (``GET /v2/party``, ``nk.party_list``), wherever it
    lives. ``indexed_at`` is when it was last told (created or updated): Nakama lists
    parties in the order its index took them, an update moving one to the end."""

    subject: str
    node: str
    open: bool
    hidden: bool
    max_size: int
    label: str
    indexed_at: float

    @property
    def party_id(self) -> str:
        return f"{self.subject}.{self.node}"


@dataclass(frozen=True)
class TicketData:
    """A matchmaker ticket as plain values, as one node tells it the others: who is in
    it (``(user_id, session_id, username, node)`` each), what it asks for, and when it
    was made (Unix nanoseconds)."""

    ticket_id: str
    session_id: str
    party_id: str
    presences: tuple[tuple[str, str, str, str], ...]
    query: str
    min_count: int
    max_count: int
    count_multiple: int
    string_properties: dict[str, str]
    numeric_properties: dict[str, float]
    created_at: int


@dataclass(frozen=True)
class ParkedRef:
    """A session a node keeps after its socket dropped (``session.resume_grace_ms``), as
    the other nodes know it: a socket opened with its token on any node resumes it."""

    #: The session id.
    subject: str
    node: str
    token_id: str
    user_id: str
    #: The session's format ("json", "protobuf"): only a socket of that format resumes it.
    format: str

    @property
    def resumed_by(self) -> tuple[str, str, str]:
        """What a socket that resumes it is found by (:func:`resume_key`)."""
        return resume_key(self.token_id, self.user_id, self.format)


def resume_key(token_id: str, user_id: str, fmt: str) -> tuple[str, str, str]:
    """A socket's token, user and format: what finds the session it may resume."""
    return (token_id, user_id, fmt)
