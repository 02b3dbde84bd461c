"""The console's pages, live figures and actions, served by twisted.web on a listener of
their own (:func:`console_site`).

Pages are rendered on the server with ``twisted.web.template``; one small script
(``static/console.js``, no build step) keeps them live from ``GET /events``, a stream of
server-sent events carrying the overview's figures once a second. Routes:

- ``GET /login`` and ``POST /login``; ``POST /logout``;
- ``GET /``: the overview (figures, a row per node, the newest sessions, live);
- ``GET /sessions?q=...``: sessions by session id, user id or part of a username, with
  their status, follows and what each is in;
- ``POST /sessions/disconnect``: close a session with a reason its client sees;
- ``GET /matches`` (label query), ``POST /matches/end``; ``GET /tickets``,
  ``POST /tickets/remove``; ``GET /parties``, ``/channels``, ``/runtime``, ``/config``;
- ``GET /events``; ``GET /static/...``.

In a cluster the pages show every node: what is a node's own (its sessions,
authoritative matches, parties, figures) is asked of it through
:class:`~nakama_rt.console.nodes.ConsoleNodes`, and actions go to the node that holds
what they act on. A node that does not answer is named on the page beside the others'
answers.

A page asked for without a valid cookie redirects to the login; an action or the event
stream without one is refused 401, and an action without the cookie's anti-forgery
token or from another origin is refused 403 (:mod:`nakama_rt.console.auth`). Every
answer forbids framing and caching, and the content security policy admits this
site's own script and style only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from importlib import resources
from typing import Any, cast
from urllib.parse import quote

import orjson
from twisted.internet.defer import Deferred, gatherResults, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall, deferLater
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request
from twisted.web.template import Element, Tag, TagLoader, flattenString, tags

from nakama_rt.console.auth import COOKIE, ConsoleAuth, Operator
from nakama_rt.console.figures import (
    ConsoleSource,
    list_matches,
    list_tickets,
    redacted_config,
    runtime_summary,
)
from nakama_rt.console.nodes import ConsoleNodes, NodeAnswer
from nakama_rt.logs import Logger
from nakama_rt.query import QueryError
from nakama_rt.web.limits import HttpLimits, LimitedSite

#: What answers a route once logged in: a body, NOT_DONE_YET, or a page to come.
Answer = bytes | int | Deferred[Tag | bytes]

#: How many of each node's sessions the overview shows.
LIVE_SESSIONS = 20
#: Seconds between two events of the live stream.
EVENT_PERIOD = 1.0
_STATIC = {
    b"console.js": b"text/javascript; charset=utf-8",
    b"console.css": b"text/css; charset=utf-8",
}
_HEADERS = (
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; "
        b"connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'",
    ),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"cache-control", b"no-store"),
    (b"referrer-policy", b"same-origin"),
)


class _Page(Element):
    def __init__(self, tag: Tag) -> None:
        super().__init__(loader=TagLoader(tag))


#: The pages of the console's menu.
_PAGES = (
    ("Overview", "/"),
    ("Sessions", "/sessions"),
    ("Matches", "/matches"),
    ("Matchmaker", "/tickets"),
    ("Parties", "/parties"),
    ("Channels", "/channels"),
    ("Runtime", "/runtime"),
    ("Configuration", "/config"),
)


def _layout(title: str, operator: Operator | None, *body: Any) -> Tag:
    header: list[Any] = [tags.strong("nakama-rt console")]
    if operator is not None:
        for label, href in _PAGES:
            header += [" ", tags.a(label, href=href)]
        header += [
            " ",
            tags.form(
                _csrf(operator),
                tags.button("Log out " + operator.name, type="submit"),
                method="post",
                action="/logout",
                class_="inline",
            ),
        ]
    return tags.html(
        tags.head(
            tags.meta(charset="utf-8"),
            tags.title(f"{title} - nakama-rt console"),
            tags.link(rel="stylesheet", href="/static/console.css"),
            tags.script(src="/static/console.js", defer="defer"),
        ),
        tags.body(tags.header(*header), tags.div(tags.h1(title), *body, class_="main")),
        lang="en",
    )


def _csrf(operator: Operator) -> Tag:
    return tags.input(type="hidden", name="csrf", value=operator.csrf)


def _action(operator: Operator, path: str, button: str, *inputs: Any, **hidden: str) -> Tag:
    """A POST form for one action: the page's anti-forgery token, ``hidden`` fields,
    any visible ``inputs`` and its button."""
    fields = [tags.input(type="hidden", name=name, value=value) for name, value in hidden.items()]
    return tags.form(
        _csrf(operator),
        *fields,
        *inputs,
        tags.button(button, type="submit"),
        method="post",
        action=path,
    )


def _figure(name: str, label: str) -> Tag:
    return tags.div(
        tags.span(label, class_="label"), tags.span("-", **{"data-figure": name}), class_="figure"
    )


def _connection_text(kept_for: float | None) -> str:
    return "open" if kept_for is None else f"dropped, kept {kept_for:g} s more"


def _status_text(status: str | None) -> str:
    return "(appears offline)" if status is None else status or "online"


#: The sessions table's columns: heading, and the cell's text from a found session
#: (``static/console.js`` fills the overview's live table in the same order).
_SESSION_COLUMNS: tuple[tuple[str, Callable[[dict[str, Any]], str]], ...] = (
    ("Username", lambda s: s["username"]),
    ("User id", lambda s: s["user_id"]),
    ("Session id", lambda s: s["session_id"]),
    ("Node", lambda s: s["node"]),
    ("Format", lambda s: s["format"]),
    ("Address", lambda s: s["address"]),
    ("Connection", lambda s: _connection_text(s["kept_for"])),
    ("Status", lambda s: _status_text(s["status"])),
    ("Follows", lambda s: ", ".join(s["following"])),
    ("Channels", lambda s: ", ".join(s["channels"])),
    ("Matches", lambda s: ", ".join(s["matches"])),
    ("Parties", lambda s: ", ".join(s["parties"])),
    ("Tickets", lambda s: ", ".join(s["tickets"])),
)


def _session_rows(sessions: list[dict[str, Any]], operator: Operator, back: str) -> Tag:
    rows = [tags.tr(*(tags.th(heading) for heading, _ in _SESSION_COLUMNS), tags.th(""))]
    for s in sessions:
        disconnect = _action(
            operator,
            "/sessions/disconnect",
            "Disconnect",
            session_id=s["session_id"],
            node=s["node"],
            back=back,
        )
        rows.append(
            tags.tr(
                *(tags.td(text(s)) for _, text in _SESSION_COLUMNS),
                tags.td(disconnect),
                **{"data-session": s["session_id"]},
            )
        )
    return tags.table(*rows, class_="sessions")


_MATCH_HEADS = ("Match id", "Kind", "Label", "Handler", "Tick rate", "Size", "Presences", "Node")


def _match_table(matches: list[dict[str, Any]], operator: Operator) -> Tag:
    rows = [tags.tr(*(tags.th(head) for head in _MATCH_HEADS), tags.th(""))]
    for m in matches:
        end: Tag | str = ""
        if m["kind"] == "authoritative":
            grace = tags.input(name="grace", value="5", size="3", inputmode="numeric")
            end = _action(
                operator,
                "/matches/end",
                "End",
                tags.label("grace s ", grace),
                match_id=m["match_id"],
            )
        rows.append(
            tags.tr(
                tags.td(m["match_id"]),
                tags.td(m["kind"]),
                tags.td(m["label"]),
                tags.td(m["handler"]),
                tags.td(str(m["tick_rate"])),
                tags.td(str(m["size"])),
                tags.td(", ".join(m["presences"])),
                tags.td(m["node"]),
                tags.td(end),
                **{"data-match": m["match_id"]},
            )
        )
    return tags.table(*rows, class_="sessions")


def _table(heads: tuple[str, ...], rows: list[tuple[Any, ...]], empty: str) -> Tag:
    if not rows:
        return tags.p(empty)
    return tags.table(
        tags.tr(*(tags.th(head) for head in heads)),
        *(tags.tr(*(tags.td(str(value)) for value in row)) for row in rows),
        class_="sessions",
    )


def _ago(now: float, at: float | None) -> str:
    """How long ago ``at`` (epoch seconds) was, for a person."""
    if not at:
        return "-"
    seconds = max(0, int(now - at))
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h ago"


def _problems(answers: list[NodeAnswer]) -> Tag | str:
    """What nodes that did not answer are shown as."""
    problems = [tags.li(f"Node {a.node}: {a.problem}") for a in answers if a.problem]
    return tags.ul(*problems, class_="error") if problems else ""


def _answered(answers: list[NodeAnswer]) -> list[Any]:
    """Every node's answer (lists), one after another in node order."""
    return [item for a in answers if not a.problem for item in a.answer]


