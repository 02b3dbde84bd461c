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
from collections.abc import Mapping
from functools import partial
from typing import NamedTuple, Protocol

import orjson
from twisted.internet.interfaces import IReactorTime

from nakama_rt.auth import tokens
from nakama_rt.core.held import HeldPresences
from nakama_rt.core.pipeline import Dropped, ErrorCode, RealtimeError, ReplyFirst, Requester
from nakama_rt.core.router import IRouter
from nakama_rt.core.tracker import ITracker, Presence, PresenceMeta, PresenceStream, StreamMode
from nakama_rt.logs import Logger
from nakama_rt.wire.codec import Format, LazyEnvelope
from nakama_rt.wire.ids import parse_match_id
from nakama_rt.wire.proto import realtime_pb2

INVALID_MATCH_ID = "Invalid match ID"
INVALID_TOKEN = "Invalid match token"
NOT_FOUND = "Match not found"


def match_id(stream: PresenceStream) -> str:
    return f"{stream.subject}.{stream.label}"


def _presence(presence: Presence) -> realtime_pb2.UserPresence:
    return realtime_pb2.UserPresence(
        user_id=presence.user_id, session_id=presence.session_id, username=presence.meta.username
    )


def presence_event(
    stream: PresenceStream, joins: list[Presence], leaves: list[Presence]
) -> realtime_pb2.Envelope:
    """The ``match_presence_event`` for a change of a match's members."""
    event = realtime_pb2.MatchPresenceEvent(
        match_id=match_id(stream),
        joins=[_presence(p) for p in joins],
        leaves=[_presence(p) for p in leaves],
    )
    return realtime_pb2.Envelope(match_presence_event=event)


def data_home(envelope: realtime_pb2.Envelope) -> str:
    """The node of the authoritative match a ``match_data_send`` is for ("" if none)."""
    parsed = parse_match_id(envelope.match_data_send.match_id)
    return parsed[1] if parsed is not None else ""


def _self(requester: Requester) -> realtime_pb2.UserPresence:
    return realtime_pb2.UserPresence(
        user_id=requester.user_id, session_id=requester.session_id, username=requester.username
    )


def presence_meta(requester: Requester) -> PresenceMeta:
    """A match member's presence: visible, with the socket's format."""
    return PresenceMeta(username=requester.username, format=requester.format.value)


class MatchTarget(NamedTuple):
    """The match a ``match_join`` names: its uuid and node, and its id as sent."""

    subject: str
    node: str
    match_id: str


