"""``twistd nakama-rt`` as a user runs it: help, bad options, a busy port, TLS, SIGTERM."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import deferLater

from nakama_rt import __version__
from tests.processes import (
    TWISTD,
    Watch,
    child_env,
    failed_start,
    free_port,
    serving,
    twistd,
    wait_healthy,
)
from tests.wsclient import authenticate, connect


@contextlib.contextmanager
def busy_port() -> Iterator[int]:
    """A port on 127.0.0.1 that another socket listens on."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        yield busy.getsockname()[1]


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
        "--cluster",
        "--node",
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
        (["--node", "a.b"], "name must be letters, digits, '-' or '_' (it ends match ids)"),
        (["--cluster", "http://x"], "cluster.redis must be a redis:// (or rediss://) URL"),
        (["--workers", "many"], "workers must be an integer"),
        (["--workers", "0"], "workers must be 1 or more, not 0"),
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


def test_a_port_in_use_is_one_line_and_exit_status_1(tmp_path) -> None:
    with busy_port() as port:
        line = failed_start("--listen", f"tcp:{port}:interface=127.0.0.1", cwd=tmp_path)
    assert line.endswith(
        f"nakama-rt could not start: socket and API on 127.0.0.1:{port}: "
        "the address is already in use"
    )


def test_a_busy_metrics_port_is_named_as_the_metrics_listener(tmp_path) -> None:
    with busy_port() as port:
        line = failed_start("--metrics-listen", f"tcp:{port}:interface=127.0.0.1", cwd=tmp_path)
    assert line.endswith(f"metrics on 127.0.0.1:{port}: the address is already in use")


def test_a_daemon_that_cannot_listen_says_why_in_full_and_exits_1(tmp_path) -> None:
    """twistd's daemonising parent prints what the child reported, up to 100 bytes."""
    with busy_port() as port:
        result = subprocess.run(
            [
                *TWISTD,
                "--pidfile=twistd.pid",
                "--logfile=server.log",
                "nakama-rt",
                "--listen",
                f"tcp:{port}:interface=127.0.0.1",
            ],
            cwd=tmp_path,
            env=child_env(),
            capture_output=True,
            text=True,
            timeout=30,
            stdin=subprocess.DEVNULL,
        )
    assert result.returncode == 1
    assert f"socket and API on 127.0.0.1:{port}: the address is already in use'" in (result.stderr)
    for _ in range(100):  # the daemon child ends on its own, removing its pid file
        if not (tmp_path / "twistd.pid").exists():
            break
        time.sleep(0.05)
    assert not (tmp_path / "twistd.pid").exists()
    assert "could not start: socket and API" in (tmp_path / "server.log").read_text()


def test_an_unusable_data_dir_is_one_line_and_exit_status_1(tmp_path) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    line = failed_start("--data-dir", "a-file/data", cwd=tmp_path)
    assert line.endswith(
        "nakama-rt could not start: database sqlite:a-file/data/nakama-rt.sqlite3: "
        f"cannot create the directory {tmp_path}/a-file/data: Not a directory"
    )


def test_a_database_file_that_cannot_be_opened_is_one_line(tmp_path) -> None:
    (tmp_path / "data" / "nakama-rt.sqlite3").mkdir(parents=True)
    line = failed_start(cwd=tmp_path)
    assert line.endswith("unable to open database file")


def test_an_unreachable_postgresql_is_one_line_and_exit_status_1(tmp_path) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, never listening: connections are refused
        line = failed_start(
            "--database", f"postgresql://nakama:secret@127.0.0.1:{port}/nakama", cwd=tmp_path
        )
    assert line.endswith(
        f"could not start: database postgresql://nakama@127.0.0.1:{port}/nakama: "
        f'connection to server at "127.0.0.1", port {port} failed: Connection refused'
    )
    assert "secret" not in line


def test_an_unreachable_cluster_redis_is_one_line_and_exit_status_1(tmp_path) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, never listening: connections are refused
        line = failed_start("--cluster", f"redis://127.0.0.1:{port}/0", cwd=tmp_path)
    assert f"nakama-rt could not start: cluster redis://127.0.0.1:{port}/0: " in line
    assert "refused" in line