class ConsoleResource(Resource):
    """Every route of the console (a leaf: it routes by path itself)."""

    isLeaf = True
    log = Logger()

    def __init__(
        self, source: ConsoleSource, nodes: ConsoleNodes, auth: ConsoleAuth, clock: IReactorTime
    ) -> None:
        super().__init__()
        self._source = source
        self._nodes = nodes
        self._auth = auth
        self._clock = clock
        #: (method, path) -> what answers it, once logged in.
        self._routes: dict[tuple[bytes, bytes], Callable[[Request, Operator], Answer]] = {
            (b"GET", b"/"): self._overview,
            (b"GET", b"/sessions"): self._sessions,
            (b"GET", b"/events"): self._events,
            (b"POST", b"/logout"): self._logout,
            (b"POST", b"/sessions/disconnect"): self._disconnect,
            (b"GET", b"/matches"): self._matches,
            (b"POST", b"/matches/end"): self._end_match,
            (b"GET", b"/tickets"): self._tickets,
            (b"POST", b"/tickets/remove"): self._remove_ticket,
            (b"GET", b"/parties"): self._parties,
            (b"GET", b"/channels"): self._channels,
            (b"GET", b"/runtime"): self._runtime,
            (b"GET", b"/config"): self._config,
        }

    def render(self, request: Request) -> bytes | int:
        for name, value in _HEADERS:
            request.setHeader(name, value)
        path = request.path
        method = request.method
        if path.startswith(b"/static/") and method == b"GET":
            return self._static(request, path[len(b"/static/") :])
        if path == b"/login":
            if method == b"POST":
                return self._login(request)
            if method == b"GET":
                return self._page(request, self._login_page(None, ""))
        operator = self._auth.operator(request.getCookie(COOKIE))
        handler = self._routes.get((method, path))
        if handler is None:
            return _text(request, 404, "Not found")
        if operator is None:
            if method == b"GET" and path != b"/events":
                return _see_other(request, b"/login")
            return _text(request, 401, "Log in first")
        if method == b"POST" and not self._same_site(request, operator):
            return _text(request, 403, "Refused: not a request from this console's own page")
        answer = handler(request, operator)
        if isinstance(answer, Deferred):
            answer.addCallback(self._later, request).addErrback(self._page_failed, request)
            return NOT_DONE_YET
        return answer

    def _later(self, answer: Tag | bytes, request: Request) -> None:
        """Send what was waited for (other nodes' answers): a page or a body."""
        if request.finished or request.channel is None:
            return  # (the browser went away meanwhile)
        if isinstance(answer, Tag):
            self._page(request, answer)
        else:
            request.write(answer)
            request.finish()

    # Log in and out

    def _login_page(self, operator: Operator | None, message: str) -> Tag:
        return _layout(
            "Log in",
            operator,
            tags.p(message, class_="error") if message else "",
            tags.form(
                tags.label("Username ", tags.input(name="username", autocomplete="username")),
                tags.label(
                    "Password ",
                    tags.input(name="password", type="password", autocomplete="current-password"),
                ),
                tags.button("Log in", type="submit"),
                method="post",
                action="/login",
            ),
        )

    def _login(self, request: Request) -> int:
        if not self._same_origin(request):
            request.write(
                _text(request, 403, "Refused: not a request from this console's own page")
            )
            request.finish()
            return NOT_DONE_YET
        username = _arg(request, b"username")
        password = _arg(request, b"password")
        # The connection's own address, never a forwarded one: a header would let a
        # guesser pick a fresh address for every try.
        address = str(getattr(request.getClientAddress(), "host", ""))
        if self._auth.check_password(username, password):
            self._auth.succeeded(address)
            value, lifetime = self._auth.issue()
            request.addCookie(
                COOKIE,
                value,
                path=b"/",
                max_age=str(lifetime).encode(),
                httpOnly=True,
                sameSite="strict",
                secure=request.isSecure(),
            )
            self.log.info(
                "console: {operator} logged in from {address}", operator=username, address=address
            )
            _see_other(request, b"/")
            request.finish()
            return NOT_DONE_YET
        delay = self._auth.failed(address)
        self.log.warn(
            "console: wrong login from {address} ({failures} in all); answered in {delay:g} s",
            address=address,
            failures=self._auth.failures,
            delay=delay,
        )
        answered = deferLater(self._clock, delay, self._refuse_login, request)
        request.notifyFinish().addErrback(lambda _: answered.cancel())
        answered.addErrback(lambda _: None)
        return NOT_DONE_YET

    def _refuse_login(self, request: Request) -> None:
        request.setResponseCode(401)
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        page = self._login_page(None, "Wrong username or password.")
        flattenString(None, _Page(page)).addCallback(
            lambda html: (request.write(b"<!DOCTYPE html>\n" + html), request.finish())
        )

    def _logout(self, request: Request, operator: Operator) -> bytes:
        request.addCookie(
            COOKIE,
            b"",
            path=b"/",
            max_age=b"0",
            httpOnly=True,
            sameSite="strict",
            secure=request.isSecure(),
        )
        self.log.info("console: {operator} logged out", operator=operator.name)
        return _see_other(request, b"/login")

    # Pages

    def _overview(self, request: Request, operator: Operator) -> Deferred[Tag | bytes]:
        figures = tags.div(
            _figure("node", "This node"),
            _figure("nodes", "Cluster nodes"),
            _figure("sessions", "Sessions"),
            _figure("presences", "Presences"),
            _figure("messages_in_per_sec", "Messages in /s"),
            _figure("messages_out_per_sec", "Messages out /s"),
            _figure("relayed_matches", "Relayed matches"),
            _figure("authoritative_matches", "Authoritative matches"),
            _figure("parties", "Parties"),
            _figure("tickets", "Matchmaker tickets"),
            _figure("parked_sessions", "Kept sessions (resume)"),
            _figure("cpu_percent", "CPU % (all nodes)"),
            _figure("rss_megabytes", "Memory MB (all nodes)"),
            _figure("errors", "Error envelopes by code"),
            _figure("closes", "Closes by code and reason"),
            class_="figures",
        )
        heads = ("Node", "Sessions", "Presences", "CPU %", "Memory MB", "In /s", "Out /s")
        nodes = tags.table(
            tags.tr(*(tags.th(head) for head in heads)),
            *(tags.tr(tags.td(node), **{"data-node": node}) for node in self._nodes.nodes()),
            class_="sessions",
            id="live-nodes",
        )

        def page(answers: list[NodeAnswer]) -> Tag:
            return _layout(
                "Overview",
                operator,
                figures,
                tags.h2("Nodes"),
                nodes,
                tags.h2("Newest sessions"),
                _problems(answers),
                tags.div(_session_rows(_answered(answers), operator, "/"), id="live-sessions"),
            )

        return self._nodes.ask_all("sessions", q="", limit=LIVE_SESSIONS).addCallback(page)

    def _sessions(self, request: Request, operator: Operator) -> Deferred[Tag | bytes]:
        query = _arg(request, b"q")
        back = "/sessions?q=" + quote(query)
        search = tags.form(
            tags.label(
                "User id, username or session id ",
                tags.input(name="q", value=query, autofocus="autofocus"),
            ),
            tags.button("Find", type="submit"),
            method="get",
            action="/sessions",
        )

        def page(answers: list[NodeAnswer]) -> Tag:
            found = _answered(answers)
            return _layout(
                "Sessions",
                operator,
                search,
                _problems(answers),
                (
                    _session_rows(found, operator, back)
                    if found
                    else tags.p("No session found." if query else "")
                ),
            )

        if not query:
            return succeed(page([]))
        return self._nodes.ask_all("sessions", q=query, limit=50).addCallback(page)

    def _matches(self, request: Request, operator: Operator) -> Answer:
        text = _arg(request, b"q")
        filter_form = tags.form(
            tags.label(
                "Label query (as GET /v2/match: +label.mode:arena) ",
                tags.input(name="q", value=text),
            ),
            tags.button("Filter", type="submit"),
            method="get",
            action="/matches",
        )
        try:
            # (here first: a bad query is the operator's to fix, not the nodes')
            here = list_matches(self._source, text)
        except QueryError as error:
            problem = tags.p(f"Bad query: {error}", class_="error")
            return succeed(_layout("Matches", operator, filter_form, problem, tags.p("No match.")))

        def page(answers: list[NodeAnswer]) -> Tag:
            others = [a for a in answers if a.node != self._nodes.node]
            matches = here + _answered(others)
            return _layout(
                "Matches",
                operator,
                filter_form,
                _problems(answers),
                _match_table(matches, operator) if matches else tags.p("No match."),
            )

        # (the relayed matches of every node are in this node's tracker already)
        return self._nodes.ask_others("matches", q=text, relayed=False).addCallback(page)

    def _tickets(self, request: Request, operator: Operator) -> int:
        tickets = list_tickets(self._source, self._clock.seconds())
        rows = [
            tags.tr(
                *(
                    tags.th(h)
                    for h in (
                        "Ticket",
                        "Users",
                        "Party",
                        "Query",
                        "Count",
                        "Properties",
                        "Age s",
                        "",
                    )
                )
            )
        ]
        for t in tickets:
            rows.append(
                tags.tr(
                    tags.td(t["ticket"]),
                    tags.td(", ".join(t["users"])),
                    tags.td(t["party_id"]),
                    tags.td(t["query"]),
                    tags.td(t["counts"]),
                    tags.td(orjson.dumps(t["properties"]).decode()),
                    tags.td(str(t["age_seconds"])),
                    tags.td(_action(operator, "/tickets/remove", "Remove", ticket=t["ticket"])),
                    **{"data-ticket": t["ticket"]},
                )
            )
        return self._page(
            request,
            _layout(
                "Matchmaker",
                operator,
                tags.table(*rows, class_="sessions") if tickets else tags.p("No ticket."),
            ),
        )

    def _parties(self, request: Request, operator: Operator) -> Deferred[Tag | bytes]:
        heads = (
            "Party id",
            "Node",
            "Open",
            "Hidden",
            "Max size",
            "Label",
            "Leader",
            "Members",
            "Requests",
        )

        def page(answers: list[NodeAnswer]) -> Tag:
            rows = [
                (
                    p["party_id"],
                    p["node"],
                    p["open"],
                    p["hidden"],
                    p["max_size"],
                    p["label"],
                    p["leader"],
                    ", ".join(p["members"]),
                    p["join_requests"],
                )
                for p in _answered(answers)
            ]
            return _layout(
                "Parties", operator, _problems(answers), _table(heads, rows, "No party.")
            )

        return self._nodes.ask_all("parties").addCallback(page)

    def _channels(self, request: Request, operator: Operator) -> Deferred[Tag | bytes]:
        heads = ("Kind", "Channel", "Presences", "Last message")

        def page(answers: list[NodeAnswer]) -> Tag:
            # Every node knows every channel's members; each knows the messages it sent.
            merged: dict[tuple[str, str], dict[str, Any]] = {}
            for channel in _answered(answers):
                key = (channel["kind"], channel["name"])
                seen = merged.setdefault(key, channel)
                seen["last_message_at"] = max(
                    seen["last_message_at"] or 0, channel["last_message_at"] or 0
                )
            now = self._clock.seconds()
            rows = [
                (c["kind"], c["name"], c["presences"], _ago(now, c["last_message_at"]))
                for c in sorted(merged.values(), key=lambda c: (-c["presences"], c["name"]))
            ]
            return _layout(
                "Channels", operator, _problems(answers), _table(heads, rows, "No channel.")
            )

        return self._nodes.ask_all("channels").addCallback(page)

    def _runtime(self, request: Request, operator: Operator) -> int:
        rows = [
            (what, ", ".join(names) or "-") for what, names in runtime_summary(self._source).items()
        ]
        return self._page(
            request, _layout("Runtime", operator, _table(("Registered", "Names"), rows, ""))
        )

    def _config(self, request: Request, operator: Operator) -> int:
        rows = redacted_config(self._source.config)
        return self._page(
            request, _layout("Configuration", operator, _table(("Key", "Value"), rows, ""))
        )

    def _page(self, request: Request, tag: Tag) -> int:
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        done = flattenString(request, _Page(tag))
        done.addCallback(
            lambda html: (request.write(b"<!DOCTYPE html>\n" + html), request.finish())
        )
        done.addErrback(self._page_failed, request)
        return NOT_DONE_YET

    def _page_failed(self, failure: Any, request: Request) -> None:
        self.log.failure("console: a page failed to render", failure)
        if not request.finished:
            request.setResponseCode(500)
            request.finish()

    # Actions

    def _disconnect(self, request: Request, operator: Operator) -> Deferred[Tag | bytes]:
        session_id = _arg(request, b"session_id")
        node = _arg(request, b"node") or self._nodes.node
        back = _arg(request, b"back")
        # Back to a page of this console only ("//host" would leave it).
        local = back.startswith("/") and not back.startswith("//")

        def done(username: str | None) -> bytes:
            if username is not None:
                self._log_elsewhere(
                    node,
                    "console: {operator} disconnected session {sid} ({username}) on {node}",
                    operator=operator.name,
                    sid=session_id,
                    username=username,
                )
            return _see_other(request, (back if local else "/").encode())

        asked = self._nodes.ask(node, "disconnect", session_id=session_id, operator=operator.name)
        return asked.addCallbacks(done, self._node_failed, errbackArgs=(request, node))

    def _log_elsewhere(self, node: str, text: str, **fields: object) -> None:
        """Log an action that ran on ``node``, here too when that is another node (the
        node that did it logged it already)."""
        if node != self._nodes.node:
            self.log.info(text, node=node, **fields)

    def _end_match(self, request: Request, operator: Operator) -> Answer:
        match_id = _arg(request, b"match_id")
        node = match_id.partition(".")[2]
        try:
            grace = max(0, min(int(_arg(request, b"grace") or "0"), 3600))
        except ValueError:
            return _text(request, 400, "The grace period must be a whole number of seconds")
        if node not in self._nodes.nodes():
            return _text(request, 404, "No such match: its node is not in the cluster")

        def done(ended: bool) -> bytes:
            if not ended:
                return _text(request, 404, f"No such match on node {node}")
            self._log_elsewhere(
                node,
                "console: {operator} ended match {mid} (grace {grace} s) on {node}",
                operator=operator.name,
                mid=match_id,
                grace=grace,
            )
            return _see_other(request, b"/matches")

        asked = self._nodes.ask(
            node, "end_match", match_id=match_id, grace=grace, operator=operator.name
        )
        return asked.addCallbacks(done, self._node_failed, errbackArgs=(request, node))

    def _node_failed(self, failure: Failure, request: Request, node: str) -> bytes:
        """An action whose node could not be asked: said so, never a hang."""
        self.log.warn(
            "console: node {node} did not carry out an action: {error}",
            node=node,
            error=failure.getErrorMessage(),
        )
        return _text(request, 503, f"Node {node} did not answer: {failure.getErrorMessage()}")

    def _remove_ticket(self, request: Request, operator: Operator) -> bytes:
        ticket = _arg(request, b"ticket")
        matchmaker = self._source.server.matchmaker
        if ticket not in matchmaker.pool.tickets:
            return _text(request, 404, "No such ticket")
        matchmaker.remove([ticket])
        self.log.info(
            "console: {operator} removed ticket {ticket}", operator=operator.name, ticket=ticket
        )
        return _see_other(request, b"/tickets")

    # The live stream

    def _events(self, request: Request, operator: Operator) -> int:
        request.setHeader(b"content-type", b"text/event-stream")
        request.write(b"retry: 2000\n\n")
        stream = _EventStream(request, self._nodes, self._clock)
        request.notifyFinish().addBoth(lambda _: stream.stop())
        stream.start()
        return NOT_DONE_YET

    # Checks and files

    def _same_origin(self, request: Request) -> bool:
        """A request with an Origin header must come from this console's own origin."""
        origin = request.getHeader(b"origin")
        if origin is None:
            return True
        scheme = b"https" if request.isSecure() else b"http"
        host = request.getHeader(b"host") or b""
        return origin == scheme + b"://" + host

    def _same_site(self, request: Request, operator: Operator) -> bool:
        token = _arg(request, b"csrf")
        return bool(token) and token == operator.csrf and self._same_origin(request)

    def _static(self, request: Request, name: bytes) -> bytes:
        kind = _STATIC.get(name)
        if kind is None:
            return _text(request, 404, "Not found")
        request.setHeader(b"content-type", kind)
        request.setHeader(b"cache-control", b"no-cache")
        return resources.files("nakama_rt.console").joinpath("static", name.decode()).read_bytes()


