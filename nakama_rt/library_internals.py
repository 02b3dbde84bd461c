"""Every private name of Autobahn's and Twisted's that nakama-rt relies on, in one place.

The socket layer goes under Autobahn's and Twisted's public APIs where they cost too
much per message or per connection, or do not do what Nakama does (see
:mod:`nakama_rt.socket.protocol`, :mod:`nakama_rt.socket.framing`, :mod:`nakama_rt.web.limits`).
Each private name it needs is reached here, in one of two ways:

- through a small function of this module, whose docstring says why the name is
  needed; the rest of nakama-rt calls the function;
- in place, where a function would add a Python call to every frame (the reading and
  writing fast paths), or where the name is a library method we override (the
  override has to live in its class).

Either way every name is an entry of :data:`CHECKED`: what it is, where the library
has it, since which release it is known to exist, where nakama-rt uses it, and why.
``tests/test_library_internals.py`` checks each entry against the installed
libraries (that it exists, its kind, a method's parameter names, that the library's
own code still uses it where we rely on it), checks that the library code copied
here (:data:`COPIED`) still does only what the copy does, runs a few small real
exchanges through the overrides, and scans nakama_rt for private names used anywhere
without an entry. An upgrade that removes or changes one of them fails that test with
the name, the library and its version: adapt the function or the override, then the
entry, then the version bounds in ``setup.cfg``.

Checked (CPython 3.11, with the socket tests) on Twisted 26.4.0 and 26.10.0, on
autobahn 25.10.1, 25.10.2, 25.11.1, 25.12.2, 26.6.2, 26.7.1, 26.10.2 and 26.11.1, and
on txaio 25.9.2 and 26.6.1: the bounds in ``setup.cfg``. The ``since`` of each entry,
read from the library's history, says how far back the name itself goes.

Unprefixed names come in too where they are the libraries' undocumented machinery
(not in Autobahn's ``autobahn.websocket.interfaces`` nor twisted.web's documented
API): the attributes of Autobahn's frame reader that the fast path reads, the
methods of it and of ``HTTPChannel`` that we override or call. Those are checked the
same way, so that a change to them cannot pass silently either.
"""

from __future__ import annotations

import os
import re
from collections.abc import MutableMapping
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, TypeGuard, cast

import txaio
from autobahn.twisted.util import create_transport_details
from autobahn.wamp.types import TransportDetails
from autobahn.websocket.protocol import WebSocketProtocol
from twisted.internet import tcp

if TYPE_CHECKING:
    from autobahn.twisted.websocket import WebSocketServerProtocol
    from twisted.internet.interfaces import ITCPTransport
    from twisted.web.http import HTTPChannel

# Autobahn: a socket's start, without its opening handshake


def websocket_connection_made(protocol: WebSocketServerProtocol) -> None:
    """Start ``protocol`` on its new transport: Autobahn's own
    ``WebSocketAdapterProtocol.connectionMade`` then ``WebSocketServerProtocol.
    _connectionMade``, in the same order, less the debug lines both format (colours,
    ``pformat`` and all) on every connection whether or not debug is logged.

    Private names: ``_transport_details`` (what Autobahn's ``transport_details`` and
    ``_onOpen`` read; autobahn >= 22.4.1) and ``WebSocketProtocol._connectionMade``
    (the framework-independent start; autobahn >= 0.7.0), called on the base class to
    skip the server class's version, which only logs and counts the connection.
    """
    # Set by now: Twisted gives the protocol its transport before connectionMade. A
    # UNIX socket's has no setTcpNoDelay (the AttributeError below).
    transport = cast("ITCPTransport", protocol.transport)
    details = create_transport_details(transport, protocol.is_server)
    details.channel_framing = TransportDetails.CHANNEL_FRAMING_WEBSOCKET
    protocol._transport_details = details
    protocol.peer = details.peer
    try:
        transport.setTcpNoDelay(protocol.tcpNoDelay)  # type: ignore[attr-defined]  # Autobahn option set at runtime
    except (AttributeError, OSError):  # not TCP (a UNIX socket)
        pass
    WebSocketProtocol._connectionMade(protocol)
    protocol.factory.countConnections += 1


