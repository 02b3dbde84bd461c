"""Running ``twistd nakama-rt`` as a child process, as the launch tests do."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.protocol import ProcessProtocol
from twisted.internet.task import deferLater

from tests.wsclient import http

ROOT = Path(__file__).resolve().parent.parent
TWISTD = [sys.executable, "-c", "import sys; from twisted.scripts.twistd import run; run()"]


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def python_in_checkout(*args: str, timeout: float = 120) -> tuple[int, str]:
    """Run ``python ARGS`` from the checkout's root (its sources first on the path);
    the exit status and everything it printed."""
    result = subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )
    return result.returncode, result.stdout + result.stderr


def serving(port: int, *options: str) -> list[str]:
    """The command of a server in the foreground on 127.0.0.1:``port``, logging to
    stdout, with ``options`` for nakama-rt."""
    return [
        *TWISTD,
        "-n",
        "--pidfile=",
        "--logfile=-",
        "nakama-rt",
        "--listen",
        f"tcp:{port}:interface=127.0.0.1",
        *options,
    ]


def twistd(*args: str, cwd: Path, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*TWISTD, "-n", "--pidfile=", "nakama-rt", *args],
        cwd=cwd,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def failure_lines(result: subprocess.CompletedProcess) -> list[str]:
    """The lines a failed start wrote about itself, after checking it wrote no traceback."""
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    return [line for line in output.splitlines() if "could not start" in line]


def failed_start(*args: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run twistd (on an ephemeral port unless ``args`` name one) expecting a failed
    start: exit status 1 and one line saying why, which is returned."""
    listen = [] if "--listen" in args else ["--listen", "tcp:0:interface=127.0.0.1"]
    result = subprocess.run(
        [*TWISTD, "-n", "--pidfile=", "nakama-rt", *listen, *args],
        cwd=cwd,
        env=env or child_env(),
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    (line,) = failure_lines(result)
    return line


class Watch(ProcessProtocol):
    def __init__(self) -> None:
        self.output = bytearray()
        self.ended: Deferred = Deferred()

    def outReceived(self, data: bytes) -> None:  # noqa: N802
        self.output += data

    errReceived = outReceived

    def processEnded(self, reason) -> None:  # noqa: N802
        # The exit status, or the signal that killed the process.
        status = reason.value.exitCode
        self.ended.callback(status if status is not None else reason.value.signal)


async def wait_healthy(port: int, watch: Watch) -> None:
    for _ in range(200):
        try:
            answer = await http(port, "GET", "/healthcheck")
            if answer.status == 200:
                return
        except Exception:
            pass
        if watch.ended.called:
            break
        await deferLater(reactor, 0.05, lambda: None)
    raise AssertionError(f"server did not start:\n{watch.output.decode()}")
