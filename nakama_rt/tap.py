"""``twistd nakama-rt``: command-line options -> one validated :class:`Config` -> the service.

Precedence: Nakama's defaults, then the ``--config`` YAML file, then options given
on the command line.
"""

from __future__ import annotations

import atexit
import dataclasses
import os
import platform
import signal
import sys
from collections.abc import Mapping, MutableMapping
from typing import IO, Any

from twisted.copyright import version as twisted_version
from twisted.internet.endpoints import quoteStringArgument
from twisted.internet.interfaces import IReactorFromThreads
from twisted.python import usage
from twisted.python.logfile import LogFile

from nakama_rt._version import __version__
from nakama_rt.config import Config, ConfigError, load_config_file, parse_env_pairs, update_section
from nakama_rt.library_internals import (
    TWISTD_STATUS_MESSAGE_BYTES,
    answer_twistd_status_pipe,
    take_twistd_status_pipe,
)
from nakama_rt.listeners import check_description, check_shared
from nakama_rt.logs import json_file_observer
from nakama_rt.service import NakamaService
from nakama_rt.workers import Supervisor
from nakama_rt.workers.brief import worker_config

#: (option, section, key, type, help) for options that set one config key.
_KEY_OPTIONS = [
    (
        "server-key",
        "socket",
        "server_key",
        str,
        "Server key clients send to authenticate (socket.server_key).",
    ),
    (
        "encryption-key",
        "session",
        "encryption_key",
        str,
        "Key signing session tokens (session.encryption_key).",
    ),
    (
        "refresh-encryption-key",
        "session",
        "refresh_encryption_key",
        str,
        "Key signing refresh tokens (session.refresh_encryption_key).",
    ),
    (
        "token-expiry-sec",
        "session",
        "token_expiry_sec",
        int,
        "Session token lifetime in seconds (default 60).",
    ),
    (
        "refresh-token-expiry-sec",
        "session",
        "refresh_token_expiry_sec",
        int,
        "Refresh token lifetime in seconds (default 3600).",
    ),
    (
        "max-message-size-bytes",
        "socket",
        "max_message_size_bytes",
        int,
        "Largest socket message accepted; bigger ones close with 1009 (default 4096).",
    ),
    (
        "max-request-size-bytes",
        "socket",
        "max_request_size_bytes",
        int,
        "Largest HTTP request body accepted (default 262144).",
    ),
    (
        "ping-period-ms",
        "socket",
        "ping_period_ms",
        int,
        "Interval between server pings (default 15000).",
    ),
    (
        "pong-wait-ms",
        "socket",
        "pong_wait_ms",
        int,
        "A client silent this long is disconnected (default 25000).",
    ),
    (
        "ping-backoff-threshold",
        "socket",
        "ping_backoff_threshold",
        int,
        "Messages within a ping period that make a ping unnecessary (default 20).",
    ),
    (
        "write-wait-ms",
        "socket",
        "write_wait_ms",
        int,
        "A client whose socket accepts no data for this long is disconnected (default 5000).",
    ),
    (
        "close-ack-wait-ms",
        "socket",
        "close_ack_wait_ms",
        int,
        "How long a close waits for the client's close frame (default 2000).",
    ),
    (
        "outgoing-queue-size",
        "socket",
        "outgoing_queue_size",
        int,
        "Messages queued for a slow client before it is disconnected (default 64).",
    ),
    (
        "read-timeout-ms",
        "socket",
        "read_timeout_ms",
        int,
        "An HTTP request's head and body must arrive within this, from its first byte "
        "(default 10000).",
    ),
    (
        "idle-timeout-ms",
        "socket",
        "idle_timeout_ms",
        int,
        "A keep-alive HTTP connection waiting for its next request closes after this "
        "(default 60000).",
    ),
    (
        "max-connections-per-address",
        "socket",
        "max_connections_per_address",
        int,
        "Connections open at once from one client address, sockets included; loopback "
        "and private addresses are exempt; 0: no cap (default 1000).",
    ),
    (
        "max-messages-per-sec",
        "socket",
        "max_messages_per_sec",
        int,
        "Messages one socket may send a second, in bursts of --message-burst; 0: no "
        "limit (default 0; see Limits in the README).",
    ),
    (
        "message-burst",
        "socket",
        "message_burst",
        int,
        "The burst --max-messages-per-sec allows (default 0: one second's worth).",
    ),
    (
        "max-sockets-per-user",
        "socket",
        "max_sockets_per_user",
        int,
        "Sockets one user may hold at once, on every node; 0: no limit (default 0).",
    ),
    (
        "max-tickets-per-user",
        "matchmaker",
        "max_tickets_per_user",
        int,
        "Matchmaker tickets one user may be in at once, its parties' included; 0: no "
        "limit (default 0).",
    ),
    (
        "max-party-creations-per-minute",
        "socket",
        "max_party_creations_per_minute",
        int,
        "Parties one user may create a minute; 0: no limit (default 0).",
    ),
    (
        "max-upgrades-per-sec-per-address",
        "socket",
        "max_upgrades_per_sec_per_address",
        int,
        "Socket upgrades one client address may ask a second, answered 429 past it; "
        "loopback and private addresses are exempt; 0: no limit (default 0).",
    ),
    (
        "max-concurrent-upgrades-per-address",
        "socket",
        "max_concurrent_upgrades_per_address",
        int,
        "Connections from one client address still sending their first request, "
        "answered 429 past it; 0: no limit (default 0).",
    ),
    (
        "http-key",
        "runtime",
        "http_key",
        str,
        "Key for server-to-server HTTP calls (runtime.http_key).",
    ),
    (
        "runtime-path",
        "runtime",
        "path",
        str,
        "Directory of Python modules with game logic: RPCs, hooks, matches (runtime.path).",
    ),
    (
        "matchmaker-interval-sec",
        "matchmaker",
        "interval_sec",
        int,
        "Seconds between matchmaker passes (matchmaker.interval_sec, default 15).",
    ),
    (
        "matchmaker-max-tickets",
        "matchmaker",
        "max_tickets",
        int,
        "Matchmaker tickets a session or party may hold (matchmaker.max_tickets, default 3).",
    ),
    (
        "matchmaker-max-intervals",
        "matchmaker",
        "max_intervals",
        int,
        "Passes a ticket waits for a full match before accepting its minimum count "
        "(matchmaker.max_intervals, default 2).",
    ),
    (
        "console-listen",
        "console",
        "listen",
        str,
        "Serve the operator console on this endpoint, e.g. tcp:7351:interface=127.0.0.1; "
        "off by default (console.listen, or Nakama's console.port).",
    ),
    ("console-username", "console", "username", str, "The console's login (default admin)."),
    (
        "console-password",
        "console",
        "password",
        str,
        "The console's password (default password: change it).",
    ),
    (
        "console-signing-key",
        "console",
        "signing_key",
        str,
        "Signs the console's session cookie (console.signing_key: change it).",
    ),
    (
        "console-token-expiry-sec",
        "console",
        "token_expiry_sec",
        int,
        "Seconds a console login lasts (console.token_expiry_sec, default 86400).",
    ),
    (
        "resume-grace-ms",
        "session",
        "resume_grace_ms",
        int,
        "Keep a session whose socket dropped without a close frame this long, for a new "
        "socket with its token to resume (session.resume_grace_ms; default 0: off).",
    ),
    (
        "resume-buffer",
        "session",
        "resume_buffer",
        int,
        "Messages kept for a dropped session to replay on resume "
        "(session.resume_buffer, default 256).",
    ),
    ("log-level", "logger", "level", str, "debug, info, warn or error (logger.level)."),
    (
        "log-format",
        "logger",
        "format",
        str,
        "text (default) or json: one JSON object a line, to twistd's log file or stdout "
        "(logger.format).",
    ),
    (
        "metrics-listen",
        "metrics",
        "listen",
        str,
        "Serve Prometheus metrics (GET /metrics) on this endpoint, e.g. "
        "tcp:9100:interface=127.0.0.1; off by default (metrics.listen, or Nakama's "
        "metrics.prometheus_port).",
    ),
]


