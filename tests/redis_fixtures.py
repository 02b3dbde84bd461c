"""The real Redis for cluster tests: a database number of their own, flushed before each
test. Without Redis they are skipped, except under CI (``CI`` set), where they fail."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import pytest

#: Database 13: kept apart from anything else using this machine's Redis.
REDIS_URL = os.environ.get("NAKAMA_RT_TEST_REDIS", "redis://127.0.0.1:6379/13")


def _command(url: str, *words: str) -> bytes:
    """One Redis command over a plain socket (the fixture must not need the reactor)."""
    parts = urlsplit(url)
    request = b"".join(
        b"*%d\r\n" % len(words) + b"".join(b"$%d\r\n%s\r\n" % (len(w), w.encode()) for w in words)
        for words in (("SELECT", parts.path.strip("/") or "0"), words)
    )
    with socket.create_connection((parts.hostname, parts.port or 6379), timeout=2) as sock:
        sock.sendall(request)
        return sock.recv(65536)


@pytest.fixture
def redis_url() -> str:
    """The test Redis, emptied; skips (or fails under CI) when there is none."""
    try:
        reply = _command(REDIS_URL, "FLUSHDB")
    except OSError as error:
        message = f"no Redis at {REDIS_URL}: {error}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    assert reply.endswith(b"+OK\r\n"), reply
    return REDIS_URL


def flush(url: str) -> None:
    """Empty the test database, as a restarted Redis that keeps nothing would be."""
    _command(url, "FLUSHDB")


def set_value(url: str, key: str, value: str) -> None:
    """Set one key of the test database (keeping its time to live)."""
    assert _command(url, "SET", key, value, "KEEPTTL").endswith(b"+OK\r\n")


def delete(url: str, key: str) -> None:
    """Remove one key from the test database."""
    _command(url, "DEL", key)


def drop_connections(url: str) -> int:
    """Close every connection to the test database but this one, as a Redis restart
    does; return how many."""
    database = urlsplit(url).path.strip("/") or "0"
    listing = _command(url, "CLIENT", "LIST").decode()
    ids = [
        fields["id"]
        for line in listing.splitlines()
        if "id=" in line
        for fields in [dict(f.split("=", 1) for f in line.split() if "=" in f)]
        if fields.get("db") == database and "client" not in fields.get("cmd", "")
    ]
    for client_id in ids:
        _command(url, "CLIENT", "KILL", "ID", client_id)
    return len(ids)


def publish(url: str, channel: str, message: str) -> None:
    """PUBLISH ``message`` on ``channel``, as any client of the Redis could."""
    _command(url, "PUBLISH", channel, message)


#: Starts a Redis server of its own with these options; its loopback port.
PrivateRedis = Callable[..., int]


@pytest.fixture
def private_redis(redis_url: str, tmp_path) -> Iterator[PrivateRedis]:
    """Start Redis servers of their own, each on a free loopback port with the options
    given (``tls=True``: that port is its TLS one, and plain TCP is off), all stopped
    after the test. Needs ``redis-server``, as the test Redis does."""
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("no redis-server to start a Redis of the test's own")
        pytest.skip("no redis-server to start a Redis of the test's own")
    servers: list[subprocess.Popen] = []

    def start(*options: str, tls: bool = False) -> int:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        ports = ["--port", "0", "--tls-port", str(port)] if tls else ["--port", str(port)]
        directory = tmp_path / f"redis-{port}"
        directory.mkdir()
        servers.append(
            subprocess.Popen(
                [binary, *ports, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
                + ["--dir", str(directory), *options],
                stdout=subprocess.DEVNULL,
            )
        )
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return port
            except OSError:
                time.sleep(0.01)
        pytest.fail(f"redis-server did not listen on {port}")

    try:
        yield start
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=10)
