"""Game code's own events (``nk.event`` to ``register_event`` functions), ``nk.run_once``
and ``nk.time``, in a module loaded by a real server."""

from __future__ import annotations

import json
import sys
import textwrap
import time

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.task import deferLater

from tests.test_rpc import player

GAME = """
    import json

    EVENTS = []
    ONCE = []

    def on_event(ctx, logger, nk, event):
        EVENTS.append({
            "mode": ctx.execution_mode,
            "name": event.name,
            "properties": dict(event.properties),
            "timestamp": event.timestamp,
            "external": event.external,
        })

    def broken(ctx, logger, nk, event):
        raise RuntimeError("this event function breaks")

    def fire(ctx, logger, nk, payload):
        before = len(EVENTS)
        nk.event("level_up", {"level": payload}, external=True)
        nk.event("plain")
        return json.dumps({"delivered_at_once": len(EVENTS) - before, "now_ms": nk.time()})

    def bad_event(ctx, logger, nk, payload):
        nk.event("x", {"level": 7})

    def init_module(ctx, logger, nk, initializer):
        initializer.register_event(broken)
        initializer.register_event(on_event)
        initializer.register_rpc("fire", fire)
        initializer.register_rpc("bad_event", bad_event)
        nk.run_once(lambda ctx, logger, nk: ONCE.append(ctx.execution_mode))
        nk.run_once(lambda ctx, logger, nk: ONCE.append("a second time"))
"""


@pytest.fixture
def server_options(tmp_path) -> dict:
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "eventgame.py").write_text(textwrap.dedent(GAME))
    return {"runtime": {"path": str(modules)}}


def game():
    return sys.modules["eventgame"]


@pytest_twisted.ensureDeferred
async def test_events_reach_every_event_function_after_the_sender_goes_on(server) -> None:
    _, client = await player(server.port)
    answer = await client.request({"cid": "1", "rpc": {"id": "fire", "payload": "7"}})
    result = json.loads(answer["rpc"]["payload"])
    assert result["delivered_at_once"] == 0
    assert abs(result["now_ms"] - time.time() * 1000) < 5000
    assert isinstance(result["now_ms"], int)
    await deferLater(reactor, 0.05, lambda: None)
    events = game().EVENTS
    assert [(e["mode"], e["name"], e["properties"], e["external"]) for e in events] == [
        ("event", "level_up", {"level": "7"}, True),
        ("event", "plain", {}, False),
    ]
    # Stamped by the server's clock when sent (UNIX seconds), a failing function
    # notwithstanding.
    assert all(abs(e["timestamp"] - time.time()) < 5 for e in events)


@pytest_twisted.ensureDeferred
async def test_properties_must_be_strings(server) -> None:
    _, client = await player(server.port)
    answer = await client.request({"cid": "1", "rpc": {"id": "bad_event"}})
    assert answer["error"]["message"] == "event properties must map strings to strings"


@pytest_twisted.ensureDeferred
async def test_run_once_runs_once_per_process(server) -> None:
    assert game().ONCE == ["run_once"]


def test_an_event_needs_a_name_and_run_once_a_function(server) -> None:
    nk = server.server.runtime.nk
    for name in ("", None, 5):
        with pytest.raises(ValueError, match="an event name must be a non-empty string"):
            nk.event(name)
    with pytest.raises(TypeError, match="event properties must map strings to strings"):
        nk.event("x", {1: "a"})
    with pytest.raises(TypeError, match="run_once expects a function"):
        nk.run_once("not a function")
    assert game().ONCE == ["run_once"]
