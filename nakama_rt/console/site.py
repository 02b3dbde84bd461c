"""The console's pages, live figures and actions, served by twisted.web on a listener of
their own (:func:`console_site`).

Pages are rendered on the server with ``twisted.web.template``; one small script
(``static/console.js``, no build step) keeps them live from ``GET /events``, a stream of
server-sent events carrying the overview's figures once a second. Routes:

- ``GET /login`` and ``POST /login``; ``POST /logout``;
- ``GET /``: the overview (figures, this node's newest sessions, live);
- ``GET /sessions?q=...``: sessions by session id, user id or part of a username, with
  what each is in;
- ``POST /sessions/disconnect``: close a session with a reason its client sees;
- ``GET /events``; ``GET /static/...``.

A page asked for without a valid cookie redirects to the login; an action or the event
stream without one is refused 401, and an action without the cookie's anti-forgery
token or from another origin is refused 403 (:mod:`nakama_rt.console.auth`). Every
answer forbids framing and caching, and the content security policy admits this
site's own script and style only.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from typing import Any, cast
from urllib.parse import quote

import orjson
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall, deferLater
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request
from twisted.web.template import Element, Tag, TagLoader, flattenString, tags

from nakama_rt.console.auth import COOKIE, ConsoleAuth, Operator
from nakama_rt.console.figures import (
    ConsoleSource,
    find_sessions,
    list_channels,
    list_matches,
    list_parties,
    list_tickets,
    overview,
    redacted_config,
    runtime_summary,
)
from nakama_rt.logs import Logger
from nakama_rt.query import QueryError
from nakama_rt.web.limits import HttpLimits, LimitedSite

#: The close code and reason a session disconnected from the console gets.
DISCONNECT_CODE = 1000
DISCONNECT_REASON = "disconnected by an operator"
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


def _session_rows(sessions: list[dict[str, Any]], operator: Operator, back: str) -> Tag:
    rows = [
        tags.tr(
            tags.th("Username"),
            tags.th("User id"),
            tags.th("Session id"),
            tags.th("Format"),
            tags.th("Address"),
            tags.th("Channels"),
            tags.th("Matches"),
            tags.th("Parties"),
            tags.th("Tickets"),
            tags.th(""),
        )
    ]
    for s in sessions:
        rows.append(
            tags.tr(
                tags.td(s["username"]),
                tags.td(s["user_id"]),
                tags.td(s["session_id"]),
                tags.td(s["format"]),
                tags.td(s["address"]),
                tags.td(", ".join(s["channels"])),
                tags.td(", ".join(s["matches"])),
                tags.td(", ".join(s["parties"])),
                tags.td(", ".join(s["tickets"])),
                tags.td(
                    _action(
                        operator,
                        "/sessions/disconnect",
                        "Disconnect",
                        session_id=s["session_id"],
                        back=back,
                    )
                ),
                **{"data-session": s["session_id"]},
            )
        )
    return tags.table(*rows, class_="sessions")


class ConsoleResource(Resource):
    """Every route of the console (a leaf: it routes by path itself)."""

    isLeaf = True
    log = Logger()

    def __init__(self, source: ConsoleSource, auth: ConsoleAuth, clock: IReactorTime) -> None:
        super().__init__()
        self._source = source
        self._auth = auth
        self._clock = clock
        #: (method, path) -> what answers it, once logged in.
        self._routes: dict[tuple[bytes, bytes], Callable[[Request, Operator], bytes | int]] = {
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
                request.setResponseCode(303)
                request.setHeader(b"location", b"/login")
                return b""
            return _text(request, 401, "Log in first")
        if method == b"POST" and not self._same_site(request, operator):
            return _text(request, 403, "Refused: not a request from this console's own page")
        return handler(request, operator)

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
            request.setResponseCode(303)
            request.setHeader(b"location", b"/")
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
        request.setResponseCode(303)
        request.setHeader(b"location", b"/login")
        return b""

    # Pages

    def _overview(self, request: Request, operator: Operator) -> int:
        figures = tags.div(
            _figure("node", "Node"),
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
            _figure("cpu_percent", "CPU %"),
            _figure("rss_megabytes", "Memory MB"),
            _figure("errors", "Error envelopes by code"),
            _figure("closes", "Closes by code and reason"),
            class_="figures",
        )
        newest = find_sessions(self._source, "", 20)
        return self._page(
            request,
            _layout(
                "Overview",
                operator,
                figures,
                tags.h2("Sessions on this node"),
                tags.div(_session_rows(newest, operator, "/"), id="live-sessions"),
            ),
        )

    def _sessions(self, request: Request, operator: Operator) -> int:
        query = _arg(request, b"q")
        found = find_sessions(self._source, query) if query else []
        back = "/sessions?q=" + quote(query)
        return self._page(
            request,
            _layout(
                "Sessions",
                operator,
                tags.form(
                    tags.label(
                        "User id, username or session id ",
                        tags.input(name="q", value=query, autofocus="autofocus"),
                    ),
                    tags.button("Find", type="submit"),
                    method="get",
                    action="/sessions",
                ),
                (
                    _session_rows(found, operator, back)
                    if found
                    else tags.p("No session found." if query else "")
                ),
            ),
        )

    def _matches(self, request: Request, operator: Operator) -> int:
        text = _arg(request, b"q")
        try:
            matches = list_matches(self._source, text)
            problem = ""
        except QueryError as error:
            matches, problem = [], f"Bad query: {error}"
        rows = [
            tags.tr(
                *(
                    tags.th(h)
                    for h in (
                        "Match id",
                        "Kind",
                        "Label",
                        "Handler",
                        "Tick rate",
                        "Size",
                        "Presences",
                        "Node",
                        "",
                    )
                )
            )
        ]
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
        return self._page(
            request,
            _layout(
                "Matches",
                operator,
                tags.form(
                    tags.label(
                        "Label query (as GET /v2/match: +label.mode:arena) ",
                        tags.input(name="q", value=text),
                    ),
                    tags.button("Filter", type="submit"),
                    method="get",
                    action="/matches",
                ),
                tags.p(problem, class_="error") if problem else "",
                tags.table(*rows, class_="sessions") if matches else tags.p("No match."),
            ),
        )

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

    def _parties(self, request: Request, operator: Operator) -> int:
        parties = list_parties(self._source)
        heads = ("Party id", "Open", "Hidden", "Max size", "Label", "Leader", "Members", "Requests")
        rows = [
            (
                p["party_id"],
                p["open"],
                p["hidden"],
                p["max_size"],
                p["label"],
                p["leader"],
                ", ".join(p["members"]),
                p["join_requests"],
            )
            for p in parties
        ]
        return self._table_page(request, operator, "Parties", heads, rows, "No party.")

    def _channels(self, request: Request, operator: Operator) -> int:
        heads = ("Kind", "Channel", "Presences")
        rows = [(c["kind"], c["name"], c["presences"]) for c in list_channels(self._source)]
        return self._table_page(request, operator, "Channels", heads, rows, "No channel.")

    def _runtime(self, request: Request, operator: Operator) -> int:
        rows = [
            (what, ", ".join(names) or "-") for what, names in runtime_summary(self._source).items()
        ]
        return self._table_page(request, operator, "Runtime", ("Registered", "Names"), rows, "")

    def _config(self, request: Request, operator: Operator) -> int:
        rows = redacted_config(self._source.config)
        return self._table_page(request, operator, "Configuration", ("Key", "Value"), rows, "")

    def _table_page(
        self,
        request: Request,
        operator: Operator,
        title: str,
        heads: tuple[str, ...],
        rows: list[tuple[Any, ...]],
        empty: str,
    ) -> int:
        table = tags.table(
            tags.tr(*(tags.th(head) for head in heads)),
            *(tags.tr(*(tags.td(str(value)) for value in row)) for row in rows),
            class_="sessions",
        )
        return self._page(request, _layout(title, operator, table if rows else tags.p(empty)))

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

    def _disconnect(self, request: Request, operator: Operator) -> bytes:
        session_id = _arg(request, b"session_id")
        session = self._source.server.sessions.get(session_id)
        if session is not None:
            session.close(DISCONNECT_REASON, DISCONNECT_CODE)
            self.log.info(
                "console: {operator} disconnected session {sid} ({username})",
                operator=operator.name,
                sid=session_id,
                username=session.username,
            )
        back = _arg(request, b"back")
        request.setResponseCode(303)
        # Back to a page of this console only ("//host" would leave it).
        local = back.startswith("/") and not back.startswith("//")
        request.setHeader(b"location", (back if local else "/").encode())
        return b""

    def _end_match(self, request: Request, operator: Operator) -> bytes:
        match_id = _arg(request, b"match_id")
        subject, _, node = match_id.partition(".")
        try:
            grace = max(0, min(int(_arg(request, b"grace") or "0"), 3600))
        except ValueError:
            return _text(request, 400, "The grace period must be a whole number of seconds")
        registry = self._source.server.match_registry
        if node != registry.node or not registry.end(subject, grace):
            return _text(request, 404, "No such match on this node")
        self.log.info(
            "console: {operator} ended match {mid} (grace {grace} s)",
            operator=operator.name,
            mid=match_id,
            grace=grace,
        )
        request.setResponseCode(303)
        request.setHeader(b"location", b"/matches")
        return b""

    def _remove_ticket(self, request: Request, operator: Operator) -> bytes:
        ticket = _arg(request, b"ticket")
        matchmaker = self._source.server.matchmaker
        if ticket not in matchmaker.pool.tickets:
            return _text(request, 404, "No such ticket")
        matchmaker.remove([ticket])
        self.log.info(
            "console: {operator} removed ticket {ticket}", operator=operator.name, ticket=ticket
        )
        request.setResponseCode(303)
        request.setHeader(b"location", b"/tickets")
        return b""

    # The live stream

    def _events(self, request: Request, operator: Operator) -> int:
        request.setHeader(b"content-type", b"text/event-stream")
        request.write(b"retry: 2000\n\n")
        stream = _EventStream(request, self._source, self._clock)
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
    """One open ``/events`` stream: the overview's figures, with rates, every period."""

    def __init__(self, request: Request, source: ConsoleSource, clock: IReactorTime) -> None:
        self._request = request
        self._source = source
        self._clock = clock
        self._call = LoopingCall(self._tick)
        self._call.clock = clock
        self._last: dict[str, float] | None = None

    def start(self) -> None:
        self._call.start(EVENT_PERIOD, now=True)

    def stop(self) -> None:
        if self._call.running:
            self._call.stop()

    def _tick(self) -> None:
        figures = overview(self._source)
        now = self._clock.seconds()
        last = self._last
        totals = {
            "at": now,
            "messages_in": figures["messages_in"],
            "messages_out": figures["messages_out"],
            "cpu_seconds": figures["cpu_seconds"],
        }
        if last is not None and now > last["at"]:
            span = now - last["at"]
            figures["messages_in_per_sec"] = round(
                (totals["messages_in"] - last["messages_in"]) / span, 1
            )
            figures["messages_out_per_sec"] = round(
                (totals["messages_out"] - last["messages_out"]) / span, 1
            )
            figures["cpu_percent"] = round(
                (totals["cpu_seconds"] - last["cpu_seconds"]) / span * 100, 1
            )
        self._last = totals
        figures["rss_megabytes"] = round(figures["rss_bytes"] / 1e6, 1)
        figures["live_sessions"] = find_sessions(self._source, "", 20)
        self._request.write(b"data: " + orjson.dumps(figures) + b"\n\n")


def _arg(request: Request, name: bytes) -> str:
    """A query parameter, or a field of a POSTed form (twisted.web puts urlencoded
    bodies in ``args`` too); "" when absent."""
    args = cast(dict[bytes, list[bytes]], request.args or {})
    values = args.get(name) or [b""]
    return values[0].decode("utf-8", "replace")


def _text(request: Request, status: int, message: str) -> bytes:
    request.setResponseCode(status)
    request.setHeader(b"content-type", b"text/plain; charset=utf-8")
    return (message + "\n").encode()


def console_site(
    source: ConsoleSource,
    auth: ConsoleAuth,
    clock: IReactorTime,
    limits: HttpLimits | None = None,
) -> LimitedSite:
    """The console's own ``Site``, with the API's HTTP limits."""
    return LimitedSite(ConsoleResource(source, auth, clock), limits, reactor=clock)
