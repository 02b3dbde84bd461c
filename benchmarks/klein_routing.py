"""klein vs nakama_rt's JsonResource: the same routes answered in-process.

Both serve every route of build_api's tables (so matching sees a realistic table),
three of them measured with the same handler work:

  GET  /v2/probe                          no auth, answers {}
  POST /v2/account/authenticate/custom    server key, JSON body and query, a session answered
  POST /v2/group/{group_id}/join          a path parameter, answers {}

A Site's HTTPChannel is fed raw HTTP/1.1 requests over one keep-alive connection
(twisted.internet.testing.StringTransport): twisted.web's parsing and writing are
the same on both sides, the difference is the routing and dispatch.

klein is not a dependency of nakama-rt: install it beside the checkout first, e.g.

    .venv/bin/pip install --target /tmp/klein_pkgs klein
    PYTHONPATH=/tmp/klein_pkgs:. .venv/bin/python benchmarks/klein_routing.py compare
    PYTHONPATH=/tmp/klein_pkgs:. .venv/bin/python benchmarks/klein_routing.py 20000 7
"""

from __future__ import annotations

import base64
import gc
import statistics
import sys
import time
from typing import Any

import orjson
from klein import Klein
from twisted.internet.testing import StringTransport
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Site
from werkzeug.exceptions import MethodNotAllowed, NotFound

from nakama_rt.api import account, authenticate, chat, friends, groups, match, session
from nakama_rt.api.http import (
    ApiError,
    Call,
    Code,
    JsonResource,
    Route,
    check_server_key,
    decode_body,
    decode_query,
    read_body,
    write_error,
    write_json,
)

KEY = "defaultkey"
MAX_BODY = 4096
SESSION = {"token": "t" * 300, "refresh_token": "r" * 300}
BODY_FIELDS: dict[str, Any] = {"id": "string", "vars": "map"}
QUERY: dict[str, Any] = {"create": "bool", "username": "string"}


class Ctx:
    class config:  # noqa: N801
        class socket:  # noqa: N801
            server_key = KEY


async def probe(ctx: Any, call: Call) -> dict[str, Any]:
    return {}


async def custom(ctx: Any, call: Call) -> dict[str, Any]:
    assert call.body is not None and call.body["id"]
    return SESSION


async def join(ctx: Any, call: Call, group_id: str) -> dict[str, Any]:
    return {}


MEASURED = {
    (b"GET", (b"probe",)): Route(b"GET", (b"probe",), probe, "none"),
    (b"POST", (b"account", b"authenticate", b"custom")): Route(
        b"POST",
        (b"account", b"authenticate", b"custom"),
        custom,
        "server_key",
        body=BODY_FIELDS,
        query=QUERY,
        check_nul=False,
    ),
    (b"POST", (b"group", b"{group_id}", b"join")): Route(
        b"POST", (b"group", b"{group_id}", b"join"), join, "none"
    ),
}
TABLE = [
    *authenticate.ROUTES,
    *session.ROUTES,
    *account.ROUTES,
    *friends.ROUTES,
    *groups.ROUTES,
    *chat.ROUTES,
    *match.ROUTES,
]


def ours() -> Site:
    routes = [MEASURED.get((r.method, r.path), r) for r in TABLE]
    routes.append(MEASURED[(b"GET", (b"probe",))])
    root = Resource()
    root.putChild(b"v2", JsonResource(Ctx(), routes, MAX_BODY))
    return Site(root)


def klein_site() -> Site:
    app = Klein()

    def answer(request: Any, body: dict[str, Any]) -> None:
        write_json(request, 200, body)

    @app.route("/v2/probe", methods=["GET"])
    async def k_probe(request: Any) -> Any:
        answer(request, await probe(None, Call(request, None, {})))

    @app.route("/v2/account/authenticate/custom", methods=["POST"])
    async def k_custom(request: Any) -> Any:
        body = decode_body(read_body(request, MAX_BODY), BODY_FIELDS, False)
        query = decode_query(request.args or {}, QUERY, False)
        call = Call(request, body, query)
        check_server_key(request, KEY)
        answer(request, await custom(None, call))

    @app.route("/v2/group/<group_id>/join", methods=["POST"])
    async def k_join(request: Any, group_id: str) -> Any:
        answer(request, await join(None, Call(request, None, {}), group_id))

    async def other(request: Any, **values: str) -> Any:
        answer(request, {})

    seen = {
        ("/v2/probe", "GET"),
        ("/v2/account/authenticate/custom", "POST"),
        ("/v2/group/<group_id>/join", "POST"),
    }
    for n, route in enumerate(TABLE):
        rule = "/v2/" + "/".join(
            f"<{s[1:-1].decode()}>" if s.startswith(b"{") else s.decode() for s in route.path
        )
        if (rule, route.method.decode()) not in seen:
            app.route(rule, methods=[route.method.decode()], endpoint=f"other{n}")(other)

    @app.handle_errors(ApiError)
    def refused(request: Any, failure: Any) -> None:
        write_error(request, failure.value)

    # grpc-gateway's answers to an unknown path and to a known one with another method.
    @app.handle_errors(NotFound)
    def not_found(request: Any, failure: Any) -> None:
        write_error(request, ApiError(Code.NOT_FOUND, "Not Found"))

    @app.handle_errors(MethodNotAllowed)
    def not_allowed(request: Any, failure: Any) -> None:
        write_error(request, ApiError(Code.UNIMPLEMENTED, "Method Not Allowed"))

    return Site(app.resource())


