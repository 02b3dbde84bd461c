"""The supervisor: binds the listeners, runs N workers on them, restarts the dead ones.

It serves nothing itself and opens neither the database nor the cluster (it only checks
at start that Redis answers). Each worker is a process of its own
(:mod:`nakama_rt.workers.worker`): node ``NAME-i`` of the cluster, accepting on the
listening sockets it inherits, logging through the supervisor's log.
"""

from __future__ import annotations

import os
import platform
import signal
import sys
from typing import Any, Protocol, cast

from twisted.application.service import Service
from twisted.copyright import version as twisted_version
from twisted.internet.defer import Deferred, DeferredList, succeed
from twisted.internet.error import ProcessExitedAlready
from twisted.internet.interfaces import (
    IDelayedCall,
    IListeningPort,
    IProcessTransport,
    IReactorTime,
)
from twisted.internet.protocol import Factory, ProcessProtocol
from twisted.internet.protocol import Protocol as TCPProtocol
from twisted.logger import ILogObserver, LogEvent, LogLevel, globalLogPublisher
from twisted.python.failure import Failure

from nakama_rt._version import __version__
from nakama_rt.cluster import redis as cluster_redis
from nakama_rt.config import Config, without_password
from nakama_rt.listeners import bound_name, listen_failure_reason, wanted_name
from nakama_rt.logs import Logger, set_level
from nakama_rt.service import (
    RecordedStartup,
    StartupReport,
    listen_now,
    stop_on_sigterm,
    use_log_observer,
)
from nakama_rt.workers.backoff import RestartBackoff
from nakama_rt.workers.brief import (
    FAILED,
    FIRST_LISTENER_FD,
    LOG_FD,
    READY,
    STATUS_FD,
    WorkerBrief,
    worker_config,
    worker_name,
)
from nakama_rt.workers.logrelay import raw_event, relayed_event

#: Seconds a worker gets to drain after SIGTERM, beyond ``shutdown_grace_sec`` (its
#: matches' time), before it is killed.
STOP_MARGIN_SEC = 15.0


#: A worker's line longer than this is taken in pieces (a runaway print, not a log event).
MAX_LINE_BYTES = 1 << 20


class _Lines:
    """Bytes from a pipe, cut into lines."""

    def __init__(self) -> None:
        self._rest = b""

    def feed(self, data: bytes) -> list[bytes]:
        *lines, self._rest = (self._rest + data).split(b"\n")
        if len(self._rest) > MAX_LINE_BYTES:
            lines.append(self._rest)
            self._rest = b""
        return lines

    def flush(self) -> list[bytes]:
        rest, self._rest = self._rest, b""
        return [rest] if rest else []


class WorkerProcess(ProcessProtocol):
    """The supervisor's end of one worker process's pipes."""

    def __init__(self, slot: WorkerSlot) -> None:
        self._slot = slot
        self._lines = {fd: _Lines() for fd in (1, 2, LOG_FD, STATUS_FD)}

    def childDataReceived(self, childFD: int, data: bytes) -> None:  # noqa: N802, N803
        lines = self._lines.get(childFD)
        if lines is not None:
            for line in lines.feed(data):
                self._slot.line(childFD, line)

    def processEnded(self, reason: Failure) -> None:  # noqa: N802 (Twisted's name)
        for fd, lines in self._lines.items():
            for line in lines.flush():
                self._slot.line(fd, line)
        self._slot.ended(reason.value.exitCode, reason.value.signal)


class WorkerEvents(Protocol):
    """What a worker slot tells: its supervisor's side of the slot."""

    def publish(self, event: LogEvent) -> None:
        """A line of the worker's, as a log event."""

    def worker_serving(self, slot: WorkerSlot) -> None:
        """The worker's process serves."""

    def worker_failed(self, slot: WorkerSlot, reason: str) -> None:
        """The worker's process cannot start, for ``reason`` (it exits next)."""

    def worker_ended(self, slot: WorkerSlot, pid: int | None, how: str) -> None:
        """The worker's process ``pid`` ended, as ``how`` says."""


