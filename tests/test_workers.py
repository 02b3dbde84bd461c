"""``twistd nakama-rt --workers N``: one supervisor, N node processes on its listeners.

Real processes on the real Redis (database 12, flushed before each test; skipped without
Redis, failed under CI): players reach both workers through one port and meet in one
room; a worker killed with SIGKILL is started again, its name taken over at once so its
players leave well within the TTL; SIGTERM drains every worker (1001) and exits 0.
The restart delays are checked on a Clock.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import socket
import subprocess
import sys
from urllib.parse import urlsplit, urlunsplit

import pytest
import pytest_twisted
from conftest import make_config
from redis_fixtures import REDIS_URL, flush
from test_embedding import self_signed
from twisted.internet import reactor, ssl
from twisted.internet.task import Clock, deferLater

from nakama_rt.config import (
    ClusterConfig,
    Config,
    ConfigError,
    MetricsConfig,
    config_from_mapping,
)
from nakama_rt.service import NakamaService, RecordedStartup
from nakama_rt.workers import RestartBackoff
from nakama_rt.workers.brief import WorkerBrief, worker_config
from nakama_rt.workers.logrelay import relayed_event
from nakama_rt.workers.worker import InheritedListeners
from tests.processes import (
    Watch,
    child_env,
    failed_start,
    free_port,
    serving,
    twistd,
)
from tests.wsclient import SocketClient, authenticate, connect, has, http, wait_for

#: Node TTL of the process tests: long enough that leaving within it shows the takeover.
TTL = 9


@pytest.fixture
def workers_redis_url() -> str:
    """The test Redis's database 12 (the other cluster tests use 13), emptied; skipped
    without Redis, except under CI."""
    parts = urlsplit(REDIS_URL)
    url = urlunsplit(parts._replace(path="/12"))
    try:
        flush(url)
    except OSError as error:
        message = f"no Redis at {url}: {error}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return url


# -- The restart policy, on a Clock ---------------------------------------------------


def test_a_dead_worker_starts_again_at_once_then_backs_off_while_it_dies_quickly() -> None:
    clock = Clock()
    backoff = RestartBackoff(clock, first_sec=1, max_sec=30, stable_sec=10)
    clock.advance(3)
    assert backoff.died() == 0  # the first death: at once
    delays = []
    for _ in range(7):
        backoff.started()
        clock.advance(2)  # dies again 2 s after each start
        delays.append(backoff.died())
    assert delays == [1, 2, 4, 8, 16, 30, 30]
    backoff.started()
    clock.advance(10)  # a stable run resets the delay
    assert backoff.died() == 0
    backoff.started()
    clock.advance(1)
    assert backoff.died() == 1


# -- What a worker is told --------------------------------------------------------------


def test_worker_i_is_node_name_i_with_metrics_on_port_plus_i_minus_1() -> None:
    config = Config(
        name="arena",
        workers=3,
        cluster=ClusterConfig(redis="redis://127.0.0.1:6379/12"),
        metrics=MetricsConfig(listen="tcp:9100:interface=127.0.0.1"),
        listen=("tcp:7350", "ssl:7351:privateKey=k.pem:certKey=c.pem"),
    ).validate()
    third = worker_config(config, 3)
    assert (third.name, third.workers) == ("arena-3", 1)
    assert third.metrics_listen() == "tcp:9102:interface=127.0.0.1"
    assert third.listen == config.listen
    brief = WorkerBrief(3, third, dead_pids=(41, 42))
    assert brief.encode().count(b"\n") == 1
    assert WorkerBrief.decode(brief.encode()) == brief
    prometheus = Config(metrics=MetricsConfig(prometheus_port=9100))
    assert worker_config(prometheus, 2).metrics_listen() == "tcp:9101"
    with pytest.raises(ConfigError, match="workers above 1 need a cluster"):
        Config(workers=2).validate()
    from_file = config_from_mapping({"workers": 4, "cluster": {"redis": "redis://h/1"}})
    assert from_file.validate().workers == 4


def test_a_worker_log_line_keeps_its_fields_and_names_the_worker() -> None:
    line = (
        b'{"time":"2026-12-06T13:27:20.818373Z","level":"warn","namespace":"nakama_rt.app",'
        b'"msg":"session s1 closed {odd}","traceback":"Traceback...\\nZeroDivisionError\\n",'
        b'"sid":"s1"}'
    )
    event = relayed_event(line, "nakama-2")
    assert event["worker"] == "nakama-2" and event["sid"] == "s1"
    assert event["log_system"] == "nakama-2 nakama_rt.app#warn"
    assert event["log_level"].name == "warn"
    assert event["log_failure"].getTraceback() == "Traceback...\nZeroDivisionError\n"
    assert event["log_time"] == pytest.approx(1796563640.818373)
    stray = relayed_event(b"Fatal Python error: Segmentation fault", "nakama-2")
    assert stray["log_text"] == "Fatal Python error: Segmentation fault"
    assert stray["worker"] == "nakama-2"


# -- Listeners adopted, not bound ---------------------------------------------------------


def inherited_socket() -> tuple[int, int]:
    """A listening socket as a supervisor hands it down: (its port, its descriptor)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    sock.setblocking(False)
    port = sock.getsockname()[1]
    return port, sock.detach()


