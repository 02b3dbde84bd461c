"""Embedding in someone else's twisted.web app (and examples/embed.py, run as a user
runs it), and TLS through the service options."""

from __future__ import annotations

import datetime
import json
import os
import re
import signal
import sys
import time
from pathlib import Path

import pytest_twisted
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from twisted.internet import reactor, ssl
from twisted.internet.defer import Deferred, succeed
from twisted.internet.protocol import ProcessProtocol
from twisted.internet.task import deferLater
from twisted.logger import globalLogPublisher
from twisted.web.resource import Resource
from twisted.web.server import Site

from nakama_rt import NakamaRT
from nakama_rt.auth import tokens
from nakama_rt.service import NakamaService, RecordedStartup
from nakama_rt.tap import Options
from tests.conftest import make_config
from tests.wsclient import authenticate, connect, http

ROOT = Path(__file__).resolve().parent.parent
EMBED = ROOT / "examples" / "embed.py"


class Hello(Resource):
    isLeaf = True

    def render_GET(self, request):  # noqa: N802
        return b"hi from the host app"


@pytest_twisted.ensureDeferred
async def test_an_existing_twisted_web_app_mounts_the_server(tmp_path) -> None:
    nakama = NakamaRT(make_config(tmp_path), reactor)
    root = Resource()
    root.putChild(b"hello", Hello())
    root.putChild(b"ws", nakama.socket_resource)
    root.putChild(b"v2", nakama.api_resource)
    root.putChild(b"healthcheck", nakama.healthcheck_resource)
    await nakama.start()
    port = reactor.listenTCP(0, Site(root), interface="127.0.0.1")
    try:
        number = port.getHost().port
        assert (await http(number, "GET", "/hello")).body == b"hi from the host app"
        assert (await http(number, "GET", "/healthcheck")).status == 200
        session = await authenticate(number, "embedded-user-1", username="embedded")
        client = await connect(number, session["token"], fmt="protobuf")
        assert await client.request({"cid": "e", "ping": {}}) == {"cid": "e", "pong": {}}
    finally:
        await port.stopListening()
        await nakama.stop()
    assert (await client.closed())[0] == 1001


def self_signed(tmp_path) -> tuple[str, str, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert_pem)
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_path), str(key_path), cert_pem


@pytest_twisted.ensureDeferred
async def test_tls_options_produce_an_ssl_listener(tmp_path) -> None:
    cert, key, cert_pem = self_signed(tmp_path)
    options = Options()
    options.parseOptions(
        [
            "--tls-cert",
            cert,
            "--tls-key",
            key,
            "--listen",
            "tcp:0:interface=127.0.0.1",
            "--data-dir",
            str(tmp_path),
        ]
    )
    config = options["nakama_config"]
    (description,) = config.listen
    assert description.startswith("ssl:0:interface=127.0.0.1:privateKey=")
    service = NakamaService(config, reactor, startup=RecordedStartup())
    logged: list[dict] = []
    globalLogPublisher.addObserver(logged.append)
    try:
        service.startService()
        assert await service.startup.outcome is None
    finally:
        globalLogPublisher.removeObserver(logged.append)
    port = service.ports[0].getHost().port
    names = [
        e["name"]
        for e in logged
        if e.get("log_namespace") == "nakama_rt.service.ListenerService" and "name" in e
    ]
    assert names == [f"socket and API on 127.0.0.1:{port} (TLS)"]
    try:
        issued = tokens.issue_session(
            config.session,
            "5b1f0d3c-7a38-4d16-9a39-1f0f2f5d8a11",
            "tls-user",
            None,
            reactor.seconds(),
        )
        trust = ssl.optionsForClientTLS("localhost", ssl.Certificate.loadPEM(cert_pem))
        client = await connect(port, issued.token, tls=trust)
        assert await client.request({"cid": "t", "ping": {}}) == {"cid": "t", "pong": {}}
    finally:
        await service.stopService()
    assert (await client.closed())[0] == 1001


# examples/embed.py, run as a user runs it


