"""nakama-rt: a realtime game server for Python that speaks Nakama's socket protocol.

The public API for embedding: :class:`NakamaRT` (the server's parts and the
twisted.web resources to mount) and :class:`Config` (Nakama's settings).
"""

from nakama_rt.app import NakamaRT
from nakama_rt.config import Config, ConfigError

__all__ = ["Config", "ConfigError", "NakamaRT"]
