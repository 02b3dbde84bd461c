"""One frozen configuration object, with Nakama's key names and defaults.

A Nakama user should find what they know: the YAML file uses the sections and
keys of Nakama's own config (``socket.ping_period_ms``, ``session.token_expiry_sec``
...). Command-line options are applied on top of the file by :mod:`nakama_rt.tap`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson
import yaml


class ConfigError(ValueError):
    """The configuration is invalid; the message says which key and why."""


@dataclass(frozen=True)
class SocketConfig:
    server_key: str = "defaultkey"
    port: int = 7350
    max_message_size_bytes: int = 4096
    max_request_size_bytes: int = 262_144
    write_wait_ms: int = 5000
    close_ack_wait_ms: int = 2000
    pong_wait_ms: int = 25000
    ping_period_ms: int = 15000
    ping_backoff_threshold: int = 20
    outgoing_queue_size: int = 64
    #: HTTP: a request's head and body must arrive within this (from its first byte).
    read_timeout_ms: int = 10_000
    #: HTTP: a keep-alive connection waiting for its next request closes after this.
    idle_timeout_ms: int = 60_000
    #: HTTP and sockets: connections at once from one client address, 0 for no cap
    #: (ours; loopback and private addresses are exempt unless
    #: ``exempt_private_addresses`` is false: see nakama_rt.web.limits).
    max_connections_per_address: int = 1000
    # The limits below are ours (Nakama has none) and off (0) by default; what a
    # client sees when it exceeds one: nakama_rt.core.limits and the README.
    #: Messages a second one socket may send, on average (0: no limit), with bursts
    #: of up to ``message_burst`` (0: one second's worth).
    max_messages_per_sec: int = 0
    message_burst: int = 0
    #: Sockets one user may hold at once, on every node (0: no limit).
    max_sockets_per_user: int = 0
    #: Parties one user may create a minute (0: no limit).
    max_party_creations_per_minute: int = 0
    #: ``/ws`` upgrade requests a second from one client address, in bursts of as
    #: many (0: no limit); over it, 429.
    max_upgrades_per_sec_per_address: int = 0
    #: Connections from one client address still sending their first request (a
    #: socket's is its upgrade), at once (0: no limit); over it, 429.
    max_concurrent_upgrades_per_address: int = 0
    #: Loopback and private-use addresses are exempt from the per-address limits
    #: (a reverse proxy or load balancer gives every client its own address).
    exempt_private_addresses: bool = True
    ssl_certificate: str = ""
    ssl_private_key: str = ""


@dataclass(frozen=True)
class SessionConfig:
    encryption_key: str = "defaultencryptionkey"
    token_expiry_sec: int = 60
    refresh_encryption_key: str = "defaultrefreshencryptionkey"
    refresh_token_expiry_sec: int = 3600
    single_socket: bool = False
    single_session: bool = False
    #: A user is in one party at most: joining one leaves the others (needs single_socket).
    single_party: bool = False
    #: Ours: how long a socket that dropped without a close frame keeps its presences,
    #: tickets and parties for a new socket with the same token to take over (0: off,
    #: Nakama's behaviour; see nakama_rt.socket.resume).
    resume_grace_ms: int = 0
    #: Ours: messages kept for a dropped socket to replay on resume; past it, the
    #: session ends with the usual leave events instead of a partial replay.
    resume_buffer: int = 256


@dataclass(frozen=True)
class DatabaseConfig:
    #: ``sqlite:PATH`` or a ``postgresql://`` URL; empty means SQLite in the data dir.
    address: str = ""


@dataclass(frozen=True)
class RuntimeConfig:
    http_key: str = "defaulthttpkey"
    path: str = ""
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MatchmakerConfig:
    max_tickets: int = 3
    interval_sec: int = 15
    max_intervals: int = 2
    rev_precision: bool = False
    rev_threshold: int = 1
    #: Ours: tickets one user may be in at once, over all its sockets and parties
    #: (0: no limit; ``max_tickets`` is Nakama's per session or party).
    max_tickets_per_user: int = 0


@dataclass(frozen=True)
class LoggerConfig:
    level: str = "info"
    #: How twistd writes log events: ``text`` lines or one ``json`` object a line.
    format: str = "text"


_LOG_LEVELS = ("debug", "info", "warn", "error")
_LOG_FORMATS = ("text", "json")


@dataclass(frozen=True)
class MetricsConfig:
    """Where ``GET /metrics`` (Prometheus) is served; off unless one is set."""

    #: Nakama's key: serve on this port, every interface (0: off).
    prometheus_port: int = 0
    #: A Twisted endpoint description (``tcp:9100:interface=127.0.0.1``); wins over the port.
    listen: str = ""


@dataclass(frozen=True)
class ConsoleConfig:
    """The operator console (``nakama_rt.console``): off unless a listener is set."""

    #: A Twisted endpoint description (``tcp:7351:interface=127.0.0.1``); wins over the port.
    listen: str = ""
    #: Nakama's key: serve on this port, every interface (0: off; Nakama's default is 7351).
    port: int = 0
    username: str = "admin"
    password: str = "password"
    #: Seconds a login lasts (Nakama's default).
    token_expiry_sec: int = 86400
    #: Signs the console's session cookie.
    signing_key: str = "defaultsigningkey"


def without_password(url: str) -> str:
    """``url`` as it may be shown (logs, errors): a password in it becomes ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


