"""Nakama's REST API (the part this server implements) as twisted.web resources.

Mount :func:`build_api` as the ``v2`` child of the root resource and
:class:`HealthcheckResource` as ``healthcheck``. For the request size limit to
stop buffering early, build the Site with
``requestFactory=body_limited_request_factory(config.socket.max_request_size_bytes)``;
the resources enforce the limit either way.
"""

from __future__ import annotations

from typing import Any

from twisted.web.resource import IResource

from ..logs import Logger
from ..runtime import Runtime
from ..storage.interface import IStorage
from . import account, authenticate, chat, friends, groups, match, session
from .context import BCRYPT_COST, ApiContext
from .http import (
    ApiError,
    Call,
    Code,
    JsonResource,
    Route,
    body_limited_request_factory,
)
from .rpc import ApiRoot, RpcResource

__all__ = [
    "BCRYPT_COST",
    "ApiContext",
    "ApiError",
    "Code",
    "HealthcheckResource",
    "body_limited_request_factory",
    "build_api",
]


def build_api(context: ApiContext, runtime: Runtime | None = None) -> IResource:
    """The resource answering everything under ``/v2/``; ``/v2/rpc/{id}`` calls the
    functions of ``runtime`` (none when it is None)."""
    routes = [*authenticate.ROUTES, *session.ROUTES, *account.ROUTES]
    routes += [*friends.ROUTES, *groups.ROUTES, *chat.ROUTES, *match.ROUTES]
    api = JsonResource(context, routes, context.config.socket.max_request_size_bytes)
    return ApiRoot(api, RpcResource(context, runtime or Runtime()))


DATABASE_DOWN = "Database unavailable."
_log = Logger()


async def _healthcheck(storage: Any, call: Call) -> dict[str, Any]:
    if storage is not None:
        try:
            await storage.ping()
        except Exception as exc:
            _log.warn("healthcheck: database unreachable: {error}", error=exc)
            raise ApiError(Code.UNAVAILABLE, DATABASE_DOWN) from None
    return {}


class HealthcheckResource(JsonResource):
    """``GET /healthcheck``: ``{}`` with 200 while the server runs and its database
    answers; 503 when the database does not (a load balancer then stops sending
    players here). No authentication."""

    def __init__(self, storage: IStorage | None = None) -> None:
        super().__init__(storage, [Route(b"GET", (), _healthcheck, auth="none")], None)
