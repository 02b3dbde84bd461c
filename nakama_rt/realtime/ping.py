"""Application-level ping: ``ping`` answers ``pong`` with the same ``cid``; ``pong`` is ignored.

Clients ping every few seconds, so the answer is written as bytes directly
(:class:`PongReply`) rather than built as a message and encoded.
"""

from __future__ import annotations

import orjson

from nakama_rt.core.pipeline import Requester
from nakama_rt.wire.codec import Format, LazyEnvelope
from nakama_rt.wire.proto import realtime_pb2


class PongReply(LazyEnvelope):
    """``{"cid":...,"pong":{}}`` for one ping, the same bytes the codec writes, made
    with one string escape (JSON) or three byte strings (protobuf); the message
    itself is only built if something reads :attr:`envelope` (an after hook)."""

    __slots__ = ("_cid",)
    MESSAGE_TYPE = "pong"

    def __init__(self, cid: str) -> None:
        super().__init__()
        self._cid = cid

    def build(self) -> realtime_pb2.Envelope:
        return realtime_pb2.Envelope(cid=self._cid, pong=realtime_pb2.Pong())

    def payload(self, fmt: Format) -> bytes:
        cid = self._cid
        if fmt is Format.JSON:
            if self._json is None:
                self._json = (
                    b'{"cid":' + orjson.dumps(cid) + b',"pong":{}}' if cid else b'{"pong":{}}'
                )
            return self._json
        if self._protobuf is None:
            self._protobuf = _protobuf_pong(cid)
        return self._protobuf


_PONG = b"\x8a\x02\x00"  # Envelope.pong (field 33, length-delimited), empty


def _protobuf_pong(cid: str) -> bytes:
    if not cid:
        return _PONG
    text = cid.encode()
    size = len(text)
    if size < 128:
        return b"\n" + bytes((size,)) + text + _PONG
    return realtime_pb2.Envelope(cid=cid, pong=realtime_pb2.Pong()).SerializeToString()


def ping(envelope: realtime_pb2.Envelope, requester: Requester) -> PongReply:
    return PongReply(envelope.cid)


def pong(envelope: realtime_pb2.Envelope, requester: Requester) -> None:
    return None