def enter_open_state(protocol: WebSocketServerProtocol) -> None:
    """Leave ``protocol`` as Autobahn's ``succeedHandshake`` leaves a socket whose
    handshake it accepted with no subprotocol and no extension, for a handshake
    answered elsewhere (:mod:`nakama_rt.socket.upgrade`). Its frame reader's state is
    Autobahn's undocumented attributes (listed in :data:`CHECKED`)."""
    protocol.websocket_version = 13
    protocol.websocket_protocol_in_use = None
    protocol.websocket_extensions_in_use = []
    protocol.state = WebSocketProtocol.STATE_OPEN
    protocol.inside_message = False
    protocol.current_frame = None  # type: ignore[assignment]  # Autobahn sets None too


def fire_open(protocol: WebSocketServerProtocol) -> None:
    """What ``succeedHandshake`` does last: ``_onOpen`` (Autobahn's private step
    before ``onOpen``, which fills in a TLS connection's transport details; autobahn
    >= 0.7.0), then the ``is_open`` future."""
    protocol._onOpen()
    txaio.resolve(protocol.is_open, None)  # type: ignore[attr-defined]  # bound at runtime by txaio


# Twisted: the connection twisted.web served the upgrade request on


def detach_http_channel(channel: HTTPChannel) -> None:
    """Take the connection away from twisted.web's ``channel`` for another protocol,
    as Autobahn's ``WebSocketResource`` does: stop its timer, forget its transport
    (its closing code then leaves the connection alone) and drop its request queue
    (``requests``, undocumented), so that the channel and the request let go of each
    other as soon as the resource returns."""
    channel.setTimeout(None)
    channel.transport = None
    channel.requests.clear()


def received_head_size(channel: HTTPChannel) -> int:
    """How many bytes of the request's head ``channel`` has read: ``HTTPChannel.
    _receivedHeaderSize`` (Twisted >= 15.2.0), which its line reader compares with
    ``totalHeadersSize`` before it refuses a head as too large, where we answer 431."""
    return channel._receivedHeaderSize


# Twisted: a TCP connection's write buffer (the socket layer's frames, the cluster's
# PUBLISH commands)

#: The parts of a Twisted TCP connection's write state that :func:`send_now` reads, in
#: place (it runs for every write), to tell an empty buffer.
TCP_WRITE_STATE = ("socket", "dataBuffer", "offset", "_tempDataLen", "_writeDisconnected")


def can_send_now(transport: object) -> TypeGuard[tcp.Connection]:
    """Whether :func:`send_now` may write to ``transport``'s socket itself: a plain
    TCP connection of Twisted's (not TLS, not a test's fake transport). True tells
    the type checker that ``transport`` is a ``tcp.Connection``."""
    return (
        isinstance(transport, tcp.Connection)
        and not transport.TLS
        and all(hasattr(transport, name) for name in TCP_WRITE_STATE)
    )


def send_now(transport: tcp.Connection, frame: bytes) -> bytes:
    """Send ``frame`` on the socket at once when nothing is waiting in the transport's
    buffer; return what is left for ``transport.write`` (usually nothing).

    Twisted only buffers a write and sends it on the next reactor turn, after
    registering the socket for writability and unregistering it once sent: two
    ``epoll_ctl`` calls and a pass through its write machinery for every write, about
    a tenth of the server's CPU time under fan-out. When the buffer is empty the
    bytes can go straight out, and whatever the kernel does not take is buffered as
    usual, which keeps the order and Twisted's flow control. An error is left for
    Twisted's next write to find. The buffer's state is Twisted's private attributes,
    read here in place (this runs for every write): see :data:`TCP_WRITE_STATE`.
    """
    if (
        transport._tempDataLen
        or transport.offset != len(transport.dataBuffer)
        or not transport.connected
        or transport.disconnecting
        or transport._writeDisconnected
    ):
        return frame
    try:
        sent = transport.socket.send(frame)
    except OSError:  # EAGAIN, or a broken connection that Twisted's write reports
        return frame
    return frame[sent:]


# twistd: startup's outcome, for the daemonising parent

#: The bytes twistd's daemonising parent reads from its status pipe, at most.
TWISTD_STATUS_BYTES = 100
#: The most bytes a failure's message may take there, after ``b"1 "``.
TWISTD_STATUS_MESSAGE_BYTES = TWISTD_STATUS_BYTES - 2


