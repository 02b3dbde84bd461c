"""``/v2/account/authenticate/{custom,device,email}``: find or create an account, open a session.

Validation order, rules and messages are Nakama's (api_authenticate.go and
core_authenticate.go), so clients see the same errors they would from Nakama.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import bcrypt

from nakama_rt.auth.tokens import issue_session
from nakama_rt.core.accounts import (
    CONTROL_OR_SPACE,
    EMAIL_FORMAT,
    PasswordTooLong,
    hash_password,
    id_problem,
    size,
    username_problem,
)
from nakama_rt.storage import DuplicateError, User, UsernameTaken

from .context import ApiContext
from .http import ApiError, Call, Code, ErrorMap, FieldKind, Handler, Route

_USERNAME_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

_ERROR_FINDING = "Error finding user account."
_ERROR_CREATING = "Error finding or creating user account."


def generate_username() -> str:
    """Nakama's rule for accounts created without a username: 10 random letters."""
    return "".join(random.choices(_USERNAME_ALPHABET, k=10))


def refuse_input(problem: str | None) -> None:
    """Refuse the request with ``problem`` (an InvalidArgument), if a rule of
    :mod:`nakama_rt.core.accounts` found one."""
    if problem is not None:
        raise ApiError(Code.INVALID_ARGUMENT, problem)


def _username_or_generated(call: Call) -> str:
    username = call.query.get("username", "")
    if not username:
        return generate_username()
    refuse_input(username_problem(username))
    return username


def check_password(password: str, hashed: bytes | None) -> bool:
    """Whether ``password`` matches; bcrypt reads at most 72 bytes, as Go's compare does."""
    if not hashed:
        return False
    try:
        return bcrypt.checkpw(password.encode("utf-8")[:72], hashed)
    except ValueError:
        return False


async def _create(
    ctx: ApiContext, call: Call, username: str, password: str | None = None, **unique: Any
) -> User:
    """Create the account (hashing its password, if any): from here a failure is one to
    create it, in Nakama's words."""
    call.internal = _ERROR_CREATING
    if password is not None:
        unique["password_hash"] = await ctx.in_thread(hash_password, password, ctx.bcrypt_cost)
    return await ctx.storage.create_user(username, **unique)


def _check_enabled(user: User) -> None:
    if user.disabled:
        raise ApiError(Code.PERMISSION_DENIED, "User account banned.")


def open_session(
    ctx: ApiContext,
    user_id: str,
    username: str,
    vars: Mapping[str, str] | None,
    created: bool,
) -> dict[str, Any]:
    """Issue a token pair for a user who just authenticated; the ``Session`` message."""
    cache = ctx.session_cache
    if ctx.config.session.single_session:
        cache.remove_all(user_id)
    issued = issue_session(ctx.config.session, user_id, username, vars, ctx.reactor.seconds())
    cache.add(
        user_id, issued.expires_at, issued.token_id, issued.refresh_expires_at, issued.token_id
    )
    # protojson leaves out false booleans, so "created" appears only when true.
    session: dict[str, Any] = {"created": True} if created else {}
    session["token"] = issued.token
    session["refresh_token"] = issued.refresh_token
    return session


async def authenticate_custom(ctx: ApiContext, call: Call) -> dict[str, Any]:
    account = call.body or {}
    custom_id = account.get("id", "")
    refuse_input(id_problem(custom_id, "Custom ID", 6))
    username = _username_or_generated(call)
    create = call.query.get("create", True)

    user = await ctx.storage.get_user_by_custom_id(custom_id)
    created = user is None
    if user is not None:
        _check_enabled(user)
    elif not create:
        raise ApiError(Code.NOT_FOUND, "User account not found.")
    else:
        user = await _create(ctx, call, username, custom_id=custom_id)
    return open_session(ctx, user.id, user.username, account.get("vars"), created)


