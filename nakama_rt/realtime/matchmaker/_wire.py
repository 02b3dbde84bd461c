"""``matchmaker_matched`` envelopes for every player of a match, encoded cheaply.

The players of one match get the same users and token (or match id); only
``ticket`` and ``self`` differ. Encoding each player's envelope from scratch would
repeat the users' JSON for every recipient (most of a pass's cost at 10,000
tickets), so a JSON payload is assembled from the users encoded once per match by
the codec itself; the result is byte for byte what the codec gives for the whole
envelope (``tests/test_matchmaker.py`` checks it). Protobuf payloads, which are
cheap, are encoded the ordinary way. Nothing is encoded for a format no recipient
uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nakama_rt.wire.codec import Format, LazyEnvelope, encode
from nakama_rt.wire.proto import realtime_pb2

_PREFIX = b'{"matchmaker_matched":{"ticket":"'


class _Shared:
    """What every player's envelope has in common: the proto, and its JSON parts
    encoded on first use."""

    __slots__ = ("_id", "_middle", "_selves", "_users", "base")

    def __init__(self, users: Sequence[Any], token: str, match_id: str) -> None:
        self._users = users
        self.base = base = realtime_pb2.Envelope()
        matched = base.matchmaker_matched
        matched.users.extend(users)
        if match_id:
            matched.match_id = match_id
        else:
            matched.token = token
        self._id = match_id
        self._middle: bytes | None = None
        self._selves: list[bytes] = []

    def json(self, ticket: str, at: int) -> bytes:
        if self._middle is None:
            self._selves = [encode(Format.JSON, user) for user in self._users]
            matched = self.base.matchmaker_matched
            if self._id:  # any text: the codec escapes it
                only_id = realtime_pb2.MatchmakerMatched(match_id=self._id)
                id_part = encode(Format.JSON, only_id)[1:-1]
            else:  # a JWT: base64url and dots, nothing to escape
                id_part = b'"token":"' + matched.token.encode() + b'"'
            self._middle = b'",' + id_part + b',"users":[' + b",".join(self._selves) + b'],"self":'
        # Tickets are UUIDs: nothing in them needs escaping.
        return _PREFIX + ticket.encode() + self._middle + self._selves[at] + b"}}"

    def envelope(self, ticket: str, at: int) -> realtime_pb2.Envelope:
        envelope = realtime_pb2.Envelope()
        envelope.CopyFrom(self.base)
        own = envelope.matchmaker_matched
        own.ticket = ticket
        own.self.CopyFrom(self._users[at])
        return envelope


class MatchedEnvelope(LazyEnvelope):
    """One player's ``matchmaker_matched``. Its JSON comes from the match's shared
    parts; its proto (``envelope``) is only built when read, e.g. for protobuf."""

    __slots__ = ("_at", "_shared", "_ticket")
    MESSAGE_TYPE = "matchmaker_matched"

    def __init__(self, shared: _Shared, ticket: str, at: int) -> None:
        super().__init__()
        self._shared = shared
        self._ticket = ticket
        self._at = at

    def build(self) -> realtime_pb2.Envelope:
        return self._shared.envelope(self._ticket, self._at)

    def payload(self, fmt: Format) -> bytes:
        if fmt is Format.JSON:
            return self._shared.json(self._ticket, self._at)
        return super().payload(fmt)


def matched_envelopes(
    tickets: Sequence[str], users: Sequence[Any], token: str, match_id: str
) -> list[MatchedEnvelope]:
    """The envelope for each player (``tickets[i]`` and ``users[i]`` are theirs):
    everyone's users, and the match id when given, else the token."""
    shared = _Shared(users, token, match_id)
    return [MatchedEnvelope(shared, ticket, at) for at, ticket in enumerate(tickets)]