class Options(usage.Options):
    synopsis = "[options]"
    longdesc = (
        "Serve Nakama's realtime protocol (the /ws socket) and session API (/v2/...). "
        "Listeners are Twisted endpoint descriptions, e.g. tcp:7350 or "
        "ssl:7350:privateKey=key.pem:certKey=cert.pem. Settings come from Nakama's "
        "defaults, then the --config file, then these options."
    )

    optParameters = [
        [
            "config",
            "c",
            None,
            "A YAML config file with Nakama's sections and keys "
            "(socket.*, session.*, database.*, runtime.*, matchmaker.*, logger.*, metrics.*, "
            "console.*).",
        ],
        [
            "database",
            "d",
            None,
            "sqlite:PATH (default: sqlite in the data directory) or a "
            "postgresql://user@host:port/db URL (database.address).",
        ],
        ["data-dir", None, None, "Directory for the embedded database (default ./data)."],
        [
            "cluster",
            None,
            None,
            "redis://[:password@]host:port/db (rediss:// for TLS): join the cluster of the "
            "nodes on this Redis (cluster.redis).",
        ],
        ["node", None, None, "This node's name (name; default nakama)."],
        [
            "workers",
            None,
            None,
            "Server processes on this machine, sharing the listeners: nodes NAME-1 to "
            "NAME-N of the --cluster (workers; default 1).",
        ],
        [
            "shutdown-grace-sec",
            None,
            None,
            "Seconds authoritative matches get to finish "
            "on shutdown (shutdown_grace_sec, default 0).",
        ],
        ["tls-cert", None, None, "PEM certificate: listen with TLS (socket.ssl_certificate)."],
        ["tls-key", None, None, "PEM private key for --tls-cert (socket.ssl_private_key)."],
        [
            "runtime-env",
            None,
            None,
            "KEY=VALUE pairs, comma separated, for runtime modules (runtime.env).",
        ],
    ] + [[name, None, None, help_text] for name, _, _, _, help_text in _KEY_OPTIONS]

    optFlags = [
        [
            "single-socket",
            None,
            "Close a user's older sockets when a new one opens (session.single_socket).",
        ],
        [
            "single-session",
            None,
            "Invalidate a user's older tokens on login (session.single_session).",
        ],
    ]

    def __init__(self) -> None:
        super().__init__()
        self["listen"] = []

    def parseOptions(self, options: list[str] | None = None) -> None:  # noqa: N802
        """Under twistd, a mistake is the one line that says what is wrong and where
        help is (twistd would print the whole usage first and the mistake last)."""
        try:
            super().parseOptions(options)
        except usage.UsageError as error:
            if self.parent is None:
                raise
            sys.stderr.write(
                f"twistd nakama-rt: {error}\nTry 'twistd nakama-rt --help' for the options.\n"
            )
            raise SystemExit(1) from None

    def opt_version(self) -> None:
        """Print nakama-rt's version and exit."""
        print(
            f"nakama-rt {__version__} (Twisted {twisted_version}, "
            f"Python {platform.python_version()})"
        )
        raise SystemExit(0)

    def opt_listen(self, description: str) -> None:
        """An endpoint to serve on, e.g. tcp:7350 or ssl:7350:privateKey=k.pem:certKey=c.pem
        (repeatable; default tcp:7350, or the config's socket.port)."""
        self["listen"].append(description)

    def postOptions(self) -> None:  # noqa: N802 (Twisted's name)
        try:
            self["nakama_config"] = self.build_config()
        except ConfigError as exc:
            raise usage.UsageError(str(exc)) from None
        if self["nakama_config"].logger.format == "json" and self.parent is not None:
            for option in ("syslog", "logger"):
                if self.parent.get(option):
                    raise usage.UsageError(
                        f"--log-format json writes to --logfile or stdout; "
                        f"it cannot be combined with --{option}"
                    )
            if self.parent.get("logfile") == "-" and not self.parent.get("nodaemon"):
                raise usage.UsageError("Daemons cannot log to stdout: give --logfile or -n")

    def build_config(self) -> Config:
        config = Config()
        if self["config"]:
            config = load_config_file(self["config"], config)
        sections: dict[str, dict[str, object]] = {}
        for name, section, key, _kind, _help in _KEY_OPTIONS:
            if self[name] is not None:
                sections.setdefault(section, {})[key] = self[name]
        if self["single-socket"]:
            sections.setdefault("session", {})["single_socket"] = True
        if self["single-session"]:
            sections.setdefault("session", {})["single_session"] = True
        if self["tls-cert"] is not None:
            sections.setdefault("socket", {})["ssl_certificate"] = self["tls-cert"]
        if self["tls-key"] is not None:
            sections.setdefault("socket", {})["ssl_private_key"] = self["tls-key"]
        if self["database"] is not None:
            sections.setdefault("database", {})["address"] = self["database"]
        if self["cluster"] is not None:
            sections.setdefault("cluster", {})["redis"] = self["cluster"]
        if self["runtime-env"] is not None:
            pairs = [p for p in self["runtime-env"].split(",") if p]
            sections.setdefault("runtime", {})["env"] = parse_env_pairs(pairs, "--runtime-env")
        # Values of several Config fields, by name: checked by update_section and validate.
        changes: dict[str, Any] = {
            section: update_section(getattr(config, section), section, values)
            for section, values in sections.items()
        }
        if self["data-dir"] is not None:
            changes["data_dir"] = self["data-dir"]
        if self["node"] is not None:
            changes["name"] = self["node"]
        for option, key in (("shutdown-grace-sec", "shutdown_grace_sec"), ("workers", "workers")):
            if self[option] is not None:
                try:
                    changes[key] = int(self[option])
                except ValueError:
                    raise ConfigError(f"{key} must be an integer") from None
        config = dataclasses.replace(config, **changes).validate()
        config = dataclasses.replace(config, listen=tuple(listeners(config, self["listen"])))
        check_listeners(config.listen)
        for own in (config.metrics_listen(), config.console_listen()):
            if own:
                check_listeners((own,))
        if config.workers > 1:
            for description in config.listen:
                check_shared(description)
            workers = range(1, config.workers + 1)
            if config.metrics_listen():  # each worker's own port, from the configured one
                check_listeners(tuple(worker_config(config, i).metrics_listen() for i in workers))
            if config.console_listen():
                check_listeners(tuple(worker_config(config, i).console_listen() for i in workers))
        return config


