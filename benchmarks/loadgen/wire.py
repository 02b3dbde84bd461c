"""The few Nakama envelopes the load generator sends and reads, in JSON and protobuf.

Each format builds frames ready for ``websocket.send`` and reads a frame into
``(kind, cid, value)``: ``kind`` is the envelope's message name, ``value`` the one
field the benchmark needs from it (a channel or match id, an RPC payload, a chat
message's content, match data bytes, an error text), so the hot receive path does
no more work than it must and is the same for both formats.
"""

from __future__ import annotations

import base64
from typing import Any, Protocol

import orjson

#: ``ChannelJoin.type`` for a room.
ROOM = 1


class Wire(Protocol):
    """Frames for one socket format."""

    name: str
    text: bool

    def ping(self, cid: str) -> bytes: ...
    def channel_join(self, cid: str, room: str) -> bytes: ...
    def channel_message_send(self, channel_id: str, content: str) -> bytes: ...
    def match_create(self, cid: str) -> bytes: ...
    def match_join(self, cid: str, match_id: str) -> bytes: ...
    def match_data_send(self, match_id: str, op_code: int, data: bytes) -> bytes: ...
    def rpc(self, cid: str, rpc_id: str, payload: str) -> bytes: ...
    def read(self, frame: bytes | str) -> tuple[str, str, Any]: ...


def _error_text(code: int, message: str) -> str:
    return f"error {code}: {message}"


class JsonWire:
    """Nakama's JSON format: protojson with proto field names, in text frames."""

    name = "json"
    text = True

    def _frame(self, cid: str, kind: str, body: dict[str, Any]) -> bytes:
        envelope: dict[str, Any] = {"cid": cid} if cid else {}
        envelope[kind] = body
        return orjson.dumps(envelope)

    def ping(self, cid: str) -> bytes:
        return self._frame(cid, "ping", {})

    def channel_join(self, cid: str, room: str) -> bytes:
        body = {"target": room, "type": ROOM, "persistence": False, "hidden": False}
        return self._frame(cid, "channel_join", body)

    def channel_message_send(self, channel_id: str, content: str) -> bytes:
        body = {"channel_id": channel_id, "content": content}
        return self._frame("", "channel_message_send", body)

    def match_create(self, cid: str) -> bytes:
        return self._frame(cid, "match_create", {})

    def match_join(self, cid: str, match_id: str) -> bytes:
        return self._frame(cid, "match_join", {"match_id": match_id})

    def match_data_send(self, match_id: str, op_code: int, data: bytes) -> bytes:
        body = {
            "match_id": match_id,
            "op_code": str(op_code),
            "data": base64.b64encode(data).decode(),
        }
        return self._frame("", "match_data_send", body)

    def rpc(self, cid: str, rpc_id: str, payload: str) -> bytes:
        return self._frame(cid, "rpc", {"id": rpc_id, "payload": payload})

    def read(self, frame: bytes | str) -> tuple[str, str, Any]:
        envelope = orjson.loads(frame)
        cid = envelope.pop("cid", "")
        for kind, body in envelope.items():
            if kind == "channel_message":
                return kind, cid, body.get("content", "")
            if kind == "match_data":
                return kind, cid, base64.b64decode(body.get("data", ""))
            if kind == "channel":
                return kind, cid, body.get("id", "")
            if kind == "match":
                return kind, cid, body.get("match_id", "")
            if kind == "rpc":
                return kind, cid, body.get("payload", "")
            if kind == "error":
                return kind, cid, _error_text(body.get("code", 0), body.get("message", ""))
            return kind, cid, None
        return "", cid, None


class ProtobufWire:
    """Nakama's protobuf format: ``nakama.realtime.Envelope`` in binary frames."""

    name = "protobuf"
    text = False

    def __init__(self) -> None:
        # Imported here so the JSON format never pays for the generated classes.
        from nakama_rt.wire.proto import api_pb2, realtime_pb2

        self._api = api_pb2
        self._rt = realtime_pb2
        self._envelope = realtime_pb2.Envelope

    def ping(self, cid: str) -> bytes:
        return self._envelope(cid=cid, ping=self._rt.Ping()).SerializeToString()

    def channel_join(self, cid: str, room: str) -> bytes:
        join = self._rt.ChannelJoin(target=room, type=ROOM)
        join.persistence.value = False
        join.hidden.value = False
        return self._envelope(cid=cid, channel_join=join).SerializeToString()

    def channel_message_send(self, channel_id: str, content: str) -> bytes:
        send = self._rt.ChannelMessageSend(channel_id=channel_id, content=content)
        return self._envelope(channel_message_send=send).SerializeToString()

    def match_create(self, cid: str) -> bytes:
        return self._envelope(cid=cid, match_create=self._rt.MatchCreate()).SerializeToString()

    def match_join(self, cid: str, match_id: str) -> bytes:
        join = self._rt.MatchJoin(match_id=match_id)
        return self._envelope(cid=cid, match_join=join).SerializeToString()

    def match_data_send(self, match_id: str, op_code: int, data: bytes) -> bytes:
        send = self._rt.MatchDataSend(match_id=match_id, op_code=op_code, data=data)
        return self._envelope(match_data_send=send).SerializeToString()

    def rpc(self, cid: str, rpc_id: str, payload: str) -> bytes:
        call = self._api.Rpc(id=rpc_id, payload=payload)
        return self._envelope(cid=cid, rpc=call).SerializeToString()

    def read(self, frame: bytes | str) -> tuple[str, str, Any]:
        if isinstance(frame, str):
            raise ValueError("a text frame on a protobuf socket")
        envelope = self._envelope.FromString(frame)
        kind = envelope.WhichOneof("message") or ""
        cid = envelope.cid
        if kind == "channel_message":
            return kind, cid, envelope.channel_message.content
        if kind == "match_data":
            return kind, cid, envelope.match_data.data
        if kind == "channel":
            return kind, cid, envelope.channel.id
        if kind == "match":
            return kind, cid, envelope.match.match_id
        if kind == "rpc":
            return kind, cid, envelope.rpc.payload
        if kind == "error":
            return kind, cid, _error_text(envelope.error.code, envelope.error.message)
        return kind, cid, None


def wire_for(name: str) -> Wire:
    """The wire for a ``--format`` value."""
    if name == "json":
        return JsonWire()
    if name == "protobuf":
        return ProtobufWire()
    raise ValueError(f"unknown format {name!r}: json or protobuf")