def take_twistd_status_pipe(options: MutableMapping[str, Any]) -> int | None:
    """Take the status pipe out of twistd's ``options`` (its ``ServerOptions``), so
    that twistd does not answer success on it as soon as the services have started,
    and return it (None when twistd did not daemonise: nobody waits for an answer).

    ``statusPipe`` is twistd's private key (``twisted.scripts._twistd_unix``,
    Twisted >= 13.2.0): ``daemonize`` puts the pipe's write end there and
    ``postApplication`` writes ``b"0"`` to it once ``startService`` has returned,
    before the database is open or the ports bound. Answer with
    :func:`answer_twistd_status_pipe`."""
    return options.pop("statusPipe", None)


def answer_twistd_status_pipe(pipe: int, failure: str | None = None) -> None:
    """Tell twistd's parent how startup went and close ``pipe``: ``b"0"`` for
    success, else ``b"1 "`` and ``failure`` (at most :data:`TWISTD_STATUS_MESSAGE_BYTES`
    of it), which the parent prints before it exits with status 1; twistd's own
    protocol (``UnixApplicationRunner._waitForStart``), private like the pipe."""
    data = b"0" if failure is None else b"1 " + failure.encode()
    try:
        os.write(pipe, data[:TWISTD_STATUS_BYTES])
    finally:
        os.close(pipe)


# The checked list


METHOD = "method"
ATTRIBUTE = "attribute"
CONSTANT = "constant"


@dataclass(frozen=True)
class Internal:
    """One private (or undocumented) name of Autobahn's or Twisted's that nakama-rt uses.

    ``owner`` and the entries of ``found_in`` are ``module:qualname`` paths. A
    :data:`METHOD` is a function on ``owner`` whose parameters are named ``params``.
    An :data:`ATTRIBUTE` is a name the code of each ``found_in`` function reads or
    sets (and ``owner``'s, when it is a class attribute). A :data:`CONSTANT` is a
    string in the code of each ``found_in`` function (a dict key, a message text).
    """

    owner: str
    name: str
    kind: str
    #: The earliest release known to have it, from the library's history.
    since: str
    used_in: str
    why: str
    params: tuple[str, ...] = ()
    found_in: tuple[str, ...] = ()

    @property
    def library(self) -> str:
        """The distribution the owner belongs to: ``autobahn`` or ``twisted``."""
        return self.owner.partition(".")[0]


#: The classes of the checked list, by the short names it calls them.
OWNERS = {
    "WebSocketProtocol": "autobahn.websocket.protocol:WebSocketProtocol",
    "WebSocketServerProtocol": "autobahn.websocket.protocol:WebSocketServerProtocol",
    "WebSocketServerFactory": "autobahn.websocket.protocol:WebSocketServerFactory",
    "WebSocketAdapterProtocol": "autobahn.twisted.websocket:WebSocketAdapterProtocol",
    "HTTPChannel": "twisted.web.http:HTTPChannel",
    "FileDescriptor": "twisted.internet.abstract:FileDescriptor",
    "Connection": "twisted.internet.tcp:Connection",
    "UnixApplicationRunner": "twisted.scripts._twistd_unix:UnixApplicationRunner",
}

#: Autobahn's words for a close frame with a one-byte payload (a protocol violation).
ONE_BYTE_CLOSE = "received close control frame with payload len 1"