#: The longest wait between PUBLISH commands: past it, messages between players would
#: lag more than any game allows.
MAX_PUBLISH_GAP_MS = 100


@dataclass(frozen=True)
class ClusterConfig:
    """One server over processes and machines (off unless ``redis`` is set)."""

    #: ``redis://[[user]:password@]host:port/db`` (``rediss://`` with TLS): the Redis
    #: the nodes of one cluster share.
    redis: str = ""
    #: Seconds a node stays listed without a heartbeat (it renews at a third of that).
    node_ttl_sec: int = 10
    #: Milliseconds between two PUBLISH from this node to another, at least: what it
    #: sends another meanwhile goes together. Lower is faster across nodes and costs
    #: more CPU (0: a PUBLISH every reactor turn that has something to send).
    publish_gap_ms: float = 2.0


@dataclass(frozen=True)
class Config:
    #: The node's name, as Nakama's: the ``.node`` of match and party ids, and this
    #: process's name in a cluster.
    name: str = "nakama"
    data_dir: str = "./data"
    #: Seconds authoritative matches get to finish (match_terminate) on shutdown.
    shutdown_grace_sec: int = 0
    #: Server processes on this machine (``twistd nakama-rt`` only): above 1, the
    #: twistd process supervises that many nodes of ``cluster.redis`` sharing its ports.
    workers: int = 1
    listen: tuple[str, ...] = ("tcp:7350",)
    socket: SocketConfig = field(default_factory=SocketConfig)
    session: SessionConfig = field(default_factory=SessionConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    matchmaker: MatchmakerConfig = field(default_factory=MatchmakerConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    console: ConsoleConfig = field(default_factory=ConsoleConfig)

    def console_listen(self) -> str:
        """The endpoint description to serve the console on, or "" for none."""
        if self.console.listen:
            return self.console.listen
        port = self.console.port
        return f"tcp:{port}" if port else ""

    def database_address(self) -> str:
        """The database to open: the configured one, else SQLite in the data dir."""
        if self.database.address:
            return self.database.address
        return f"sqlite:{self.data_dir.rstrip('/')}/nakama-rt.sqlite3"

    def metrics_listen(self) -> str:
        """The endpoint description to serve metrics on, or "" for none."""
        if self.metrics.listen:
            return self.metrics.listen
        port = self.metrics.prometheus_port
        return f"tcp:{port}" if port else ""

    def validate(self) -> Config:
        """Raise :class:`ConfigError` on values Nakama would refuse; return self."""
        sock = self.socket
        for name in (
            "max_message_size_bytes",
            "max_request_size_bytes",
            "write_wait_ms",
            "close_ack_wait_ms",
            "pong_wait_ms",
            "ping_period_ms",
            "outgoing_queue_size",
            "read_timeout_ms",
            "idle_timeout_ms",
        ):
            if getattr(sock, name) < 1:
                raise ConfigError(f"socket.{name} must be greater than 0")
        if sock.max_connections_per_address < 0:
            raise ConfigError("socket.max_connections_per_address must be 0 (no cap) or more")
        for name in (
            "max_messages_per_sec",
            "message_burst",
            "max_sockets_per_user",
            "max_party_creations_per_minute",
            "max_upgrades_per_sec_per_address",
            "max_concurrent_upgrades_per_address",
        ):
            if getattr(sock, name) < 0:
                raise ConfigError(f"socket.{name} must be 0 (no limit) or more")
        if sock.ping_backoff_threshold < 1:
            raise ConfigError("socket.ping_backoff_threshold must be greater than 0")
        if sock.ping_period_ms >= sock.pong_wait_ms:
            raise ConfigError("socket.ping_period_ms must be less than socket.pong_wait_ms")
        if not 0 <= sock.port <= 65535:
            raise ConfigError(f"socket.port must be between 0 and 65535, not {sock.port}")
        if not sock.server_key:
            raise ConfigError("socket.server_key must be set")
        if bool(sock.ssl_certificate) != bool(sock.ssl_private_key):
            raise ConfigError(
                "socket.ssl_certificate and socket.ssl_private_key must be set together"
            )
        sess = self.session
        if not sess.encryption_key or not sess.refresh_encryption_key:
            raise ConfigError("session encryption keys must be set")
        if sess.token_expiry_sec < 1 or sess.refresh_token_expiry_sec < 1:
            raise ConfigError("session token expiries must be greater than 0")
        if sess.resume_grace_ms < 0:
            raise ConfigError("session.resume_grace_ms must be 0 (off) or more")
        if sess.resume_buffer < 1:
            raise ConfigError("session.resume_buffer must be greater than 0")
        if sess.single_party and not sess.single_socket:
            # Nakama's rule: one party per user needs one socket per user.
            raise ConfigError(
                "session.single_party cannot be enabled without session.single_socket"
            )
        mm = self.matchmaker
        for name in ("max_tickets", "interval_sec", "max_intervals"):
            if getattr(mm, name) < 1:
                raise ConfigError(f"matchmaker.{name} must be >= 1")
        if mm.rev_threshold < 0:
            raise ConfigError("matchmaker.rev_threshold must be >= 0")
        if mm.max_tickets_per_user < 0:
            raise ConfigError("matchmaker.max_tickets_per_user must be 0 (no limit) or more")
        if self.logger.level not in _LOG_LEVELS:
            raise ConfigError(f"logger.level must be one of {', '.join(_LOG_LEVELS)}")
        if self.logger.format not in _LOG_FORMATS:
            raise ConfigError(f"logger.format must be one of {', '.join(_LOG_FORMATS)}")
        console = self.console
        if not 0 <= console.port <= 65535:
            raise ConfigError("console.port must be between 0 and 65535")
        if console.token_expiry_sec < 1:
            raise ConfigError("console.token_expiry_sec must be greater than 0")
        for name in ("username", "password", "signing_key"):
            if not getattr(console, name):
                raise ConfigError(f"console.{name} must be set")
        if not 0 <= self.metrics.prometheus_port <= 65535:
            raise ConfigError("metrics.prometheus_port must be between 0 and 65535")
        if not self.listen:
            raise ConfigError("at least one listener is required")
        if not self.name or not all(c.isalnum() or c in "-_" for c in self.name):
            raise ConfigError(
                f"name must be letters, digits, '-' or '_' (it ends match ids), not {self.name!r}"
            )
        if self.cluster.node_ttl_sec < 1:
            raise ConfigError("cluster.node_ttl_sec must be greater than 0")
        if not 0 <= self.cluster.publish_gap_ms <= MAX_PUBLISH_GAP_MS:
            raise ConfigError(
                f"cluster.publish_gap_ms must be from 0 to {MAX_PUBLISH_GAP_MS}, "
                f"not {self.cluster.publish_gap_ms}"
            )
        if self.cluster.redis and not self.cluster.redis.startswith(("redis://", "rediss://")):
            shown = without_password(self.cluster.redis)
            raise ConfigError(f"cluster.redis must be a redis:// (or rediss://) URL, not {shown!r}")
        if self.shutdown_grace_sec < 0:
            raise ConfigError("shutdown_grace_sec must be 0 or more")
        if self.workers < 1:
            raise ConfigError(f"workers must be 1 or more, not {self.workers}")
        if self.workers > 1 and not self.cluster.redis:
            raise ConfigError(
                "workers above 1 need a cluster for their nodes: "
                "give --cluster redis://host:port/db (cluster.redis)"
            )
        db = self.database_address()
        if not (db.startswith("sqlite:") or db.startswith(("postgresql://", "postgres://"))):
            raise ConfigError(f"database {db!r} must be sqlite:PATH or a postgresql:// URL")
        return self


#: (config key, command-line option, Nakama's default) for the keys that guard access.
_DEFAULT_KEYS = (
    ("socket.server_key", "--server-key", SocketConfig.server_key),
    ("session.encryption_key", "--encryption-key", SessionConfig.encryption_key),
    (
        "session.refresh_encryption_key",
        "--refresh-encryption-key",
        SessionConfig.refresh_encryption_key,
    ),
    ("runtime.http_key", "--http-key", RuntimeConfig.http_key),
    ("console.password", "--console-password", ConsoleConfig.password),
    ("console.signing_key", "--console-signing-key", ConsoleConfig.signing_key),
)


def redact_address(address: str) -> str:
    """Hide a password in a database URL before logging it."""
    scheme, sep, rest = address.partition("://")
    if not sep or "@" not in rest:
        return address
    credentials, _, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}@{host}"


def insecure_defaults(config: Config) -> list[tuple[str, str]]:
    """(config key, option) of every key still at Nakama's published default, which
    anyone can use to sign tokens or call the server; Nakama warns about each."""
    found = []
    for key, option, default in _DEFAULT_KEYS:
        section, _, name = key.partition(".")
        if section == "console" and not config.console_listen():
            continue  # (no console served)
        if getattr(getattr(config, section), name) == default:
            found.append((key, option))
    return found


_SECTIONS = {
    "cluster": ClusterConfig,
    "console": ConsoleConfig,
    "socket": SocketConfig,
    "session": SessionConfig,
    "database": DatabaseConfig,
    "runtime": RuntimeConfig,
    "matchmaker": MatchmakerConfig,
    "logger": LoggerConfig,
    "metrics": MetricsConfig,
}


def _coerce(section: str, key: str, kind: Any, value: Any) -> Any:
    where = f"{section}.{key}"
    if kind is bool or kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ConfigError(f"{where} must be true or false, not {value!r}")
    if kind is int or kind == "int":
        if isinstance(value, bool):
            raise ConfigError(f"{where} must be an integer, not {value!r}")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where} must be an integer, not {value!r}") from None
    if kind is float or kind == "float":
        if isinstance(value, bool):
            raise ConfigError(f"{where} must be a number, not {value!r}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where} must be a number, not {value!r}") from None
        if not math.isfinite(number):
            raise ConfigError(f"{where} must be a number, not {value!r}")
        return number
    if kind is str or kind == "str":
        if isinstance(value, (dict, list)):
            raise ConfigError(f"{where} must be a string, not {value!r}")
        return "" if value is None else str(value)
    if section == "runtime" and key == "env":
        if isinstance(value, Mapping):
            return {str(k): str(v) for k, v in value.items()}
        if isinstance(value, list):
            return parse_env_pairs(value, where)
        raise ConfigError(f"{where} must be a mapping or a list of KEY=VALUE")
    return value


