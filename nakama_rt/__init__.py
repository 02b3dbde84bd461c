"""nakama-rt: a realtime game server for Python that speaks Nakama's socket protocol.

The public API for embedding: :class:`NakamaRT` (the server's parts and the
twisted.web resources to mount) and :class:`Config` (Nakama's settings), built in
code from its section types (:class:`SocketConfig`, :class:`SessionConfig`,
:class:`RuntimeConfig`...) and/or read from a Nakama-style YAML file with
:func:`load_config_file`. Invalid settings raise :class:`ConfigError`.
``examples/embed.py`` puts them together.
"""

from nakama_rt._version import __version__
from nakama_rt.app import NakamaRT
from nakama_rt.config import (
    Config,
    ConfigError,
    DatabaseConfig,
    LoggerConfig,
    MatchmakerConfig,
    MetricsConfig,
    RuntimeConfig,
    SessionConfig,
    SocketConfig,
    load_config_file,
)

__all__ = [
    "Config",
    "ConfigError",
    "DatabaseConfig",
    "LoggerConfig",
    "MatchmakerConfig",
    "MetricsConfig",
    "NakamaRT",
    "RuntimeConfig",
    "SessionConfig",
    "SocketConfig",
    "__version__",
    "load_config_file",
]
