"""Embedding in someone else's twisted.web app, and TLS through the service options."""

from __future__ import annotations

import datetime

import pytest_twisted
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from twisted.internet import reactor, ssl
from twisted.web.resource import Resource
from twisted.web.server import Site

from nakama_rt import NakamaRT, tokens
from nakama_rt.tap import Options, makeService
from tests.conftest import make_config
from tests.wsclient import authenticate, connect, http


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
    service = makeService(options)
    service.startService()
    try:
        listening = await service.listeners[0]._waitingForPort
        port = listening.getHost().port
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