class Bare(Resource):
    """The floor: twisted.web answering ``{}`` with no routing at all."""

    isLeaf = True

    def render(self, request: Any) -> int:
        write_json(request, 200, {})
        return NOT_DONE_YET


def bare_site() -> Site:
    root = Resource()
    root.putChild(b"v2", Bare())
    return Site(root)


def raw(method: str, path: str, body: bytes = b"", auth: str | None = None) -> bytes:
    head = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1:7350"]
    if auth:
        head.append(f"Authorization: {auth}")
    if body or method == "POST":
        head += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


BASIC = "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()
CASES = {
    "GET /v2/probe": raw("GET", "/v2/probe"),
    "POST /v2/account/authenticate/custom": raw(
        "POST",
        "/v2/account/authenticate/custom?create=true&username=bench",
        orjson.dumps({"id": "bench-custom-id-0001", "vars": {"a": "b"}}),
        BASIC,
    ),
    "POST /v2/group/{id}/join": raw("POST", "/v2/group/8f7d3c1e-5b6a-4f2e-9c8d-7a6b5c4d3e2f/join"),
}


def connect(site: Site) -> tuple[Any, StringTransport]:
    channel = site.buildProtocol(None)
    channel.timeOut = None  # No idle timer: no reactor runs here.
    transport = StringTransport()
    channel.makeConnection(transport)
    return channel, transport


def answer_of(site: Site, request: bytes) -> bytes:
    channel, transport = connect(site)
    channel.dataReceived(request)
    head, _, body = transport.value().partition(b"\r\n\r\n")
    status = head.split(b"\r\n")[0]
    headers = sorted(h for h in head.split(b"\r\n")[1:] if not h.lower().startswith(b"date:"))
    return status + b"\n" + b"\n".join(headers) + b"\n\n" + body


def run(site: Site, request: bytes, n: int) -> float:
    """CPU microseconds per request over ``n`` requests on one connection (process
    time: the machine's other work does not count)."""
    channel, transport = connect(site)
    gc.collect()
    started = time.process_time()
    for _ in range(n):
        channel.dataReceived(request)
    took = time.process_time() - started
    assert transport.value().count(b"HTTP/1.1 200 OK") == n
    return took / n * 1e6


EDGES = {
    "PUT /v2/probe (known path, other method)": raw("PUT", "/v2/probe"),
    "HEAD /v2/probe": raw("HEAD", "/v2/probe"),
    "GET /v2/nowhere": raw("GET", "/v2/nowhere"),
    "GET /v2/probe/ (trailing slash)": raw("GET", "/v2/probe/"),
    "GET /v2//probe (empty segment)": raw("GET", "/v2//probe"),
    "POST /v2/group//join (empty parameter)": raw("POST", "/v2/group//join"),
    "POST /v2/group/a%2Fb/join (escaped slash)": raw("POST", "/v2/group/a%2Fb/join"),
    "POST /v2/group/%FF/join (not UTF-8)": raw("POST", "/v2/group/%FF/join"),
}


def compare() -> None:
    sites = {"JsonResource": ours(), "klein": klein_site()}
    for name, request in EDGES.items():
        answers = {kind: answer_of(site, request) for kind, site in sites.items()}
        same = answers["JsonResource"] == answers["klein"]
        print(f"{name}: {'same' if same else 'DIFFERENT'}")
        for kind, text in answers.items():
            first = text.split(b"\n")[0].decode()
            body = text.partition(b"\n\n")[2][:80]
            print(f"  {kind:13} {first} {body!r}")


def main() -> None:
    if sys.argv[1:] == ["compare"]:
        compare()
        return
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    sites = {"JsonResource": ours(), "klein": klein_site()}
    floor = [run(bare_site(), CASES["GET /v2/probe"], n) for _ in range(runs)]
    print(
        f"floor (twisted.web, no routing, GET answering {{}}): "
        f"{statistics.median(floor):.1f} us/request"
    )
    for name, request in CASES.items():
        answers = {kind: answer_of(site, request) for kind, site in sites.items()}
        same = answers["JsonResource"] == answers["klein"]
        print(f"{name}: identical answers: {same}")
        if not same:
            for kind, text in answers.items():
                print(f"  {kind}: {text!r}")
        for site in sites.values():
            run(site, request, n // 10)  # warm up
        figures: dict[str, list[float]] = {kind: [] for kind in sites}
        for _ in range(runs):
            for kind, site in sites.items():
                figures[kind].append(run(site, request, n))
        for kind, us in figures.items():
            median = statistics.median(us)
            print(
                f"  {kind:13} {median:6.1f} us/request (median of {runs}; "
                f"min {min(us):.1f}, max {max(us):.1f}) = {1e6 / median:7.0f} requests/s"
            )
        ratio = statistics.median(figures["klein"]) / statistics.median(figures["JsonResource"])
        print(f"  klein / JsonResource: {ratio:.2f}x")


if __name__ == "__main__":
    main()
