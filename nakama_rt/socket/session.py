"""One connected socket as the rest of the server sees it: who, which format, send, close.

Outgoing frames go straight to the transport while it accepts them. When the
transport's buffer fills, Twisted pauses us (we are its push producer) and frames
wait in a small queue; a client that lets more than ``socket.outgoing_queue_size``
frames pile up, or whose transport stays full for ``socket.write_wait_ms``, is
disconnected, so one slow reader never holds memory or anyone else.
"""

from __future__ import annotations

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

    def mark_closed(self) -> None:
        """Stop accepting outgoing frames (called by the lifecycle when closing starts)."""
        self._closed = True
        self._queue = None
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
