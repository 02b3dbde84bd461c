"""One worker: ``python -m nakama_rt.workers NAME``, as a :class:`Supervisor` starts it.

It reads its brief on standard input, logs to its supervisor, takes its node name over
from a dead predecessor, and runs the very :class:`~nakama_rt.service.NakamaService` a
single server runs, whose listeners adopt the sockets inherited from the supervisor
instead of binding their own.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
from collections.abc import Callable, Mapping
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IListeningPort, IProtocolFactory, IReadDescriptor
from twisted.internet.main import CONNECTION_DONE
from twisted.logger import globalLogBeginner
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.python.failure import Failure
from zope.interface import implementer

from nakama_rt.cluster import redis as cluster_redis
from nakama_rt.cluster.nodes import evict_dead_holder
from nakama_rt.config import Config
from nakama_rt.logs import Logger, json_file_observer
from nakama_rt.service import NakamaService, listen_now
from nakama_rt.workers.brief import (
    FAILED,
    FIRST_LISTENER_FD,
    LOG_FD,
    READY,
    STATUS_FD,
    WorkerBrief,
)

log = Logger()


class InheritedListeners:
    """The listening sockets a worker inherited, by the description they were bound
    for; any other listener (metrics) is bound by the worker itself."""

    def __init__(self, reactor: Any, fds: Mapping[str, int]) -> None:
        self._reactor = reactor
        self._fds = dict(fds)

    def listen(self, description: str, factory: IProtocolFactory) -> IListeningPort:
        fd = self._fds.pop(description, None)
        if fd is None:
            return listen_now(self._reactor, description, factory)
        return listen_now(_AdoptingReactor(self._reactor, fd), description, factory)


class _AdoptingReactor:
    """The reactor as an endpoint parsed from a TCP or TLS description sees it, whose
    listen adopts the inherited socket instead of binding: Twisted's own parser applies
    every option of the description (certificate, key, ciphers...) as for a bound one,
    and TLS wraps the factory as the reactor's ``listenSSL`` does."""

    def __init__(self, reactor: Any, fd: int) -> None:
        self._reactor = reactor
        self._fd = fd

    def listenTCP(  # noqa: N802 (Twisted's name)
        self, port: int, factory: IProtocolFactory, backlog: int = 50, interface: str = ""
    ) -> IListeningPort:
        probe = socket.socket(fileno=self._fd)
        family = probe.family
        probe.detach()
        adopted: IListeningPort = self._reactor.adoptStreamPort(self._fd, family, factory)
        os.close(self._fd)  # adopting duplicated it
        return adopted

    def listenSSL(  # noqa: N802 (Twisted's name)
        self,
        port: int,
        factory: IProtocolFactory,
        contextFactory: Any,  # noqa: N803
        backlog: int = 50,
        interface: str = "",
    ) -> IListeningPort:
        return self.listenTCP(port, TLSMemoryBIOFactory(contextFactory, False, factory))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reactor, name)


class PipeStartup:
    """The :class:`~nakama_rt.service.StartupReport` of a worker: one line on the
    status pipe, which its supervisor waits for."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        #: Why the worker could not start, once it could not.
        self.failure: str | None = None

    def hold(self) -> None:
        pass

    def ready(self) -> None:
        self._say(READY)

    def failed(self, message: str) -> None:
        self.failure = message
        self._say(FAILED + " ".join(message.split()).encode())

    def _say(self, line: bytes) -> None:
        try:
            os.write(self._fd, line + b"\n")
        except OSError:
            pass  # the supervisor is gone; standard input says so too


@implementer(IReadDescriptor)
class SupervisorLine:
    """The worker's standard input, which its supervisor keeps open: end of file means
    the supervisor is gone (even killed with SIGKILL), and the worker stops as on SIGTERM
    rather than serve on unsupervised."""

    def __init__(self, gone: Callable[[], None]) -> None:
        self._gone = gone

    def fileno(self) -> int:
        return 0

    def doRead(self) -> Failure | None:  # noqa: N802 (Twisted's name)
        try:
            data = os.read(0, 4096)
        except BlockingIOError:
            return None
        except OSError:
            data = b""
        return None if data else Failure(CONNECTION_DONE)

    def connectionLost(self, reason: Failure) -> None:  # noqa: N802 (Twisted's name)
        self._gone()

    def logPrefix(self) -> str:  # noqa: N802 (Twisted's name)
        return "supervisor"


async def take_over(config: Config, dead_pids: tuple[int, ...], reactor: Any) -> None:
    """Free this node's name from its dead predecessor, which may hold it until its TTL
    runs out; once this process joins, the other nodes drop the predecessor's players
    (with leave events) as their first message from it says it just started."""
    redis = await cluster_redis.connect(config.cluster.redis, reactor)
    try:
        freed = await evict_dead_holder(redis, config.name, dead_pids)
    finally:
        await redis.disconnect()
    if freed:
        log.info("node {name} taken over from its dead predecessor", name=config.name)


def run(brief: WorkerBrief, reactor: Any) -> int:
    """Serve as ``brief`` says until stopped; the exit status."""
    config = brief.config
    startup = PipeStartup(STATUS_FD)
    fds = {description: FIRST_LISTENER_FD + n for n, description in enumerate(config.listen)}
    service = NakamaService(
        config, reactor, startup=startup, listen=InheritedListeners(reactor, fds).listen
    )
    stopping: list[bool] = []
    reactor.addSystemEventTrigger("before", "shutdown", stopping.append, True)
    reactor.addSystemEventTrigger("before", "shutdown", service.stopService)

    def supervisor_gone() -> None:
        if not stopping:  # not the reactor's own closing of every descriptor
            log.warn("the supervisor is gone: stopping")
            reactor.stop()

    reactor.addReader(SupervisorLine(supervisor_gone))

    async def start() -> None:
        if brief.dead_pids:
            try:
                await take_over(config, brief.dead_pids, reactor)
            except Exception as error:
                log.critical("nakama-rt could not start: {reason}", reason=error)
                startup.failed(str(error))
                reactor.stop()
                return
        service.startService()

    reactor.callWhenRunning(lambda: Deferred.fromCoroutine(start()))
    reactor.run()
    return 1 if startup.failure is not None else 0


def main(argv: list[str]) -> int:
    """``argv`` is the node name, only for ``ps`` to show; the brief is on stdin."""
    # A terminal's ^C reaches the whole process group: the supervisor alone handles it
    # and stops its workers in order.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    brief = WorkerBrief.decode(sys.stdin.buffer.readline())
    log_file = os.fdopen(LOG_FD, "w", encoding="utf-8", buffering=1)
    globalLogBeginner.beginLoggingTo([json_file_observer(log_file)], redirectStandardIO=True)
    from twisted.internet import reactor

    return run(brief, reactor)