@pytest_twisted.ensureDeferred
async def test_a_worker_adopts_its_listeners_tls_as_the_description_says(tmp_path) -> None:
    cert, key, cert_pem = self_signed(tmp_path)
    plain_port, plain_fd = inherited_socket()
    tls_port, tls_fd = inherited_socket()
    plain = f"tcp:{plain_port}:interface=127.0.0.1"
    tls = f"ssl:{tls_port}:interface=127.0.0.1:privateKey={key}:certKey={cert}"
    config = dataclasses.replace(
        make_config(tmp_path, session={"token_expiry_sec": 60}), listen=(plain, tls)
    )
    listeners = InheritedListeners(reactor, {plain: plain_fd, tls: tls_fd})
    service = NakamaService(config, reactor, startup=RecordedStartup(), listen=listeners.listen)
    service.startService()
    try:
        assert await service.startup.outcome is None
        assert [p.getHost().port for p in service.ports] == [plain_port, tls_port]
        session = await authenticate(plain_port, "workers-tls", username="tls")
        trust = ssl.optionsForClientTLS("localhost", ssl.Certificate.loadPEM(cert_pem))
        client = await connect(tls_port, session["token"], tls=trust)
        assert await client.request({"cid": "t", "ping": {}}) == {"cid": "t", "pong": {}}
    finally:
        await service.stopService()


# -- Startup mistakes -----------------------------------------------------------------------


def test_workers_without_a_cluster_is_one_line_and_exit_status_1(tmp_path) -> None:
    assert "--workers=" in twistd("--help", cwd=tmp_path).stdout
    result = twistd("--workers", "2", cwd=tmp_path)
    assert result.returncode == 1
    lines = (result.stdout + result.stderr).splitlines()
    assert lines == [
        "twistd nakama-rt: workers above 1 need a cluster for their nodes: "
        "give --cluster redis://host:port/db (cluster.redis)",
        "Try 'twistd nakama-rt --help' for the options.",
    ]


def test_workers_share_only_tcp_listeners(tmp_path) -> None:
    result = twistd(
        "--workers", "2", "--cluster", "redis://127.0.0.1:1/12", "--listen", "unix:s", cwd=tmp_path
    )
    assert result.returncode == 1
    assert "workers share only tcp:, tcp6: or ssl: listeners" in result.stderr


def test_a_supervisor_without_its_redis_is_one_line_and_exit_status_1(tmp_path) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, never listening: connections are refused
        line = failed_start(
            "--workers", "2", "--cluster", f"redis://127.0.0.1:{port}/12", cwd=tmp_path
        )
    assert f"nakama-rt could not start: cluster redis://127.0.0.1:{port}/12: " in line
    assert "refused" in line


