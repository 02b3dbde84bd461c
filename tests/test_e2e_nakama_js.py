"""End to end: the official nakama-js client (node) against the real server.

``tests/e2e/scenarios.mjs`` drives ``@heroiclabs/nakama-js`` with its text (JSON) adapter
and ``@heroiclabs/nakama-js-protobuf``'s ``WebSocketAdapterPb``; each scenario asserts in
node and prints one JSON line of facts, which these tests check against the server (its
HTTP API and its registries). node runs as a child process of the reactor, so the server
keeps serving while it runs. The node packages are installed with ``npm ci`` (pinned by
``tests/e2e/package-lock.json``) when missing or stale.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet import protocol, reactor
from twisted.internet.defer import Deferred
from twisted.internet.task import deferLater

from nakama_rt.config import Config
from tests.conftest import RunningServer, make_config, start_server, stop_server
from tests.wsclient import SERVER_KEY, authenticate, http

E2E_DIR = Path(__file__).parent / "e2e"
ADAPTERS = ["json", "protobuf"]
NODE_TIMEOUT_S = 20.0  # the driver's own watchdog ends it after 9 s
NPM_TIMEOUT_S = 300


def _wanted_packages() -> dict[str, str]:
    return json.loads((E2E_DIR / "package.json").read_text())["dependencies"]


def _installed_version(name: str) -> str | None:
    manifest = E2E_DIR / "node_modules" / name / "package.json"
    try:
        return json.loads(manifest.read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None


def _unavailable(reason: str):
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def node() -> str:
    """The node executable, with ``tests/e2e``'s packages installed (``npm ci``)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        _unavailable("node and npm are needed for the nakama-js end-to-end tests")
    stale = {
        name: version
        for name, version in _wanted_packages().items()
        if _installed_version(name) != version
    }
    if stale:
        env = {**os.environ, "SCARF_ANALYTICS": "false"}
        try:
            done = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund"],
                cwd=E2E_DIR,
                env=env,
                capture_output=True,
                text=True,
                timeout=NPM_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired:
            _unavailable(f"npm ci in {E2E_DIR} took over {NPM_TIMEOUT_S} s")
        if done.returncode != 0:
            _unavailable(f"npm ci in {E2E_DIR} failed:\n{done.stderr[-3000:]}")
        missing = [n for n, v in _wanted_packages().items() if _installed_version(n) != v]
        assert not missing, f"npm ci did not install {missing}"
    return node


class _NodeRun(protocol.ProcessProtocol):
    """Collects a child's output; ``ended`` fires with (exit code, stdout, stderr)."""

    def __init__(self) -> None:
        self.out: list[bytes] = []
        self.err: list[bytes] = []
        self.ended: Deferred = Deferred()

    def outReceived(self, data: bytes) -> None:  # noqa: N802
        self.out.append(data)

    def errReceived(self, data: bytes) -> None:  # noqa: N802
        self.err.append(data)

    def processEnded(self, reason) -> None:  # noqa: N802
        code = getattr(reason.value, "exitCode", None)
        self.ended.callback((code, b"".join(self.out).decode(), b"".join(self.err).decode()))


async def run_scenario(node: str, port: int, adapter: str, scenario: str, *extra: str) -> dict:
    """Run one scenario in node (without blocking the reactor) and return its facts;
    ``extra`` are more arguments for the driver (``--other-port``)."""
    args = [node, "scenarios.mjs", "--host", "127.0.0.1", "--port", str(port)]
    args += ["--server-key", SERVER_KEY, "--adapter", adapter, "--scenario", scenario, *extra]
    run = _NodeRun()
    process = reactor.spawnProcess(run, node, args, env=dict(os.environ), path=str(E2E_DIR))
    killer = reactor.callLater(NODE_TIMEOUT_S, process.signalProcess, "KILL")
    try:
        code, out, err = await run.ended
    finally:
        if killer.active():
            killer.cancel()
    assert code == 0, f"node {scenario}/{adapter} exited with {code}:\n{err}\nstdout: {out}"
    lines = out.splitlines()
    assert len(lines) == 1, f"expected one JSON line on stdout, got {out!r}\nstderr: {err}"
    facts = json.loads(lines[0])
    assert facts["ok"] is True
    assert (facts["scenario"], facts["adapter"]) == (scenario, adapter)
    return facts


@dataclass
class ScenarioRun:
    """A scenario that ran to its end on a server of its own (still running)."""

    server: RunningServer
    adapter: str
    facts: dict


async def run_on_own_server(node: str, config: Config, adapter: str, scenario: str) -> ScenarioRun:
    """Start a server with ``config`` and run ``scenario`` on it until every socket of
    the run is gone; the caller stops the server (it is stopped here if the run fails)."""
    running = await start_server(config)
    try:
        facts = await run_scenario(node, running.port, adapter, scenario)
        await all_sockets_gone(running)
    except BaseException:
        await stop_server(running)
        raise
    return ScenarioRun(running, adapter, facts)


