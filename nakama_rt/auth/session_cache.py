"""Which session and refresh tokens are still good: Nakama's LocalSessionCache.

Like Nakama's, the cache is a deny list. A token that passed the JWT checks is
valid unless its id was removed (logout) or it was issued before the user's
last full invalidation (``remove_all``: logout everywhere, single-session
login, ban). ``add`` is therefore a no-op, kept for the same call sites as
Nakama. State lives in memory and is touched only from the reactor thread, so
there are no locks; :class:`PurgeService` forgets expired entries every
``2 * token_expiry_sec`` on the injected clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from twisted.application.internet import TimerService
from twisted.internet.interfaces import IReactorTime

from nakama_rt.config import SessionConfig


@dataclass
class _UserEntry:
    last_invalidation: int = 0
    #: Removed token id -> time (UNIX seconds) after which it is expired anyway.
    session_tokens: dict[str, int] = field(default_factory=dict)
    refresh_tokens: dict[str, int] = field(default_factory=dict)


class SessionCache:
    """In-memory token deny list for one server, with Nakama's semantics."""

    def __init__(self, config: SessionConfig, clock: IReactorTime) -> None:
        self._token_expiry_sec = int(config.token_expiry_sec)
        self._refresh_token_expiry_sec = int(config.refresh_token_expiry_sec)
        self._clock = clock
        self._cache: dict[str, _UserEntry] = {}

    @property
    def purge_interval(self) -> int:
        """Seconds between purges: a removed session token has expired by then."""
        return 2 * self._token_expiry_sec

    def _now(self) -> int:
        return int(self._clock.seconds())

    def is_valid_session(self, user_id: str, exp: int, token_id: str) -> bool:
        """Whether a session token that passed the JWT checks is still allowed."""
        entry = self._cache.get(user_id)
        if entry is None:
            return True
        if entry.last_invalidation > 0 and exp - self._token_expiry_sec < entry.last_invalidation:
            # Issued before the user's last full invalidation.
            return False
        return token_id not in entry.session_tokens

    def is_valid_refresh(self, user_id: str, exp: int, token_id: str) -> bool:
        """Whether a refresh token that passed the JWT checks is still allowed."""
        entry = self._cache.get(user_id)
        if entry is None:
            return True
        if (
            entry.last_invalidation > 0
            and exp - self._refresh_token_expiry_sec < entry.last_invalidation
        ):
            return False
        return token_id not in entry.refresh_tokens

    def add(
        self,
        user_id: str,
        session_exp: int,
        session_token_id: str,
        refresh_exp: int,
        refresh_token_id: str,
    ) -> None:
        """Record newly issued tokens. A no-op: the cache only lists what is revoked."""

    def remove(
        self,
        user_id: str,
        session_exp: int,
        session_token_id: str,
        refresh_exp: int,
        refresh_token_id: str,
    ) -> None:
        """Revoke one session token and/or one refresh token (empty ids are skipped)."""
        entry = self._cache.setdefault(user_id, _UserEntry())
        if session_token_id:
            entry.session_tokens[session_token_id] = session_exp + 1
        if refresh_token_id:
            entry.refresh_tokens[refresh_token_id] = refresh_exp + 1

    def remove_all(self, user_id: str) -> None:
        """Revoke every token the user was issued before this second."""
        now = self._now()
        entry = self._cache.setdefault(user_id, _UserEntry())
        if now > entry.last_invalidation:
            entry.last_invalidation = now
            entry.session_tokens = {}
            entry.refresh_tokens = {}

    def ban(self, user_ids: Iterable[str]) -> None:
        """Revoke every token of these users issued before this second."""
        now = self._now()
        for user_id in user_ids:
            entry = self._cache.setdefault(user_id, _UserEntry())
            if now > entry.last_invalidation:
                entry.last_invalidation = now

    def unban(self, user_ids: Iterable[str]) -> None:
        """Nothing to undo: tokens revoked by a ban stay revoked, as in Nakama."""

    def purge(self) -> None:
        """Forget revocations whose tokens have expired anyway."""
        now = self._now()
        for user_id in list(self._cache):
            entry = self._cache[user_id]
            entry.session_tokens = {t: e for t, e in entry.session_tokens.items() if e > now}
            entry.refresh_tokens = {t: e for t, e in entry.refresh_tokens.items() if e > now}
            if (
                not entry.session_tokens
                and not entry.refresh_tokens
                and (
                    entry.last_invalidation == 0
                    or (
                        entry.last_invalidation < now - self._token_expiry_sec
                        and entry.last_invalidation < now - self._refresh_token_expiry_sec
                    )
                )
            ):
                del self._cache[user_id]

    def __len__(self) -> int:
        """How many users have an entry (for tests and metrics)."""
        return len(self._cache)


class PurgeService(TimerService):
    """Purges ``cache`` every :attr:`SessionCache.purge_interval` on ``clock``, as a
    child of the server's service (or started and stopped by an embedding app)."""

    def __init__(self, cache: SessionCache, clock: IReactorTime) -> None:
        super().__init__(cache.purge_interval, cache.purge)
        self.clock = clock  # TimerService's own attribute for the clock its loop runs on
