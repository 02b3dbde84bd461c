"""Fakes shared by the tests that drive the server without sockets."""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from nakama_rt.socket.session import Session
from nakama_rt.wire.codec import Format


class Wire:
    """A connection that keeps every frame sent to it, decoded from JSON, and every close."""

    def __init__(self) -> None:
        self.sent: list[dict] = []
        self.closes: list[tuple[int, str]] = []

    def write_frame(self, envelope, fmt) -> None:
        self.sent.append(orjson.loads(envelope.payload(Format.JSON)))

    def send_close(self, code: int, reason: str) -> None:
        self.closes.append((code, reason))

    def of(self, key: str) -> list[dict]:
        """The bodies of the messages sent so far that carry ``key``."""
        return [m[key] for m in self.sent if key in m]

    def take(self) -> list[dict]:
        """The messages sent since the last take."""
        sent, self.sent = self.sent, []
        return sent


def make_session(username: str, connection: Any, **fields: Any) -> Session:
    """A JSON session for ``username`` on ``connection``: fresh ids unless ``fields`` name
    them, and any other :class:`Session` argument overridden by ``fields``."""
    arguments: dict[str, Any] = {
        "session_id": str(uuid.uuid4()),
        "user_id": str(uuid.uuid4()),
        "username": username,
        "vars": {},
        "expiry": 0,
        "token_id": "",
        "fmt": Format.JSON,
        "lang": "en",
        "client_ip": "",
        "client_port": "",
        "connection": connection,
        "outgoing_queue_size": 1000,
    }
    arguments.update(fields)
    return Session(**arguments)
