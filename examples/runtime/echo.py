"""An example runtime module: two RPCs.

Serve it::

    twistd -n nakama-rt --runtime-path examples/runtime

then call it from a client (nakama-js: ``await socket.rpc("echo", "hi")`` or
``await client.rpc(session, "whoami", {})``), or server to server::

    curl -X POST 'http://127.0.0.1:7350/v2/rpc/echo?http_key=defaulthttpkey' -d '"hi"'
    # {"payload":"hi"}

Every ``*.py`` file in ``--runtime-path`` with an ``init_module`` is loaded at startup;
an error here stops the server with this module's name and the traceback.
"""

from __future__ import annotations

import json


def rpc_echo(ctx, logger, nk, payload: str) -> str:
    """Answer the payload as it came: the smallest RPC there is."""
    logger.debug("echo for %s: %d characters", ctx.user_id or "a server", len(payload))
    return payload


async def rpc_whoami(ctx, logger, nk, payload: str) -> str:
    """Who is calling, from the database: an ``async`` RPC awaiting an ``nk`` call."""
    if ctx.user_id is None:
        # Server-to-server calls (http_key) have no user.
        return json.dumps({"user": None, "greeting": ctx.env.get("GREETING", "hello")})
    (user,) = await nk.users_get_id([ctx.user_id])
    return json.dumps(
        {"user": user.username, "online": user.online, "greeting": ctx.env.get("GREETING", "hello")}
    )


def init_module(ctx, logger, nk, initializer) -> None:
    """Called once at startup: register what this module offers."""
    initializer.register_rpc("echo", rpc_echo)
    initializer.register_rpc("whoami", rpc_whoami)
    logger.info("echo module loaded (node %s)", ctx.node)