class Output(ProcessProtocol):
    """Collects a child's output and its exit code (or the signal that ended it)."""

    def __init__(self) -> None:
        self.output = bytearray()
        self.done = False
        self.status: int | None = None
        self._waiting: list[Deferred] = []

    def outReceived(self, data: bytes) -> None:  # noqa: N802
        self.output += data

    errReceived = outReceived

    def processEnded(self, reason) -> None:  # noqa: N802
        code = reason.value.exitCode
        self.done, self.status = True, code if code is not None else reason.value.signal
        waiting, self._waiting = self._waiting, []
        for deferred in waiting:
            deferred.callback(self.status)

    def ended(self) -> Deferred:
        """Fires with the status; a fresh Deferred each call, so a timeout on one
        (which cancels it) leaves the process watched."""
        if self.done:
            return succeed(self.status)
        deferred: Deferred = Deferred()
        self._waiting.append(deferred)
        return deferred


def within(seconds: float, deferred: Deferred) -> Deferred:
    """``deferred``, failing with TimeoutError after ``seconds``."""
    return deferred.addTimeout(seconds, reactor)


async def listening_port(child: Output, seconds: float = 30) -> int:
    """The port the example says it listens on, once it says so."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not child.done:
        found = re.search(rb"listening on http://127\.0\.0\.1:(\d+)", child.output)
        if found:
            return int(found.group(1))
        await deferLater(reactor, 0.05, lambda: None)
    raise AssertionError(f"examples/embed.py did not start:\n{child.output.decode()}")


@pytest_twisted.ensureDeferred
async def test_the_embedding_example_runs(tmp_path) -> None:
    config_file = tmp_path / "nakama.yml"
    config_file.write_text(
        "session:\n  token_expiry_sec: 7200\nruntime:\n  env:\n    - GREETING=ahoy from yaml\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "NAKAMA_PORT"}
    # The working tree's nakama_rt, not an installed copy.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    args = [sys.executable, str(EMBED), "--config", str(config_file), "--port", "0"]
    args += ["--data-dir", str(tmp_path / "data")]
    child = Output()
    process = reactor.spawnProcess(child, sys.executable, args, env=env, path=str(tmp_path))
    try:
        port = await listening_port(child)

        hello = await within(10, http(port, "GET", "/hello"))
        assert (hello.status, hello.body) == (200, b"hello from the host app\n")

        # The example's own keys: its server key, not Nakama's default one...
        path, body = "/v2/account/authenticate/custom", {"id": "embedded-player-1"}
        refused = await within(10, http(port, "POST", path, body, basic=("defaultkey", "")))
        assert refused.status == 401, refused
        session = await within(
            10, authenticate(port, "embedded-player-1", "embedded", server_key="embed-server-key")
        )
        # ...its encryption key signs the token, for the YAML file's expiry.
        claims = tokens.parse_session_token(session["token"], "embed-encryption-key", time.time())
        assert claims.expires_at - claims.issued_at == 7200

        # The runtime path (examples/runtime) is loaded: its RPCs answer over HTTP.
        bearer = session["token"]
        echo = await within(10, http(port, "POST", "/v2/rpc/echo", body="hi", bearer=bearer))
        assert (echo.status, echo.json()) == (200, {"payload": "hi"})
        by_key = await within(
            10, http(port, "POST", "/v2/rpc/echo?http_key=embed-http-key", body="srv")
        )
        assert by_key.json() == {"payload": "srv"}
        whoami = await within(10, http(port, "POST", "/v2/rpc/whoami", body="", bearer=bearer))
        assert json.loads(whoami.json()["payload"]) == {
            "user": "embedded",
            "online": False,
            "greeting": "ahoy from yaml",  # runtime.env from the YAML file
        }

        process.signalProcess(signal.SIGTERM)
        assert await within(20, child.ended()) == 0, child.output.decode()
    finally:
        if not child.done:
            process.signalProcess(signal.SIGKILL)
            await within(10, child.ended())
    assert b"[embed#info] stopped" in child.output
    assert (tmp_path / "data" / "nakama-rt.sqlite3").exists()
