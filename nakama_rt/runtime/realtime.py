"""What ``nk`` needs of the server's realtime side, as protocols the runtime owns.

The server's :class:`~nakama_rt.realtime.stream.StreamManager`,
:class:`~nakama_rt.realtime.match.authoritative.MatchRegistry`,
:func:`~nakama_rt.realtime.match.listing.list_matches` and
:class:`~nakama_rt.realtime.chat.channel.ChannelHandlers` fit them; the runtime never
imports those modules. What crosses the seam is plain data from
:mod:`nakama_rt.core.refs` (below both) and the wire types.

The match registry does not hold ``nk``: whoever creates a match passes the ``nk``
its handler callbacks get (``nk.match_create`` passes itself), so ``nk`` can be
given the registry when it is constructed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from twisted.internet.defer import Deferred

from nakama_rt.core.refs import MatchFilter, StreamRef
from nakama_rt.wire.proto import api_pb2, realtime_pb2

if TYPE_CHECKING:
    from nakama_rt.core.tracker import Presence, PresenceMeta


class NkStreams(Protocol):
    """Streams for ``nk.stream_*``."""

    def user_join(
        self,
        ref: StreamRef,
        user_id: str,
        session_id: str,
        hidden: bool = ...,
        persistence: bool = ...,
        status: str = ...,
    ) -> bool: ...

    def user_update(
        self,
        ref: StreamRef,
        user_id: str,
        session_id: str,
        hidden: bool = ...,
        persistence: bool = ...,
        status: str = ...,
    ) -> None: ...

    def user_leave(self, ref: StreamRef, user_id: str, session_id: str) -> None: ...

    def user_get(self, ref: StreamRef, user_id: str, session_id: str) -> PresenceMeta | None: ...

    def user_list(
        self, ref: StreamRef, include_hidden: bool = ..., include_not_hidden: bool = ...
    ) -> list[Presence]: ...

    def count(self, ref: StreamRef) -> int: ...

    def close(self, ref: StreamRef) -> None: ...

    def send(
        self,
        ref: StreamRef,
        data: str,
        presences: Iterable[Presence] | None = ...,
        reliable: bool = ...,
    ) -> None: ...


class NkMatches(Protocol):
    """Authoritative matches for ``nk.match_create``, ``match_get``, ``match_signal``.
    ``nk`` is what the new match's handler callbacks get."""

    def create(
        self, name: str, params: Mapping[str, Any] | None = ..., nk: object = ...
    ) -> str: ...

    def describe(self, match_id: str) -> api_pb2.Match | None:
        """A running match of any node, as ``nk.match_get`` shows it."""
        ...

    def signal_anywhere(self, match_id: str, data: str) -> Deferred[str]: ...


#: ``nk.match_list``: the listing, as Nakama's registry lists (the filter unchecked).
ListMatches = Callable[[MatchFilter], list[api_pb2.Match]]
#: ``(limit, open, show_hidden, query, cursor) -> (parties as api.Party JSON, cursor)``:
#: :func:`nakama_rt.realtime.party.listing.list_parties` over the server's parties.
ListParties = Callable[[int, bool | None, bool, str, str], tuple[list[dict[str, Any]], str]]


class NkChannels(Protocol):
    """Chat channels for ``nk.channel_message_send``."""

    def post(
        self, channel: str, content: str, sender_id: str, username: str, persist: bool
    ) -> Deferred[realtime_pb2.ChannelMessageAck]: ...
