"""The twistd service as a tree of Twisted services: the server's timers and one
listener per endpoint, started once the database is open and stopped before the
sockets drain."""

from __future__ import annotations

import socket

import pytest_twisted
from twisted.application.internet import TimerService
from twisted.internet import reactor

from nakama_rt.auth.session_cache import PurgeService
from nakama_rt.service import ListenerService, NakamaService, RecordedStartup
from tests.conftest import make_config


def refused(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


@pytest_twisted.ensureDeferred
async def test_children_are_the_timers_then_the_listeners(tmp_path) -> None:
    config = make_config(
        tmp_path,
        session={"token_expiry_sec": 30},
        metrics={"listen": "tcp:0:interface=127.0.0.1"},
    )
    service = NakamaService(config, reactor, startup=RecordedStartup())
    service.startService()
    try:
        assert await service.startup.outcome is None
        timers, api, metrics = list(service)
        assert timers is service.app.timers and timers.running
        (purge,) = list(timers)
        assert isinstance(purge, PurgeService) and isinstance(purge, TimerService)
        assert purge.running and purge.step == 60  # 2 * token_expiry_sec
        assert isinstance(api, ListenerService) and api.purpose == "socket and API"
        assert isinstance(metrics, ListenerService) and metrics.purpose == "metrics"
        ports = [port.getHost().port for port in service.ports]
        assert not any(refused(port) for port in ports)
    finally:
        await service.stopService()
    assert all(refused(port) for port in ports)
    assert not timers.running and not purge.running
    assert not api.running and api.port is None
