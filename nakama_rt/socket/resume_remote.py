"""Resuming a session that another node of the cluster keeps.

A socket that drops parks its session on the node it was connected to, its *home*
(:mod:`nakama_rt.socket.resume`), and every node hears of it through the cluster's
directory of parked sessions. When the client reconnects, its load balancer may send it
to any node. That node, the *edge*, finds the session in the directory, asks the home
for it (``resume.attach``) and from then on relays:

- the client's requests are read and checked at the edge (format, size, rate, ping) and
  go to the home as protobuf (``resume.in``), where the session's own pipeline runs them
  in order;
- what the home sends the session (the missed envelopes first) comes back as payloads
  already in the session's format (``resume.out``) and goes out through the edge
  socket's queue, with its flow control;
- the session keeps its id, presences, matches, parties and tickets on its home, so
  nobody sees it leave or join.

When the edge socket ends, the home hears why (``resume.end``): a drop parks the
session again there, anything else ends it. When the home closes the session, the edge
closes the socket with the same code and reason (``resume.close``). A dead home closes
its relayed sockets (the client reconnects and starts anew: the session went with its
node); a dead edge is a drop for the home, which parks the session again.

While the home is being asked, the socket is open and its requests wait (the lifecycle
holds them in order). If the home no longer has the session (it expired, or another
socket took it), or cannot be reached, the socket goes on as a new session of this node.
"""

from __future__ import annotations

import dataclasses

import orjson
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure

from nakama_rt.config import SocketConfig
from nakama_rt.core.directory import Directory
from nakama_rt.core.refs import ParkedRef, resume_key
from nakama_rt.core.remote import IRemote, Served
from nakama_rt.counters import RealtimeCounts
from nakama_rt.logs import Logger
from nakama_rt.socket.lifecycle import (
    SessionHooks,
    SocketCore,
    SocketInputs,
    SocketMachine,
    Verdict,
    receive_envelope,
)
from nakama_rt.socket.resume import ParkedSessions
from nakama_rt.socket.session import Session
from nakama_rt.wire import codec
from nakama_rt.wire.close_reasons import CLOSE_GOING_AWAY, CONNECTION_DROPPED, PONG_TIMEOUT
from nakama_rt.wire.codec import Format, LazyEnvelope
from nakama_rt.wire.proto import realtime_pb2

ATTACH = "resume.attach"
IN = "resume.in"
OUT = "resume.out"
END = "resume.end"
CLOSE = "resume.close"

#: The reason a relayed socket closes with when its session's node died.
HOME_GONE = "session home node unavailable"
#: Why an edge socket ended, when the home may park the session again.
_RESUMABLE = frozenset({CONNECTION_DROPPED, PONG_TIMEOUT})
#: A home's lifecycle for a relayed session never pings: the edge socket does.
_NEVER_MS = 10 * 365 * 24 * 3600 * 1000

_NOTHING: Served = (b"", None)


class Relayed(LazyEnvelope):
    """An envelope the home node encoded in the session's format, sent on as it is."""

    __slots__ = ("_fmt",)

    def __init__(self, payload: bytes, fmt: Format) -> None:
        super().__init__()
        self._fmt = fmt
        if fmt is Format.JSON:
            self._json = payload
        else:
            self._protobuf = payload

    def build(self) -> realtime_pb2.Envelope:
        payload = self._json if self._fmt is Format.JSON else self._protobuf
        assert payload is not None
        return codec.decode(self._fmt, payload, self._fmt is Format.PROTOBUF)


