"""The twistd service: the server's parts plus one listener per endpoint description
(and one for ``/metrics`` when configured)."""

from __future__ import annotations

import gc
import signal

from twisted.application.internet import StreamServerEndpointService
from twisted.application.service import Service
from twisted.internet.defer import DeferredList, inlineCallbacks
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IProtocolFactory
from twisted.logger import ILogObserver
from twisted.python.components import Componentized

from nakama_rt.app import NakamaRT
from nakama_rt.config import Config
from nakama_rt.logs import Logger
from nakama_rt.metrics import metrics_site


class NakamaService(Service):
    """Starts the database, then listens; on stop, stops listening, then drains sockets."""

    log = Logger()

    def __init__(
        self, config: Config, reactor=None, log_observer: ILogObserver | None = None
    ) -> None:
        self.config = config
        self._reactor = reactor
        self.log_observer = log_observer
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
            self._listen(reactor, description, site)
        metrics = self.config.metrics_listen()
        if metrics:
            self._listen(reactor, metrics, metrics_site(self.app.metrics_resource))
        started = self.app.start()
        started.addCallbacks(tune_garbage_collection, self._start_failed, errbackArgs=(reactor,))
        reactor.callWhenRunning(_stop_on_sigterm, reactor)

    def _listen(self, reactor, description: str, factory: IProtocolFactory) -> None:
        listener = StreamServerEndpointService(serverFromString(reactor, description), factory)
        # A port that cannot be bound fails startup instead of being logged later.
        listener._raiseSynchronously = True
        listener.startService()
        self.listeners.append(listener)
        self.log.info("listening on {description}", description=_redact_tls(description))

    def setServiceParent(self, parent):  # noqa: N802 (Twisted's name)
        """Under twistd ``parent`` is the Application, whose log observer twistd uses
        (unless --logger names one) once the service is made: the JSON one, when
        ``logger.format`` asks for it."""
        if self.log_observer is not None and isinstance(parent, Componentized):
            parent.setComponent(ILogObserver, self.log_observer)
        return super().setServiceParent(parent)

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


#: Allocations between young-generation collections (CPython's default is 700).
GC_YOUNG_THRESHOLD = 50_000


def tune_garbage_collection(result: object = None) -> None:
    """Collect garbage less often, and never re-scan what startup built.

    Every socket adds a few dozen long-lived objects, and CPython's collector,
    triggered every 700 allocations, rescans the growing older generations: with
    10,000 sockets open that was a quarter of the CPU time of each new connect.
    Startup's objects (modules, the schema, the runtime) are frozen out of
    collection, and young collections run every 50,000 allocations: the live set
    is what the server holds, not garbage, so this costs little memory. Only the
    twistd service does this; an embedding app owns its process's collector.
    """
    gc.freeze()
    gen0, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(max(gen0, GC_YOUNG_THRESHOLD), gen1, gen2)


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
