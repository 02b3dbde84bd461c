"""Relayed multiplayer: ``match_create``, ``match_join``, ``match_leave``, ``match_data_send``.

A relayed match is a presence stream (mode 5) whose id is ``"<uuid>."`` (an
authoritative match adds its node: ``"<uuid>.<node>"``). The server only relays:
data goes to the other members, or to the listed ones, with the sender's
presence; joins and leaves become ``match_presence_event``; a match with no one
left simply ceases to exist, as in Nakama.
"""

from __future__ import annotations

import binascii
import uuid

import orjson
from twisted.internet.interfaces import IReactorTime

from nakama_rt import tokens
from nakama_rt.codec import Format, LazyEnvelope, OutgoingEnvelope
from nakama_rt.logs import Logger
from nakama_rt.pipeline import ErrorCode, Pipeline
from nakama_rt.presence import IRouter, ITracker, Presence, PresenceMeta, PresenceStream, StreamMode
from nakama_rt.proto import realtime_pb2
from nakama_rt.session import Session

MATCH_MODES = (StreamMode.MATCH_RELAYED, StreamMode.MATCH_AUTHORITATIVE)
INVALID_MATCH_ID = "Invalid match ID"
INVALID_TOKEN = "Invalid match token"
NOT_FOUND = "Match not found"


def match_id(stream: PresenceStream) -> str:
    return f"{stream.subject}.{stream.label}"


def parse_match_id(value: str) -> tuple[str, str] | None:
    """``(uuid, node)`` of a match id, or None when malformed (Nakama's rules)."""
    subject, sep, node = value.partition(".")
    if not sep:
        return None
    try:
        return str(uuid.UUID(subject)), node
    except ValueError:
        return None


def _presence(presence: Presence) -> realtime_pb2.UserPresence:
    return realtime_pb2.UserPresence(
        user_id=presence.user_id, session_id=presence.session_id, username=presence.meta.username
    )


def _self(session: Session) -> realtime_pb2.UserPresence:
    return realtime_pb2.UserPresence(
        user_id=session.user_id, session_id=session.id, username=session.username
    )


class RelayedData(LazyEnvelope):
    """A relayed ``match_data``: the busiest broadcast of a relayed match.

    Its JSON is the protojson shape written as a dict and encoded by orjson (under a
    microsecond, where building the message and walking it takes three), byte for
    byte what the codec writes (``tests/test_codec.py``); the message itself is only
    built for a protobuf socket or an after hook.
    """

    __slots__ = ("_fields",)
    MESSAGE_TYPE = "match_data"

    def __init__(
        self, match_id: str, sender: Session, op_code: int, data: bytes, reliable: bool
    ) -> None:
        super().__init__()
        sent_by = (sender.user_id, sender.id, sender.username)
        self._fields = (match_id, *sent_by, op_code, data, reliable)

    def build(self) -> realtime_pb2.Envelope:
        match_id, user_id, session_id, username, op_code, data, reliable = self._fields
        presence = realtime_pb2.UserPresence(
            user_id=user_id, session_id=session_id, username=username
        )
        data_message = realtime_pb2.MatchData(
            match_id=match_id, presence=presence, op_code=op_code, data=data, reliable=reliable
        )
        return realtime_pb2.Envelope(match_data=data_message)

    def payload(self, fmt: Format) -> bytes:
        if fmt is not Format.JSON:
            return super().payload(fmt)
        if self._json is None:
            match_id, user_id, session_id, username, op_code, data, reliable = self._fields
            # Go's protojson: fields in number order, defaults left out, int64 quoted,
            # bytes in padded standard base64.
            presence = {}
            if user_id:
                presence["user_id"] = user_id
            if session_id:
                presence["session_id"] = session_id
            if username:
                presence["username"] = username
            out: dict[str, object] = {"match_id": match_id} if match_id else {}
            out["presence"] = presence
            if op_code:
                out["op_code"] = str(op_code)
            if data:
                out["data"] = binascii.b2a_base64(data, newline=False).decode("ascii")
            if reliable:
                out["reliable"] = True
            self._json = orjson.dumps({"match_data": out})
        return self._json


