"""The WebSocket protocol and factory: thin glue between Autobahn and the lifecycle.

Authentication happens before the upgrade (:func:`authenticate_upgrade`): the
``/ws`` resource answers a bad format with 400 and a bad token with 401 as plain
HTTP, exactly as Nakama does, checks the upgrade itself (:mod:`nakama_rt.socket.upgrade`)
and opens the socket with :meth:`NakamaServerProtocol.open_upgraded`; Autobahn's
own handshake is not involved. When the factory is served without twisted.web,
Autobahn's handshake runs and ``onConnect`` applies the same checks, refusing with
``ConnectionDeny``.

Outgoing frames: the server never masks, so a frame is built once per format
from an :class:`OutgoingEnvelope` and the same bytes are written to every
recipient's transport, once per reactor turn (:mod:`nakama_rt.socket.framing`); whole
incoming data frames are read there too, and everything else by Autobahn.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from autobahn.util import encode_truncate
from autobahn.websocket.protocol import WebSocketProtocol
from autobahn.websocket.types import ConnectionDeny
from twisted.internet.interfaces import IPushProducer, IReactorTime
from zope.interface import implementer

from nakama_rt.auth import tokens
from nakama_rt.auth.session_cache import SessionCache
from nakama_rt.config import Config
from nakama_rt.counters import RealtimeCounts
from nakama_rt.library_internals import (
    ONE_BYTE_CLOSE,
    can_send_now,
    enter_open_state,
    fire_open,
    send_now,
    websocket_connection_made,
)
from nakama_rt.logs import Logger
from nakama_rt.socket.framing import (
    TurnWriter,
    frame_payload,
    message_frame_limit,
    whole_frames,
)
from nakama_rt.socket.lifecycle import (
    SessionHooks,
    SocketCore,
    SocketInputs,
    SocketMachine,
    receive_frame,
)
from nakama_rt.socket.resume import ParkedSessions
from nakama_rt.socket.resume_remote import ResumeRelay
from nakama_rt.socket.session import Session
from nakama_rt.wire.close_reasons import (
    CONNECTION_DROPPED,
    MESSAGE_TOO_BIG,
    PROTOCOL_ERROR,
    READ_LIMIT_EXCEEDED,
    client_close_reason,
    close_frame_error,
    message_too_big_text,
    read_error_reason,
)
from nakama_rt.wire.codec import Format, OutgoingEnvelope
from nakama_rt.wire.ids import new_session_id

if TYPE_CHECKING:
    from twisted.internet.interfaces import IConsumer, ITransport

    class ISocketTransport(ITransport, IConsumer, IPushProducer):
        """What a socket's transport is to it: a connection (Twisted's TCP one, TLS
        over it, a test's StringTransport) that takes the socket as its producer and
        pauses and resumes its own reading when asked."""


INVALID_FORMAT = "Invalid format parameter"
INVALID_TOKEN = "Missing or invalid token"


class UpgradeRefused(Exception):
    """The ``/ws`` request cannot become a socket; ``status`` is the HTTP answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class SocketEnvironment:
    """What the socket layer needs of the server it serves, and nothing of its features:
    the realtime server is only ``hooks`` (a session opened, a request, a close)."""

    config: Config
    clock: IReactorTime
    #: Whether a token was ended early (logout, ban, refresh).
    session_cache: SessionCache
    counts: RealtimeCounts
    hooks: SessionHooks
    #: False once a shutdown began: upgrades are refused with 503.
    accepting: Callable[[], bool]
    #: Sessions whose connections dropped, kept for a new socket (None: resume off).
    parking: ParkedSessions | None = None
    #: Sessions other nodes keep, resumed through them (None: no cluster, or resume off).
    relay: ResumeRelay | None = None


@dataclass(frozen=True, slots=True)
class SocketAuth:
    """Who is connecting, and how, as decided from the upgrade request."""

    claims: tokens.SessionClaims
    format: Format
    status: bool
    lang: str


def _first(params: Mapping[str, Sequence[str]], name: str) -> str:
    values = params.get(name)
    return values[0] if values else ""


