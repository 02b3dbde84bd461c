"""The session registry: every live socket session on this node, by id.

Features never hold a session; they keep its id and ask a :class:`SessionDirectory`
who holds it, and the router delivers to it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol

from nakama_rt.pipeline import Requester

if TYPE_CHECKING:
    from nakama_rt.session import Session


class SessionDirectory(Protocol):
    """Which sessions are connected, by id: what features may ask of the registry."""

    def requester(self, session_id: str) -> Requester | None:
        """Who holds a session, or None once it is closing or gone."""
        ...


class SessionRegistry:
    """Session id -> session. Reactor thread only."""

    def __init__(self) -> None:
        self._sessions: dict[str, Session] = {}

    def add(self, session: Session) -> None:
        self._sessions[session.id] = session

    def remove(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)

    def get(self, session_id: str) -> Session | None:
        return self._sessions.get(session_id)

    def requester(self, session_id: str) -> Requester | None:
        session = self._sessions.get(session_id)
        if session is None or session.closed:
            return None
        return session.requester

    def __len__(self) -> int:
        return len(self._sessions)

    def __iter__(self) -> Iterator[Session]:
        return iter(list(self._sessions.values()))