class _EventStream:
    """One open ``/events`` stream: every node's figures and newest sessions, with
    rates, every period (the next once the nodes answered or failed to)."""

    def __init__(self, request: Request, nodes: ConsoleNodes, clock: IReactorTime) -> None:
        self._request = request
        self._nodes = nodes
        self._clock = clock
        self._call = LoopingCall(self._tick)
        self._call.clock = clock
        #: Each node's counters at its last answer.
        self._last: dict[str, dict[str, float]] = {}
        self._stopped = False

    def start(self) -> None:
        self._call.start(EVENT_PERIOD, now=True)

    def stop(self) -> None:
        self._stopped = True
        if self._call.running:
            self._call.stop()

    def _tick(self) -> Deferred[None]:
        asked = [
            self._nodes.ask_all("figures"),
            self._nodes.ask_all("sessions", q="", limit=LIVE_SESSIONS),
        ]
        return gatherResults(asked).addCallback(self._send)

    def _send(self, answers: list[list[NodeAnswer]]) -> None:
        if self._stopped:
            return
        figures, sessions = answers
        event = _combined(figures, self._nodes.node, self._clock.seconds(), self._last)
        event["live_sessions"] = _answered(sessions)
        self._request.write(b"data: " + orjson.dumps(event) + b"\n\n")


