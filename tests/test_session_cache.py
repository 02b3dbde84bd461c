"""The session cache: Nakama's deny-list semantics, purged on an injected clock."""

from __future__ import annotations

import pytest
from twisted.internet.task import Clock

from nakama_rt.auth.session_cache import PurgeService, SessionCache
from nakama_rt.config import SessionConfig

TOKEN_EXPIRY = 60
REFRESH_EXPIRY = 3600
USER = "5f4b2a8e-1d3c-4e5f-8a9b-0c1d2e3f4a5b"
OTHER = "0b7c0c1e-9a54-4f0e-8a43-8f4a3c2b1d00"


@pytest.fixture
def clock() -> Clock:
    clock = Clock()
    clock.advance(1_000_000)
    return clock


@pytest.fixture
def cache(clock) -> SessionCache:
    config = SessionConfig(token_expiry_sec=TOKEN_EXPIRY, refresh_token_expiry_sec=REFRESH_EXPIRY)
    return SessionCache(config, clock)


@pytest.fixture(autouse=True)
def purging(cache, clock) -> PurgeService:
    """The cache purged as the server purges it, every 2 * token_expiry_sec."""
    service = PurgeService(cache, clock)
    service.startService()
    yield service
    if service.running:
        service.stopService()


def issue(clock, cache, token_id):
    """What the API does after authenticating: expiries from now, then ``add``."""
    now = int(clock.seconds())
    exp, refresh_exp = now + TOKEN_EXPIRY, now + REFRESH_EXPIRY
    cache.add(USER, exp, token_id, refresh_exp, token_id)
    return exp, refresh_exp


def test_unknown_tokens_are_valid(cache, clock):
    exp, refresh_exp = issue(clock, cache, "t1")
    assert cache.is_valid_session(USER, exp, "t1")
    assert cache.is_valid_refresh(USER, refresh_exp, "t1")
    assert len(cache) == 0  # add records nothing: the cache lists revocations only.


def test_remove_revokes_only_the_given_tokens(cache, clock):
    exp, refresh_exp = issue(clock, cache, "t1")
    issue(clock, cache, "t2")
    cache.remove(USER, exp, "t1", 0, "")
    assert not cache.is_valid_session(USER, exp, "t1")
    assert cache.is_valid_refresh(USER, refresh_exp, "t1")
    assert cache.is_valid_session(USER, exp, "t2")
    cache.remove(USER, 0, "", refresh_exp, "t1")
    assert not cache.is_valid_refresh(USER, refresh_exp, "t1")
    assert cache.is_valid_session(OTHER, exp, "t1")


def test_remove_all_revokes_tokens_issued_before_now(cache, clock):
    old_exp, old_refresh_exp = issue(clock, cache, "old")
    clock.advance(1)
    cache.remove_all(USER)
    assert not cache.is_valid_session(USER, old_exp, "old")
    assert not cache.is_valid_refresh(USER, old_refresh_exp, "old")
    new_exp, new_refresh_exp = issue(clock, cache, "new")
    assert cache.is_valid_session(USER, new_exp, "new")
    assert cache.is_valid_refresh(USER, new_refresh_exp, "new")


def test_remove_all_spares_tokens_of_the_same_second(cache, clock):
    # Nakama compares whole seconds: a single-session login revokes older logins,
    # but not one issued in the very same second.
    exp, _ = issue(clock, cache, "same-second")
    cache.remove_all(USER)
    assert cache.is_valid_session(USER, exp, "same-second")


def test_ban(cache, clock):
    exp, refresh_exp = issue(clock, cache, "t1")
    clock.advance(1)
    cache.ban([USER])
    assert not cache.is_valid_session(USER, exp, "t1")
    assert not cache.is_valid_refresh(USER, refresh_exp, "t1")
    cache.unban([USER])
    assert not cache.is_valid_session(USER, exp, "t1")


def test_purge_forgets_expired_revocations(cache, clock):
    exp, refresh_exp = issue(clock, cache, "t1")
    cache.remove(USER, exp, "t1", refresh_exp, "t1")
    assert len(cache) == 1
    clock.advance(2 * TOKEN_EXPIRY)  # First purge: the session entry has expired.
    assert len(cache) == 1
    assert cache.is_valid_session(USER, exp, "t1")  # Forgotten (the JWT check rejects it).
    assert not cache.is_valid_refresh(USER, refresh_exp, "t1")
    clock.pump([2 * TOKEN_EXPIRY] * (REFRESH_EXPIRY // (2 * TOKEN_EXPIRY)))
    assert len(cache) == 0


def test_purge_keeps_full_invalidations_until_every_token_expired(cache, clock):
    clock.advance(1)
    cache.remove_all(USER)
    clock.advance(2 * TOKEN_EXPIRY)
    assert len(cache) == 1
    clock.pump([2 * TOKEN_EXPIRY] * (REFRESH_EXPIRY // (2 * TOKEN_EXPIRY)))
    assert len(cache) == 0


def test_stop_stops_purging(cache, clock, purging):
    exp, refresh_exp = issue(clock, cache, "t1")
    cache.remove(USER, exp, "t1", 0, "")
    purging.stopService()
    clock.advance(10 * TOKEN_EXPIRY)
    assert len(cache) == 1
    cache.purge()
    assert len(cache) == 0
    assert not clock.getDelayedCalls()
