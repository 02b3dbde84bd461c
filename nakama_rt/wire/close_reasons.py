"""The reasons the server gives when it closes a socket, in one place.

They are Nakama's words, sent in the close frame; the metrics count closes by a
short class of each (``nakama_rt_socket_closes_total{reason=...}``), so the
modules that close sockets and :mod:`nakama_rt.counters` both take them from here.

No close the server starts goes without a text a client can log, the same for JSON
and protobuf sockets (a close frame has no format). Nakama's own words are kept
where it has them; where it closes silently (an oversize message: gorilla/websocket's
1009 has no text) and for the limits Nakama does not have (:mod:`nakama_rt.core.limits`:
message rate, sockets per user, matchmaker tickets per user, party creations), the
words are ours. A limit closes with 1008 (policy violation), after the ``Error``
envelope that refused the request.
"""

from __future__ import annotations

#: The WebSocket close codes the server closes with (RFC 6455 7.4.1).
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
#: A limit's close: the client kept exceeding it (RFC 6455: "policy violation").
CLOSE_POLICY_VIOLATION = 1008

OUTGOING_QUEUE_FULL = "session outgoing queue full"
WRITE_TIMEOUT = "session write timeout"
PONG_TIMEOUT = "pong timeout"
ERROR_PROCESSING = "error processing message"
ERROR_OPENING = "error opening session"
SHUTDOWN_REASON = "server shutting down"
SINGLE_SOCKET_REASON = "server-side session disconnect"
REASON_WRONG_FRAME_TYPE = "received unexpected WebSocket message type"
#: Followed by the decoder's own words (": unexpected end" ...).
REASON_MALFORMED_PAYLOAD = "received malformed payload"

# The limits' closes (1008), ours: Nakama has none of these limits.

#: ``socket.max_messages_per_sec``: the socket kept sending over its rate.
MESSAGE_RATE_EXCEEDED = "message rate limit exceeded"
#: ``socket.max_sockets_per_user``: the user already has that many sockets.
TOO_MANY_USER_SOCKETS = "too many sockets for this user"
#: ``matchmaker.max_tickets_per_user``: refused again and again.
TICKET_LIMIT_EXCEEDED = "matchmaker ticket limit exceeded"
#: ``socket.max_party_creations_per_minute``: refused again and again.
PARTY_LIMIT_EXCEEDED = "party creation limit exceeded"

#: The close frame's text for a message over the limit (1009), bytes or frames: gorilla
#: sends none, but a client should be able to log why (the session_end reason stays
#: gorilla's :data:`READ_LIMIT_EXCEEDED`).
MESSAGE_TOO_BIG = "message too big"


def message_too_big_text(limit: int, unit: str = "bytes") -> str:
    """The 1009 close frame's text: ``"message too big: over 4096 bytes"``."""
    return f"{MESSAGE_TOO_BIG}: over {limit} {unit}"


#: Each reason (a prefix of what is sent) and the label its closes are counted under.
CLASSES = (
    (OUTGOING_QUEUE_FULL, "outgoing_queue_full"),
    (WRITE_TIMEOUT, "write_timeout"),
    (PONG_TIMEOUT, "pong_timeout"),
    (ERROR_PROCESSING, "error_processing"),
    (ERROR_OPENING, "error_opening"),
    (SHUTDOWN_REASON, "shutdown"),
    (SINGLE_SOCKET_REASON, "single_socket"),
    (REASON_WRONG_FRAME_TYPE, "wrong_frame_type"),
    (REASON_MALFORMED_PAYLOAD, "malformed_payload"),
    (MESSAGE_RATE_EXCEEDED, "message_rate"),
    (TOO_MANY_USER_SOCKETS, "user_sockets"),
    (TICKET_LIMIT_EXCEEDED, "matchmaker_tickets"),
    (PARTY_LIMIT_EXCEEDED, "party_creations"),
)


# Why a session ended when the client closed it: the ``reason`` of the session_end
# event, which Nakama sets to the error its WebSocket library (gorilla/websocket)
# returned from reading, or to nothing for a normal close.

#: The client closed with 1000 (normal), 1001 (going away) or no code at all (1005).
NORMAL_CLIENT_CLOSE_CODES = frozenset({1000, 1001, 1005})

#: The names gorilla/websocket's close errors give codes, e.g. "websocket: close 1008
#: (policy violation): text".
_CLOSE_CODE_NAMES = {
    1000: "normal",
    1001: "going away",
    1002: "protocol error",
    1003: "unsupported data",
    1005: "no status",
    1006: "abnormal closure",
    1007: "invalid payload data",
    1008: "policy violation",
    1009: "message too big",
    1010: "mandatory extension missing",
    1011: "internal server error",
    1015: "TLS handshake error",
}


def close_error_text(code: int, text: str = "") -> str:
    """gorilla/websocket's words for a close with ``code`` and ``text``."""
    name = _CLOSE_CODE_NAMES.get(code)
    words = f"websocket: close {code}" + (f" ({name})" if name else "")
    return f"{words}: {text}" if text else words


def client_close_reason(code: int | None, text: str = "") -> str:
    """The session_end reason for a client's close frame (``code`` None: it had none)."""
    if code is None or code in NORMAL_CLIENT_CLOSE_CODES:
        return ""
    return close_error_text(code, text)


#: The session_end reason when the connection went away without a close frame.
CONNECTION_DROPPED = close_error_text(1006, "unexpected EOF")


# Read errors: gorilla/websocket writes its own close frame and ReadMessage returns an
# error, whose text is the session_end reason (Nakama's own close frame then fails).

#: The session_end reason when a message is over the limit: gorilla/websocket's
#: ErrReadLimit. Its close frame, 1009, has no text; ours has :func:`message_too_big_text`.
READ_LIMIT_EXCEEDED = "websocket: read limit exceeded"

#: The close code gorilla/websocket answers a protocol error with.
PROTOCOL_ERROR = 1002

#: The codes gorilla/websocket accepts in a peer's close frame (isValidReceivedCloseCode),
#: besides 3000-4999: RFC 6455 7.4's codes that may be sent (never 1004, 1005, 1006, 1015).
RECEIVABLE_CLOSE_CODES = frozenset(
    {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013}
)


def close_frame_error(code: int | None, reason: bytes | None) -> str | None:
    """What is wrong with a client's close frame, in gorilla/websocket's words (the text
    of its 1002 close frame), or None. A frame of fewer than two bytes has no code
    (``code`` None): gorilla reads it as a close without a status, no error."""
    if code is None:
        return None
    if code not in RECEIVABLE_CLOSE_CODES and not 3000 <= code <= 4999:
        return f"bad close code {code}"
    if reason:
        try:
            reason.decode("utf-8")
        except UnicodeDecodeError:
            return "invalid utf8 payload in close frame"
    return None


def read_error_reason(message: str) -> str:
    """The session_end reason for one of gorilla/websocket's protocol errors: the error
    ReadMessage returns (``handleProtocolError``)."""
    return f"websocket: {message}"