def redis_set(url: str, key: str, value: str, ttl_ms: int) -> None:
    """SET ``key`` as another process of the cluster would."""
    parts = urlsplit(url)
    words = [("SELECT", parts.path.strip("/")), ("SET", key, value, "PX", str(ttl_ms))]
    request = b"".join(
        b"*%d\r\n" % len(w) + b"".join(b"$%d\r\n%s\r\n" % (len(x), x.encode()) for x in w)
        for w in words
    )
    with socket.create_connection((parts.hostname, parts.port or 6379), timeout=2) as sock:
        sock.sendall(request)
        assert sock.recv(100) == b"+OK\r\n+OK\r\n"


def test_a_worker_that_cannot_start_fails_the_start_with_its_reason(
    tmp_path, workers_redis_url
) -> None:
    """Node name nakama-2 is live elsewhere: the supervisor exits 1 with worker 2's
    reason, and its other worker does not outlive it. The JSON log stays JSON, each
    worker's lines marked with its name."""
    redis_set(workers_redis_url, "nakama-rt:node:nakama-2", "elsewhere pid 1", 30_000)
    options = ("--workers", "2", "--cluster", workers_redis_url, "--log-format", "json")
    result = subprocess.run(
        serving(free_port(), *options),
        cwd=tmp_path,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 1, result.stdout
    records = [json.loads(line) for line in result.stdout.splitlines()]
    failed = [r for r in records if "could not start" in r["msg"]]
    assert [r.get("worker") for r in failed] == ["nakama-2", None]  # its own, then ours
    assert failed[1]["msg"] == (
        "nakama-rt could not start: worker nakama-2: node name 'nakama-2' is already live "
        "in the cluster (give each node its own --node name)"
    )
    assert {r.get("worker") for r in records} == {None, "nakama-1", "nakama-2"}
    pids = [
        r["pid"] for r in records if r["msg"].startswith("worker nakama-") and "started" in r["msg"]
    ]
    assert len(pids) == 2 and not any(alive(pid) for pid in pids)
    assert "Traceback" not in result.stdout + result.stderr


def test_a_busy_port_is_the_supervisors_one_line(tmp_path, workers_redis_url) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        line = failed_start(
            "--workers",
            "2",
            "--cluster",
            workers_redis_url,
            "--listen",
            f"tcp:{port}:interface=127.0.0.1",
            cwd=tmp_path,
        )
    assert line.endswith(
        f"nakama-rt could not start: socket and API on 127.0.0.1:{port}: "
        "the address is already in use"
    )


# -- Real processes ---------------------------------------------------------------------------


class Supervised:
    """``twistd nakama-rt --workers 2`` in the foreground, and what its log tells."""

    def __init__(self, tmp_path, redis_url: str, *options: str) -> None:
        self.port = free_port()
        config = tmp_path / "nakama.yml"
        config.write_text(
            "session:\n  token_expiry_sec: 120\n"
            f"cluster:\n  redis: {redis_url}\n  node_ttl_sec: {TTL}\n"
            "metrics:\n  listen: tcp:0:interface=127.0.0.1\n"
        )
        self.watch = Watch()
        args = serving(
            self.port,
            "--config",
            str(config),
            "--workers",
            "2",
            "--data-dir",
            str(tmp_path),
            *options,
        )
        self.process = reactor.spawnProcess(
            self.watch, sys.executable, args, env=child_env(), path=str(tmp_path)
        )

    @property
    def log(self) -> str:
        return self.watch.output.decode()

    async def logged(self, pattern: str, count: int = 1, timeout: float = 15) -> list[re.Match]:
        """The first ``count`` matches of ``pattern`` in the log, once there."""
        for _ in range(int(timeout / 0.05)):
            found = list(re.finditer(pattern, self.log))
            if len(found) >= count:
                return found
            if self.watch.ended.called:
                break
            await deferLater(reactor, 0.05, lambda: None)
        raise AssertionError(f"no {pattern!r} in the log:\n{self.log}")

    async def serving(self) -> dict[str, int]:
        """Once both workers serve: each one's pid, by node name."""
        await self.logged(r"nakama-rt serving with 2 workers")
        return self.pids()

    def pids(self) -> dict[str, int]:
        """Each worker's latest pid, by node name."""
        started = re.findall(r"worker (nakama-\d) started \(pid (\d+)\)", self.log)
        return {name: int(pid) for name, pid in started}

    def metrics_ports(self) -> dict[str, int]:
        """Each worker's metrics port, the latest it logged (a restarted one binds anew)."""
        found = re.findall(r"\[(nakama-\d) [^]]*\] metrics on 127\.0\.0\.1:(\d+)", self.log)
        return {name: int(port) for name, port in found}

    async def stop(self) -> int:
        if not self.watch.ended.called:
            self.process.signalProcess(signal.SIGTERM)
        return await self.watch.ended

    async def kill(self) -> None:
        if not self.watch.ended.called:
            self.process.signalProcess(signal.SIGKILL)
            await self.watch.ended


async def sessions(metrics: dict[str, int]) -> dict[str, float]:
    """Sockets open on each worker, from its /metrics."""
    counts = {}
    for name, port in metrics.items():
        answer = await http(port, "GET", "/metrics")
        (value,) = re.findall(rb"^nakama_rt_sessions ([0-9.]+)$", answer.body, re.MULTILINE)
        counts[name] = float(value)
    return counts


class Player:
    def __init__(self, client: SocketClient, name: str, worker: str) -> None:
        self.client, self.name, self.worker = client, name, worker


async def player_on(server: Supervised, worker: str, name: str) -> Player:
    """A new player ``name`` whose socket ``worker`` took: the kernel hands a connection
    to whichever worker accepts first, so the others are paused (SIGSTOP) meanwhile.
    Its /metrics counts the socket."""
    others = [pid for node, pid in server.pids().items() if node != worker]
    before = await sessions(server.metrics_ports())
    for pid in others:
        os.kill(pid, signal.SIGSTOP)
    try:
        custom_id = f"workers-{name}-{os.urandom(4).hex()}"
        session = await authenticate(server.port, custom_id, username=name)
        client = await connect(server.port, session["token"])
    finally:
        for pid in others:
            os.kill(pid, signal.SIGCONT)
    after = await sessions(server.metrics_ports())
    assert after[worker] == before[worker] + 1, (before, after)
    return Player(client, name, worker)


def room(name: str) -> dict:
    return {"cid": "j", "channel_join": {"target": name, "type": 1, "persistence": False}}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest_twisted.ensureDeferred
async def test_players_on_both_workers_share_a_room_and_sigterm_drains_all(
    tmp_path, workers_redis_url
) -> None:
    server = Supervised(tmp_path, workers_redis_url)
    try:
        pids = await server.serving()
        assert set(pids) == {"nakama-1", "nakama-2"}
        players = [
            await player_on(server, "nakama-1", "ann"),
            await player_on(server, "nakama-2", "ben"),
            await player_on(server, "nakama-2", "cid"),
        ]
        clients = [player.client for player in players]
        for client in clients:
            await client.request(room("hall"))
            await deferLater(reactor, 0.3, lambda: None)  # its join reaches the other node
        channel_id = "2...hall"
        for n, client in enumerate(clients):
            send = {"channel_id": channel_id, "content": f'{{"n": {n}}}'}
            client.send({"cid": f"m{n}", "channel_message_send": send})
        for client in clients:
            heard = set()
            while len(heard) < len(clients):
                message, _ = await wait_for(client, has("channel_message"))
                heard.add(message["channel_message"]["username"])
            assert heard == {player.name for player in players}

        server.process.signalProcess(signal.SIGTERM)
        for client in clients:
            code, _ = await client.closed()
            assert code == 1001
        assert await server.watch.ended == 0
    finally:
        await server.kill()
    log = server.log
    assert "worker nakama-1 (pid" in log and "exited with status 0" in log
    assert log.rstrip().splitlines()[-1].endswith("Server Shut Down.")
    assert not any(alive(pid) for pid in pids.values())
    assert "Traceback" not in log


@pytest_twisted.ensureDeferred
async def test_a_worker_killed_with_sigkill_is_started_again_and_its_players_leave(
    tmp_path, workers_redis_url
) -> None:
    server = Supervised(tmp_path, workers_redis_url)
    try:
        pids = await server.serving()
        stays = await player_on(server, "nakama-1", "ann")
        goes = await player_on(server, "nakama-2", "ben")
        doomed = goes.worker
        await stays.client.request(room("hall"))
        await wait_for(stays.client, has("channel_presence_event"))  # its own join
        await deferLater(reactor, 0.3, lambda: None)
        await goes.client.request(room("hall"))
        event, _ = await wait_for(stays.client, has("channel_presence_event"))
        assert [p["username"] for p in event["channel_presence_event"]["joins"]] == [goes.name]

        os.kill(pids[doomed], signal.SIGKILL)
        started = reactor.seconds()
        await goes.client.closed()
        # The successor frees the name at once: the leave comes well before the TTL.
        event, _ = await wait_for(stays.client, has("channel_presence_event"), timeout=TTL - 1)
        assert [p["username"] for p in event["channel_presence_event"]["leaves"]] == [goes.name]
        assert reactor.seconds() - started < 4  # (0.6 s here) the TTL is 9 s
        await server.logged(
            rf"worker {doomed} \(pid {pids[doomed]}\) was killed by SIGKILL; "
            r"starting it again now"
        )
        await server.logged(rf"worker {doomed} serving again \(pid \d+\)")
        assert f"node {doomed} taken over from its dead predecessor" in server.log

        # The restarted worker serves: a new player on it meets the one who stayed.
        newcomer = await player_on(server, doomed, "dan")
        await newcomer.client.request(room("hall"))
        await wait_for(stays.client, has("channel_presence_event"))
        send = {"channel_id": "2...hall", "content": "{}"}
        newcomer.client.send({"cid": "m", "channel_message_send": send})
        heard, _ = await wait_for(stays.client, has("channel_message"))
        assert heard["channel_message"]["username"] == newcomer.name
        server.process.signalProcess(signal.SIGINT)  # as a terminal's ^C: the same drain
        assert await server.watch.ended == 0
    finally:
        await server.kill()


def _two_free_ports_in_a_row() -> int:
    """A port such that it and the next one are free now (a worker's console binds
    the port + its index - 1)."""
    for _ in range(50):
        first = free_port()
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", first + 1))
            except OSError:
                continue
        return first
    raise AssertionError("no two free ports in a row")


@pytest_twisted.ensureDeferred
async def test_one_workers_console_shows_and_disconnects_the_others_sessions(
    tmp_path, workers_redis_url
) -> None:
    """With --workers 2 every worker serves its console (the port, then the next); the
    first one's shows the sessions of both and disconnects one of the second's."""
    from tests.test_console import Console

    console_port = _two_free_ports_in_a_row()
    listen = f"tcp:{console_port}:interface=127.0.0.1"
    server = Supervised(tmp_path, workers_redis_url, "--console-listen", listen)
    try:
        await server.serving()
        ann = await player_on(server, "nakama-1", "ann")
        ben = await player_on(server, "nakama-2", "ben")
        await deferLater(reactor, 0.3, lambda: None)
        console = Console(console_port)
        assert (await console.login()).status == 303
        found = (await console.get("/sessions?q=" + "e")).body.decode()  # b(e)n
        assert "ben" in found and "nakama-2" in found
        both = (await console.get("/sessions?q=n")).body.decode()  # an(n), be(n)
        assert "ann" in both and "ben" in both and "nakama-1" in both
        second = Console(console_port + 1)
        assert (await second.login()).status == 303
        session_id = re.search(r'data-session="([^"]+)"', found).group(1)
        fields = {"session_id": session_id, "node": "nakama-2", "csrf": console.csrf()}
        done = await console.post("/sessions/disconnect", {**fields, "back": "/"})
        assert done.status == 303
        assert await ben.client.closed() == (1000, "disconnected by an operator")
        await server.logged(r"console: admin disconnected session")  # (relayed by the supervisor)
        ann.client.sendClose()
    finally:
        await server.kill()
