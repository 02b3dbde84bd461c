"""``/v2/account/{link,unlink}/{custom,device,email}``: add or remove a way to log in.

Rules, order and messages are Nakama's (core_link.go, core_unlink.go): linking checks
ids and emails as authenticating does, in its own words and order; an id another
account holds is refused; the last way to log in is never unlinked. Unlinking checks
nothing but the device id's presence: a custom id or email that does not match the
account's is refused as the last one is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nakama_rt.core.accounts import (
    custom_id_link_problem,
    device_id_link_problem,
    email_link_problem,
    link_hash,
)
from nakama_rt.storage import (
    CustomIdTaken,
    DeviceIdTaken,
    EmailTaken,
    UserNotFound,
    ValueRefused,
)

from .authenticate import refuse_input
from .context import ApiContext
from .http import ApiError, Call, Code, ErrorMap, FieldKind, Handler, Route

_LAST_LINK = ApiError(
    Code.PERMISSION_DENIED,
    "Cannot unlink last account identifier. Check profile exists and is not last link.",
)


def _caller(call: Call) -> str:
    assert call.session is not None
    return call.session.user_id


def _field(call: Call, name: str) -> str:
    return (call.body or {}).get(name, "")


async def link_custom(ctx: ApiContext, call: Call) -> dict[str, Any]:
    custom_id = _field(call, "id")
    refuse_input(custom_id_link_problem(custom_id))
    await ctx.storage.link_custom(_caller(call), custom_id)
    return {}


async def link_device(ctx: ApiContext, call: Call) -> dict[str, Any]:
    device_id = _field(call, "id")
    refuse_input(device_id_link_problem(device_id))
    await ctx.storage.link_device(_caller(call), device_id)
    return {}


async def link_email(ctx: ApiContext, call: Call) -> dict[str, Any]:
    email, password = _field(call, "email"), _field(call, "password")
    refuse_input(email_link_problem(email, password))
    hashed = await ctx.in_thread(link_hash, password, ctx.bcrypt_cost)
    await ctx.storage.link_email(_caller(call), email, hashed)
    return {}


async def unlink_custom(ctx: ApiContext, call: Call) -> dict[str, Any]:
    if not await ctx.storage.unlink_custom(_caller(call), _field(call, "id")):
        raise _LAST_LINK
    return {}


async def unlink_device(ctx: ApiContext, call: Call) -> dict[str, Any]:
    device_id = _field(call, "id")
    if not device_id:
        raise ApiError(Code.INVALID_ARGUMENT, "A device ID must be supplied.")
    if not await ctx.storage.unlink_device(_caller(call), device_id):
        raise _LAST_LINK
    return {}


async def unlink_email(ctx: ApiContext, call: Call) -> dict[str, Any]:
    if not await ctx.storage.unlink_email(_caller(call), _field(call, "email")):
        raise _LAST_LINK
    return {}


_ID: Mapping[str, FieldKind] = {"id": "string", "vars": "map"}
_EMAIL: Mapping[str, FieldKind] = {"email": "string", "password": "string", "vars": "map"}


def _route(
    path: tuple[bytes, bytes],
    handler: Handler,
    body: Mapping[str, FieldKind],
    internal: str,
    errors: ErrorMap,
) -> Route:
    """``POST /account/<link|unlink>/<kind>`` with a session token.

    Nakama's rules answer a NUL in what is linked; one in what is unlinked reaches
    PostgreSQL, which refuses it, and Nakama answers that as a failed query
    (ValueRefused here, on both backends); passwords and vars are never stored."""
    failed = ApiError(Code.INTERNAL, internal)
    verb, kind = (part.decode("ascii") for part in path)
    return Route(
        b"POST",
        (b"account", *path),
        handler,
        auth="bearer",
        body=body,
        check_nul=False,
        errors={ValueRefused: failed, **errors},
        internal=internal,
        hook=verb.capitalize() + kind.capitalize(),  # "LinkCustom", "UnlinkEmail"...
    )


ROUTES = [
    _route(
        (b"link", b"custom"),
        link_custom,
        _ID,
        "Error while trying to link Custom ID.",
        {CustomIdTaken: ApiError(Code.ALREADY_EXISTS, "Custom ID is already in use.")},
    ),
    _route(
        (b"link", b"device"),
        link_device,
        _ID,
        "Error linking Device ID.",
        {
            DeviceIdTaken: ApiError(Code.ALREADY_EXISTS, "Device ID already in use."),
            # An account deleted while its token lives: Nakama's insert breaks a
            # foreign key there, a failure to link.
            UserNotFound: ApiError(Code.INTERNAL, "Error linking Device ID."),
        },
    ),
    _route(
        (b"link", b"email"),
        link_email,
        _EMAIL,
        "Error while trying to link email.",
        {EmailTaken: ApiError(Code.ALREADY_EXISTS, "Email is already in use.")},
    ),
    _route(
        (b"unlink", b"custom"), unlink_custom, _ID, "Error while trying to unlink custom ID.", {}
    ),
    _route((b"unlink", b"device"), unlink_device, _ID, "Could not unlink device ID.", {}),
    _route((b"unlink", b"email"), unlink_email, _EMAIL, "Error while trying to unlink email.", {}),
]