# One entry per name (or per names that share everything else), blank lines between:
#   Owner.name(parameters)     a method
#   Owner.name, .other         attributes
#   Owner "text"               a string in the library's code
# then "since:", "found in:" (functions of the library that use it), "used in:" (ours)
# and "why:", each on a line of its own, continued on lines indented further.
_CHECKED_LIST = f"""
# Autobahn: private names

WebSocketProtocol._connectionMade(self)
    since: autobahn 0.7.0
    used in: library_internals.websocket_connection_made (once per connection)
    why: the framework-independent start of a socket, called on the base class

WebSocketProtocol._dataReceived(self, data)
    since: autobahn 0.7.0
    used in: socket.protocol.NakamaServerProtocol.dataReceived (in place: per read)
    why: Autobahn's reader, without the debug line its adapter formats for every read

WebSocketAdapterProtocol._onOpen(self)
    since: autobahn 0.7.0
    found in: WebSocketServerProtocol.succeedHandshake
    used in: library_internals.fire_open (once per connection)
    why: the step before onOpen that fills in a TLS connection's transport details

WebSocketProtocol._fail_connection(self, code, reason)
    since: autobahn 0.13.0
    found in: WebSocketProtocol._protocol_violation,
        WebSocketProtocol._max_message_size_exceeded
    used in: socket.protocol.NakamaServerProtocol._fail_connection (override), and its
        onMessageFrameBegin (for a message of too many frames)
    why: where Autobahn fails a socket (protocol errors, oversize messages): through
        the lifecycle instead, for Nakama's close codes and session_end reasons

WebSocketProtocol._protocol_violation(self, reason)
    since: autobahn 0.13.0
    found in: WebSocketProtocol.processData
    used in: socket.protocol.NakamaServerProtocol._protocol_violation (override)
    why: a one-byte close frame is a close without a code, as gorilla/websocket reads it

WebSocketProtocol "{ONE_BYTE_CLOSE}"
    since: autobahn 0.5.0
    found in: WebSocketProtocol.processData
    used in: socket.protocol.NakamaServerProtocol._protocol_violation (compares the reason)
    why: the only way to tell that violation from the others

WebSocketProtocol._transport_details
    since: autobahn 22.4.1
    found in: WebSocketAdapterProtocol.connectionMade, WebSocketAdapterProtocol._onOpen
    used in: library_internals.websocket_connection_made (sets it)
    why: the transport details Autobahn's adapter sets in connectionMade

# Autobahn: undocumented machinery (not in autobahn.websocket.interfaces)

WebSocketProtocol.onCloseFrame(self, code, reasonRaw)
    since: autobahn 0.5.0
    found in: WebSocketProtocol.processControlFrame
    used in: socket.protocol.NakamaServerProtocol.onCloseFrame (override)
    why: answers a client's close as Nakama does (its code, no reason)

WebSocketProtocol.sendData(self, data, sync, chopsize)
    since: autobahn 0.5.0
    found in: WebSocketProtocol.sendFrame
    used in: socket.protocol.NakamaServerProtocol.sendData (override)
    why: Autobahn's own frames (close, ping, pong) must not overtake a turn's frames

WebSocketProtocol.sendCloseFrame(self, code, reasonUtf8, isReply)
    since: autobahn 0.5.0
    used in: socket.protocol.NakamaServerProtocol.send_close (by keyword)
    why: sendClose lets applications use only 1000 and 3000-4999; the server needs 1001

WebSocketProtocol.dropConnection(self, abort)
    since: autobahn 0.5.0
    used in: socket.protocol.NakamaServerProtocol (send_close, abort, _refuse_close_frame)
    why: ends the TCP connection through Autobahn's state machine

WebSocketProtocol.data, .current_frame, .inside_message
    since: autobahn 0.5.0
    found in: WebSocketProtocol.processData
    used in: socket.protocol.NakamaServerProtocol.dataReceived (in place: per read)
    why: the fast path takes whole frames only while Autobahn's reader is between
        messages, with nothing buffered

WebSocketProtocol.state
    since: autobahn 0.5.0
    found in: WebSocketProtocol.consumeData
    used in: socket.protocol.NakamaServerProtocol (dataReceived, in place: per read; and more)
    why: the socket's state in Autobahn's state machine

WebSocketProtocol.failedByMe
    since: autobahn 0.5.0
    found in: WebSocketProtocol._fail_connection, WebSocketProtocol.onMessageFrameBegin
    used in: socket.protocol.NakamaServerProtocol (onMessageFrame*, onMessageEnd,
        _fail_connection)
    why: set once the socket failed: what is read after it is dropped

WebSocketProtocol.echoCloseCodeReason
    since: autobahn 0.5.0
    found in: WebSocketProtocol.onCloseFrame
    used in: socket.protocol.NakamaServerProtocol.onCloseFrame
    why: makes Autobahn answer a close frame with the client's code

WebSocketProtocol.message_data_total_length, .frame_data
    since: autobahn 0.5.0
    found in: WebSocketProtocol.onMessageFrameBegin
    used in: socket.protocol.NakamaServerProtocol.onMessageBegin, onMessageFrameEnd
    why: a message's bytes go into one bytearray; Autobahn's byte limits, in the
        onMessageFrameBegin we call, read these

WebSocketProtocol.is_open, .is_closed
    since: autobahn 19.5.1
    found in: WebSocketProtocol.__init__
    used in: library_internals.fire_open; web.SocketResource.render, app (shutdown)
    why: the futures Autobahn resolves once a socket is open, and closed

WebSocketServerProtocol.websocket_protocol_in_use, .websocket_extensions_in_use
    since: autobahn 0.5.0
    found in: WebSocketServerProtocol.succeedHandshake
    used in: library_internals.enter_open_state
    why: the state a handshake Autobahn accepted leaves behind

WebSocketServerProtocol.CONFIG_ATTRS
    since: autobahn 0.6.3
    found in: WebSocketProtocol._connectionMade
    used in: socket.protocol.NakamaSocketFactory._bind_protocol_options
    why: the options Autobahn copies from the factory onto every protocol that does
        not have them already

WebSocketServerFactory.countConnections
    since: autobahn 0.5.0
    found in: WebSocketServerProtocol._connectionMade
    used in: library_internals.websocket_connection_made
    why: the count WebSocketServerProtocol._connectionMade keeps

# Twisted: private names

FileDescriptor._tempDataLen, ._writeDisconnected
    since: Twisted 8.0.0
    found in: FileDescriptor.write, FileDescriptor.doWrite
    used in: library_internals.send_now (in place: per write) and .can_send_now
    why: bytes written but not yet in dataBuffer, and a closed write side: only
        without either may a frame skip Twisted's buffer

HTTPChannel._respondToBadRequestAndDisconnect(self)
    since: Twisted 15.2.0
    found in: HTTPChannel.lineReceived, HTTPChannel.headerReceived
    used in: web.limits.LimitedHTTPChannel._respondToBadRequestAndDisconnect
        (override)
    why: HTTPChannel's answer to every head it refuses: Go's 400 or 431 instead

HTTPChannel._receivedHeaderSize
    since: Twisted 15.2.0
    found in: HTTPChannel.lineReceived
    used in: library_internals.received_head_size
    why: tells a head refused for its size (431) from a malformed one (400)

UnixApplicationRunner "statusPipe"
    since: Twisted 13.2.0
    found in: UnixApplicationRunner.postApplication
    used in: library_internals.take_twistd_status_pipe (for tap.py)
    why: startup is known to have worked only once the database is open and the
        ports are bound, after twistd would have answered

# Twisted: undocumented machinery

HTTPChannel.allHeadersReceived(self)
    since: Twisted 8.0.0
    used in: web.limits.LimitedHTTPChannel.allHeadersReceived (override)
    why: the request's head is read: a body it will not read is not waited for

HTTPChannel.allContentReceived(self)
    since: Twisted 8.0.0
    used in: web.limits.LimitedHTTPChannel.allContentReceived (override)
    why: the request is read: a connection taken over leaves the address's count

HTTPChannel.requestDone(self, request)
    since: Twisted 8.0.0
    used in: web.limits.LimitedHTTPChannel.requestDone (override)
    why: the response is done: the idle deadline starts

HTTPChannel.requests, .length, .persistent
    since: Twisted 8.0.0
    found in: HTTPChannel.allHeadersReceived
    used in: library_internals.detach_http_channel (requests),
        web.limits.LimitedHTTPChannel
    why: the channel's queue of requests, the body's declared length (0: handed over
        at once), whether the connection stays open after the response

Connection.socket
    since: Twisted 8.0.0
    found in: Connection.writeSomeData
    used in: library_internals.send_now (in place: per write) and .can_send_now
    why: the socket a frame is sent on when Twisted's buffer is empty

Connection.dataBuffer, .offset
    since: Twisted 8.0.0
    found in: FileDescriptor.doWrite
    used in: library_internals.send_now (in place: per write) and .can_send_now
    why: Twisted's write buffer, and how much of it was sent
"""

