"""Sessions kept for a while after their connection dropped, for a new socket to resume.

Phones lose their connection for seconds at a time. With ``session.resume_grace_ms``
above 0, a socket that goes away without a close frame (a reset, a dead network, a
missed pong) does not end its session: the session is *parked* here for the window,
with every presence, matchmaker ticket and party seat it holds, so nobody sees a leave
event. What the server sends to it meanwhile waits in a buffer of at most
``session.resume_buffer`` envelopes.

A new socket opened with the same session token (and the same format) within the
window takes the session over: same session id, same presences, and the buffered
envelopes first, in order. When the window passes, when the buffer would overflow, or
when the server closes the parked session (``single_socket``, shutdown), the session
ends as any other does: the hooks' ``session_closed`` sends the leave events once.
A client that closes with a close frame leaves at once, as with Nakama.

In a cluster, each node tells the others which sessions it keeps (a
:class:`~nakama_rt.core.directory.Directory` of :class:`~nakama_rt.core.refs.ParkedRef`),
so a socket that reconnects to another node resumes its session where it lives
(:mod:`nakama_rt.socket.resume_remote`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from twisted.internet.interfaces import IDelayedCall, IReactorTime

from nakama_rt.config import SessionConfig
from nakama_rt.core.directory import Directory
from nakama_rt.core.refs import ParkedRef
from nakama_rt.logs import Logger
from nakama_rt.socket.session import Session
from nakama_rt.wire.codec import Format

#: The session_end reason when a parked session's replay buffer overflowed.
RESUME_BUFFER_FULL = "session resume buffer full"


class SessionEnd(Protocol):
    """How a parked session ends: the server's own clean-up (leave events, tickets...)."""

    def session_closed(self, session: Session, reason: str = "") -> None: ...


@dataclass
class ResumeCounts:
    """What happened to parked sessions, for the metrics."""

    parked: int = 0
    resumed: int = 0
    #: Envelopes replayed to resumed sockets.
    replayed: int = 0
    #: Ended because their window passed.
    expired: int = 0
    #: Ended because more was sent to them than the buffer holds.
    overflowed: int = 0
    #: Ended because the server closed them (single_socket, shutdown) or a socket with
    #: their token came back in another format.
    closed: int = 0


@dataclass(slots=True)
class _Parked:
    session: Session
    #: The session_end reason if it never comes back (why its connection went).
    reason: str
    timer: IDelayedCall


class ParkedSessions:
    """The sessions of one node whose connections dropped, by session token."""

    log = Logger()

    def __init__(
        self,
        config: SessionConfig,
        clock: IReactorTime,
        end: SessionEnd,
        accepting: Callable[[], bool],
        *,
        node: str = "",
        directory: Directory[ParkedRef] | None = None,
    ) -> None:
        self._grace = config.resume_grace_ms / 1000.0
        self._buffer = config.resume_buffer
        self._clock = clock
        self._end = end
        #: False once a shutdown began: dropped sessions end at once.
        self._accepting = accepting
        #: Token id -> parked sessions of that token, oldest first.
        self._by_token: dict[str, list[_Parked]] = {}
        self.counts = ResumeCounts()
        self._node = node
        #: Where the other nodes of a cluster learn of what is parked here.
        self._directory = directory

    def __len__(self) -> int:
        return sum(len(parked) for parked in self._by_token.values())

    def kept_until(self) -> dict[str, float]:
        """Each parked session's id, and when its window ends (reactor time)."""
        return {
            parked.session.id: parked.timer.getTime()
            for entries in self._by_token.values()
            for parked in entries
        }

    def park(self, session: Session, reason: str) -> bool:
        """Keep ``session``, whose connection went (``reason``), for the window; False
        when it cannot be kept (the server is shutting down) and must end now."""
        if not self._accepting() or session.closed:
            return False
        parked = _Parked(
            session,
            reason,
            self._clock.callLater(self._grace, self._expire, session),
        )
        self._by_token.setdefault(session.token_id, []).append(parked)
        if self._directory is not None:
            self._directory.put(
                ParkedRef(
                    session.id, self._node, session.token_id, session.user_id, session.format.value
                )
            )
        session.detach(
            replay_limit=self._buffer,
            on_close=lambda why, code: self._closed(session, why),
            on_overflow=self._overflowed,
        )
        self.counts.parked += 1
        self.log.debug("session {sid} parked: {reason}", sid=session.id, reason=reason)
        return True

    def take(self, user_id: str, token_id: str, fmt: Format) -> Session | None:
        """The oldest session parked under this token, now no longer parked (the caller
        attaches it to its connection), or None. One parked in another format ends:
        its buffered frames and its presences' meta are in that format."""
        entries = self._by_token.get(token_id)
        while entries:
            parked = entries[0]
            session = parked.session
            if session.user_id != user_id:
                return None  # (a token id names one user's token)
            self._forget(parked)
            if session.format is fmt:
                self.counts.resumed += 1
                self.log.debug("session {sid} resumed", sid=session.id)
                return session
            self.counts.closed += 1
            self._finish(session, parked.reason)
            entries = self._by_token.get(token_id)
        return None

    def take_session(self, session_id: str, user_id: str, token_id: str) -> Session | None:
        """The parked session ``session_id`` for a socket with this user's token on
        another node, now no longer parked, or None when it is not here any more."""
        for parked in self._by_token.get(token_id, ()):
            session = parked.session
            if session.id == session_id and session.user_id == user_id:
                self._forget(parked)
                self.counts.resumed += 1
                return session
        return None

    def resumed(self, session: Session) -> None:
        """The taken session's new socket is open: replay what it missed."""
        self.counts.replayed += session.replay()

    # Endings

    def _expire(self, session: Session) -> None:
        parked = self._find(session)
        if parked is None:
            return
        self._forget(parked, cancel=False)
        self.counts.expired += 1
        self._finish(session, parked.reason)

    def _overflowed(self, session: Session) -> None:
        # Called from inside a send (a router's loop): end it on the next turn.
        parked = self._find(session)
        if parked is None:
            return  # taken already: its new socket closes it (see the lifecycle)
        self._forget(parked)
        self.counts.overflowed += 1
        self._clock.callLater(0, self._finish, session, RESUME_BUFFER_FULL)

    def _closed(self, session: Session, reason: str) -> None:
        """The server closed the parked session (single_socket, shutdown, an operator)."""
        parked = self._find(session)
        if parked is None:
            return
        self._forget(parked)
        self.counts.closed += 1
        self._finish(session, reason)

    def _finish(self, session: Session, reason: str) -> None:
        session.mark_closed()
        try:
            self._end.session_closed(session, reason)
        except Exception:
            self.log.failure("session {sid}: clean-up failed", sid=session.id)

    # Book-keeping

    def _find(self, session: Session) -> _Parked | None:
        for parked in self._by_token.get(session.token_id, ()):
            if parked.session is session:
                return parked
        return None

    def _forget(self, parked: _Parked, *, cancel: bool = True) -> None:
        if self._directory is not None:
            self._directory.remove(parked.session.id)
        token = parked.session.token_id
        entries = self._by_token[token]
        entries.remove(parked)
        if not entries:
            del self._by_token[token]
        if cancel and parked.timer.active():
            parked.timer.cancel()