def parse_bool(value: str) -> bool:
    """Go's ``strconv.ParseBool``, forgiving as Nakama is: anything else is false."""
    return value in ("1", "t", "T", "TRUE", "true", "True")


def authenticate_upgrade(
    server: SocketEnvironment,
    params: Mapping[str, Sequence[str]],
    authorization: str | None,
) -> SocketAuth:
    """Check the upgrade request's format and token; raise :class:`UpgradeRefused`."""
    try:
        fmt = Format.from_query(_first(params, "format"))
    except ValueError:
        raise UpgradeRefused(400, INVALID_FORMAT) from None
    if authorization is not None:
        prefix = "Bearer "
        if not authorization.startswith(prefix):
            raise UpgradeRefused(401, INVALID_TOKEN)
        token = authorization[len(prefix) :]
    else:
        token = _first(params, "token")
    if not token:
        raise UpgradeRefused(401, INVALID_TOKEN)
    session_config = server.config.session
    try:
        claims = tokens.parse_session_token(
            token, session_config.encryption_key, server.clock.seconds()
        )
    except tokens.InvalidToken:
        raise UpgradeRefused(401, INVALID_TOKEN) from None
    if not server.session_cache.is_valid_session(
        claims.user_id, claims.expires_at, claims.token_id
    ):
        raise UpgradeRefused(401, INVALID_TOKEN)
    return SocketAuth(
        claims=claims,
        format=fmt,
        status=parse_bool(_first(params, "status")),
        lang=_first(params, "lang") or "en",
    )