class MatchHandlers:
    """The relayed match messages. Authoritative matches plug in through ``authoritative``
    (an object with ``join``/``leave``/``send_data``), absent until the runtime has them."""

    log = Logger()

    def __init__(
        self, tracker: ITracker, router: IRouter, encryption_key: str, clock: IReactorTime
    ) -> None:
        self._tracker = tracker
        self._clock = clock
        self._router = router
        self._key = encryption_key
        self.authoritative = None
        for mode in MATCH_MODES:
            tracker.add_listener(mode, self._presence_changed)

    def register(self, pipeline: Pipeline) -> None:
        pipeline.register("match_create", self.create)
        pipeline.register("match_join", self.join)
        pipeline.register("match_leave", self.leave)
        pipeline.register("match_data_send", self.send_data)

    def _presence_changed(
        self, stream: PresenceStream, joins: list[Presence], leaves: list[Presence]
    ) -> None:
        event = realtime_pb2.MatchPresenceEvent(
            match_id=match_id(stream),
            joins=[_presence(p) for p in joins],
            leaves=[_presence(p) for p in leaves],
        )
        envelope = OutgoingEnvelope(realtime_pb2.Envelope(match_presence_event=event))
        self._router.send_to_stream(stream, envelope)

    def _meta(self, session: Session) -> PresenceMeta:
        return PresenceMeta(username=session.username, format=session.format.value)

    def create(self, session: Session, envelope: realtime_pb2.Envelope) -> bool:
        name = envelope.match_create.name
        subject = str(uuid.uuid5(uuid.NAMESPACE_DNS, name) if name else uuid.uuid4())
        stream = PresenceStream(StreamMode.MATCH_RELAYED, subject)
        is_new = self._tracker.get_by_stream(session.id, stream) is None
        size, others = 1, []
        if name:
            members = self._tracker.list_by_stream(stream, False, True)
            size = len(members) + (1 if is_new else 0)
            others = [_presence(p) for p in members]
        match = realtime_pb2.Match(
            match_id=match_id(stream),
            authoritative=False,
            size=size,
            presences=others,
            self=_self(session),
        )
        session.send_envelope(realtime_pb2.Envelope(cid=envelope.cid, match=match))
        self._tracker.track(session.id, stream, session.user_id, self._meta(session))
        return True

    def _target(self, session: Session, request: realtime_pb2.MatchJoin, cid: str):
        """``(uuid, node, id text, allow_empty)`` of the match to join, or None (answered)."""
        which = request.WhichOneof("id")
        if which == "match_id":
            parsed = parse_match_id(request.match_id)
            if parsed is None:
                session.send_error(cid, ErrorCode.BAD_INPUT, INVALID_MATCH_ID)
                return None
            return (*parsed, request.match_id, False)
        if which == "token":
            try:
                text = tokens.decode_claims(request.token, self._key, self._clock.seconds()).get(
                    "mid"
                )
            except tokens.InvalidToken:
                text = None
            parsed = parse_match_id(text) if isinstance(text, str) else None
            if parsed is None:
                session.send_error(cid, ErrorCode.BAD_INPUT, INVALID_TOKEN)
                return None
            return (*parsed, text, True)
        session.send_error(cid, ErrorCode.BAD_INPUT, "No match ID or token found")
        return None

    def join(self, session: Session, envelope: realtime_pb2.Envelope):
        cid = envelope.cid
        request = envelope.match_join
        target = self._target(session, request, cid)
        if target is None:
            return False
        subject, node, text, allow_empty = target
        if node:
            if self.authoritative is None:
                session.send_error(cid, ErrorCode.MATCH_NOT_FOUND, NOT_FOUND)
                return False
            return self.authoritative.join(session, cid, subject, node, text, request.metadata)
        stream = PresenceStream(StreamMode.MATCH_RELAYED, subject)
        if not allow_empty and self._tracker.count_by_stream(stream) == 0:
            session.send_error(cid, ErrorCode.MATCH_NOT_FOUND, NOT_FOUND)
            return False
        is_new = self._tracker.get_by_stream(session.id, stream) is None
        members = [
            p
            for p in self._tracker.list_by_stream(stream, False, True)
            if not (is_new and p.session_id == session.id)
        ]
        match = realtime_pb2.Match(
            match_id=text,
            authoritative=False,
            size=len(members),
            presences=[_presence(p) for p in members],
            self=_self(session),
        )
        session.send_envelope(realtime_pb2.Envelope(cid=cid, match=match))
        if is_new:
            self._tracker.track(session.id, stream, session.user_id, self._meta(session))
        return True

    def leave(self, session: Session, envelope: realtime_pb2.Envelope) -> bool:
        parsed = parse_match_id(envelope.match_leave.match_id)
        if parsed is None:
            session.send_error(envelope.cid, ErrorCode.BAD_INPUT, INVALID_MATCH_ID)
            return False
        subject, node = parsed
        mode = StreamMode.MATCH_AUTHORITATIVE if node else StreamMode.MATCH_RELAYED
        session.send_envelope(realtime_pb2.Envelope(cid=envelope.cid))
        self._tracker.untrack(
            session.id, PresenceStream(mode, subject, label=node), session.user_id
        )
        return True

    def send_data(self, session: Session, envelope: realtime_pb2.Envelope) -> bool:
        request = envelope.match_data_send
        parsed = parse_match_id(request.match_id)
        if parsed is None:
            # Nakama answers this one without the request's cid.
            session.send_error("", ErrorCode.BAD_INPUT, INVALID_MATCH_ID)
            return False
        subject, node = parsed
        if node:
            stream = PresenceStream(StreamMode.MATCH_AUTHORITATIVE, subject, label=node)
            if (
                self.authoritative is None
                or self._tracker.get_by_stream(session.id, stream) is None
            ):
                return False
            return self.authoritative.send_data(session, subject, node, request)
        stream = PresenceStream(StreamMode.MATCH_RELAYED, subject)
        if self._tracker.get_by_stream(session.id, stream) is None:
            return False  # Nakama ignores data from outside the match
        members = self._tracker.session_ids_by_stream(stream)
        if request.presences:
            listed = {p.session_id for p in request.presences}
            recipients = [sid for sid in members if sid in listed]
        else:
            recipients = [sid for sid in members if sid != session.id]
        if not recipients:
            return True
        outgoing = RelayedData(
            request.match_id, session, request.op_code, request.data, request.reliable
        )
        self._router.send_to_session_ids(recipients, outgoing)
        return True
