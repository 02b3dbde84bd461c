"""The twistd service: the server's parts plus one listener per endpoint description
(and one for ``/metrics`` when configured)."""

from __future__ import annotations

import gc
import platform
import signal
from collections.abc import Callable
from typing import Any, Protocol, cast

from twisted.application.service import MultiService, Service
from twisted.copyright import version as twisted_version
from twisted.internet.defer import Deferred, inlineCallbacks, maybeDeferred, succeed
from twisted.internet.endpoints import serverFromString
from twisted.internet.error import ReactorNotRunning
from twisted.internet.interfaces import IListeningPort, IProtocolFactory
from twisted.logger import ILogObserver
from twisted.python.components import Componentized
from twisted.python.failure import Failure

from nakama_rt._version import __version__
from nakama_rt.app import NakamaRT
from nakama_rt.cluster.nodes import NodeNameTaken, ProtocolMismatch
from nakama_rt.cluster.redis import ClusterUnavailable
from nakama_rt.config import Config, ConfigError, redact_address
from nakama_rt.listeners import bound_name, listen_failure_reason, wanted_name
from nakama_rt.logs import Logger, set_level
from nakama_rt.runtime import RuntimeLoadError
from nakama_rt.storage import StorageUnavailable
from nakama_rt.web.limits import HttpLimits
from nakama_rt.web.metrics import metrics_site


class StartupReport(Protocol):
    """Where the outcome of startup goes: twistd's daemon parent and exit status, or a test."""

    def hold(self) -> None:
        """Startup has begun and will finish later: report nothing until told."""

    def ready(self) -> None:
        """Every listener is bound: the server serves."""

    def failed(self, message: str) -> None:
        """The server cannot start, for the one-line reason given."""


class RecordedStartup:
    """A :class:`StartupReport` that keeps the outcome (an embedding app's or a test's)."""

    def __init__(self) -> None:
        self.outcome: Deferred[str | None] = Deferred()

    def hold(self) -> None:
        pass

    def ready(self) -> None:
        self.outcome.callback(None)

    def failed(self, message: str) -> None:
        self.outcome.callback(message)


#: How a listener's endpoint description and factory become a listening port, at once:
#: bound by this process (:func:`listen_now`), or adopted from a supervisor's socket.
Listen = Callable[[str, IProtocolFactory], IListeningPort]


class ListenerService(Service):
    """One listener: binds its endpoint when started, says what it serves where, and
    stops listening when stopped. Binding fails at once (Twisted's stream endpoints
    listen synchronously), so the parent can report why and stop."""

    log = Logger()

    def __init__(
        self, purpose: str, description: str, factory: IProtocolFactory, listen: Listen
    ) -> None:
        self.purpose = purpose
        self.description = description
        self.factory = factory
        self._listen = listen
        self.port: IListeningPort | None = None

    def startService(self) -> None:  # noqa: N802 (Twisted's name)
        self.port = self._listen(self.description, self.factory)
        super().startService()
        self.log.info("{name}", name=bound_name(self.purpose, self.port, self.description))

    def stopService(self) -> Deferred[None]:  # noqa: N802
        super().stopService()
        port, self.port = self.port, None
        if port is None:
            return succeed(None)
        # maybeDeferred unwraps the Deferred stopListening may return (Twisted's
        # overloads, given a Deferred or None, would type a Deferred of it).
        return cast("Deferred[None]", maybeDeferred(port.stopListening))