@implementer(IPushProducer)
class NakamaServerProtocol(WebSocketServerProtocol):
    """One socket. Forwards events to the lifecycle machine and writes frames.

    Autobahn's private names it uses or overrides (``_dataReceived``,
    ``_fail_connection``, ``_protocol_violation``) are listed, with the rest, in
    :mod:`nakama_rt.library_internals`.
    """

    _log = Logger()

    #: Set by ``makeConnection`` before anything here runs (Twisted's None is only the
    #: default of a protocol never connected).
    transport: ISocketTransport
    #: Two of the factory's protocol options, class attributes of the protocol class
    #: it makes (see :meth:`NakamaSocketFactory._bind_protocol_options`).
    maxFramePayloadSize: int
    maxMessagePayloadSize: int

    auth: SocketAuth | None = None
    session: Session | None = None
    core: SocketCore | None = None
    #: The lifecycle, from the accepted upgrade on (``_start``): None before, and only
    #: ``_fail_connection`` and ``onClose``, which a socket refused or gone before then
    #: can reach, test for that. The frame paths run on an open socket only.
    machine: SocketInputs = None  # type: ignore[assignment]
    write_through = False
    #: Frames written this turn, for :class:`TurnWriter` to send (write-through only).
    pending: list[bytes] | None = None
    #: Why the client ended the session, from the close frame it started closing with.
    client_close: str | None = None
    #: The close frame's text while :meth:`_close_with` closes (else the reason's).
    _close_text: str | None = None

    # Autobahn callbacks

    def connectionMade(self) -> None:  # noqa: N802
        # Autobahn's own, less the debug lines it formats on every connection.
        websocket_connection_made(self)

    def onConnect(self, request):  # noqa: N802 (Autobahn's name)
        # Autobahn's handshake: only when the factory is served without twisted.web
        # (behind it, the /ws resource opens the socket with open_upgraded).
        try:
            auth = authenticate_upgrade(
                self.factory.environment, request.params, request.headers.get("authorization")
            )
        except UpgradeRefused as refused:
            raise ConnectionDeny(refused.status, refused.message) from None
        except Exception:
            self._log.failure("socket upgrade check failed")
            raise ConnectionDeny(500, "Internal error") from None
        peer = self.transport.getPeer()
        self._start(auth, str(getattr(peer, "host", "")), str(getattr(peer, "port", "")))
        return None

    def open_upgraded(
        self, auth: SocketAuth, response: bytes, client_ip: str, client_port: str
    ) -> None:
        """Open the socket the ``/ws`` resource accepted (:mod:`nakama_rt.socket.upgrade`):
        write its ``101 response`` and go to the state Autobahn's handshake leaves
        behind when it accepts (no subprotocol, no extension), without parsing the
        request a second time."""
        transport = self.transport
        # Straight to the socket when it can take it (see library_internals.send_now).
        rest = send_now(transport, response) if can_send_now(transport) else response
        if rest:
            transport.write(rest)
        enter_open_state(self)
        self._start(auth, client_ip, client_port)
        fire_open(self)

    def _start(self, auth: SocketAuth, client_ip: str, client_port: str) -> None:
        """The session and its lifecycle, for an accepted upgrade."""
        server = self.factory.environment
        self.auth = auth
        parking = server.parking
        claims = auth.claims
        parked = parking.take(claims.user_id, claims.token_id, auth.format) if parking else None
        if parked is not None:
            parked.attach(
                self,
                on_close=self._close_from_session,
                client_ip=client_ip,
                client_port=client_port,
            )
            self._begin(parked, resumed=True)
            return
        session = Session(
            session_id=new_session_id(),
            user_id=auth.claims.user_id,
            username=auth.claims.username,
            vars=auth.claims.vars,
            expiry=auth.claims.expires_at,
            token_id=auth.claims.token_id,
            fmt=auth.format,
            lang=auth.lang,
            client_ip=client_ip,
            client_port=client_port,
            connection=self,
            outgoing_queue_size=server.config.socket.outgoing_queue_size,
            status_on_open=auth.status,
            clock=server.clock,
            write_wait_ms=server.config.socket.write_wait_ms,
            counts=server.counts,
            on_close=self._close_from_session,
        )
        relay = server.relay
        elsewhere = relay.find(claims.user_id, claims.token_id, auth.format) if relay else None
        if elsewhere is not None:
            assert relay is not None
            # Kept by another node: this socket relays to it (resume_remote).
            self._begin(session, resumed=False, hooks=relay.edge(elsewhere, session))
            return
        self._begin(session, resumed=False)

    def _begin(self, session: Session, *, resumed: bool, hooks: SessionHooks | None = None) -> None:
        server = self.factory.environment
        self.session = session
        self.core = SocketCore(
            clock=server.clock,
            config=server.config.socket,
            session=session,
            wire=self,
            hooks=server.hooks if hooks is None else hooks,
            parking=server.parking,
            resumed=resumed,
        )
        self.machine = SocketMachine(self.core)

    def _close_from_session(self, reason: str, code: int) -> None:
        """The server closes the session (a feature, a shutdown): through the lifecycle."""
        self.machine.close(reason, code)

    def onOpen(self):  # noqa: N802
        transport = self.transport
        # twisted.web's HTTP channel registered itself as the transport's producer;
        # the socket now owns flow control.
        try:
            transport.unregisterProducer()
        except Exception:
            pass
        transport.registerProducer(self, True)
        self.write_through = can_send_now(transport)
        self.factory.open_protocols.add(self)
        self.machine.opened()

    def dataReceived(self, data: bytes) -> None:  # noqa: N802
        # Autobahn's own dataReceived formats a debug line (colours and all) for
        # every read, logged or not: a seventh of a ping's cost.
        core = self.core
        if (
            core is not None
            and core.receiving
            and not self.data
            and self.current_frame is None
            and not self.inside_message
            and self.state == WebSocketProtocol.STATE_OPEN
        ):
            data = self._receive_whole_frames(data, core)
            if not data:
                return
        self._dataReceived(data)  # Autobahn's reader, in place: see library_internals

    def _receive_whole_frames(self, data: bytes, core: SocketCore) -> bytes:
        """Hand the whole data frames at the head of ``data`` straight to the
        lifecycle (see :func:`~nakama_rt.socket.framing.whole_frames`); return the rest,
        for Autobahn. Frames after one that closed the socket are dropped, as the
        closing lifecycle would drop them."""
        frames, taken = whole_frames(data, self.maxFramePayloadSize)
        machine = self.machine
        for start, stop, binary in frames:
            if not core.receiving or self.state != WebSocketProtocol.STATE_OPEN:
                break
            receive_frame(machine, core, frame_payload(data, start, stop), binary)
        return data[taken:] if taken else data

    # Messages Autobahn reads (fragmented, or split across reads): their bytes go into
    # one bytearray as they come. Autobahn's own versions keep a list entry per frame
    # (and per read), and empty continuation frames never reach the byte limit, so a
    # message that never ends grew without bound; its frames are counted instead.

    #: Data frames of the message being read, and the bytes so far (Autobahn's name,
    #: which Autobahn declares as its list of frames). The bytes are a bytearray from
    #: onMessageBegin to onMessageEnd, the only time they are read, and None between
    #: messages, so that no message's bytes are kept.
    message_frames = 0
    message_data: bytearray = None  # type: ignore[assignment]

    def onMessageBegin(self, isBinary: bool) -> None:  # noqa: N802, N803
        self.message_is_binary = isBinary
        self.message_data = bytearray()
        self.message_data_total_length = 0
        self.message_frames = 0

    def onMessageFrameBegin(self, length: int) -> None:  # noqa: N802
        self.message_frames += 1
        if not self.failedByMe and self.message_frames > self.factory.max_message_frames:
            self._fail_connection(
                WebSocketProtocol.CLOSE_STATUS_CODE_MESSAGE_TOO_BIG,
                message_too_big_text(self.factory.max_message_frames, "frames"),
            )
        # Autobahn's byte limits (skipped once failed); its per-frame list stays empty.
        super().onMessageFrameBegin(length)

    def onMessageFrameData(self, payload: bytes) -> None:  # noqa: N802
        if not self.failedByMe:
            self.message_data += payload

    def onMessageFrameEnd(self) -> None:  # noqa: N802
        # As Autobahn's own onMessageFrameEnd, whose frame_data is typed by its first
        # value (a list) but is None between frames.
        self.frame_data = None  # type: ignore[assignment]

    def onMessageEnd(self) -> None:  # noqa: N802
        # Autobahn's version also fires its "message" observer event (a txaio
        # future per message); nothing here listens to it.
        if not self.failedByMe:
            payload = bytes(self.message_data)
            core = self.core
            if core is not None and core.receiving:
                receive_frame(self.machine, core, payload, self.message_is_binary)
            else:
                self.machine.frame_received(payload, self.message_is_binary)
        self.message_data = None  # type: ignore[assignment]  # between messages

    def onPong(self, payload):  # noqa: N802
        self.machine.pong_received()

    def onCloseFrame(self, code, reasonRaw):  # noqa: N802, N803
        # Nakama answers a client's close with the client's code and no reason (an
        # empty close frame when the client sent none); Autobahn would answer 1000.
        if self.state == WebSocketProtocol.STATE_OPEN:
            error = close_frame_error(code, reasonRaw)
            if error is not None:
                self._refuse_close_frame(error)
                return True
            self.echoCloseCodeReason = True
            text = reasonRaw.decode("utf-8") if reasonRaw else ""
            self.client_close = client_close_reason(code, text)
            reasonRaw = None
        return super().onCloseFrame(code, reasonRaw)

    def _refuse_close_frame(self, error: str) -> None:
        """Answer a close frame with a code a peer may not send or a reason that is not
        UTF-8 as gorilla/websocket does: a 1002 close frame saying ``error``, then the
        end of the connection (the client has closed; no answer will come). Autobahn
        would fail the connection and then, on the close frame it had just refused,
        reset it before its own close frame went out."""
        self._close_with(PROTOCOL_ERROR, read_error_reason(error), error)
        self.dropConnection(abort=False)

    def _protocol_violation(self, reason: str) -> bool:
        if reason == ONE_BYTE_CLOSE:
            # gorilla/websocket reads a close frame's code only from two bytes or more:
            # one byte is a close without a code, answered with an empty close frame
            # and no session_end reason, as Nakama does. The frame goes on to
            # onCloseFrame (code None) instead of failing the connection.
            return False
        return super()._protocol_violation(reason)

    def _fail_connection(self, code: int = 1001, reason: str = "going away") -> None:
        # Autobahn fails a connection on protocol errors and oversize messages; route
        # that through the lifecycle so the session is cleaned up and the close is
        # bounded by close_ack_wait_ms. An oversize message closes with 1009, as
        # Nakama's WebSocket library does, but with a text saying which limit (that
        # library sends none), and session_end gets that library's read error, as
        # Nakama's does.
        if self.machine is not None and self.state == WebSocketProtocol.STATE_OPEN:
            self.failedByMe = True
            if code == WebSocketProtocol.CLOSE_STATUS_CODE_MESSAGE_TOO_BIG:
                if not reason.startswith(MESSAGE_TOO_BIG):  # Autobahn's byte limits
                    reason = message_too_big_text(self.maxMessagePayloadSize)
                self._close_with(code, READ_LIMIT_EXCEEDED, reason)
            else:
                self.machine.close(reason, code)
        else:
            super()._fail_connection(code, reason)

    def _close_with(self, code: int, reason: str, text: str) -> None:
        """Close through the lifecycle with ``reason`` for session_end and the metrics,
        and ``text`` in the close frame: for a read error gorilla/websocket writes the
        close frame and Nakama's session_end gets the error, in other words."""
        self._close_text = text
        try:
            self.machine.close(reason, code)
        finally:
            self._close_text = None

    def onClose(self, wasClean, code, reason):  # noqa: N802, N803
        core = self.core
        if self in self.factory.open_protocols and core is not None and not core.cleaned_up:
            # The server did not close it (send_close counts those): the client did.
            # (Not the session's state: a parked or resumed one is not closed.)
            self.factory.environment.counts.closed_by_client(code)
        self.factory.open_protocols.discard(self)
        if self.machine is not None:
            # Without a close frame from the client first, the connection just went.
            reason = self.client_close
            self.machine.connection_lost(CONNECTION_DROPPED if reason is None else reason)

    # Wire: what the lifecycle asks of the connection

    def send_ping(self) -> None:
        if self.state == WebSocketProtocol.STATE_OPEN:
            self.sendPing()

    def send_close(self, code: int, reason: str) -> None:
        self.factory.environment.counts.closed_by_server(code, reason)
        if self.state == WebSocketProtocol.STATE_OPEN:
            # sendClose() only lets applications use 1000 and 3000-4999; the server
            # also needs 1001 (going away), so it writes the close frame itself.
            text = reason if self._close_text is None else self._close_text
            reason_bytes = encode_truncate(text, 123) if text else None
            self.sendCloseFrame(code=code, reasonUtf8=reason_bytes, isReply=False)
        elif self.state != WebSocketProtocol.STATE_CLOSED:
            self.dropConnection(abort=True)

    def abort(self) -> None:
        """The client never answered our close frame: drop the connection."""
        if self.state != WebSocketProtocol.STATE_CLOSED:
            self.dropConnection(abort=True)

    def pause_reading(self) -> None:
        if self.transport is not None:
            self.transport.pauseProducing()

    def resume_reading(self) -> None:
        if self.transport is not None:
            self.transport.resumeProducing()

    # Connection: what the session asks of the connection

    def write_frame(self, envelope: OutgoingEnvelope, fmt: Format) -> None:
        if self.state == WebSocketProtocol.STATE_OPEN:
            frame = envelope.frame(fmt)
            if not self.write_through:
                self.transport.write(frame)
                return
            pending = self.pending
            if pending is None:
                self.pending = [frame]
                self.factory.turn_writer.waiting(self)
            else:
                pending.append(frame)

    def flush_frames(self) -> None:
        """Send the frames written this turn, in one go."""
        pending = self.pending
        if pending is None:
            return
        self.pending = None
        data = pending[0] if len(pending) == 1 else b"".join(pending)
        # Only with write_through, which can_send_now set: a tcp.Connection.
        rest = send_now(self.transport, data)  # type: ignore[arg-type]
        if rest:
            self.transport.write(rest)  # dropped by Twisted if the connection is gone

    def sendData(self, data, sync=False, chopsize=None):  # noqa: N802 (Autobahn's name)
        # Autobahn's own frames (close, ping, pong) must not overtake ours.
        if self.pending is not None:
            self.flush_frames()
        super().sendData(data, sync, chopsize)

    # IPushProducer: the transport tells us when its write buffer fills and drains

    def pauseProducing(self) -> None:  # noqa: N802
        # (Once a resumed session belongs to a newer socket, this one has no say.)
        session = self.session
        if session is not None and session.attached_to(self):
            session.pause_writing()

    def resumeProducing(self) -> None:  # noqa: N802
        session = self.session
        if session is not None and session.attached_to(self):
            session.resume_writing()

    def stopProducing(self) -> None:  # noqa: N802
        pass