class ResumeRelay:
    """This node's part in resuming sessions across the cluster: the edge of sockets whose
    session lives elsewhere, and the home of sessions whose socket is elsewhere."""

    log = Logger()

    def __init__(
        self,
        remote: IRemote,
        directory: Directory[ParkedRef],
        parking: ParkedSessions,
        hooks: SessionHooks,
        clock: IReactorTime,
        config: SocketConfig,
    ) -> None:
        self._remote = remote
        self._directory = directory
        self._parking = parking
        self._hooks = hooks
        self._clock = clock
        self._home_config = dataclasses.replace(
            config, ping_period_ms=_NEVER_MS, pong_wait_ms=_NEVER_MS + 1
        )
        #: Edge sockets by link id (the edge session's own id).
        self.edges: dict[str, EdgeLink] = {}
        #: Sessions living here whose socket is on another node, by link id.
        self.homes: dict[str, HomeSocket] = {}
        remote.serve(ATTACH, self._serve_attach)
        remote.serve(IN, self._serve_in)
        remote.serve(END, self._serve_end)
        remote.serve(OUT, self._serve_out)
        remote.serve(CLOSE, self._serve_close)
        remote.on_node_died(self._node_died)

    # The edge: a socket here, its session on another node

    def find(self, user_id: str, token_id: str, fmt: Format) -> ParkedRef | None:
        """A session another node keeps for a socket with this token and format (one
        lookup, however many sessions the cluster keeps)."""
        return self._directory.by_key(resume_key(token_id, user_id, fmt.value))

    def edge(self, ref: ParkedRef, session: Session) -> EdgeLink:
        """The hooks of a new socket (``session``) that resumes ``ref`` on its node."""
        link = EdgeLink(self, ref, session, self._hooks)
        self.edges[session.id] = link
        return link

    def attach(self, link: EdgeLink) -> Deferred[bool]:
        session, ref = link.session, link.ref
        payload = orjson.dumps(
            {
                "session_id": ref.subject,
                "user_id": session.user_id,
                "token_id": session.token_id,
                "link": session.id,
                "client_ip": session.client_ip,
                "client_port": session.client_port,
            }
        )
        asked = self._remote.call(ref.node, ATTACH, payload)
        return asked.addCallbacks(
            lambda answer: answer == b"ok", self._attach_failed, (), {}, (ref,)
        )

    def _attach_failed(self, failure: Failure, ref: ParkedRef) -> bool:
        self.log.info(
            "could not resume session {sid} on node {node}: {why}",
            sid=ref.subject,
            node=ref.node,
            why=failure.getErrorMessage(),
        )
        return False

    def forward(self, link: EdgeLink, envelope: realtime_pb2.Envelope) -> None:
        self._remote.tell(
            link.ref.node, IN, link.session.id.encode() + b"\n" + envelope.SerializeToString()
        )

    def ended(self, link: EdgeLink, reason: str) -> None:
        """The edge socket of a linked session ended (``reason``): tell its home."""
        self.edges.pop(link.session.id, None)
        body = {"link": link.session.id, "reason": reason, "resumable": reason in _RESUMABLE}
        self._remote.tell(link.ref.node, END, orjson.dumps(body))

    def forget(self, link: EdgeLink) -> None:
        self.edges.pop(link.session.id, None)

    def _serve_out(self, sender: str, payload: bytes) -> Served:
        link_id, _, data = payload.partition(b"\n")
        link = self.edges.get(link_id.decode())
        if link is not None and link.ref.node == sender:
            session = link.session
            session.send(Relayed(data, session.format))
        return _NOTHING

    def _serve_close(self, sender: str, payload: bytes) -> Served:
        body = orjson.loads(payload)
        link = self.edges.get(body["link"])
        if link is not None and link.ref.node == sender:
            self.edges.pop(link.session.id, None)
            link.closed_by_home(body["reason"], body["code"])
        return _NOTHING

    # The home: a session here, its socket on another node

    def _serve_attach(self, sender: str, payload: bytes) -> Served:
        body = orjson.loads(payload)
        session = self._parking.take_session(body["session_id"], body["user_id"], body["token_id"])
        if session is None:
            return (b"gone", None)
        home = HomeSocket(self, sender, body["link"], session)
        core = SocketCore(
            clock=self._clock,
            config=self._home_config,
            session=session,
            wire=home,
            hooks=self._hooks,
            parking=self._parking,
            resumed=True,
        )
        home.core, home.machine = core, SocketMachine(core)
        session.attach(
            home,
            on_close=home.close_session,
            client_ip=body["client_ip"],
            client_port=body["client_port"],
        )
        self.homes[home.link] = home
        # Opened once the answer is on its way: the missed envelopes follow it.
        return (b"ok", home.machine.opened)

    def _serve_in(self, sender: str, payload: bytes) -> Served:
        link_id, _, data = payload.partition(b"\n")
        home = self.homes.get(link_id.decode())
        if home is not None and home.edge == sender:
            envelope = realtime_pb2.Envelope.FromString(data)
            receive_envelope(home.machine, home.core, envelope)
        return _NOTHING

    def _serve_end(self, sender: str, payload: bytes) -> Served:
        body = orjson.loads(payload)
        home = self.homes.pop(body["link"], None)
        if home is not None and home.edge == sender:
            reason = CONNECTION_DROPPED if body["resumable"] else body["reason"]
            home.machine.connection_lost(reason)
        return _NOTHING

    def tell_edge(self, home: HomeSocket, service: str, payload: bytes) -> None:
        self._remote.tell(home.edge, service, payload)

    def home_closed(self, home: HomeSocket) -> None:
        self.homes.pop(home.link, None)

    # Either side

    def _node_died(self, node: str) -> None:
        for link in [link for link in self.edges.values() if link.ref.node == node]:
            self.edges.pop(link.session.id, None)
            link.closed_by_home(HOME_GONE, CLOSE_GOING_AWAY)
        for home in [home for home in self.homes.values() if home.edge == node]:
            self.homes.pop(home.link, None)
            home.machine.connection_lost(CONNECTION_DROPPED)


