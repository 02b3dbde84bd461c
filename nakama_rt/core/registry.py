"""The session registry: every live socket session on this node, by id.

Features never hold a session; they keep its id and ask a :class:`SessionDirectory`
who holds it, and the router delivers to it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from nakama_rt.core.pipeline import Requester, Requesting
from nakama_rt.wire.close_reasons import CLOSE_NORMAL
from nakama_rt.wire.codec import Format, OutgoingEnvelope


class LiveSession(Requesting, Protocol):
    """A connected session as the core sees it: who holds it, and send and close.

    The socket layer's session is one; the core never imports it, so a session held
    by another process can stand behind the same few names.
    """

    @property
    def id(self) -> str: ...

    @property
    def user_id(self) -> str: ...

    @property
    def username(self) -> str: ...

    @property
    def format(self) -> Format: ...

    @property
    def status_on_open(self) -> bool: ...

    @property
    def closed(self) -> bool: ...

    def send(self, envelope: OutgoingEnvelope) -> bool: ...

    def close(self, reason: str = "", code: int = CLOSE_NORMAL) -> None: ...


class SessionDirectory(Protocol):
    """Which sessions are connected, by id: what features may ask of the registry."""

    def requester(self, session_id: str) -> Requester | None:
        """Who holds a session, or None once it is closing or gone."""
        ...


class SessionRegistry:
    """Session id -> session. Reactor thread only."""

    def __init__(self) -> None:
        self._sessions: dict[str, LiveSession] = {}

    def add(self, session: LiveSession) -> None:
        self._sessions[session.id] = session

    def remove(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)

    def get(self, session_id: str) -> LiveSession | None:
        return self._sessions.get(session_id)

    def requester(self, session_id: str) -> Requester | None:
        session = self._sessions.get(session_id)
        if session is None or session.closed:
            return None
        return session.requester

    def __len__(self) -> int:
        return len(self._sessions)

    def __iter__(self) -> Iterator[LiveSession]:
        return iter(list(self._sessions.values()))