class WorkerSlot:
    """Worker ``index``: its current process, the pids of its dead ones (whose node name
    its next process may take over) and its restart delays."""

    def __init__(self, index: int, name: str, events: WorkerEvents, clock: IReactorTime) -> None:
        self.index = index
        self.name = name
        self._events = events
        self.process: IProcessTransport | None = None
        self.pid: int | None = None
        self.serving = False
        self.dead_pids: list[int] = []
        self.backoff = RestartBackoff(clock)
        self.restart: IDelayedCall | None = None
        self.kill: IDelayedCall | None = None
        #: The last line it wrote outside its log (say, an interpreter's crash).
        self.last_output = ""
        #: Fires when its process has ended, once stopping.
        self.stopped: Deferred[None] = Deferred()

    def line(self, fd: int, line: bytes) -> None:
        if fd == LOG_FD:
            self._events.publish(relayed_event(line, self.name))
        elif fd == STATUS_FD:
            if line == READY:
                self.serving = True
                self._events.worker_serving(self)
            elif line.startswith(FAILED):
                self._events.worker_failed(self, line[len(FAILED) :].decode("utf-8", "replace"))
        elif line.strip():
            self.last_output = line.decode("utf-8", "replace").strip()
            stream = "stdout" if fd == 1 else "stderr"
            self._events.publish(raw_event(line, self.name, LogLevel.warn, stream))

    def ended(self, status: int | None, signal_number: int | None) -> None:
        if self.kill is not None and self.kill.active():
            self.kill.cancel()
        self.kill = None
        pid, self.pid, self.process = self.pid, None, None
        self.serving = False
        if pid is not None:
            self.dead_pids = [*self.dead_pids[-3:], pid]
        self._events.worker_ended(self, pid, exit_description(status, signal_number))

    def signal(self, name: str) -> None:
        if self.process is not None:
            try:
                self.process.signalProcess(name)
            except ProcessExitedAlready:
                pass


def exit_description(status: int | None, signal_number: int | None) -> str:
    """``exited with status 1``, ``was killed by SIGKILL``."""
    if signal_number is not None:
        try:
            name = signal.Signals(signal_number).name
        except ValueError:
            name = f"signal {signal_number}"
        return f"was killed by {name}"
    return f"exited with status {status}"


