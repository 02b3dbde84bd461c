"""Shared fixtures: a real server on 127.0.0.1 with an embedded SQLite database."""

from __future__ import annotations

import dataclasses

import pytest
import pytest_twisted
from redis_fixtures import private_redis, redis_url  # noqa: F401 (fixtures, for every test module)
from storage_fixtures import storage_kind  # noqa: F401 (a fixture, for every test module)
from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks

from nakama_rt.app import NakamaRT
from nakama_rt.config import Config, SessionConfig, SocketConfig


class RunningServer:
    def __init__(self, app: NakamaRT, port) -> None:
        self.app = app
        self.listening = port
        self.port: int = port.getHost().port

    @property
    def server(self):
        return self.app.server


def make_config(tmp_path, **sections) -> Config:
    """A test config: SQLite under tmp_path plus any section overrides."""
    config = Config(data_dir=str(tmp_path), listen=("tcp:0:interface=127.0.0.1",))
    changes = {}
    for name, values in sections.items():
        changes[name] = dataclasses.replace(getattr(config, name), **values)
    return dataclasses.replace(config, **changes)


@inlineCallbacks
def start_server(config: Config):
    app = NakamaRT(config, reactor, bcrypt_cost=4)
    yield app.start()
    port = reactor.listenTCP(0, app.site(), interface="127.0.0.1")
    return RunningServer(app, port)


@inlineCallbacks
def stop_server(running: RunningServer):
    yield running.listening.stopListening()
    yield running.app.stop()


@pytest.fixture
def server_options() -> dict:
    """Override in a test module to change the server's config sections."""
    return {}


@pytest_twisted.async_yield_fixture
async def server(tmp_path, server_options):
    config = make_config(tmp_path, **server_options)
    running = await start_server(config)
    yield running
    await stop_server(running)


__all__ = ["SessionConfig", "SocketConfig", "make_config", "start_server", "stop_server"]


@pytest.fixture
def target(request):
    """The server a conformance case runs on (``tests/targets.py``): ours, a fresh one
    on a loopback port, or the reference Nakama (``NAKAMA_RT_REFERENCE``)."""
    from tests.targets import Target

    if request.param == "reference":
        return Target.reference()
    server = request.getfixturevalue("server")
    return Target("ours", "127.0.0.1", server.port)