#: Figures that are the same on every node (the tracker's copy of every node's relayed
#: matches, the cluster-wide matchmaker pool): this node's, not a sum.
_SHARED_FIGURES = ("relayed_matches", "tickets")
#: Figures summed over the nodes.
_SUMMED_FIGURES = ("sessions", "presences", "authoritative_matches", "parties", "parked_sessions")


def _combined(
    answers: list[NodeAnswer], here: str, now: float, last: dict[str, dict[str, float]]
) -> dict[str, Any]:
    """The overview's event: cluster totals, and a row per node with its rates since
    its last answer (remembered in ``last``)."""
    event: dict[str, Any] = {"node": here, "nodes": [a.node for a in answers]}
    rows = []
    errors: Counter[str] = Counter()
    closes: Counter[str] = Counter()
    rates = {"messages_in": 0.0, "messages_out": 0.0, "cpu_seconds": 0.0}
    rss = 0.0
    for answer in answers:
        if answer.problem:
            rows.append({"node": answer.node, "problem": answer.problem})
            continue
        figures = answer.answer
        if answer.node == here:
            event.update({name: figures[name] for name in _SHARED_FIGURES})
        for name in _SUMMED_FIGURES:
            if figures[name] is not None:
                event[name] = event.get(name, 0) + figures[name]
        errors.update(figures["errors"])
        closes.update(figures["closes"])
        row = {
            "node": answer.node,
            "sessions": figures["sessions"],
            "presences": figures["presences"],
            "rss_megabytes": round(figures["rss_bytes"] / 1e6, 1),
        }
        rss += figures["rss_bytes"]
        before = last.get(answer.node)
        counters = {name: float(figures[name]) for name in rates}
        if before is not None and now > before["at"]:
            span = now - before["at"]
            for name in rates:
                per_sec = (counters[name] - before[name]) / span
                rates[name] += per_sec
                row[name + "_per_sec"] = round(per_sec, 1)
        last[answer.node] = {"at": now, **counters}
        row["cpu_percent"] = round(row.pop("cpu_seconds_per_sec", 0.0) * 100, 1)
        rows.append(row)
    event["node_rows"] = rows
    event["errors"] = dict(sorted(errors.items()))
    event["closes"] = dict(sorted(closes.items()))
    event["rss_megabytes"] = round(rss / 1e6, 1)
    if any("messages_in_per_sec" in row for row in rows):
        event["messages_in_per_sec"] = round(rates["messages_in"], 1)
        event["messages_out_per_sec"] = round(rates["messages_out"], 1)
        event["cpu_percent"] = round(rates["cpu_seconds"] * 100, 1)
    return event


def _arg(request: Request, name: bytes) -> str:
    """A query parameter, or a field of a POSTed form (twisted.web puts urlencoded
    bodies in ``args`` too); "" when absent."""
    args = cast(dict[bytes, list[bytes]], request.args or {})
    values = args.get(name) or [b""]
    return values[0].decode("utf-8", "replace")


def _see_other(request: Request, location: bytes) -> bytes:
    """A 303 to ``location``: where a form's post or a page that needs a login goes."""
    request.setResponseCode(303)
    request.setHeader(b"location", location)
    return b""


def _text(request: Request, status: int, message: str) -> bytes:
    request.setResponseCode(status)
    request.setHeader(b"content-type", b"text/plain; charset=utf-8")
    return (message + "\n").encode()


def console_site(
    source: ConsoleSource,
    nodes: ConsoleNodes,
    auth: ConsoleAuth,
    clock: IReactorTime,
    limits: HttpLimits | None = None,
) -> LimitedSite:
    """The console's own ``Site``, with the API's HTTP limits."""
    return LimitedSite(ConsoleResource(source, nodes, auth, clock), limits, reactor=clock)