class AuthoritativeMatches(Protocol):
    """What the socket's match messages need of authoritative matches (the runtime's
    :class:`~nakama_rt.realtime.match.authoritative.MatchRegistry`)."""

    def join(
        self, requester: Requester, target: MatchTarget, metadata: Mapping[str, str]
    ) -> realtime_pb2.Envelope | ReplyFirst:
        """The ``match`` reply, tracking a new member once it is sent; raises
        :class:`~nakama_rt.core.pipeline.RealtimeError` when refused."""
        ...

    def send_data(
        self, requester: Requester, subject: str, node: str, request: realtime_pb2.MatchDataSend
    ) -> None:
        """Queue a member's data for the match loop; :class:`Dropped` when no such match."""
        ...


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
        self, match_id: str, sender: Requester, op_code: int, data: bytes, reliable: bool
    ) -> None:
        super().__init__()
        sent_by = (sender.user_id, sender.session_id, sender.username)
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
    """The relayed match messages; authoritative matches are reached through
    ``authoritative`` (None: there are none, and such ids are not found)."""

    log = Logger()

    def __init__(
        self,
        tracker: ITracker,
        router: IRouter,
        encryption_key: str,
        clock: IReactorTime,
        authoritative: AuthoritativeMatches | None = None,
        held: HeldPresences | None = None,
    ) -> None:
        self._tracker = tracker
        #: Matches resumed sessions kept over a drop: their re-joins answer as fresh.
        self._held = held if held is not None else HeldPresences()
        self._clock = clock
        self._router = router
        self._key = encryption_key
        self._authoritative = authoritative
        # Authoritative matches send their own events, before their handler hears.
        tracker.add_listener(StreamMode.MATCH_RELAYED, self._presence_changed)

    def _presence_changed(
        self, stream: PresenceStream, joins: list[Presence], leaves: list[Presence]
    ) -> None:
        self._router.send_to_stream(stream, presence_event(stream, joins, leaves))

    def _track(self, requester: Requester, stream: PresenceStream) -> None:
        self._tracker.track(
            requester.session_id, stream, requester.user_id, presence_meta(requester)
        )

    def create(self, envelope: realtime_pb2.Envelope, requester: Requester) -> ReplyFirst:
        name = envelope.match_create.name
        subject = str(uuid.uuid5(uuid.NAMESPACE_DNS, name) if name else uuid.uuid4())
        stream = PresenceStream(StreamMode.MATCH_RELAYED, subject)
        is_new = self._tracker.get_by_stream(requester.session_id, stream) is None
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
            self=_self(requester),
        )
        track = partial(self._track, requester, stream)
        return ReplyFirst(realtime_pb2.Envelope(match=match), then=track)

    def _target(self, request: realtime_pb2.MatchJoin) -> tuple[MatchTarget, bool]:
        """The match to join, and whether it may be empty (a matchmaker token's);
        raises when there is none."""
        which = request.WhichOneof("id")
        if which == "match_id":
            parsed = parse_match_id(request.match_id)
            if parsed is None:
                raise RealtimeError(ErrorCode.BAD_INPUT, INVALID_MATCH_ID)
            return MatchTarget(*parsed, request.match_id), False
        if which == "token":
            try:
                claims = tokens.decode_claims(request.token, self._key, self._clock.seconds())
            except tokens.InvalidToken:
                claims = {}
            text = claims.get("mid")
            parsed = parse_match_id(text) if isinstance(text, str) else None
            if parsed is None or not isinstance(text, str):
                raise RealtimeError(ErrorCode.BAD_INPUT, INVALID_TOKEN)
            return MatchTarget(*parsed, text), True
        raise RealtimeError(ErrorCode.BAD_INPUT, "No match ID or token found")

    def join_home(self, envelope: realtime_pb2.Envelope) -> str:
        """The node of the authoritative match a ``match_join`` names ("" for a relayed
        match, or for a request refused anywhere alike)."""
        try:
            target, _ = self._target(envelope.match_join)
        except RealtimeError:
            return ""
        return target.node

    def join_stream(self, envelope: realtime_pb2.Envelope) -> PresenceStream | None:
        """The stream of the authoritative match a ``match_join`` names (None for a
        relayed one, or a request refused anywhere alike)."""
        try:
            target, _ = self._target(envelope.match_join)
        except RealtimeError:
            return None
        if not target.node:
            return None
        return PresenceStream(StreamMode.MATCH_AUTHORITATIVE, target.subject, label=target.node)

    def join(
        self, envelope: realtime_pb2.Envelope, requester: Requester
    ) -> realtime_pb2.Envelope | ReplyFirst:
        request = envelope.match_join
        target, allow_empty = self._target(request)
        if target.node:
            if self._authoritative is None:
                raise RealtimeError(ErrorCode.MATCH_NOT_FOUND, NOT_FOUND)
            return self._authoritative.join(requester, target, request.metadata)
        stream = PresenceStream(StreamMode.MATCH_RELAYED, target.subject)
        if not allow_empty and self._tracker.count_by_stream(stream) == 0:
            raise RealtimeError(ErrorCode.MATCH_NOT_FOUND, NOT_FOUND)
        is_new = self._tracker.get_by_stream(requester.session_id, stream) is None
        as_new = is_new or self._held.take(requester.session_id, stream)
        members = [
            p
            for p in self._tracker.list_by_stream(stream, False, True)
            if not (as_new and p.session_id == requester.session_id)
        ]
        match = realtime_pb2.Match(
            match_id=target.match_id,
            authoritative=False,
            size=len(members),
            presences=[_presence(p) for p in members],
            self=_self(requester),
        )
        reply = realtime_pb2.Envelope(match=match)
        if not is_new:
            return reply
        return ReplyFirst(reply, then=partial(self._track, requester, stream))

    def leave(self, envelope: realtime_pb2.Envelope, requester: Requester) -> ReplyFirst:
        parsed = parse_match_id(envelope.match_leave.match_id)
        if parsed is None:
            raise RealtimeError(ErrorCode.BAD_INPUT, INVALID_MATCH_ID)
        subject, node = parsed
        mode = StreamMode.MATCH_AUTHORITATIVE if node else StreamMode.MATCH_RELAYED
        stream = PresenceStream(mode, subject, label=node)
        untrack = partial(self._tracker.untrack, requester.session_id, stream, requester.user_id)
        return ReplyFirst(realtime_pb2.Envelope(), then=untrack)

    def send_data(self, envelope: realtime_pb2.Envelope, requester: Requester) -> None:
        request = envelope.match_data_send
        parsed = parse_match_id(request.match_id)
        if parsed is None:
            # Nakama answers this one without the request's cid.
            raise RealtimeError(ErrorCode.BAD_INPUT, INVALID_MATCH_ID, with_cid=False)
        subject, node = parsed
        session_id = requester.session_id
        if node:
            stream = PresenceStream(StreamMode.MATCH_AUTHORITATIVE, subject, label=node)
            authoritative = self._authoritative
            if authoritative is None or self._tracker.get_by_stream(session_id, stream) is None:
                raise Dropped()
            authoritative.send_data(requester, subject, node, request)
            return None
        stream = PresenceStream(StreamMode.MATCH_RELAYED, subject)
        if self._tracker.get_by_stream(session_id, stream) is None:
            raise Dropped()  # Nakama ignores data from outside the match
        members = self._tracker.session_ids_by_stream(stream)
        if request.presences:
            listed = {p.session_id for p in request.presences}
            recipients = [sid for sid in members if sid in listed]
        else:
            recipients = [sid for sid in members if sid != session_id]
        if recipients:
            outgoing = RelayedData(
                request.match_id, requester, request.op_code, request.data, request.reliable
            )
            self._router.send_to_session_ids(recipients, outgoing)
        return None