_HEADER = re.compile(
    r'(?P<owner>\w+)(?:\.(?P<names>\w+(?:, \.\w+)*)(?:\((?P<params>[\w, ]*)\))?| "(?P<text>.+)")'
)
_DETAIL = re.compile(r" {4}(since|found in|used in|why): (.+)")


def _checked_list(table: str) -> tuple[Internal, ...]:
    """The entries of ``table`` (see :data:`_CHECKED_LIST` for its form)."""
    entries: list[Internal] = []
    for block in table.strip().split("\n\n"):
        if block.startswith("#"):  # a heading
            continue
        header, *lines = re.sub(r"\n {8}", " ", block).splitlines()
        named = _HEADER.fullmatch(header)
        details = [match for match in map(_DETAIL.fullmatch, lines) if match is not None]
        if named is None or len(details) != len(lines):
            raise ValueError(f"not an entry of the checked list: {block!r}")
        fields: dict[str, str] = {match[1].replace(" ", "_"): match[2] for match in details}
        found_in = tuple(_path(path) for path in fields.pop("found_in", "").split(", ") if path)
        entry = partial(
            Internal,
            owner=OWNERS[named["owner"]],
            since=fields["since"],
            used_in=fields["used_in"],
            why=fields["why"],
            found_in=found_in,
        )
        if named["text"] is not None:
            entries.append(entry(name=named["text"], kind=CONSTANT))
            continue
        names = [name.lstrip(".") for name in named["names"].split(", ")]
        params = named["params"]
        if params is None:
            entries += [entry(name=name, kind=ATTRIBUTE) for name in names]
        else:
            parameters = tuple(params.split(", "))
            entries += [entry(name=name, kind=METHOD, params=parameters) for name in names]
    return tuple(entries)


