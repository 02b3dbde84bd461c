"""The cluster's tracker: this node's presences, and a copy of every other node's.

Behind :class:`~nakama_rt.core.tracker.ITracker`, so the features do not know they run
in a cluster. Local changes go through a :class:`~nakama_rt.core.tracker.LocalTracker`
and are told to every other node (one message per change, batched per reactor turn by
the bus); the other nodes' presences are kept in a replica that answers the reads (who
is on a stream, how many, on which node).

Every node runs the listeners (chat presence events, status follows, streams...) for
every change, its own and those it is told, and what they send reaches only this
node's sessions (:class:`HereOnly`): each member hears of a change from its own node,
so a member who joined on one node an instant before a change on another still hears
of it once the change is told, and a join costs one message per node, not an event
per node too. A node that joins asks the others for their presences (a sync); when a
node dies, every node runs the listeners with its presences' leaves
(:meth:`ClusterTracker.node_died`).

A match or party stream lives on the node in its label (:data:`HOME_LISTENER_MODES`):
its listener (the match handler, the party's rules) runs there only, for the changes
of every node, and what it sends reaches every member. Its members are still tracked
on the nodes of their sessions, as every presence is: the home node asks that node to
track or untrack one of its sessions, and a stream ended anywhere ends on every node.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson
from zope.interface import implementer

from nakama_rt.cluster.bus import ClusterBus
from nakama_rt.core.tracker import (
    ITracker,
    LocalTracker,
    Presence,
    PresenceListener,
    PresenceMeta,
    PresenceReason,
    PresenceStream,
    StreamMode,
    with_reason,
)

#: Modes whose listeners run on the stream's home node (its label), for every node's changes.
HOME_LISTENER_MODES = frozenset({StreamMode.MATCH_AUTHORITATIVE, StreamMode.PARTY})

#: Message kinds on the bus.
PRESENCES = b"P"  # a node's presence changes (or, to one node, all of them: a sync)
TRACK = b"T"  # track, update or untrack a session of the node this goes to


def stream_key(stream: PresenceStream) -> list[object]:
    """A stream as the nodes tell it each other (JSON), and back with ``PresenceStream(*key)``."""
    return [stream.mode, stream.subject, stream.subcontext, stream.label]


def _add_op(presence: Presence) -> list[object]:
    meta = presence.meta
    return [
        "+",
        presence.session_id,
        presence.user_id,
        *stream_key(presence.stream),
        meta.username,
        meta.format,
        meta.hidden,
        meta.persistence,
        meta.status,
    ]


class HereOnly:
    """Set while a listener runs that every node runs: the router then delivers what it
    sends to this node's sessions only (shared by the tracker and the router)."""

    __slots__ = ("depth",)

    def __init__(self) -> None:
        self.depth = 0

    def wrap(self, listener: PresenceListener) -> PresenceListener:
        def here_only(stream: PresenceStream, joins: list[Presence], leaves: list[Presence]):
            self.depth += 1
            try:
                listener(stream, joins, leaves)
            finally:
                self.depth -= 1

        return here_only


