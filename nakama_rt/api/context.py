"""What the HTTP API needs from the rest of the server, in one object."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThreadPool
from twisted.python.threadpool import ThreadPool

from nakama_rt.auth.session_cache import SessionCache
from nakama_rt.config import Config
from nakama_rt.core.accounts import BCRYPT_COST
from nakama_rt.core.refs import MatchFilter
from nakama_rt.counters import RealtimeCounts
from nakama_rt.storage import IServerStorage
from nakama_rt.wire.proto import api_pb2


def _no_match_listing(match_filter: MatchFilter) -> list[api_pb2.Match]:
    """``list_matches`` when none is given: ``GET /v2/match`` fails (a 500)."""
    raise RuntimeError("GET /v2/match needs ApiContext.list_matches (the server's match listing)")


def _no_party_listing(
    limit: int, open: bool | None, query: str, cursor: str
) -> tuple[list[dict[str, Any]], str]:
    """``list_parties`` when none is given: ``GET /v2/party`` fails (a 500)."""
    raise RuntimeError("GET /v2/party needs ApiContext.list_parties (the party listing)")


def _no_matchmaker_stats() -> Any:
    """``matchmaker_stats`` when none is given: ``GET /v2/matchmaker/stats`` fails."""
    raise RuntimeError("GET /v2/matchmaker/stats needs ApiContext.matchmaker_stats")


@dataclass(frozen=True)
class ApiContext:
    """Everything the ``/v2`` resources use; built once by the server, shared by all requests.

    ``reactor``
        The running reactor: its ``seconds()`` stamps tokens and its thread pool
        runs bcrypt when ``threadpool`` is None. Must be the reactor serving the API.
    ``config``
        The server :class:`~nakama_rt.config.Config` (server key, session keys and
        expiries, ``single_session``, ``max_request_size_bytes``).
    ``storage``
        A started :class:`~nakama_rt.storage.IServerStorage` (accounts, chat, social graph).
    ``session_cache``
        The server's :class:`~nakama_rt.auth.session_cache.SessionCache` (the socket
        acceptor must check tokens against the same instance).
    ``threadpool``
        Where bcrypt runs, never the reactor thread; None means
        ``reactor.getThreadPool()``.
    ``bcrypt_cost``
        Work factor for new password hashes; tests lower it to stay fast.
    ``is_online``
        ``user_id -> bool`` for the account's ``online`` flag (the status
        registry); None means always offline.
    ``notifier``
        The server's :class:`~nakama_rt.core.notifications.Notifier` (persist and
        deliver notifications); None in tests that do not need it.
    ``chat``
        The server's :class:`~nakama_rt.realtime.chat.group_chat.ChatEvents` (group
        channel messages and channel clean-up); None in tests that do not need it.
    ``list_matches``
        ``MatchFilter -> [api.Match]`` (:mod:`nakama_rt.realtime.match.listing`); when
        not given, ``GET /v2/match`` fails (tests that do not need it).
    ``list_parties``
        ``(limit, open, query, cursor) -> ([api.Party as JSON], next cursor)``, the parties a
        client may list (:mod:`nakama_rt.realtime.party.listing`), raising
        ``PartyListError`` for a bad cursor or query; when not given, ``GET /v2/party``
        fails.
    ``counts``
        The server's :class:`~nakama_rt.counters.RealtimeCounts` (``server.counts``),
        where requests refused as the client's mistake are counted for the metrics;
        None counts nothing.
    """

    reactor: Any
    config: Config
    storage: IServerStorage
    session_cache: SessionCache
    threadpool: ThreadPool | None = None
    bcrypt_cost: int = BCRYPT_COST
    is_online: Callable[[str], bool] | None = None
    notifier: Any = None
    chat: Any = None
    list_matches: Callable[[MatchFilter], list[api_pb2.Match]] = _no_match_listing
    list_parties: Callable[[int, bool | None, str, str], tuple[list[dict[str, Any]], str]] = (
        _no_party_listing
    )
    counts: RealtimeCounts | None = None
    #: ``() -> MatchmakerStats`` (:meth:`nakama_rt.realtime.matchmaker.Matchmaker.stats`).
    matchmaker_stats: Callable[[], Any] = _no_matchmaker_stats

    def in_thread(self, fn: Callable[..., Any], *args: Any) -> Deferred[Any]:
        """Run CPU-heavy ``fn`` (bcrypt) off the reactor thread."""
        pool = self.threadpool if self.threadpool is not None else self.reactor.getThreadPool()
        return deferToThreadPool(self.reactor, pool, fn, *args)
