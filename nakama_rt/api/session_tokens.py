"""``/v2/account/session/refresh`` and ``/v2/session/logout`` (Nakama's api_session.go)."""

from __future__ import annotations

from typing import Any

from nakama_rt.auth.tokens import InvalidToken, SessionClaims, issue_session, parse_token
from nakama_rt.logs import Logger

from .context import ApiContext
from .http import ApiError, Call, Code, Route

log = Logger()

_REFRESH_INVALID = "Refresh token invalid or expired."


async def session_refresh(ctx: ApiContext, call: Call) -> dict[str, Any]:
    """A new token pair from a refresh token; keeps its token id and issue time, as Nakama."""
    body = call.body or {}
    token = body.get("token", "")
    if not token:
        raise ApiError(Code.INVALID_ARGUMENT, "Refresh token is required.")
    config = ctx.config.session
    now = ctx.reactor.seconds()
    try:
        claims = parse_token(token, config.refresh_encryption_key, now)
    except InvalidToken:
        raise ApiError(Code.UNAUTHENTICATED, _REFRESH_INVALID) from None
    cache = ctx.session_cache
    if not cache.is_valid_refresh(claims.user_id, claims.expires_at, claims.token_id):
        raise ApiError(Code.UNAUTHENTICATED, _REFRESH_INVALID)

    user = await ctx.storage.get_user(claims.user_id)
    if user is None:
        log.warn("Refresh token user {user_id} does not exist", user_id=claims.user_id)
        raise ApiError(Code.NOT_FOUND, "User account not found.")
    if user.disabled:
        raise ApiError(Code.PERMISSION_DENIED, "User account banned.")

    # New vars replace the token's when the request carries them (even empty).
    vars = body["vars"] if "vars" in body else claims.vars
    issued = issue_session(
        config,
        claims.user_id,
        user.username,
        vars,
        now,
        token_id=claims.token_id,
        issued_at=claims.issued_at,
    )
    cache.add(
        claims.user_id,
        issued.expires_at,
        issued.token_id,
        issued.refresh_expires_at,
        issued.token_id,
    )
    return {"token": issued.token, "refresh_token": issued.refresh_token}


async def session_logout(ctx: ApiContext, call: Call) -> dict[str, Any]:
    """Revoke the given session and/or refresh token; with neither, every token of the user."""
    assert call.session is not None
    user_id = call.session.user_id
    body = call.body or {}
    config = ctx.config.session
    now = ctx.reactor.seconds()

    session: SessionClaims | None = None
    if body.get("token"):
        try:
            session = parse_token(body["token"], config.encryption_key, now)
        except InvalidToken:
            session = None
        if session is None or session.user_id != user_id:
            raise ApiError(Code.INVALID_ARGUMENT, "Session token invalid.")
    refresh: SessionClaims | None = None
    if body.get("refresh_token"):
        try:
            refresh = parse_token(body["refresh_token"], config.refresh_encryption_key, now)
        except InvalidToken:
            refresh = None
        if refresh is None or refresh.user_id != user_id:
            raise ApiError(Code.INVALID_ARGUMENT, "Refresh token invalid.")

    session_id = session.token_id if session else ""
    refresh_id = refresh.token_id if refresh else ""
    if not session_id and not refresh_id:
        ctx.session_cache.remove_all(user_id)
    else:
        ctx.session_cache.remove(
            user_id,
            session.expires_at if session else 0,
            session_id,
            refresh.expires_at if refresh else 0,
            refresh_id,
        )
    return {}


# Tokens and vars never reach the database; a NUL makes a token invalid, as in Nakama.
ROUTES = [
    Route(
        b"POST",
        (b"account", b"session", b"refresh"),
        session_refresh,
        auth="server_key",
        body={"token": "string", "vars": "map"},
        check_nul=False,
        internal="Error finding user account.",
        hook="SessionRefresh",
    ),
    Route(
        b"POST",
        (b"session", b"logout"),
        session_logout,
        auth="bearer",
        body={"token": "string", "refresh_token": "string"},
        check_nul=False,
        hook="SessionLogout",
    ),
]
