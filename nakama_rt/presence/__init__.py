"""Presence core: who is where (tracker), who is connected (registry), delivery (router)."""

from nakama_rt.presence.registry import SessionDirectory, SessionRegistry
from nakama_rt.presence.router import IRouter, LocalRouter, Routable
from nakama_rt.presence.tracker import (
    ITracker,
    LocalTracker,
    Presence,
    PresenceMeta,
    PresenceReason,
    PresenceStream,
    StreamMode,
)

__all__ = [
    "IRouter",
    "ITracker",
    "LocalRouter",
    "LocalTracker",
    "Presence",
    "PresenceMeta",
    "PresenceReason",
    "PresenceStream",
    "Routable",
    "SessionDirectory",
    "SessionRegistry",
    "StreamMode",
]
