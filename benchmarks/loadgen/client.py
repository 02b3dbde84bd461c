"""A Nakama client as small as a benchmark needs: custom authentication over HTTP and
a socket that matches replies to requests by ``cid`` and hands everything else over.

Authentication uses blocking ``http.client`` in a few threads (it is setup, not
measured); the socket is the ``websockets`` asyncio client with compression and
client pings off, so neither side spends CPU on anything Nakama clients do not do.
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from .wire import Wire

#: A pushed envelope: (socket slot, kind, value, wall-clock receive time).
PushHandler = Callable[[int, str, Any, float], None]


class SetupError(Exception):
    """The server refused a setup step; the benchmark cannot go on."""


class Authenticator:
    """Custom-id authentication, one kept-alive HTTP connection per thread."""

    def __init__(self, host: str, port: int, server_key: str) -> None:
        self.host, self.port = host, port
        basic = base64.b64encode(f"{server_key}:".encode()).decode()
        self._headers = {"Authorization": f"Basic {basic}", "Content-Type": "application/json"}
        self._local = threading.local()

    def _connection(self, fresh: bool = False) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None or fresh:
            if conn is not None:
                conn.close()
            conn = self._local.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        return conn

    def token(self, custom_id: str, username: str) -> str:
        """A session token for the account, created if new (``?create=true``)."""
        path = "/v2/account/authenticate/custom?" + urlencode(
            {"create": "true", "username": username}
        )
        body = orjson.dumps({"id": custom_id})
        for attempt in range(2):
            conn = self._connection(fresh=attempt > 0)
            try:
                conn.request("POST", path, body, self._headers)
                answer = conn.getresponse()
                data = answer.read()
            except (ConnectionError, http.client.HTTPException):
                # A kept-alive connection the server closed; one retry on a fresh one.
                if attempt:
                    raise
                continue
            if answer.status != 200:
                raise SetupError(f"authenticate {custom_id}: HTTP {answer.status} {data[:200]!r}")
            return orjson.loads(data)["token"]
        raise AssertionError("unreachable")


def socket_url(host: str, port: int, token: str, fmt: str) -> str:
    return f"ws://{host}:{port}/ws?token={quote(token)}&format={fmt}&status=false"


class Socket:
    """One open Nakama socket. Replies with a ``cid`` resolve :meth:`request`;
    every other envelope goes to ``on_push`` with its receive time."""

    def __init__(self, slot: int, ws: ClientConnection, wire: Wire, on_push: PushHandler) -> None:
        self.slot = slot
        self.ws = ws
        self.wire = wire
        self.on_push = on_push
        self.dropped = False
        self._closing = False
        self._pending: dict[str, asyncio.Future[tuple[str, Any]]] = {}
        self._next_cid = 0
        self._reader = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def open(
        cls, slot: int, url: str, wire: Wire, on_push: PushHandler, timeout: float = 30
    ) -> Socket:
        ws = await connect(
            url,
            compression=None,
            proxy=None,
            ping_interval=None,
            open_timeout=timeout,
            close_timeout=5,
            max_size=2**22,
        )
        return cls(slot, ws, wire, on_push)

    async def _read(self) -> None:
        read, on_push, slot, pending = self.wire.read, self.on_push, self.slot, self._pending
        try:
            async for frame in self.ws:
                kind, cid, value = read(frame)
                if cid:
                    waiter = pending.pop(cid, None)
                    if waiter is not None and not waiter.done():
                        waiter.set_result((kind, value))
                        continue
                on_push(slot, kind, value, time.time())
        except ConnectionClosed:
            pass
        finally:
            # Closed while we were not closing it: the server dropped this client.
            self.dropped = not self._closing
            for waiter in pending.values():
                if not waiter.done():
                    waiter.set_exception(ConnectionError("socket closed"))

    def new_cid(self) -> str:
        self._next_cid += 1
        return str(self._next_cid)

    async def send(self, frame: bytes) -> None:
        await self.ws.send(frame, text=self.wire.text)

    async def request(self, build: Callable[[str], bytes], timeout: float = 30) -> tuple[str, Any]:
        """Send the frame ``build(cid)`` makes and wait for the reply with that cid."""
        cid = self.new_cid()
        waiter = asyncio.get_running_loop().create_future()
        self._pending[cid] = waiter
        await self.send(build(cid))
        try:
            return await asyncio.wait_for(waiter, timeout)
        finally:
            self._pending.pop(cid, None)

    async def expect(self, build: Callable[[str], bytes], kind: str, what: str) -> Any:
        """:meth:`request`, raising :class:`SetupError` unless the reply is ``kind``."""
        got, value = await self.request(build)
        if got != kind:
            raise SetupError(f"{what}: expected {kind}, got {got} {value!r}")
        return value

    @property
    def is_open(self) -> bool:
        return self.ws.state is State.OPEN

    async def close(self) -> None:
        """A clean close (1000) that waits for the server's close frame."""
        self._closing = True
        await self.ws.close()
        await self._reader
