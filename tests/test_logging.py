"""``--log-format json`` through twistd as a user runs it, ``logger.level`` in that format,
and the JSON record itself."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.protocol import ProcessProtocol
from twisted.internet.task import deferLater
from twisted.logger import Logger, LogLevel
from twisted.python import usage

from nakama_rt._version import __version__
from nakama_rt.logs import format_json
from nakama_rt.tap import Options
from tests.processes import ROOT, TWISTD, child_env, free_port
from tests.wsclient import authenticate, connect, http

FIELDS = {"time", "level", "namespace", "msg"}
NOISY_MODULE = """
def init_module(ctx, logger, nk, initializer):
    logger.info("runtime says hello")
    logger.warn("runtime warns")
"""


class Twistd(ProcessProtocol):
    """A twistd child whose stdout and stderr are kept apart."""

    def __init__(self) -> None:
        self.out = bytearray()
        self.err = bytearray()
        self.ended: Deferred = Deferred()
        self.port = 0

    def outReceived(self, data: bytes) -> None:  # noqa: N802
        self.out += data

    def errReceived(self, data: bytes) -> None:  # noqa: N802
        self.err += data

    def processEnded(self, reason) -> None:  # noqa: N802
        code = reason.value.exitCode
        self.ended.callback(reason.value.signal if code is None else code)


async def run_twistd(cwd: Path, twistd_args: list[str], args: list[str], work) -> Twistd:
    """Start twistd, wait until it is healthy, run ``work(port)``, then SIGTERM it."""
    port = free_port()
    env = child_env()
    child = Twistd()
    argv = [*TWISTD, *twistd_args, "--pidfile=", "nakama-rt"]
    argv += [*args, "--listen", f"tcp:{port}:interface=127.0.0.1", "--data-dir", str(cwd / "d")]
    child.port = port
    process = reactor.spawnProcess(child, sys.executable, argv, env=env, path=str(cwd))
    try:
        for _ in range(200):
            try:
                if (await http(port, "GET", "/healthcheck")).status == 200:
                    break
            except Exception:
                pass
            if child.ended.called:
                break
            await deferLater(reactor, 0.05, lambda: None)
        else:
            raise AssertionError(f"twistd did not start:\n{child.out.decode()}{child.err.decode()}")
        await work(port)
        process.signalProcess(signal.SIGTERM)
        assert await child.ended in (0, signal.SIGTERM)
    finally:
        if not child.ended.called:
            process.signalProcess(signal.SIGKILL)
            await child.ended
    return child


def json_lines(data: bytes) -> list[dict]:
    lines = data.decode().splitlines()
    assert lines, "nothing was logged"
    records = [json.loads(line) for line in lines]
    for record in records:
        assert isinstance(record, dict)
        assert FIELDS <= record.keys(), record
    return records


@pytest_twisted.ensureDeferred
async def test_json_logs_go_to_stdout_one_object_a_line(tmp_path) -> None:
    metrics_port = free_port()

    async def work(port: int) -> None:
        session = await authenticate(port, "json-log-user")
        client = await connect(port, session["token"])
        await client.request({"cid": "1", "ping": {}})
        # The service serves the metrics listener too.
        scraped = await http(metrics_port, "GET", "/metrics")
        assert b"nakama_rt_sessions 1.0" in scraped.body
        assert b'nakama_rt_messages_in_total{type="ping"} 1.0' in scraped.body
        client.sendClose(code=1000)
        await client.closed()

    child = await run_twistd(
        tmp_path,
        ["-n"],
        [
            "--log-format",
            "json",
            "--log-level",
            "debug",
            "--metrics-listen",
            f"tcp:{metrics_port}:interface=127.0.0.1",
        ],
        work,
    )
    records = json_lines(child.out)
    ready = [r for r in records if r["msg"].startswith(f"nakama-rt {__version__} ready")]
    assert ready and ready[0]["level"] == "info"
    names = [
        r["name"]
        for r in records
        if r["namespace"] == "nakama_rt.service.ListenerService" and "name" in r
    ]
    assert names == [
        f"socket and API on 127.0.0.1:{child.port}",
        f"metrics on 127.0.0.1:{metrics_port}",
    ]
    assert not [r for r in records if "Starting factory" in r["msg"]]
    assert ready[0]["namespace"] == "nakama_rt.app.NakamaRT"
    assert ready[0]["db"].startswith("sqlite:")
    assert any(r["msg"].startswith("session ") and r["level"] == "debug" for r in records)
    assert any(r["msg"] == "nakama-rt stopped" for r in records)
    assert b"Traceback" not in child.err


@pytest_twisted.ensureDeferred
async def test_json_logs_go_to_the_logfile_and_honour_the_level(tmp_path) -> None:
    (tmp_path / "modules").mkdir()
    (tmp_path / "modules" / "noisy.py").write_text(NOISY_MODULE)
    config = tmp_path / "nakama.yml"
    config.write_text("logger:\n  level: warn\n  format: json\n")

    async def work(port: int) -> None:
        pass

    child = await run_twistd(
        tmp_path,
        ["-n", "--logfile", "server.log"],
        ["--config", str(config), "--runtime-path", str(tmp_path / "modules")],
        work,
    )
    assert child.out == b""
    records = json_lines((tmp_path / "server.log").read_bytes())
    ours = [r for r in records if r["namespace"].startswith("nakama_rt")]
    insecure = [r for r in ours if r["msg"].startswith("insecure default value")]
    assert [(r["param"], r["level"]) for r in insecure] == [
        ("socket.server_key", "warn"),
        ("session.encryption_key", "warn"),
        ("session.refresh_encryption_key", "warn"),
        ("runtime.http_key", "warn"),
    ]
    ours = [r for r in ours if r not in insecure]
    assert [r["msg"] for r in ours] == ["runtime warns module=noisy"]
    assert ours[0]["level"] == "warn"
    assert ours[0]["runtime_fields"] == {"module": "noisy"}


@pytest.mark.parametrize(
    "twistd_args, message",
    [
        (["--syslog"], "cannot be combined with --syslog"),
        (["--logfile=-"], "Daemons cannot log to stdout"),
    ],
)
def test_json_logs_refuse_what_twistd_cannot_do_with_them(tmp_path, twistd_args, message) -> None:
    import subprocess

    result = subprocess.run(
        [*TWISTD, *twistd_args, "--pidfile=", "nakama-rt", "--log-format", "json"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert message in result.stdout + result.stderr


def test_the_log_format_is_an_option_and_a_config_key(tmp_path) -> None:
    def parse(*args: str):
        options = Options()
        options.parseOptions(list(args))
        return options["nakama_config"]

    assert parse().logger.format == "text"
    assert parse("--log-format", "json").logger.format == "json"
    with pytest.raises(usage.UsageError, match="logger.format must be one of text, json"):
        parse("--log-format", "xml")


def test_a_record_holds_the_event_and_its_fields() -> None:
    events: list[dict] = []
    log = Logger(namespace="nakama_rt.test", observer=events.append)
    log.warn("session {sid} closed", sid="abc", extra={"k": 1})
    try:
        raise ZeroDivisionError("boom")
    except ZeroDivisionError:
        log.failure("it broke")
    warned, failed = (json.loads(format_json(event)) for event in events)
    assert warned["level"] == "warn"
    assert warned["namespace"] == "nakama_rt.test"
    assert warned["msg"] == "session abc closed"
    assert (warned["sid"], warned["extra"]) == ("abc", {"k": 1})
    stamp = time.strptime(warned["time"][:19], "%Y-%m-%dT%H:%M:%S")
    assert abs(time.mktime(stamp) - time.mktime(time.gmtime())) < 60
    assert warned["time"].endswith("Z")
    assert failed["level"] == "critical"
    assert "ZeroDivisionError" in failed["traceback"]
    assert format_json(events[0]).count("\n") == 1


def test_a_field_json_cannot_hold_is_written_as_text() -> None:
    record = json.loads(
        format_json({"log_level": LogLevel.info, "log_format": "x", "log_time": 0, "o": object()})
    )
    assert record["o"].startswith("<object object")


def test_a_module_logger_is_named_after_its_module() -> None:
    from nakama_rt.api import http as api_http
    from nakama_rt.runtime import loader

    assert loader.log.namespace == "nakama_rt.runtime.loader"
    assert api_http.log.namespace == "nakama_rt.api.http"
    # A class attribute is named after its class, as twisted.logger's.
    from nakama_rt.service import NakamaService

    assert NakamaService.log.namespace == "nakama_rt.service.NakamaService"