async def authenticate_device(ctx: ApiContext, call: Call) -> dict[str, Any]:
    account = call.body or {}
    device_id = account.get("id", "")
    refuse_input(id_problem(device_id, "Device ID", 10))
    username = _username_or_generated(call)
    create = call.query.get("create", True)

    user = await ctx.storage.get_user_by_device_id(device_id)
    created = user is None
    if user is not None:
        _check_enabled(user)
    elif not create:
        raise ApiError(Code.NOT_FOUND, "User account not found.")
    else:
        user = await _create(ctx, call, username, device_id=device_id)
    return open_session(ctx, user.id, user.username, account.get("vars"), created)


async def authenticate_email(ctx: ApiContext, call: Call) -> dict[str, Any]:
    if call.body is None:
        raise ApiError(Code.INVALID_ARGUMENT, "Email address and password is required.")
    account = call.body
    email = account.get("email", "")
    password = account.get("password", "")

    # Without an email, the client may be logging in with username and password.
    by_username = not email
    if not by_username:
        if CONTROL_OR_SPACE.search(email):
            raise ApiError(
                Code.INVALID_ARGUMENT,
                "Invalid email address, no spaces or control characters allowed.",
            )
        if not EMAIL_FORMAT.fullmatch(email):
            raise ApiError(Code.INVALID_ARGUMENT, "Invalid email address format.")
        if not 10 <= size(email) <= 255:
            raise ApiError(Code.INVALID_ARGUMENT, "Invalid email address, must be 10-255 bytes.")
    if size(password) < 8:
        raise ApiError(Code.INVALID_ARGUMENT, "Password must be at least 8 characters long.")

    username = call.query.get("username", "")
    if not username:
        if by_username:
            raise ApiError(
                Code.INVALID_ARGUMENT, "Username is required when email address is not supplied."
            )
        username = generate_username()
    else:
        refuse_input(username_problem(username))

    vars = account.get("vars")
    if by_username:
        # Creation is never possible this way; the create flag is ignored.
        user = await ctx.storage.get_user_by_username(username)
        if user is None:
            raise ApiError(Code.NOT_FOUND, "User account not found.")
        _check_enabled(user)
        if not await ctx.in_thread(check_password, password, user.password_hash):
            raise ApiError(Code.UNAUTHENTICATED, "Invalid credentials.")
        return open_session(ctx, user.id, username, vars, False)

    create = call.query.get("create", True)
    user = await ctx.storage.get_user_by_email(email.lower())
    if user is not None:
        _check_enabled(user)
        if not await ctx.in_thread(check_password, password, user.password_hash):
            raise ApiError(Code.UNAUTHENTICATED, "Invalid credentials.")
        return open_session(ctx, user.id, user.username, vars, False)
    if not create:
        raise ApiError(Code.NOT_FOUND, "User account not found.")
    user = await _create(ctx, call, username, password, email=email.lower())
    return open_session(ctx, user.id, user.username, vars, True)


# A failed lookup is "Error finding user account." (the routes' ``internal``), a failed
# creation the message :func:`_create` sets; a concurrent request that created the same
# account first is answered as Nakama answers it.
_ERRORS: ErrorMap = {
    UsernameTaken: ApiError(Code.ALREADY_EXISTS, "Username is already in use."),
    DuplicateError: ApiError(Code.INTERNAL, _ERROR_CREATING),
    PasswordTooLong: ApiError(Code.INTERNAL, _ERROR_CREATING),
}


def _route(kind: bytes, handler: Handler, body: Mapping[str, FieldKind], hook: str) -> Route:
    """``POST /account/authenticate/<kind>``, with the server key.

    Nakama's rules refuse control characters (NUL included) in ids, emails and
    usernames with its own messages; passwords and vars never reach the database."""
    return Route(
        b"POST",
        (b"account", b"authenticate", kind),
        handler,
        auth="server_key",
        body=body,
        query={"create": "bool", "username": "string"},
        check_nul=False,
        errors=_ERRORS,
        internal=_ERROR_FINDING,
        hook=hook,
    )


ROUTES = [
    _route(b"custom", authenticate_custom, {"id": "string", "vars": "map"}, "AuthenticateCustom"),
    _route(b"device", authenticate_device, {"id": "string", "vars": "map"}, "AuthenticateDevice"),
    _route(
        b"email",
        authenticate_email,
        {"email": "string", "password": "string", "vars": "map"},
        "AuthenticateEmail",
    ),
]