@implementer(ITracker)
class ClusterTracker:
    """Stream membership over the cluster. Reactor thread only."""

    def __init__(self, node: str, bus: ClusterBus, here_only: HereOnly) -> None:
        self.node = node
        self._here_only = here_only
        self.local = LocalTracker()
        self._bus = bus
        #: Other nodes' presences: by stream, then session id.
        self._remote: dict[PresenceStream, dict[str, Presence]] = {}
        #: Which node holds each remote session, and what it holds.
        self._node_of: dict[str, str] = {}
        self._by_remote_session: dict[str, set[PresenceStream]] = {}

    def __len__(self) -> int:
        """Presences of this node's sessions (the metrics' count)."""
        return len(self.local)

    @property
    def remote_count(self) -> int:
        """Presences of the other nodes' sessions, in the replica."""
        return sum(len(members) for members in self._remote.values())

    # Writes: local, then told to the other nodes

    def track(
        self, session_id: str, stream: PresenceStream, user_id: str, meta: PresenceMeta
    ) -> bool:
        node = self._node_of.get(session_id)
        if node is not None:
            # Another node's session (a member a match or party here lets in): that
            # node tracks it, and tells everyone. Taken as added.
            self._bus.send(
                node, TRACK, orjson.dumps(_add_op(Presence(session_id, user_id, stream, meta)))
            )
            return True
        added = self.local.track(session_id, stream, user_id, meta)
        if added:
            self._tell([_add_op(Presence(session_id, user_id, stream, meta))])
        return added

    def update(
        self, session_id: str, stream: PresenceStream, user_id: str, meta: PresenceMeta
    ) -> None:
        node = self._node_of.get(session_id)
        if node is not None:
            op = _add_op(Presence(session_id, user_id, stream, meta))
            op[0] = "~"
            self._bus.send(node, TRACK, orjson.dumps(op))
            return
        self.local.update(session_id, stream, user_id, meta)
        self._tell([_add_op(Presence(session_id, user_id, stream, meta))])

    def untrack(self, session_id: str, stream: PresenceStream, user_id: str) -> None:
        if self.local.get_by_stream(session_id, stream) is None:
            node = self._node_of.get(session_id)
            if node is not None:
                self._bus.send(node, TRACK, orjson.dumps(["-", session_id, *stream_key(stream)]))
            return
        self.local.untrack(session_id, stream, user_id)
        self._tell([["-", session_id, *stream_key(stream)]])

    def untrack_all(
        self, session_id: str, reason: PresenceReason = PresenceReason.DISCONNECT
    ) -> None:
        if not self.local.streams_by_session(session_id):
            return
        self.local.untrack_all(session_id, reason)
        self._tell([["x", session_id, int(reason)]])

    def untrack_by_stream(self, stream: PresenceStream) -> None:
        """Everyone leaves ``stream``, on every node (a match or party ends), at once as
        on one node: the other nodes' members are off it here before this node's leave
        events go out, so those reach nobody who is leaving too."""
        elsewhere = list(self._remote.get(stream, ()))
        for session_id in elsewhere:
            self._drop(session_id, stream, False)
        self._untrack_stream_here(stream)
        # A match's or party's member may be tracked on its node before this one heard.
        if elsewhere or stream.mode in HOME_LISTENER_MODES:
            self._tell([["s", *stream_key(stream)]])

    def _untrack_stream_here(self, stream: PresenceStream) -> None:
        held = self.local.session_ids_by_stream(stream)
        self.local.untrack_by_stream(stream)
        if held:
            self._tell([["-", session_id, *stream_key(stream)] for session_id in held])

    def add_listener(self, mode: int, listener: PresenceListener) -> None:
        if mode in HOME_LISTENER_MODES:
            listener = self._at_home(listener)
        else:
            listener = self._here_only.wrap(listener)
        self.local.add_listener(mode, listener)

    def _at_home(self, listener: PresenceListener) -> PresenceListener:
        """``listener``, heard only for the streams this node is home to."""
        node = self.node

        def at_home(stream: PresenceStream, joins: list[Presence], leaves: list[Presence]) -> None:
            if stream.label == node:
                listener(stream, joins, leaves)

        return at_home

    def _listens_here(self, stream: PresenceStream) -> bool:
        """Whether this node runs the listeners for another node's change of ``stream``."""
        return stream.mode not in HOME_LISTENER_MODES or stream.label == self.node

    def add_default_listener(self, listener: PresenceListener) -> None:
        self.local.add_default_listener(self._here_only.wrap(listener))

    # Reads: this node's presences and the replica together

    def list_by_stream(
        self, stream: PresenceStream, include_hidden: bool = True, include_not_hidden: bool = True
    ) -> list[Presence]:
        found = self.local.list_by_stream(stream, include_hidden, include_not_hidden)
        remote = self._remote.get(stream)
        if remote:
            found.extend(
                p
                for p in remote.values()
                if (include_hidden and include_not_hidden) or p.meta.hidden == include_hidden
            )
        return found

    def get_by_stream(self, session_id: str, stream: PresenceStream) -> Presence | None:
        presence = self.local.get_by_stream(session_id, stream)
        if presence is None:
            presence = self._remote.get(stream, {}).get(session_id)
        return presence

    def count_by_stream(self, stream: PresenceStream) -> int:
        return self.local.count_by_stream(stream) + len(self._remote.get(stream, ()))

    def session_ids_by_stream(self, stream: PresenceStream) -> list[str]:
        ids = self.local.session_ids_by_stream(stream)
        ids.extend(self._remote.get(stream, ()))
        return ids

    def streams_by_session(self, session_id: str) -> list[PresenceStream]:
        streams = self.local.streams_by_session(session_id)
        return streams or list(self._by_remote_session.get(session_id, ()))

    def streams_by_mode(self, mode: int) -> list[tuple[PresenceStream, int]]:
        counts = dict(self.local.streams_by_mode(mode))
        for stream, members in self._remote.items():
            if stream.mode == mode:
                counts[stream] = counts.get(stream, 0) + len(members)
        return list(counts.items())

    def elsewhere(self, session_id: str) -> Presence | None:
        for stream in self._by_remote_session.get(session_id, ()):
            return self._remote[stream][session_id]
        return None

    # Where remote sessions are, for the router

    def node_of(self, session_id: str) -> str | None:
        """The node holding a session of another node, or None."""
        return self._node_of.get(session_id)

    @property
    def remote_sessions(self) -> Mapping[str, str]:
        """Session id -> node, for every session of the other nodes (read only: the
        router looks up each recipient here)."""
        return self._node_of

    def remote_nodes(self, stream: PresenceStream) -> set[str]:
        """The other nodes with a member on ``stream``."""
        node_of = self._node_of
        return {node_of[s] for s in self._remote.get(stream, ())}

    # The bus

    def _tell(self, ops: list[list[object]]) -> None:
        self._bus.broadcast(PRESENCES, orjson.dumps(ops))

    def tell_all(self, node: str | None = None) -> None:
        """All of this node's presences, replacing what ``node`` (None: every peer)
        holds of them ("=")."""
        ops = orjson.dumps([["=", None], *(_add_op(p) for p in self.local.presences())])
        self._bus.send_or_broadcast(node, PRESENCES, ops)

    def received(self, kind: bytes, sender: str, body: bytes) -> bool:
        """Apply a message from another node; False when it is not the tracker's."""
        if kind == PRESENCES:
            self._apply(sender, orjson.loads(body))
        elif kind == TRACK:
            self._track_here(orjson.loads(body))
        else:
            return False
        return True

    def _apply(self, node: str, ops: list[list]) -> None:
        for op in ops:
            code = op[0]
            if code == "+":
                (_, session_id, user_id, mode, subject, subcontext, label, *meta) = op
                stream = PresenceStream(mode, subject, subcontext, label)
                username, fmt, hidden, persistence, status = meta
                presence = Presence(
                    session_id,
                    user_id,
                    stream,
                    PresenceMeta(username, fmt, hidden, persistence, status),
                )
                members = self._remote.setdefault(stream, {})
                previous = members.get(session_id)
                members[session_id] = presence
                self._node_of[session_id] = node
                self._by_remote_session.setdefault(session_id, set()).add(stream)
                if self._listens_here(stream):
                    self.local.announce(
                        stream,
                        [] if hidden else [presence],
                        [previous] if previous is not None and not previous.meta.hidden else [],
                    )
            elif code == "-":
                _, session_id, mode, subject, subcontext, label = op
                self._drop(session_id, PresenceStream(mode, subject, subcontext, label), True)
            elif code == "x":
                reason = PresenceReason(op[2]) if len(op) > 2 else PresenceReason.DISCONNECT
                for stream in list(self._by_remote_session.get(op[1], ())):
                    self._drop(op[1], stream, True, reason)
            elif code == "s":
                self._untrack_stream_here(PresenceStream(*op[1:]))
            elif code == "=":
                self.forget_node(node)

    def _track_here(self, op: list) -> None:
        """A home node's track, update or untrack of a session of this node; a session
        that closed meanwhile is left alone."""
        code, session_id, *rest = op
        if not self.local.streams_by_session(session_id):
            return  # not connected here (any more)
        if code == "-":
            self.untrack(session_id, PresenceStream(*rest), "")
            return
        user_id, mode, subject, subcontext, label, username, fmt, hidden, persistence, status = rest
        stream = PresenceStream(mode, subject, subcontext, label)
        meta = PresenceMeta(username, fmt, hidden, persistence, status)
        if code == "~":
            self.update(session_id, stream, user_id, meta)
        else:
            self.track(session_id, stream, user_id, meta)

    def _drop(
        self,
        session_id: str,
        stream: PresenceStream,
        announce: bool,
        reason: PresenceReason | None = None,
    ) -> Presence | None:
        members = self._remote.get(stream)
        presence = None
        if members is not None:
            presence = members.pop(session_id, None)
            if not members:
                del self._remote[stream]
        held = self._by_remote_session.get(session_id)
        if held is not None:
            held.discard(stream)
            if not held:
                del self._by_remote_session[session_id]
                self._node_of.pop(session_id, None)
        if announce and presence is not None and not presence.meta.hidden:
            if self._listens_here(stream):
                if reason is not None:
                    presence = with_reason(presence, reason)
                self.local.announce(stream, [], [presence])
        return presence

    def forget_node(self, node: str) -> list[Presence]:
        """Drop every presence of ``node`` without a word (it is about to resend them
        all); return them."""
        dropped = []
        for session_id in [s for s, n in self._node_of.items() if n == node]:
            for stream in list(self._by_remote_session.get(session_id, ())):
                presence = self._drop(session_id, stream, False)
                if presence is not None:
                    dropped.append(presence)
        return dropped

    def node_died(self, node: str) -> dict[PresenceStream, list[Presence]]:
        """``node`` is gone without closing its sessions: its presences leave, heard by
        every node's listeners (the home ones on the streams' homes). Return the streams
        that were home on the dead node with their members here, which are untracked
        (their match or party is gone): the caller tells those members, first."""
        leaves: dict[PresenceStream, list[Presence]] = {}
        for presence in self.forget_node(node):
            if not presence.meta.hidden:
                presence = with_reason(presence, PresenceReason.DISCONNECT)
                leaves.setdefault(presence.stream, []).append(presence)
        for stream, gone in leaves.items():
            if self._listens_here(stream):
                self.local.announce(stream, [], gone)
        orphans: dict[PresenceStream, list[Presence]] = {}
        for mode in HOME_LISTENER_MODES:
            for stream, _ in self.local.streams_by_mode(mode):
                if stream.label == node:
                    members = self.list_by_stream(stream, False, True)
                    orphans[stream] = members + leaves.get(stream, [])
        return orphans

    def drop_orphans(self, streams: list[PresenceStream]) -> None:
        """Untrack this node's members of streams whose home died."""
        for stream in streams:
            self._untrack_stream_here(stream)

    def nodes(self) -> set[str]:
        """The other nodes that hold presences now."""
        return set(self._node_of.values())