def scenario_runs(scenario: str):
    """A module-scoped fixture: one run of ``scenario`` per adapter, each on a server of
    its own, over (every socket gone) when the tests see it; the server stops after
    the module. A module binds it, and imports ``node``::

        storage_run = scenario_runs("storage")
    """

    @pytest_twisted.async_yield_fixture(scope="module", params=ADAPTERS)
    async def run(request, tmp_path_factory, node):  # noqa: F811 (the fixture)
        adapter = request.param
        config = make_config(tmp_path_factory.mktemp(f"{scenario}-{adapter}"))
        finished = await run_on_own_server(node, config, adapter, scenario)
        try:
            yield finished
        finally:
            await stop_server(finished.server)

    return run


def user_presence(user: dict, persistence: bool = False) -> dict:
    """A scenario user's presence as the facts give it: no status, and persistent only
    in a channel (``persistence=True``), not in a match or party."""
    return {
        "user_id": user["user_id"],
        "session_id": user["session_id"],
        "username": user["username"],
        "status": None,
        "persistence": persistence,
    }


async def user_id_by_http(port: int, custom_id: str) -> str:
    """The user id the HTTP API gives for a custom id (authenticate, then GET /v2/account)."""
    session = await authenticate(port, custom_id)
    answer = await http(port, "GET", "/v2/account", bearer=session["token"])
    assert answer.status == 200, answer
    return answer.json()["user"]["id"]


async def all_sockets_gone(server, timeout: float = 3.0) -> None:
    """Wait until the server has dropped every session of the node run."""
    for _ in range(int(timeout / 0.05)):
        if len(server.server.sessions) == 0:
            return
        await deferLater(reactor, 0.05, lambda: None)
    raise AssertionError(f"sessions left on the server: {list(server.server.sessions)}")


def assert_frames(facts: dict, adapter: str) -> None:
    """Sockets used the adapter's format; text frames for JSON, binary for protobuf."""
    for tap in facts["frames"]:
        assert tap["path"] == "/ws"
        assert tap["query"].get("format") == ("protobuf" if adapter == "protobuf" else None)
        binary = adapter == "protobuf"
        assert tap["sent_binary"] == (tap["sent"] if binary else 0), tap
        assert tap["received_binary"] == (tap["received"] if binary else 0), tap


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest_twisted.ensureDeferred
async def test_session_lifecycle(server, node, adapter) -> None:
    facts = await run_scenario(node, server.port, adapter, "session")
    user_id = await user_id_by_http(server.port, facts["custom_id"])
    assert facts["user_id"] == user_id
    assert facts["account"] == {
        "user_id": user_id,
        "username": facts["username"],
        "custom_id": facts["custom_id"],
    }
    assert facts["created"] is True
    assert facts["again"] == {"created": False, "user_id": user_id, "username": facts["username"]}
    config = server.app.config.session
    # Seen from node's clock after the login: a second may have turned meanwhile.
    assert config.token_expiry_sec - 1 <= facts["expires_in"] <= config.token_expiry_sec
    refresh = facts["refresh_expires_in"]
    assert config.refresh_token_expiry_sec - 1 <= refresh <= config.refresh_token_expiry_sec
    assert facts["refreshed"] == {
        "token_changed": True,
        "user_id": user_id,
        "username": facts["username"],
        "expires_later": True,
    }
    assert facts["logout"] is True
    assert facts["get_account_after_logout"] == "HTTP 401 Unauthorized"
    assert facts["refresh_after_logout"] == "HTTP 401 Unauthorized"
    for name in ("logged_out", "pre_refresh"):
        refused = facts["refused"][name]
        assert refused["error"] == "WebSocket error event: Unexpected server response: 401"
        assert refused["close"]["code"] == 1006  # no WebSocket was ever opened
    assert_frames(facts, adapter)
    await all_sockets_gone(server)


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest_twisted.ensureDeferred
async def test_ping_heartbeat_and_clean_disconnect(server, node, adapter) -> None:
    facts = await run_scenario(node, server.port, adapter, "ping")
    assert facts["user_id"] == await user_id_by_http(server.port, facts["custom_id"])
    assert facts["pong_keys"] == ["cid", "pong"]
    assert facts["pong_cid_is_numeric"] is True
    frames = facts["frames"]
    assert frames["query"]["status"] == "false"
    # An explicit ping plus heartbeat pings every 300 ms for 2 s, each answered.
    assert frames["sent"] >= 1 + facts["watch_ms"] // facts["heartbeat_ms"] - 1
    assert frames["received"] >= frames["sent"] - 1
    assert_frames({"frames": [frames]}, adapter)
    assert facts["send_after_close"] == '"Socket connection has not been established yet."'
    await all_sockets_gone(server)
    assert facts["close"]["was_clean"] is True
    # nakama-js (like browsers) closes without a status code. Nakama (gorilla) echoes the
    # code it received, FormatCloseMessage(1005, "") being an empty close frame, so the
    # client reports 1005; a server that answers 1000 instead is not doing what Nakama does.
    assert facts["close"]["code"] == 1005, (
        f"client-initiated close: nakama-js saw code {facts['close']['code']}"
        " (Nakama echoes an empty close frame: 1005)"
    )


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest_twisted.ensureDeferred
async def test_status_follow_update_leave_unfollow_and_bad_input(server, node, adapter) -> None:
    facts = await run_scenario(node, server.port, adapter, "status")
    a, b = facts["a"], facts["b"]
    assert a["user_id"] == await user_id_by_http(server.port, a["custom_id"])
    assert b["user_id"] == await user_id_by_http(server.port, b["custom_id"])
    assert len({a["session_id"], b["session_id"], b["session_id_2"]}) == 3

    def online(status: str, session_id: str | None = None) -> dict:
        return {
            "user_id": b["user_id"],
            "session_id": session_id or b["session_id"],
            "username": b["username"],
            "status": status,
            "persistence": False,
        }

    assert facts["b_own_join"] == {"joins": [online("")], "leaves": []}
    assert facts["a_own_join"]["joins"][0]["user_id"] == a["user_id"]
    assert facts["followed"] == [online("")]
    assert facts["update_event"] == {"joins": [online("playing")], "leaves": [online("")]}
    assert facts["b_self_update"] == facts["update_event"]
    assert facts["followed_by_username"] == [online("playing")]
    assert facts["leave_event"] == {"joins": [], "leaves": [online("playing")]}
    assert facts["unfollow_answer_keys"] == ["cid"]
    assert facts["b_rejoin"] == {"joins": [online("", b["session_id_2"])], "leaves": []}
    assert facts["events_after_unfollow"] == 0
    assert facts["bad_follow_error"] == {"code": 3, "message": "Invalid user identifier"}
    assert facts["a_open_after_error"] is True, "a failed request keeps the socket, as in Nakama"
    assert facts["b_close"]["was_clean"] is True
    assert facts["b2_close"]["was_clean"] is True
    assert [tap["query"]["status"] for tap in facts["frames"]] == ["true", "true", "true"]
    assert_frames(facts, adapter)

    await all_sockets_gone(server)
    assert not server.server.status.is_online(b["user_id"])
    assert server.server.status.followers(b["user_id"]) == frozenset()
    assert server.server.status.followers(a["user_id"]) == frozenset()


