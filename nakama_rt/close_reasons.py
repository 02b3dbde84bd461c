"""The reasons the server gives when it closes a socket, in one place.

They are Nakama's words, sent in the close frame; the metrics count closes by a
short class of each (``nakama_rt_socket_closes_total{reason=...}``), so the
modules that close sockets and :mod:`nakama_rt.counters` both take them from here.
"""

from __future__ import annotations

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
)