def listeners(config: Config, given: list[str]) -> list[str]:
    """The endpoint descriptions to serve: given ones, else the config's port; with TLS
    configured, plain ``tcp:`` listeners become ``ssl:`` ones."""
    descriptions = list(given) or [f"tcp:{config.socket.port}"]
    cert, key = config.socket.ssl_certificate, config.socket.ssl_private_key
    if not cert:
        return descriptions
    for path in (cert, key):
        if not os.access(path, os.R_OK):
            raise ConfigError(f"TLS file {path} cannot be read")
    tls = f":privateKey={quoteStringArgument(key)}:certKey={quoteStringArgument(cert)}"
    return ["ssl:" + d[len("tcp:") :] + tls if d.startswith("tcp:") else d for d in descriptions]


def check_listeners(descriptions: tuple[str, ...]) -> None:
    """Parse every endpoint description now, so a typo fails startup with its reason."""
    from twisted.internet import reactor

    for description in descriptions:
        check_description(description, reactor)


def makeService(options: Options):  # noqa: N802 (twistd's name)
    config: Config = options["nakama_config"]
    observer = None
    if config.logger.format == "json" and options.parent is not None:
        observer = json_file_observer(twistd_log_file(options.parent))
    startup = TwistdStartup(options.parent if options.parent is not None else {})
    if config.workers > 1:
        return Supervisor(config, log_observer=observer, startup=startup)
    return NakamaService(config, log_observer=observer, startup=startup)