def parse_env_pairs(items: list[Any], where: str = "runtime.env") -> dict[str, str]:
    """``["a=1", "b=2"]`` (Nakama's form of runtime.env) to a dict."""
    env: dict[str, str] = {}
    for item in items:
        key, sep, value = str(item).partition("=")
        if not sep or not key:
            raise ConfigError(f"{where} entry {item!r} must look like KEY=VALUE")
        env[key] = value
    return env


def update_section(section_obj: Any, section: str, values: Mapping[str, Any]) -> Any:
    """Return ``section_obj`` with ``values`` applied, checking names and types."""
    known = {f.name: f.type for f in fields(section_obj)}
    changes = {}
    for key, value in values.items():
        if key not in known:
            raise ConfigError(f"unknown configuration key {section}.{key}")
        changes[key] = _coerce(section, key, known[key], value)
    return replace(section_obj, **changes)


def config_from_mapping(data: Mapping[str, Any], base: Config | None = None) -> Config:
    """Build a config from a parsed YAML mapping of Nakama-style sections."""
    config = base or Config()
    if not isinstance(data, Mapping):
        raise ConfigError("the configuration file must hold a mapping of sections")
    top: dict[str, Any] = {}
    for key, value in data.items():
        if key in _SECTIONS:
            if value is None:
                continue
            if not isinstance(value, Mapping):
                raise ConfigError(f"configuration section {key} must be a mapping")
            top[key] = update_section(getattr(config, key), key, value)
        elif key == "name":
            top["name"] = str(value)
        elif key == "data_dir":
            top["data_dir"] = str(value)
        elif key in ("shutdown_grace_sec", "workers"):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"{key} must be an integer, not {value!r}")
            top[key] = value
        else:
            raise ConfigError(f"unknown configuration key {key}")
    return dataclasses.replace(config, **top)


def config_as_json(config: Config) -> bytes:
    """``config`` whole, as JSON: how a supervisor hands its workers the very
    configuration it was started with (:func:`config_from_json` reads it back)."""
    return orjson.dumps(dataclasses.asdict(config))


def config_from_json(data: bytes | str) -> Config:
    """The :class:`Config` that :func:`config_as_json` wrote."""
    values = orjson.loads(data)
    for name, kind in _SECTIONS.items():
        values[name] = kind(**values[name])
    values["listen"] = tuple(values["listen"])
    return Config(**values)


def load_config_file(path: str, base: Config | None = None) -> Config:
    """Read a Nakama-style YAML config file."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle) or {}
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    return config_from_mapping(data, base)