def _path(short: str) -> str:
    """``Owner.function`` -> ``module:Owner.function``."""
    owner, _, rest = short.partition(".")
    module = OWNERS[owner].partition(":")[0]
    return f"{module}:{owner}.{rest}"


CHECKED: tuple[Internal, ...] = _checked_list(_CHECKED_LIST)


@dataclass(frozen=True)
class Copied:
    """Library code that nakama-rt does itself instead (a copy less its debug lines,
    or the state it leaves behind): ``function`` may use no name outside ``known``
    (the attribute and global names of its code, or only the attributes it sets when
    ``sets_only``), so that a step added to it cannot be missed by the copy."""

    function: str
    copied_by: str
    known: frozenset[str]
    sets_only: bool = False


_DEBUG_LOG = {"log", "debug", "hltype", "hlval"}

COPIED: tuple[Copied, ...] = (
    Copied(
        function=_path("WebSocketAdapterProtocol.connectionMade"),
        copied_by="library_internals.websocket_connection_made",
        known=frozenset(
            _DEBUG_LOG
            | {"connectionMade", "create_transport_details", "transport", "is_server"}
            | {"_transport_details", "TransportDetails", "CHANNEL_FRAMING_WEBSOCKET"}
            | {"channel_framing", "peer", "setTcpNoDelay", "tcpNoDelay", "_connectionMade"}
        ),
    ),
    Copied(
        function=_path("WebSocketServerProtocol._connectionMade"),
        copied_by="library_internals.websocket_connection_made",
        known=frozenset(
            _DEBUG_LOG
            | {"_connectionMade", "peer", "WebSocketProtocol", "factory", "countConnections"}
        ),
    ),
    Copied(
        function=_path("WebSocketAdapterProtocol.dataReceived"),
        copied_by="socket.protocol.NakamaServerProtocol.dataReceived",
        known=frozenset(_DEBUG_LOG | {"dataReceived", "peer", "len", "_dataReceived"}),
    ),
    Copied(
        function=_path("WebSocketServerProtocol.succeedHandshake"),
        copied_by="library_internals.enter_open_state and fire_open",
        # Set by enter_open_state, or left alone on purpose: no opening handshake
        # timer (openHandshakeTimeout 0 once upgraded), no automatic ping
        # (autoPingInterval 0), no compression, no response kept for a test suite.
        known=frozenset(
            {"websocket_protocol_in_use", "websocket_extensions_in_use", "state"}
            | {"inside_message", "current_frame", "openHandshakeTimeoutCall"}
            | {"autoPingPendingCall", "_perMessageCompress", "http_response_data"}
        ),
        sets_only=True,
    ),
)
