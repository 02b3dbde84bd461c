"""Embed nakama-rt in a Twisted web app of your own.

This app serves a page of its own at ``/hello`` and, on the same port, what Nakama's
clients expect: ``/ws``, ``/v2/...`` and ``/healthcheck``. Nakama's settings are built
in code (the game logic of ``examples/runtime``, this app's keys), then a Nakama-style
YAML file, if one is given, overrides them::

    python examples/embed.py [--config nakama.yml] [--port 7350] [--interface 127.0.0.1]
                             [--data-dir ./data]

    curl http://127.0.0.1:7350/hello
    curl -u embed-server-key: -d '{"id": "player-one-id"}' \\
        'http://127.0.0.1:7350/v2/account/authenticate/custom?create=true'
    curl -d '"hi"' 'http://127.0.0.1:7350/v2/rpc/echo?http_key=embed-http-key'

The port is ``--port``, else ``$NAKAMA_PORT``, else the file's ``socket.port`` (7350
by default); 0 picks a free one. Ctrl-C or SIGTERM closes every socket (code 1001)
and the database, then the process exits 0.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.task import react
from twisted.logger import Logger, globalLogBeginner, textFileLogObserver
from twisted.web.resource import Resource

from nakama_rt import (
    Config,
    ConfigError,
    NakamaRT,
    RuntimeConfig,
    SessionConfig,
    SocketConfig,
    load_config_file,
)
from nakama_rt.web.limits import HttpLimits, LimitedSite

log = Logger(namespace="embed")

#: The game logic: every module here with an ``init_module`` is loaded at startup.
RUNTIME_PATH = Path(__file__).resolve().parent / "runtime"


class Hello(Resource):
    """The host app's own page."""

    isLeaf = True

    def render_GET(self, request):  # noqa: N802 (twisted.web's name)
        request.setHeader(b"content-type", b"text/plain; charset=utf-8")
        return b"hello from the host app\n"


def build_config(args: argparse.Namespace) -> Config:
    """Nakama's settings: this app's, then the YAML file's, then the command line's."""
    config = Config(
        name="embed-example",
        # Keys are for the example only: real ones belong in the YAML file (which wins
        # over these) or in the environment. Clients authenticate with the server key,
        # the session keys sign their tokens, server-to-server RPCs send the HTTP key.
        socket=SocketConfig(server_key="embed-server-key"),
        session=SessionConfig(
            encryption_key="embed-encryption-key",
            refresh_encryption_key="embed-refresh-encryption-key",
        ),
        runtime=RuntimeConfig(
            path=str(RUNTIME_PATH),
            http_key="embed-http-key",
            env={"GREETING": "hello from embed.py"},  # what the runtime reads as ctx.env
        ),
    )
    if args.config:
        # Nakama's sections and keys (socket.server_key, session.token_expiry_sec...).
        config = load_config_file(args.config, config)
    # The sections are frozen dataclasses: change one key with dataclasses.replace.
    if args.port is not None:
        socket = dataclasses.replace(config.socket, port=args.port)
        config = dataclasses.replace(config, socket=socket)
    if args.data_dir:  # the SQLite database goes here (unless database.address is set)
        config = dataclasses.replace(config, data_dir=args.data_dir)
    return config.validate()  # NakamaRT checks too; here a bad value is one clean line


async def main(reactor, config: Config, interface: str) -> None:
    # Loads the runtime modules: a broken one fails here, before anything listens.
    nakama = NakamaRT(config, reactor)

    root = Resource()
    root.putChild(b"hello", Hello())  # the app's own resources...
    root.putChild(b"ws", nakama.socket_resource)  # ...and Nakama's, at the root
    root.putChild(b"v2", nakama.api_resource)
    root.putChild(b"healthcheck", nakama.healthcheck_resource)

    # Open the database before listening, so that no client arrives before it.
    await nakama.start()
    # LimitedSite is twisted.web's Site with nakama-rt's HTTP limits: deadlines for a
    # request's head and body and for idle keep-alive connections, and a cap on
    # connections per client address (socket.read_timeout_ms, ...).
    site = LimitedSite(root, HttpLimits.from_config(config.socket), reactor=reactor)
    port = reactor.listenTCP(config.socket.port, site, interface=interface)

    @inlineCallbacks
    def shut_down():
        # On SIGINT/SIGTERM, before the reactor stops: refuse new connections, then
        # close every socket (1001) and the database; the reactor waits for this.
        yield port.stopListening()
        yield nakama.stop()
        log.info("stopped")

    reactor.addSystemEventTrigger("before", "shutdown", shut_down)
    address = port.getHost()
    log.info("listening on http://{host}:{port}", host=address.host, port=address.port)
    await Deferred()  # serve until the reactor stops; react() then exits 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="nakama-rt inside a twisted.web app")
    parser.add_argument("--config", help="a Nakama-style YAML file, over the built-in settings")
    parser.add_argument(
        "--port",
        type=int,
        default=os.environ.get("NAKAMA_PORT"),
        help="default: $NAKAMA_PORT, else socket.port (7350)",
    )
    parser.add_argument("--interface", default="127.0.0.1", help="0.0.0.0 for every one")
    parser.add_argument("--data-dir", help="where the SQLite database is kept (./data)")
    args = parser.parse_args()
    try:
        config = build_config(args)
    except ConfigError as exc:
        sys.exit(f"embed.py: {exc}")
    globalLogBeginner.beginLoggingTo([textFileLogObserver(sys.stdout)])
    react(main, (config, args.interface))
