"""``twistd nakama-rt`` as a user runs it: help, bad options, a busy port, TLS, SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.protocol import ProcessProtocol
from twisted.internet.task import deferLater

from tests.wsclient import authenticate, connect, http

ROOT = Path(__file__).resolve().parent.parent
TWISTD = [sys.executable, "-c", "import sys; from twisted.scripts.twistd import run; run()"]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def twistd(*args: str, cwd: Path, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*TWISTD, "-n", "--pidfile=", "nakama-rt", *args],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_help_documents_every_option(tmp_path) -> None:
    result = twistd("--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for option in [
        "--listen",
        "--config",
        "--database",
        "--data-dir",
        "--tls-cert",
        "--tls-key",
        "--server-key",
        "--encryption-key",
        "--refresh-encryption-key",
        "--token-expiry-sec",
        "--refresh-token-expiry-sec",
        "--max-message-size-bytes",
        "--ping-period-ms",
        "--pong-wait-ms",
        "--ping-backoff-threshold",
        "--close-ack-wait-ms",
        "--outgoing-queue-size",
        "--single-socket",
        "--log-format",
        "--metrics-listen",
        "--http-key",
        "--log-level",
    ]:
        assert option in result.stdout, option


@pytest.mark.parametrize(
    "args, message",
    [
        (["--ping-period-ms", "soon"], "socket.ping_period_ms must be an integer"),
        (["--ping-period-ms", "30000"], "ping_period_ms must be less than socket.pong_wait_ms"),
        (["--outgoing-queue-size", "0"], "socket.outgoing_queue_size must be greater than 0"),
        (["--listen", "bogus:1"], "invalid listener 'bogus:1'"),
        (["--tls-cert", "nope.pem", "--tls-key", "nope.key"], "TLS file nope.pem cannot be read"),
        (["--tls-cert", "nope.pem"], "must be set together"),
        (["--database", "mysql://x"], "must be sqlite:PATH or a postgresql:// URL"),
        (["--config", "missing.yml"], "cannot read config file missing.yml"),
        (["--log-level", "loud"], "logger.level must be one of"),
    ],
)
def test_invalid_options_fail_with_a_clear_message(tmp_path, args, message) -> None:
    result = twistd(*args, cwd=tmp_path)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr


def test_unknown_config_keys_fail(tmp_path) -> None:
    (tmp_path / "bad.yml").write_text("socket:\n  ping_period: 5\n")
    result = twistd("--config", "bad.yml", cwd=tmp_path)
    assert result.returncode != 0
    assert "unknown configuration key socket.ping_period" in result.stdout + result.stderr


def test_a_port_in_use_fails_startup(tmp_path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = twistd("--listen", f"tcp:{port}:interface=127.0.0.1", cwd=tmp_path)
    assert result.returncode != 0
    assert "Address already in use" in result.stdout + result.stderr


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


@pytest_twisted.ensureDeferred
async def test_twistd_serves_and_drains_on_sigterm(tmp_path) -> None:
    port = free_port()
    config = tmp_path / "nakama.yml"
    config.write_text("socket:\n  server_key: sekrit\nsession:\n  token_expiry_sec: 120\n")
    watch = Watch()
    args = [
        *TWISTD,
        "-n",
        "--pidfile=",
        "--logfile=-",
        "nakama-rt",
        "--config",
        str(config),
        "--listen",
        f"tcp:{port}:interface=127.0.0.1",
        "--data-dir",
        str(tmp_path / "d"),
    ]
    process = reactor.spawnProcess(watch, sys.executable, args, env=_env(), path=str(tmp_path))
    try:
        await wait_healthy(port, watch)
        session = await authenticate(
            port, "launch-test-user", username="launcher", server_key="sekrit"
        )
        client = await connect(port, session["token"], status=True)
        own = await client.next()
        assert own["status_presence_event"]["joins"][0]["username"] == "launcher"
        assert await client.request({"cid": "1", "ping": {}}) == {"cid": "1", "pong": {}}
        process.signalProcess(signal.SIGTERM)
        code, _ = await client.closed()
        assert code == 1001
        assert await watch.ended == 0
        assert b"nakama-rt stopped" in watch.output
    finally:
        if not watch.ended.called:
            process.signalProcess(signal.SIGKILL)
            await watch.ended
    assert (tmp_path / "d" / "nakama-rt.sqlite3").exists()