class NakamaSocketFactory(WebSocketServerFactory):
    """Builds socket protocols for one server, given as its :class:`SocketEnvironment`."""

    protocol = NakamaServerProtocol

    def __init__(self, server: SocketEnvironment, url: str | None = None) -> None:
        super().__init__(url)
        self.environment = server
        # Autobahn's name for its Server header, sent only by its own handshake:
        # Nakama's 101 has none.
        self.server = None
        self.open_protocols: set[NakamaServerProtocol] = set()
        self.turn_writer = TurnWriter(server.clock)
        #: How many frames one message may have (see framing.message_frame_limit).
        self.max_message_frames = message_frame_limit(server.config.socket.max_message_size_bytes)
        apply_socket_options(self, server)

    def setProtocolOptions(self, *args, **kwargs) -> None:  # noqa: N802 (Autobahn's name)
        super().setProtocolOptions(*args, **kwargs)
        self._bind_protocol_options()

    def _bind_protocol_options(self) -> None:
        """Put this factory's protocol options on a protocol class of its own.

        On every connection Autobahn copies some forty option attributes from the
        factory onto the new protocol and logs them through ``pformat`` (formatted
        whether or not debug logging is on): a fifth of a connect's CPU time, and
        forty entries in every socket's ``__dict__``. The options are the factory's
        alone, so they are class attributes of a subclass made for it, and the
        per-connection copy has nothing left to do.
        """
        options = {name: getattr(self, name) for name in WebSocketServerProtocol.CONFIG_ATTRS}
        for name, value in options.items():
            if isinstance(value, types.FunctionType):  # e.g. perMessageCompressionAccept
                options[name] = staticmethod(value)  # stays a plain callable on the class
        base = NakamaServerProtocol
        # type() with three arguments is typed as making a plain type: these are
        # subclasses of base.
        self.protocol = cast(
            "type[NakamaServerProtocol]",
            type(base.__name__, (base,), {**options, "CONFIG_ATTRS": ()}),
        )
        self.upgraded_protocol = cast(
            "type[NakamaServerProtocol]",
            type(base.__name__, (self.protocol,), {"openHandshakeTimeout": 0}),
        )

    def build_upgraded(self) -> NakamaServerProtocol:
        """A protocol for a connection whose upgrade was already accepted: no opening
        handshake to time out."""
        protocol = self.upgraded_protocol()
        protocol.factory = self
        return protocol


def apply_socket_options(factory: WebSocketServerFactory, server: SocketEnvironment) -> None:
    """Translate our (Nakama's) socket config into Autobahn's options, in one place."""
    sock = server.config.socket
    factory.setProtocolOptions(
        maxFramePayloadSize=sock.max_message_size_bytes,
        maxMessagePayloadSize=sock.max_message_size_bytes,
        # The lifecycle bounds the close handshake with its own (testable) timer.
        closeHandshakeTimeout=0,
        openHandshakeTimeout=sock.write_wait_ms / 1000.0,
        autoPingInterval=0,
        failByDrop=False,
        tcpNoDelay=True,
        serveFlashSocketPolicy=False,
        # As Nakama's WebSocket library, text frames' UTF-8 is not checked here: a JSON
        # socket's decoder refuses invalid UTF-8 ("received malformed payload", as
        # Nakama answers it), and any text frame on a protobuf socket is refused by
        # its type. Autobahn would close with 1007 instead, after a second pass.
        utf8validateIncoming=False,
    )