def test_a_missing_postgresql_driver_is_one_line_naming_the_install(tmp_path) -> None:
    (tmp_path / "hide").mkdir()
    (tmp_path / "hide" / "psycopg.py").write_text("raise ImportError('hidden by the test')\n")
    env = child_env()
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path / "hide"), env["PYTHONPATH"]])
    line = failed_start(
        "--database", "postgresql://postgres@127.0.0.1:5432/test", cwd=tmp_path, env=env
    )
    assert line.endswith(
        "could not start: PostgreSQL storage needs psycopg and psycopg-pool: "
        "pip install '.[postgres]' in the nakama-rt checkout"
    )


class SilentDatabase(Factory):
    """Accepts connections and says nothing, as a database server that hangs."""

    def __init__(self) -> None:
        self.connections: list[Protocol] = []

    def buildProtocol(self, addr) -> Protocol:  # noqa: N802
        protocol = Protocol()
        self.connections.append(protocol)
        return protocol


@pytest_twisted.ensureDeferred
async def test_no_port_answers_before_the_database_is_open(tmp_path) -> None:
    """While the database does not answer, the server's port refuses connections; when
    the database goes away, the server exits 1 without ever having listened."""
    database_server = SilentDatabase()
    silent = reactor.listenTCP(0, database_server, interface="127.0.0.1")
    database = f"postgresql://postgres@127.0.0.1:{silent.getHost().port}/test"
    port = free_port()
    watch = Watch()
    args = serving(port, "--database", database)
    process = reactor.spawnProcess(watch, sys.executable, args, env=child_env(), path=str(tmp_path))
    try:
        for _ in range(100):
            if b"nakama-rt " + __version__.encode() + b" starting" in watch.output:
                break
            if watch.ended.called:
                break
            await deferLater(reactor, 0.05, lambda: None)
        for _ in range(10):  # half a second of trying the server's port
            with socket.socket() as probe:
                assert probe.connect_ex(("127.0.0.1", port)) != 0
            await deferLater(reactor, 0.05, lambda: None)
        assert not watch.ended.called, watch.output.decode()
        await silent.stopListening()
        for connection in database_server.connections:
            connection.transport.abortConnection()
        assert await watch.ended == 1
    finally:
        if not watch.ended.called:
            process.signalProcess(signal.SIGKILL)
            await watch.ended
    assert b"could not start: database postgresql://" in watch.output
    assert b"socket and API on" not in watch.output
    assert b"Traceback" not in watch.output


def test_a_port_out_of_range_in_the_config_file_is_one_line(tmp_path) -> None:
    (tmp_path / "bad.yml").write_text("socket:\n  port: -5\n")
    result = twistd("--config", "bad.yml", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "twistd nakama-rt: socket.port must be between 0 and 65535, not -5",
        "Try 'twistd nakama-rt --help' for the options.",
    ]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--bogus"], "option --bogus not recognized"),
        (["--listen", "tcp:99999"], "invalid listener 'tcp:99999': port 99999 is not between"),
        (["--config", "missing.yml"], "cannot read config file missing.yml"),
    ],
)
def test_option_mistakes_are_one_line_and_a_pointer_to_help(tmp_path, args, message) -> None:
    result = twistd(*args, cwd=tmp_path)
    assert result.returncode == 1
    lines = (result.stdout + result.stderr).splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith("twistd nakama-rt: ") and message in lines[0]
    assert lines[1] == "Try 'twistd nakama-rt --help' for the options."


def test_version_is_nakama_rts(tmp_path) -> None:
    result = twistd("--version", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.startswith(f"nakama-rt {__version__} (Twisted ")


@pytest_twisted.ensureDeferred
async def test_twistd_serves_and_drains_on_sigterm(tmp_path) -> None:
    port = free_port()
    config = tmp_path / "nakama.yml"
    config.write_text("socket:\n  server_key: sekrit\nsession:\n  token_expiry_sec: 120\n")
    watch = Watch()
    args = serving(port, "--config", str(config), "--data-dir", str(tmp_path / "d"))
    process = reactor.spawnProcess(watch, sys.executable, args, env=child_env(), path=str(tmp_path))
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
        log = watch.output.decode()
        assert f"nakama-rt {__version__} starting" in log
        assert f"socket and API on 127.0.0.1:{port}\n" in log
        warned = re.findall(r"insecure default value for ([a-z_.]+)", log)
        assert warned == [
            "session.encryption_key",
            "session.refresh_encryption_key",
            "runtime.http_key",
        ]
        assert "(--http-key or runtime.http_key in the config file)" in log
    finally:
        if not watch.ended.called:
            process.signalProcess(signal.SIGKILL)
            await watch.ended
    assert (tmp_path / "d" / "nakama-rt.sqlite3").exists()
