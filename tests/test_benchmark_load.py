"""``benchmarks/load.py`` end to end: a tiny run of every scenario against a real
server, in both formats, read back from the JSON line it ends with; and the relay
handler (``examples/runtime/relay.py``) the authoritative scenario runs through."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from nakama_rt.testing import MatchHarness, load_runtime

ROOT = Path(__file__).resolve().parent.parent
LOAD = ROOT / "benchmarks" / "load.py"
EXAMPLES = ROOT / "examples" / "runtime"
TINY = ["--workers", "1", "--warmup", "0.2", "--duration", "1", "--drain", "3"]


def _module(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def server():
    """One server for the runs (with examples/runtime, for the relay), as a user
    would start it: twistd in a subprocess."""
    spawning = _module("loadgen_server", ROOT / "benchmarks" / "loadgen" / "server.py")
    running = spawning.SpawnedServer(runtime_path=EXAMPLES)
    running.start()
    yield running
    assert running.stop() == 0, running.log_tail()


def load(*args: str) -> dict:
    """Run the benchmark; its last line is the result."""
    done = subprocess.run(
        [sys.executable, str(LOAD), *args, *TINY],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    *report, last = done.stdout.splitlines()
    result = json.loads(last)
    assert report, "the human-readable report comes first"
    return result


def against(server, scenario: str, fmt: str, *args: str) -> dict:
    return load(
        scenario,
        "--format",
        fmt,
        "--port",
        str(server.port),
        "--server-pid",
        str(server.pid),
        "--user-prefix",
        f"{scenario}-{fmt}",
        *args,
    )


def check_measured(result: dict) -> None:
    assert all(rate > 0 for rate in result["rates"].values()), result["rates"]
    latency = result["latency_ms"]
    assert latency is not None and 0 <= latency["p50"] <= latency["p99"] <= latency["max"]
    assert (result["lost"], result["duplicated"]) == (0, 0), result["counts"]
    assert result["server_cpu_s"] is not None and result["server_rss_kb"] > 0
    assert result["loadgen_cpu_s"] >= 0


@pytest.mark.parametrize("fmt", ["json", "protobuf"])
def test_ping(server, fmt) -> None:
    result = against(server, "ping", fmt, "--sockets", "3")
    assert (result["scenario"], result["format"]) == ("ping", fmt)
    check_measured(result)
    assert result["counts"]["round_trips"] > 0
    assert result["per_cpu_second"] > 0


@pytest.mark.parametrize("fmt", ["json", "protobuf"])
def test_chat(server, fmt) -> None:
    result = against(server, "chat", fmt, "--rooms", "2", "--members", "3", "--rate", "60")
    check_measured(result)
    counts = result["counts"]
    # Every member gets every message of its room, the sender included.
    assert counts["expected"] == counts["sent"] * 3 == counts["received"]
    assert result["params"]["persistence"] is False
    assert result["send_lag_ms"] is not None


@pytest.mark.parametrize("fmt", ["json", "protobuf"])
def test_relayed_match(server, fmt) -> None:
    result = against(server, "match", fmt, "--matches", "2", "--players", "3", "--hz", "10")
    check_measured(result)
    counts = result["counts"]
    # Match data goes to the other players only.
    assert counts["expected"] == counts["sent"] * 2 == counts["received"]


def test_authoritative_match(server) -> None:
    result = against(
        server,
        "authoritative",
        "json",
        "--matches",
        "2",
        "--players",
        "3",
        "--metrics-url",
        server.metrics_url,
    )
    check_measured(result)
    assert result["counts"]["expected"] == result["counts"]["sent"] * 2
    assert result["tick_overruns"] == 0  # read from the server's /metrics


def test_connect_with_a_spawned_server() -> None:
    result = load("connect", "--spawn-server", "--sockets", "20", "--concurrency", "5")
    check_measured(result)
    counts = result["counts"]
    assert counts["connects"] == counts["open_after_hold"] == counts["closed_cleanly"] == 20
    assert counts["failures"] == 0
    assert "server_rss_per_socket_kb" in result


def test_the_relay_sends_each_input_to_the_other_players() -> None:
    relay = _module("relay_example", EXAMPLES / "relay.py")
    game = MatchHarness(load_runtime(relay), "relay", {"tick_rate": 20})
    red, blue, green = game.join("red"), game.join("blue"), game.join("green")
    game.send(red, 7, b"north")
    game.send(blue, 8, b"south")
    game.tick()
    assert [(d["op_code"], d["bytes"]) for d in red.data()] == [("8", b"south")]
    assert [d["bytes"] for d in green.data()] == [b"north", b"south"]
    assert green.data()[0]["presence"]["username"] == "red"
    game.leave(green)
    game.send(red, 7, b"east")
    game.tick()
    assert [d["bytes"] for d in blue.data()] == [b"north", b"east"]
    assert json.loads(game.signal("")) == {"players": 2}


def test_sockets_spread_over_the_ports_of_a_cluster() -> None:
    """--also-port: socket by socket, every room spans the ports; --spread groups keeps
    each room on one."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from loadgen.plan import Params, members
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    spread = Params("chat", port=1, also_ports=(2,), rooms=2, members=4)
    by_room: dict[int, set[int]] = {}
    for member in members(spread):
        by_room.setdefault(member.group, set()).add(spread.port_of(member))
    assert by_room == {0: {1, 2}, 1: {1, 2}}
    kept = Params("chat", port=1, also_ports=(2,), rooms=2, members=4, spread="groups")
    assert {m.group: kept.port_of(m) for m in members(kept)} == {0: 1, 1: 2}
    assert Params("chat").port_of(members(Params("chat"))[3]) == 7350