class NakamaService(MultiService):
    """Opens the database, then starts its children: the server's timers and one
    :class:`ListenerService` per listener. On stop, the children stop (listeners
    first), then the sockets drain and the database closes.

    Nothing is bound until the database is open, so no client ever reaches a server
    that is about to fail; a database or a listener that fails is one line in the log
    and a failed start (exit status 1 under twistd), never a traceback.
    """

    log = Logger()

    def __init__(
        self,
        config: Config,
        reactor=None,
        log_observer: ILogObserver | None = None,
        startup: StartupReport | None = None,
        listen: Listen | None = None,
    ) -> None:
        """``listen`` is how the listeners get their ports (default: bind them here;
        a worker adopts its supervisor's instead)."""
        self.config = config
        self._reactor = reactor
        self._listen = listen
        self.log_observer = log_observer
        self.startup: StartupReport = startup if startup is not None else RecordedStartup()
        self.app: NakamaRT | None = None
        super().__init__()

    @property
    def ports(self) -> list[IListeningPort]:
        """The bound ports of the listeners, in the order they were bound."""
        return [s.port for s in self if isinstance(s, ListenerService) and s.port is not None]

    def startService(self) -> None:  # noqa: N802 (Twisted's name)
        reactor = self._reactor
        if reactor is None:
            from twisted.internet import reactor
        super().startService()
        set_level(self.config.logger.level)
        self.log.info(
            "nakama-rt {version} starting (Twisted {twisted}, Python {python})",
            version=__version__,
            twisted=twisted_version,
            python=platform.python_version(),
        )
        self.startup.hold()
        try:
            self.app = NakamaRT(self.config, reactor)
        except (ConfigError, StorageUnavailable) as error:
            self._fail(reactor, str(error))
            return
        except RuntimeLoadError as error:
            # The game developer's bug: the message names the module and holds its
            # traceback, which is the help here.
            self._fail(reactor, str(error))
            return
        except Exception as error:
            # Our bug: its traceback, then the same orderly failure.
            self.log.failure("building the server failed")
            self._fail(reactor, f"{type(error).__name__}: {error}")
            return
        opened = self.app.open()
        opened.addCallbacks(
            lambda _: self._start_children(reactor),
            lambda failure: self._fail(reactor, database_failure(self.config, failure.value)),
        )
        reactor.callWhenRunning(stop_on_sigterm, reactor)

    def _start_children(self, reactor) -> None:
        assert self.app is not None
        self.app.timers.setServiceParent(self)
        wanted: list[tuple[str, str, IProtocolFactory]] = [
            ("socket and API", description, self.app.site()) for description in self.config.listen
        ]
        metrics = self.config.metrics_listen()
        if metrics:
            site = metrics_site(
                self.app.metrics_resource,
                HttpLimits.from_config(self.config.socket),
                reactor,
                self.app.http_counts,
            )
            wanted.append(("metrics", metrics, site))
        console = self.config.console_listen()
        if console:
            wanted.append(("console", console, self.app.console_site()))
        listen = self._listen
        if listen is None:

            def listen(description: str, factory: IProtocolFactory) -> IListeningPort:
                return listen_now(reactor, description, factory)

        for purpose, description, factory in wanted:
            listener = ListenerService(purpose, description, factory, listen)
            try:
                listener.setServiceParent(self)
            except Exception as exc:
                listener.disownServiceParent()
                reason = listen_failure_reason(exc)
                self._fail(reactor, f"{wanted_name(purpose, description)}: {reason}")
                return
        tune_garbage_collection()
        self.startup.ready()

    def _fail(self, reactor, message: str) -> None:
        if not self.running:
            # Told to stop while starting (SIGTERM, or a worker's supervisor stopping):
            # what broke off the start is no failure to report.
            self.log.info("nakama-rt stopped while starting ({reason})", reason=message)
            self.startup.failed(message.splitlines()[0])
            return
        self.log.critical("nakama-rt could not start: {reason}", reason=message)
        self.startup.failed(message.splitlines()[0])
        if reactor.running:
            reactor.stop()
        else:
            reactor.callWhenRunning(reactor.stop)

    def setServiceParent(self, parent):  # noqa: N802 (Twisted's name)
        """Under twistd ``parent`` is the Application, whose log observer twistd uses
        (unless --logger names one) once the service is made: the JSON one, when
        ``logger.format`` asks for it."""
        use_log_observer(parent, self.log_observer)
        return super().setServiceParent(parent)

    @inlineCallbacks
    def stopService(self):  # noqa: N802
        yield super().stopService()  # the listeners (the last added stop first), the timers
        if self.app is not None:
            yield self.app.stop()
        self.log.info("nakama-rt stopped")


def use_log_observer(parent: object, observer: ILogObserver | None) -> None:
    """Make ``observer`` the one twistd logs to, when ``parent`` is twistd's Application."""
    if observer is not None and isinstance(parent, Componentized):
        parent.setComponent(ILogObserver, observer)


def listen_now(reactor, description: str, factory: IProtocolFactory) -> IListeningPort:
    """Bind ``description`` at once: every stream endpoint of Twisted's listens
    synchronously, so the Deferred has fired by the time it is returned."""
    listening = serverFromString(reactor, description).listen(factory)
    outcome: list[Any] = []
    listening.addBoth(outcome.append)
    if not outcome:
        listening.cancel()
        raise RuntimeError("the endpoint did not listen at once")
    if isinstance(outcome[0], Failure):
        outcome[0].raiseException()
    return outcome[0]


def database_failure(config: Config, error: BaseException) -> str:
    """``database sqlite:./data/x.sqlite3: unable to open database file``, or the
    cluster's refusal (``cluster redis://...: Connection refused``)."""
    if isinstance(error, ClusterUnavailable | NodeNameTaken | ProtocolMismatch):
        return str(error)
    lines = str(error).strip().splitlines()
    reason = lines[0] if lines else type(error).__name__
    return f"database {redact_address(config.database_address())}: {reason}"


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


def stop_on_sigterm(reactor, signals: tuple[str, ...] = ("SIGTERM",)) -> None:
    """SIGTERM stops the reactor (so this service drains) and the process exits 0.

    twistd's own handler records the signal and, once stopped, kills the process
    with it again, so a clean drain would look like a crash to a supervisor; Nakama
    exits 0 after its graceful shutdown, and so do we. Installed once the reactor
    runs, replacing the handler the reactor installed at start, for each of
    ``signals`` present here. A signal while it stops already (a supervisor's SIGTERM
    after the process group's, or after a failed start) changes nothing.
    """

    def stop_once() -> None:
        try:
            reactor.stop()
        except ReactorNotRunning:
            pass  # stopping already (a failed start, or another signal)

    def stop(signum, frame) -> None:
        reactor.callFromThread(stop_once)

    for name in signals:
        number = getattr(signal, name, None)
        if number is not None:
            signal.signal(number, stop)