class TwistdStartup:
    """Reports the outcome of startup the way twistd's own failures are reported.

    The database opens and the ports are bound after twistd has started the service,
    so the service takes twistd's status pipe (its daemonising parent waits on it)
    and answers on it itself once it knows; a failed start ends the process with
    exit status 1 instead of twistd's 0 after a clean reactor stop.
    """

    def __init__(self, twistd_options: MutableMapping[str, Any]) -> None:
        self._options = twistd_options
        self._pipe: int | None = None

    def hold(self) -> None:
        self._pipe = take_twistd_status_pipe(self._options)

    def ready(self) -> None:
        self._answer(None)

    def failed(self, message: str) -> None:
        atexit.register(_exit_with_status, 1)
        self._answer(_shorten(message, TWISTD_STATUS_MESSAGE_BYTES))

    def _answer(self, failure: str | None) -> None:
        if self._pipe is None:
            return
        pipe, self._pipe = self._pipe, None
        answer_twistd_status_pipe(pipe, failure)


def _shorten(message: str, limit: int) -> str:
    """``message`` within ``limit`` UTF-8 bytes, cut between words."""
    if len(message.encode()) <= limit:
        return message
    words: list[str] = []
    for word in message.split(" "):
        if len(" ".join([*words, word, "..."]).encode()) > limit:
            break
        words.append(word)
    return " ".join([*words, "..."])


def _exit_with_status(status: int) -> None:
    """Registered last with atexit, so it runs first once twistd has finished its
    own clean-up (pid file, log observers): flush what is written and end."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(status)


def twistd_log_file(twistd_options: Mapping[str, Any]) -> IO[Any]:
    """The file twistd would write its text log to, for the JSON log to go to instead:
    stdout with ``-n`` (and no ``--logfile``) or ``--logfile=-``, else ``--logfile``
    (default ``twistd.log``), rotated on SIGUSR1 as twistd does."""
    name = twistd_options.get("logfile") or ""
    if name == "-" or (not name and twistd_options.get("nodaemon")):
        return sys.stdout
    log_file = LogFile.fromFullPath(name or "twistd.log")
    if hasattr(signal, "SIGUSR1") and not signal.getsignal(signal.SIGUSR1):

        def rotate(signum: int, frame: Any) -> None:
            from twisted.internet import reactor

            IReactorFromThreads(reactor).callFromThread(log_file.rotate)

        signal.signal(signal.SIGUSR1, rotate)
    return log_file
