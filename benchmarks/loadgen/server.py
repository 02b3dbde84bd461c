"""``--spawn-server``: our server in a subprocess on a free loopback port, with its
database in a temporary directory, stopped with SIGTERM at the end.

Its log goes to a file (shown when it fails) and its Prometheus metrics to a
listener of their own, which the benchmark reads for what only the server knows
(authoritative tick overruns).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

#: The repository this file belongs to: the server it runs by default.
REPOSITORY = Path(__file__).resolve().parent.parent.parent
TWISTD = [sys.executable, "-c", "from twisted.scripts.twistd import run; run()"]
LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


class SpawnedServer:
    """A nakama-rt server process for one benchmark run."""

    def __init__(
        self,
        runtime_path: Path | None = None,
        extra_args: list[str] | None = None,
        root: Path = REPOSITORY,
    ) -> None:
        self.root = root
        self.runtime_path = runtime_path
        self.extra_args = list(extra_args or [])
        self.host = LOOPBACK
        self.port = 0
        self.metrics_port = 0
        self.directory: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def log_path(self) -> Path:
        assert self.directory is not None
        return self.directory / "server.log"

    def start(self, timeout: float = 30) -> None:
        """Start the server and return once ``/healthcheck`` answers."""
        self.port = free_port()
        self.metrics_port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="nakama-rt-bench-"))
        args = [
            *TWISTD,
            "-n",
            "--pidfile=",
            "nakama-rt",
            "--listen",
            f"tcp:{self.port}:interface={LOOPBACK}",
            "--metrics-listen",
            f"tcp:{self.metrics_port}:interface={LOOPBACK}",
            "--data-dir",
            str(self.directory / "data"),
            # Setup may take longer than Nakama's 60 s default before sockets open.
            "--token-expiry-sec",
            "7200",
        ]
        if self.runtime_path is not None:
            args += ["--runtime-path", str(self.runtime_path)]
        args += self.extra_args
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(self.root), env.get("PYTHONPATH")]))
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                args,
                cwd=self.directory,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._wait_healthy(timeout)

    def _wait_healthy(self, timeout: float) -> None:
        assert self.process is not None
        url = f"http://{self.host}:{self.port}/healthcheck"
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited at startup:\n{self.log_tail()}")
            try:
                with opener.open(url, timeout=1) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        raise RuntimeError(f"the server did not answer /healthcheck in {timeout} s")

    @property
    def metrics_url(self) -> str:
        return f"http://{self.host}:{self.metrics_port}/metrics"

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 20) -> int | None:
        """SIGTERM (the server's graceful stop), then SIGKILL if it hangs; returns the
        exit status and removes the temporary directory."""
        status = None
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                status = self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                status = self.process.wait()
        elif self.process is not None:
            status = self.process.returncode
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
        return status