LEADERBOARD_MODULES = Path(__file__).parent / "leaderboard_modules"
LEADERBOARD_SCENARIOS = ["pages", "operators", "around", "refusals", "reset"]


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest_twisted.ensureDeferred
async def test_leaderboards(tmp_path, node, adapter) -> None:
    """The ``leaderboard_*`` scenarios (``tests/e2e/leaderboard_scenarios.mjs``: their
    node checks hold the values a reference Nakama gives) on a server of their own, whose
    runtime has the board-making RPCs of ``tests/leaderboard_modules``; then what the
    server's storage holds."""
    config = make_config(tmp_path, runtime={"path": str(LEADERBOARD_MODULES)})
    running = await start_server(config)
    try:
        facts = {}
        for name in LEADERBOARD_SCENARIOS:
            facts[name] = await run_scenario(node, running.port, adapter, f"leaderboard_{name}")
        storage = running.app.storage

        async def held(board: str, expiry: int = 0) -> list[tuple]:
            page = await storage.list_leaderboard_records(board, 10, "", [], expiry)
            return [(r.owner_id, r.score, r.subscore, r.num_score, r.rank) for r in page.records]

        users = facts["pages"]["users"]
        assert await held(facts["pages"]["board"]) == [
            (users["bob"]["user_id"], 100, 9, 1, 1),
            (users["alice"]["user_id"], 100, 5, 1, 2),
            (users["carol"]["user_id"], 50, 0, 1, 3),
        ]
        operators = facts["operators"]
        me = operators["user"]["user_id"]
        assert await held(operators["boards"]["best"]) == [(me, 10, 0, 3, 1)]
        assert await held(operators["boards"]["incr"]) == [(me, 40, 0, 4, 1)]
        around = facts["around"]["users"]
        owners = [r[0] for r in await held(facts["around"]["board"])]
        assert owners == [around[i] for i in (0, 1, 3, 4)]  # player 2 deleted theirs
        refusals = facts["refusals"]
        assert await held(refusals["board"]) == [(refusals["user"]["user_id"], 42, 1, 1, 1)]
        reset = facts["reset"]
        expected = [(reset["user"]["user_id"], 5, 0, 1, 1)]
        assert await held(reset["board"], reset["expiry"]) == expected
        assert await held(reset["board"], reset["expiry"] - 86400) == []
        await all_sockets_gone(running)
    finally:
        await stop_server(running)