class EdgeLink:
    """The lifecycle hooks of a socket whose session lives on another node: relays
    while linked; the server's own hooks (a new session here) when the link failed."""

    def __init__(
        self, relay: ResumeRelay, ref: ParkedRef, session: Session, server: SessionHooks
    ) -> None:
        self.relay = relay
        self.ref = ref
        self.session = session
        self._server = server
        self.counts: RealtimeCounts = server.counts
        #: "attaching", then "linked" or "local"; "ended" once the socket is done.
        self.state = "attaching"
        self._waiting: list[Deferred[None]] = []
        #: Why the socket ended, if it did while attaching (told to the home then).
        self._end_reason = ""

    def session_opened(self, session: Session) -> None:
        self.relay.attach(self).addCallback(self._attached)

    def _attached(self, linked: bool) -> None:
        if self.state == "ended":
            # The socket went while the home was asked: a linked session hears why.
            if linked:
                self.relay.ended(self, self._end_reason)
            else:
                self.relay.forget(self)
        elif linked:
            self.state = "linked"
        else:
            self.relay.forget(self)
            self.state = "local"
            self._server.session_opened(self.session)
        waiting, self._waiting = self._waiting, []
        for ready in waiting:
            ready.callback(None)

    def process(self, session: Session, envelope: realtime_pb2.Envelope) -> Verdict:
        if self.state == "linked":
            self.relay.forward(self, envelope)
            return True
        if self.state == "local":
            return self._server.process(session, envelope)
        if self.state == "attaching":
            # The lifecycle holds the next requests until this one is done.
            ready: Deferred[None] = Deferred()
            self._waiting.append(ready)
            return ready.addCallback(lambda _: self.process(session, envelope))
        return False

    def session_resumed(self, session: Session) -> None:
        pass  # (an edge socket never resumes a session parked here)

    def resumable(self, session: Session) -> bool:
        """Only once it went on as a session of this node: a relayed one is parked
        by its home when the drop is told there."""
        return self.state == "local"

    def session_closed(self, session: Session, reason: str = "") -> None:
        state, self.state = self.state, "ended"
        if state == "linked":
            self.relay.ended(self, reason)
        elif state == "local":
            self._server.session_closed(session, reason)
        elif state == "attaching":
            self._end_reason = reason  # told to the home once it answers

    def closed_by_home(self, reason: str, code: int) -> None:
        """The home closed the session (or died): close the socket with its words."""
        if self.state == "linked":
            self.state = "ended"
        self.session.close(reason, code)


class HomeSocket:
    """A session's connection when its socket is on another node: what the session
    sends goes there, ready to write; the session's lifecycle runs here without pings."""

    def __init__(self, relay: ResumeRelay, edge: str, link: str, session: Session) -> None:
        self.relay = relay
        self.edge = edge
        self.link = link
        self.session = session
        self.core: SocketCore
        self.machine: SocketInputs

    def close_session(self, reason: str, code: int) -> None:
        self.machine.close(reason, code)

    # Connection (the session's)

    def write_frame(self, envelope: codec.OutgoingEnvelope, fmt: Format) -> None:
        self.relay.tell_edge(self, OUT, self.link.encode() + b"\n" + envelope.payload(fmt))

    def send_close(self, code: int, reason: str) -> None:
        self.relay.home_closed(self)
        body = orjson.dumps({"link": self.link, "code": code, "reason": reason})
        self.relay.tell_edge(self, CLOSE, body)

    # Wire (the lifecycle's)

    def send_ping(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def abort(self) -> None:
        pass  # the close went to the edge, which ends its socket itself
