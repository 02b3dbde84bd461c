"""What the console shows, read from the server's own registries and counts (the same
ones the Prometheus metrics read, so the two never disagree)."""

from __future__ import annotations

import dataclasses
import os
import resource
from collections.abc import Sized
from dataclasses import dataclass
from typing import Any, cast

from nakama_rt.cluster.node import ClusterNode
from nakama_rt.config import Config, redact_address
from nakama_rt.core.refs import MatchFilter
from nakama_rt.core.tracker import StreamMode
from nakama_rt.realtime.match import listing
from nakama_rt.realtime.server import RealtimeServer
from nakama_rt.realtime.status import status_stream
from nakama_rt.socket.resume import ParkedSessions

#: The close code and reason a session disconnected from the console gets.
DISCONNECT_CODE = 1000
DISCONNECT_REASON = "disconnected by an operator"
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@dataclass(frozen=True)
class ConsoleSource:
    """The parts of one server the console reads and acts on."""

    config: Config
    server: RealtimeServer
    cluster: ClusterNode | None = None
    parking: ParkedSessions | None = None


def process_figures() -> dict[str, float]:
    """This process's CPU seconds so far and resident memory in bytes."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    rss = 0
    try:
        with open("/proc/self/statm", "rb") as statm:
            rss = int(statm.read().split()[1]) * _PAGE
    except OSError:
        rss = usage.ru_maxrss * 1024  # (the peak, where /proc is not)
    return {"cpu_seconds": usage.ru_utime + usage.ru_stime, "rss_bytes": rss}


def overview(source: ConsoleSource) -> dict[str, Any]:
    """The overview's figures: totals (the page turns counters into rates)."""
    server = source.server
    counts = server.counts
    closes: dict[str, int] = {}
    for (code, reason), total in list(counts.closes.items()):
        key = f"{code} {reason}"
        closes[key] = closes.get(key, 0) + total
    figures: dict[str, Any] = {
        "node": source.config.name,
        "sessions": len(server.sessions),
        # (both trackers count their presences; ITracker does not declare it)
        "presences": len(cast(Sized, server.tracker)),
        "relayed_matches": len(server.tracker.streams_by_mode(StreamMode.MATCH_RELAYED)),
        "authoritative_matches": len(server.match_registry),
        "parties": len(server.parties),
        "tickets": len(server.matchmaker),
        "messages_in": sum(counts.messages_in.values()),
        "messages_out": sum(counts.messages_out.values()),
        "errors": {str(code): total for code, total in sorted(counts.errors.items())},
        "closes": dict(sorted(closes.items())),
        "parked_sessions": len(source.parking) if source.parking is not None else None,
        **process_figures(),
    }
    if source.cluster is not None:
        figures["nodes"] = sorted({source.config.name, *source.cluster.known_nodes()})
    return figures


_STREAM_KINDS: dict[int, str] = {
    StreamMode.CHANNEL: "channel",
    StreamMode.GROUP: "group",
    StreamMode.DM: "dm",
    StreamMode.MATCH_RELAYED: "match",
    StreamMode.MATCH_AUTHORITATIVE: "match",
    StreamMode.PARTY: "party",
    StreamMode.STATUS: "status",
}


