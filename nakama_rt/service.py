"""The twistd service: the server's parts plus one listener per endpoint description."""

from __future__ import annotations

import signal

from twisted.application.internet import StreamServerEndpointService
from twisted.application.service import Service
from twisted.internet.defer import DeferredList, inlineCallbacks
from twisted.internet.endpoints import serverFromString

from nakama_rt.app import NakamaRT
from nakama_rt.config import Config
from nakama_rt.logs import Logger


class NakamaService(Service):
    """Starts the database, then listens; on stop, stops listening, then drains sockets."""

    log = Logger()

    def __init__(self, config: Config, reactor=None) -> None:
        self.config = config
        self._reactor = reactor
        self.app: NakamaRT | None = None
        self.listeners: list[StreamServerEndpointService] = []

    def startService(self) -> None:  # noqa: N802 (Twisted's name)
        reactor = self._reactor
        if reactor is None:
            from twisted.internet import reactor
        super().startService()
        self.app = NakamaRT(self.config, reactor)
        site = self.app.site()
        # Bind every port before anything starts threads, so that a busy port fails
        # startup cleanly; requests arriving meanwhile wait for the database.
        for description in self.config.listen:
            listener = StreamServerEndpointService(serverFromString(reactor, description), site)
            # A port that cannot be bound fails startup instead of being logged later.
            listener._raiseSynchronously = True
            listener.startService()
            self.listeners.append(listener)
            self.log.info("listening on {description}", description=_redact_tls(description))
        started = self.app.start()
        started.addErrback(self._start_failed, reactor)
        reactor.callWhenRunning(_stop_on_sigterm, reactor)

    def _start_failed(self, failure, reactor) -> None:
        self.log.failure("nakama-rt could not start", failure)
        reactor.stop()

    @inlineCallbacks
    def stopService(self):  # noqa: N802
        super().stopService()
        yield DeferredList([listener.stopService() for listener in self.listeners])
        self.listeners = []
        if self.app is not None:
            yield self.app.stop()
        self.log.info("nakama-rt stopped")


def _stop_on_sigterm(reactor) -> None:
    """SIGTERM stops the reactor (so this service drains) and the process exits 0.

    twistd's own handler records the signal and, once stopped, kills the process
    with it again, so a clean drain would look like a crash to a supervisor; Nakama
    exits 0 after its graceful shutdown, and so do we. Installed once the reactor
    runs, replacing the handler the reactor installed at start.
    """
    if not hasattr(signal, "SIGTERM"):
        return

    def stop(signum, frame) -> None:
        reactor.callFromThread(reactor.stop)

    signal.signal(signal.SIGTERM, stop)


def _redact_tls(description: str) -> str:
    return description.split(":privateKey=")[0] if description.startswith("ssl:") else description