class Supervisor(Service):
    """``twistd nakama-rt --workers N``: N worker processes sharing this process's
    listeners. Reports ready once every worker serves; a worker that cannot start fails
    the start with its reason (exit status 1); one that dies later is started again,
    at once, then with :class:`RestartBackoff`. Stopping sends every worker SIGTERM
    and waits for them to drain (each as a single server does), SIGKILL past a bound.
    """

    log = Logger()

    def __init__(
        self,
        config: Config,
        reactor: Any = None,
        log_observer: ILogObserver | None = None,
        startup: StartupReport | None = None,
        publish: ILogObserver = globalLogPublisher,
    ) -> None:
        """``publish`` takes the workers' log events (the process's log by default)."""
        if reactor is None:
            from twisted.internet import reactor
        self.config = config
        self.reactor = reactor
        self.log_observer = log_observer
        self.startup: StartupReport = startup if startup is not None else RecordedStartup()
        self._publish = publish
        self.ports: list[IListeningPort] = []
        self.slots = [
            WorkerSlot(index, worker_name(config, index), self, reactor)
            for index in range(1, config.workers + 1)
        ]
        self._starting = True
        self._stopping = False

    def setServiceParent(self, parent: Any) -> Any:  # noqa: N802 (Twisted's name)
        use_log_observer(parent, self.log_observer)
        return super().setServiceParent(parent)

    def startService(self) -> None:  # noqa: N802 (Twisted's name)
        super().startService()
        set_level(self.config.logger.level)
        self.log.info(
            "nakama-rt {version} starting {count} workers (Twisted {twisted}, Python {python})",
            version=__version__,
            count=len(self.slots),
            twisted=twisted_version,
            python=platform.python_version(),
        )
        self.startup.hold()
        # SIGINT too: a terminal's ^C stops the workers in order, the exit status 0.
        self.reactor.callWhenRunning(stop_on_sigterm, self.reactor, ("SIGTERM", "SIGINT"))
        Deferred.fromCoroutine(self._start())

    async def _start(self) -> None:
        url = self.config.cluster.redis
        try:
            redis = await cluster_redis.connect(url, self.reactor)
            await redis.disconnect()
        except Exception as error:
            unavailable = isinstance(error, cluster_redis.ClusterUnavailable)
            shown = without_password(url)
            self._fail(str(error) if unavailable else f"cluster {shown}: {error}")
            return
        if not self._stopping:
            # Next turn: out of the Redis connection's log context.
            self.reactor.callLater(0, self._listen_and_spawn)

    def _listen_and_spawn(self) -> None:
        if self._stopping:
            return
        holder = Factory.forProtocol(TCPProtocol)
        holder.noisy = False
        for description in self.config.listen:
            try:
                port = listen_now(self.reactor, description, holder)
            except Exception as exc:
                reason = listen_failure_reason(exc)
                self._fail(f"{wanted_name('socket and API', description)}: {reason}")
                return
            # The workers accept on it; this process only holds it for the next ones.
            cast(Any, port).stopReading()
            self.ports.append(port)
            self.log.info(
                "{name}, shared by {count} workers",
                name=bound_name("socket and API", port, description),
                count=len(self.slots),
            )
        for slot in self.slots:
            self._spawn(slot)

    def _spawn(self, slot: WorkerSlot) -> None:
        slot.restart = None
        brief = WorkerBrief(
            slot.index, worker_config(self.config, slot.index), tuple(slot.dead_pids)
        )
        child_fds: dict[int, int | str] = {0: "w", 1: "r", 2: "r", LOG_FD: "r", STATUS_FD: "r"}
        for n, port in enumerate(self.ports):
            child_fds[FIRST_LISTENER_FD + n] = cast(Any, port).fileno()
        args = [sys.executable, "-m", "nakama_rt.workers", slot.name]
        slot.backoff.started()
        try:
            process = self.reactor.spawnProcess(
                WorkerProcess(slot), sys.executable, args, env=dict(os.environ), childFDs=child_fds
            )
        except OSError as error:  # out of processes or descriptors: as if it died at once
            self.worker_ended(slot, None, f"could not be started ({error.strerror})")
            return
        # The brief, then nothing: the worker reads end of file when this process is gone.
        process.writeToChild(0, brief.encode())
        slot.process, slot.pid = process, process.pid
        self.log.info("worker {worker} started (pid {pid})", worker=slot.name, pid=slot.pid)

    def publish(self, event: LogEvent) -> None:
        self._publish(event)

    def worker_serving(self, slot: WorkerSlot) -> None:
        if not self._starting:
            self.log.info(
                "worker {worker} serving again (pid {pid})", worker=slot.name, pid=slot.pid
            )
            return
        if all(s.serving for s in self.slots):
            self._starting = False
            self.log.info(
                "nakama-rt serving with {count} workers ({workers})",
                count=len(self.slots),
                workers=", ".join(f"{s.name} pid {s.pid}" for s in self.slots),
            )
            self.startup.ready()

    def worker_failed(self, slot: WorkerSlot, reason: str) -> None:
        if self._starting:
            self._fail(f"worker {slot.name}: {reason}")
        elif not self._stopping:
            self.log.warn(
                "worker {worker} could not start: {reason}", worker=slot.name, reason=reason
            )

    def worker_ended(self, slot: WorkerSlot, pid: int | None, how: str) -> None:
        if self._stopping:
            self.log.info("worker {worker} (pid {pid}) {how}", worker=slot.name, pid=pid, how=how)
            slot.stopped.callback(None)
            return
        if self._starting:
            why = f": {slot.last_output}" if slot.last_output else ""
            self._fail(f"worker {slot.name} {how} before serving{why}")
            return
        delay = slot.backoff.died()
        self.log.warn(
            "worker {worker} (pid {pid}) {how}; starting it again {when}",
            worker=slot.name,
            pid=pid,
            how=how,
            when=f"in {delay:g} s" if delay else "now",
        )
        slot.restart = self.reactor.callLater(delay, self._spawn, slot)

    def _fail(self, message: str) -> None:
        self.log.critical("nakama-rt could not start: {reason}", reason=message)
        # No worker is started again from now on: the reactor stops, then this service.
        self._starting = False
        self._stopping = True
        self.startup.failed(message.splitlines()[0])
        if self.reactor.running:
            self.reactor.stop()
        else:
            self.reactor.callWhenRunning(self.reactor.stop)

    def stopService(self) -> Deferred[None]:  # noqa: N802 (Twisted's name)
        """SIGTERM to every worker, and wait until each has drained and exited."""
        super().stopService()
        self._stopping = True
        for port in self.ports:
            port.stopListening()
        self.ports = []
        waiting = []
        bound = self.config.shutdown_grace_sec + STOP_MARGIN_SEC
        for slot in self.slots:
            if slot.restart is not None and slot.restart.active():
                slot.restart.cancel()
            slot.restart = None
            if slot.process is None:
                continue
            slot.signal("TERM")
            slot.kill = self.reactor.callLater(bound, self._kill, slot, bound)
            waiting.append(slot.stopped)
        if not waiting:
            self.log.info("nakama-rt stopped")
            return succeed(None)
        done = DeferredList(waiting)
        done.addCallback(lambda _: self.log.info("nakama-rt stopped"))
        return cast("Deferred[None]", done)

    def _kill(self, slot: WorkerSlot, bound: float) -> None:
        slot.kill = None
        self.log.warn(
            "worker {worker} (pid {pid}) still running {bound:g} s after SIGTERM: killing it",
            worker=slot.name,
            pid=slot.pid,
            bound=bound,
        )
        slot.signal("KILL")
