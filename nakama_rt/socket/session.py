"""One connected socket as the rest of the server sees it: who, which format, send, close.

Outgoing frames go straight to the transport while it accepts them. When the
transport's buffer fills, Twisted pauses us (we are its push producer) and frames
wait in a small queue; a client that lets more than ``socket.outgoing_queue_size``
frames pile up, or whose transport stays full for ``socket.write_wait_ms``, is
disconnected, so one slow reader never holds memory or anyone else.

With ``session.resume_grace_ms`` set, a session whose connection dropped is kept
(:mod:`nakama_rt.socket.resume`): :meth:`Session.detach` parks it, what is sent to it
then waits in a bounded replay buffer, and :meth:`Session.attach` plus
:meth:`Session.replay` hand it and those frames, in order, to a new connection.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Callable, Mapping
from typing import Protocol

from twisted.internet.interfaces import IDelayedCall, IReactorTime

from nakama_rt.core.pipeline import Requester
from nakama_rt.counters import RealtimeCounts
from nakama_rt.logs import Logger
from nakama_rt.wire.close_reasons import CLOSE_NORMAL, OUTGOING_QUEUE_FULL, WRITE_TIMEOUT
from nakama_rt.wire.codec import Format, OutgoingEnvelope


class Connection(Protocol):
    """What a session needs from its WebSocket connection (the Autobahn protocol)."""

    def write_frame(self, envelope: OutgoingEnvelope, fmt: Format) -> None: ...

    def send_close(self, code: int, reason: str) -> None: ...


class Session:
    """A live socket session. Created once the upgrade is accepted.

    :attr:`requester` is the session as the pipeline's handlers see it: plain facts
    made once, so a request costs no copy of them.
    """

    __slots__ = (
        "id",
        "requester",
        "user_id",
        "username",
        "vars",
        "expiry",
        "token_id",
        "format",
        "lang",
        "client_ip",
        "client_port",
        "status_on_open",
        "_connection",
        "_queue",
        "_queue_limit",
        "_paused",
        "_closed",
        "_on_close",
        "_clock",
        "_write_wait",
        "_write_timer",
        "_counts",
        "_replay",
        "_replay_limit",
        "_on_overflow",
    )

    log = Logger()

    def __init__(
        self,
        *,
        session_id: str,
        user_id: str,
        username: str,
        vars: Mapping[str, str] | None,
        expiry: int,
        token_id: str,
        fmt: Format,
        lang: str,
        client_ip: str,
        client_port: str,
        connection: Connection,
        outgoing_queue_size: int,
        status_on_open: bool = False,
        clock: IReactorTime | None = None,
        write_wait_ms: int = 5000,
        counts: RealtimeCounts | None = None,
        on_close: Callable[[str, int], None] | None = None,
    ) -> None:
        self.id = session_id
        self.user_id = user_id
        self.username = username
        self.vars = vars
        self.expiry = expiry
        self.token_id = token_id
        self.format = fmt
        self.lang = lang
        self.client_ip = client_ip
        self.client_port = client_port
        self.status_on_open = status_on_open
        self.requester = Requester(
            session_id=session_id,
            user_id=user_id,
            username=username,
            format=fmt,
            vars=vars,
            lang=lang,
            expiry=expiry,
            client_ip=client_ip,
            client_port=client_port,
        )
        self._connection = connection
        self._queue: deque[OutgoingEnvelope] | None = None
        self._queue_limit = outgoing_queue_size
        self._paused = False
        self._closed = False
        #: Where :meth:`close` goes: the socket's lifecycle, which cleans up and sends
        #: the close frame; without one (a session in a test harness), straight to the
        #: connection.
        self._on_close = on_close
        self._clock = clock
        self._write_wait = write_wait_ms / 1000.0
        self._write_timer: IDelayedCall | None = None
        self._counts = counts if counts is not None else RealtimeCounts()
        #: While detached (parked, or resumed but not yet replayed): what was sent.
        self._replay: deque[OutgoingEnvelope] | None = None
        self._replay_limit = 0
        self._on_overflow: Callable[[Session], None] | None = None

    def __repr__(self) -> str:
        return f"<Session {self.id} user={self.user_id} format={self.format.value}>"

    @property
    def closed(self) -> bool:
        return self._closed

    def send(self, envelope: OutgoingEnvelope) -> bool:
        """Queue or write one envelope; False when the session can no longer send."""
        if self._closed:
            return False
        if self._paused:
            if self._replay is not None:
                return self._keep_for_replay(envelope)
            queue = self._queue
            if queue is None:
                queue = self._queue = deque()
            if len(queue) >= self._queue_limit:
                self.log.debug("session {sid} outgoing queue full", sid=self.id)
                self.close(OUTGOING_QUEUE_FULL)
                return False
            queue.append(envelope)
            return True
        self._connection.write_frame(envelope, self.format)
        return True

    def send_reply(self, outgoing: OutgoingEnvelope) -> bool:
        """Send the pipeline's answer to this session's request, counted as sent (the
        router counts what it delivers)."""
        # An ack without a message has no type: counted under "", as the router does.
        self._counts.messages_out[outgoing.message_type() or ""] += 1
        return self.send(outgoing)

    def close(self, reason: str = "", code: int = CLOSE_NORMAL) -> None:
        """Close the socket with a reason; idempotent."""
        if self._closed:
            return
        if self._on_close is not None:
            # Closed at once so nothing more is sent or processed; the lifecycle
            # cleans up and sends the close frame.
            self._closed = True
            self._on_close(reason, code)
        else:
            self.mark_closed()
            self._connection.send_close(code, reason)

    def _keep_for_replay(self, envelope: OutgoingEnvelope) -> bool:
        replay = self._replay
        assert replay is not None
        if len(replay) >= self._replay_limit:
            # Past the bound: no partial replay. The session is over (closed now, so
            # nothing more is kept); its owner ends it with the usual leave events.
            self.log.debug("session {sid}: resume buffer full", sid=self.id)
            self._replay = None
            self.mark_closed()
            if self._on_overflow is not None:
                self._on_overflow(self)
            return False
        replay.append(envelope)
        return True

    # Resume: a dropped connection's session kept for the next one.

    def detach(
        self,
        *,
        replay_limit: int,
        on_close: Callable[[str, int], None],
        on_overflow: Callable[[Session], None],
    ) -> None:
        """The connection is gone but the session stays: keep up to ``replay_limit``
        envelopes sent from now on (frames still queued for the old connection first);
        ``on_close`` is what :meth:`close` does meanwhile, ``on_overflow`` is told when
        the buffer would overflow."""
        self._cancel_write_timer()
        self._replay = self._queue or deque()
        self._queue = None
        self._paused = True  # so send() takes its slow branch, into the buffer
        self._replay_limit = replay_limit
        self._on_close = on_close
        self._on_overflow = on_overflow

    def attach(
        self,
        connection: Connection,
        *,
        on_close: Callable[[str, int], None],
        client_ip: str,
        client_port: str,
    ) -> None:
        """A new connection takes the session over. Frames keep going to the buffer
        until :meth:`replay` (called once the new socket is open)."""
        self._connection = connection
        self._on_close = on_close
        self._on_overflow = None
        self.client_ip = client_ip
        self.client_port = client_port
        self.requester = dataclasses.replace(
            self.requester, client_ip=client_ip, client_port=client_port
        )

    def replay(self) -> int:
        """Write what was kept while detached to the new connection, in order, then go
        back to sending directly; return how many frames were replayed. The replay is
        bounded by the buffer's limit, so it is written without flow control."""
        replay, self._replay = self._replay, None
        self._paused = False
        if not replay or self._closed:
            return 0
        write, fmt = self._connection.write_frame, self.format
        for envelope in replay:
            write(envelope, fmt)
        return len(replay)

    def attached_to(self, connection: object) -> bool:
        """Whether ``connection`` is the one this session now writes to."""
        return self._connection is connection

    def mark_closed(self) -> None:
        """Stop accepting outgoing frames (called by the lifecycle when closing starts)."""
        self._closed = True
        self._queue = None
        self._replay = None
        self._cancel_write_timer()

    # Flow control, called by the transport through the connection.

    def pause_writing(self) -> None:
        self._paused = True
        if self._clock is not None and self._write_timer is None and not self._closed:
            self._write_timer = self._clock.callLater(self._write_wait, self._write_timed_out)

    def _write_timed_out(self) -> None:
        self._write_timer = None
        self.log.debug("session {sid}: no write progress in time", sid=self.id)
        self.close(WRITE_TIMEOUT)

    def _cancel_write_timer(self) -> None:
        if self._write_timer is not None:
            if self._write_timer.active():
                self._write_timer.cancel()
            self._write_timer = None

    def resume_writing(self) -> None:
        self._paused = False
        self._cancel_write_timer()
        queue = self._queue
        if not queue:
            return
        self._queue = None
        write, fmt = self._connection.write_frame, self.format
        while queue:
            if self._closed:
                return
            write(queue.popleft(), fmt)
            if self._paused:
                # The transport filled up again: keep the rest for the next resume.
                rest = self._queue
                self._queue = queue if rest is None else deque([*queue, *rest])
                return