def find_sessions(source: ConsoleSource, query: str, limit: int = 50) -> list[dict[str, Any]]:
    """This node's sessions whose id or user id is ``query``, or whose username
    contains it (any case); with what each is in."""
    query = query.strip()
    lowered = query.lower()
    server = source.server
    kept = source.parking.kept_until() if source.parking is not None else {}
    now = source.server.clock.seconds() if kept else 0.0
    found = []
    for session in server.sessions:
        if query and not (
            session.id == query or session.user_id == query or lowered in session.username.lower()
        ):
            continue
        held: dict[str, list[str]] = {}
        for stream in server.tracker.streams_by_session(session.id):
            kind = _STREAM_KINDS.get(stream.mode)
            if kind is not None:
                name = stream.label or stream.subject
                if stream.mode in (StreamMode.MATCH_AUTHORITATIVE, StreamMode.PARTY):
                    name = f"{stream.subject}.{stream.label}"
                elif stream.mode == StreamMode.MATCH_RELAYED:
                    name = f"{stream.subject}."
                held.setdefault(kind, []).append(name)
        requester = session.requester
        found.append(
            {
                "node": source.config.name,
                "session_id": session.id,
                "user_id": session.user_id,
                "username": session.username,
                "format": session.format.value,
                "address": requester.client_ip,
                "online": "status" in held,
                # Seconds its dropped connection may still be resumed in, or None.
                "kept_for": (
                    round(max(0.0, kept[session.id] - now), 1) if session.id in kept else None
                ),
                "status": _status(source, session.id, session.user_id),
                "following": _following(source, session.id, session.user_id),
                "channels": held.get("channel", []) + held.get("group", []) + held.get("dm", []),
                "matches": held.get("match", []),
                "parties": held.get("party", []),
                "tickets": server.matchmaker.tickets_of(session.id),
            }
        )
        if len(found) >= limit:
            break
    return found


def _status(source: ConsoleSource, session_id: str, user_id: str) -> str | None:
    """The status the session set (None while it shows none: not appearing online)."""
    presence = source.server.tracker.get_by_stream(session_id, status_stream(user_id))
    return presence.meta.status if presence is not None else None


def _following(source: ConsoleSource, session_id: str, own: str) -> list[str]:
    """The other users whose status the session follows (every session follows its
    own user): a username while that user is online anywhere, else the user id."""
    tracker = source.server.tracker
    shown = []
    for user_id in sorted(source.server.status.following(session_id) - {own}):
        online = tracker.list_by_stream(status_stream(user_id), True, True)
        shown.append(f"{online[0].meta.username} (online)" if online else user_id)
    return shown


def disconnect_session(source: ConsoleSource, session_id: str) -> str | None:
    """Close this node's session ``session_id`` with the console's reason; its
    username, or None when no such session is here."""
    session = source.server.sessions.get(session_id)
    if session is None:
        return None
    session.close(DISCONNECT_REASON, DISCONNECT_CODE)
    return session.username


def end_match(source: ConsoleSource, match_id: str, grace: int) -> bool:
    """End this node's authoritative match ``match_id`` (``match_terminate`` with
    ``grace`` seconds first); False when no such match is here."""
    subject, _, node = match_id.partition(".")
    registry = source.server.match_registry
    return node == registry.node and registry.end(subject, grace)


def list_matches(
    source: ConsoleSource, query: str = "", relayed: bool = True
) -> list[dict[str, Any]]:
    """This node's authoritative matches and (``relayed``) the relayed matches it
    knows: in a cluster, every node's. With a ``query`` (the syntax of ``GET
    /v2/match``'s, over labels), the authoritative ones it selects. A bad query raises
    :class:`~nakama_rt.query.QueryError`."""
    server = source.server
    selected: set[str] | None = None
    if query.strip():
        wanted = MatchFilter(limit=100, authoritative=True, query=query)
        listed = listing.list_matches(server.match_registry, server.tracker, wanted)
        selected = {match.match_id for match in listed}
    found: list[dict[str, Any]] = []
    for match in server.match_registry:
        members = match.members()
        found.append(
            {
                "match_id": match.id,
                "kind": "authoritative",
                "label": match.label,
                "handler": match.handler_name,
                "tick_rate": match.tick_rate,
                "size": len(members),
                "presences": sorted(p.meta.username for p in members),
                "node": match.node,
            }
        )
    relayed_streams = server.tracker.streams_by_mode(StreamMode.MATCH_RELAYED) if relayed else []
    for stream, size in relayed_streams:
        members = server.tracker.list_by_stream(stream, True, True)
        found.append(
            {
                "match_id": f"{stream.subject}.",
                "kind": "relayed",
                "label": "",
                "handler": "",
                "tick_rate": 0,
                "size": size,
                "presences": sorted(p.meta.username for p in members),
                "node": "",
            }
        )
    if selected is not None:
        found = [m for m in found if m["match_id"] in selected]
    return found


def list_tickets(source: ConsoleSource, now: float) -> list[dict[str, Any]]:
    """The matchmaker's tickets (every node's in a cluster), oldest first."""
    pool = source.server.matchmaker.pool
    tickets = sorted(pool.tickets.values(), key=lambda t: t.created_at)
    listed = []
    for ticket in tickets:
        data = ticket.data
        listed.append(
            {
                "ticket": ticket.id,
                "users": [p[2] for p in data.presences],
                "party_id": data.party_id,
                "query": data.query,
                "counts": f"{data.min_count}-{data.max_count}",
                "properties": {**data.string_properties, **data.numeric_properties},
                "age_seconds": round(max(0.0, now - data.created_at / 1e9), 1),
            }
        )
    return listed


def list_parties(source: ConsoleSource) -> list[dict[str, Any]]:
    """This node's parties, hidden ones included."""
    listed = []
    for party in source.server.parties:
        members = list(party.members.values())
        listed.append(
            {
                "party_id": party.id,
                "node": source.config.name,
                "open": party.open,
                "hidden": party.hidden,
                "max_size": party.max_size,
                "label": party.label,
                "leader": party.leader.username if party.leader is not None else "",
                "members": sorted(m.username for m in members),
                "join_requests": len(party.join_requests),
            }
        )
    return listed


_CHAT_MODES = {StreamMode.CHANNEL: "room", StreamMode.GROUP: "group", StreamMode.DM: "direct"}


def list_channels(source: ConsoleSource) -> list[dict[str, Any]]:
    """The chat channels with members (on every node, as the tracker knows them),
    with when this node last sent one a message (epoch seconds, or None)."""
    tracker = source.server.tracker
    last_message_at = source.server.channels.last_message_at
    listed = []
    for mode, kind in _CHAT_MODES.items():
        for stream, count in tracker.streams_by_mode(mode):
            name = stream.label or (
                f"{stream.subject} / {stream.subcontext}" if stream.subcontext else stream.subject
            )
            listed.append(
                {
                    "kind": kind,
                    "name": name,
                    "presences": count,
                    "last_message_at": last_message_at.get(stream),
                }
            )
    return sorted(listed, key=lambda c: (-c["presences"], c["kind"], c["name"]))


def runtime_summary(source: ConsoleSource) -> dict[str, list[str]]:
    """What the game code loaded and registered."""
    runtime = source.server.runtime
    registered = runtime.initializer
    events = []
    if registered.matchmaker_matched is not None:
        events.append("matchmaker_matched")
    if registered.matchmaker_override is not None:
        events.append("matchmaker_override")
    events += ["session_start"] * bool(registered.session_start)
    events += ["session_end"] * bool(registered.session_end)
    events += ["event"] * bool(registered.events)
    return {
        "modules": list(runtime.modules),
        "rpcs": sorted(registered.rpcs),
        "match handlers": sorted(registered.matches),
        "before socket hooks": sorted(registered.before_rt),
        "after socket hooks": sorted(registered.after_rt),
        "before API hooks": sorted(registered.before_api),
        "after API hooks": sorted(registered.after_api),
        "other functions": events,
    }


#: Words in a config key whose value the console never shows.
_SECRET_WORDS = ("key", "password", "secret")


def redacted_config(config: Config) -> list[tuple[str, str]]:
    """Every configuration key and its value, secrets replaced and the database
    address without its password."""
    rows: list[tuple[str, str]] = []
    for name, value in sorted(dataclasses.asdict(config).items()):
        values = value.items() if isinstance(value, dict) and name != "listen" else [("", value)]
        for key, item in values:
            full = f"{name}.{key}" if key else name
            if any(word in key for word in _SECRET_WORDS) and item:
                shown = "(redacted)"
            elif full == "runtime.env":
                shown = ", ".join(f"{k}=(redacted)" for k in item) or "{}"
            elif full == "database.address":
                shown = redact_address(str(item))
            else:
                shown = str(list(item) if isinstance(item, tuple) else item)
            rows.append((full, shown))
    return rows
