"""One load generator process: an asyncio loop holding its share of the sockets.

The parent drives every worker through the same steps with commands on a pipe
(``auth``, ``connect``, ``create``, ``join``, ``traffic``, ``drain``, ``check``,
``close``, ``stop``); each answers ``("ok", result)`` or ``("error", traceback)``.
Times in commands are wall-clock (``time.time()``), shared by all processes.

Senders follow an open-loop schedule: message ``k`` of sender ``s`` is due at
``start + (k * senders + s) / rate`` whatever the server does (nothing waits for a
reply), so a slow server shows as latency and loss, never as a lower send rate.
Messages carry the time they were actually sent: latency is the server's and the
network's alone, and how late the sender itself was (``send lag``, asyncio wakes up
to a millisecond late) is reported apart, so a reader can tell the two apart.
"""

from __future__ import annotations

import asyncio
import struct
import time
import traceback
from array import array
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from typing import Any

import orjson
from websockets.exceptions import ConnectionClosed

from . import plan
from .client import Authenticator, SetupError, Socket, socket_url
from .plan import Member, Params
from .wire import wire_for

#: Match data: sender slot, sequence number, send time (wall clock).
MATCH_DATA = struct.Struct("<IId")
OP_CODE = 1
PING_TIMEOUT = 10.0


def run_worker(conn: Connection, params: Params, index: int) -> None:
    """Process entry point."""
    asyncio.run(Worker(conn, params, index).serve())


def room_name(params: Params, group: int) -> str:
    return f"{params.user_prefix}-room-{group}"


class Receipts:
    """Deliveries seen by this worker's sockets: each ``(sender, seq)`` counted once
    per receiver, latency kept for those received inside the measured window."""

    def __init__(self, scenario: str) -> None:
        self.kind = "channel_message" if scenario == "chat" else "match_data"
        self.seen: dict[int, set[int]] = {}
        self.unique = 0
        self.duplicated = 0
        self.foreign = 0
        self.window = (float("inf"), float("inf"))
        self.latencies = array("d")
        self.reached = asyncio.Event()
        self.target: int | None = None

    def on_push(self, slot: int, kind: str, value: Any, now: float) -> None:
        if kind != self.kind:
            return  # presence events, chat acks
        try:
            if kind == "channel_message":
                content = orjson.loads(value)
                sender, seq, sent_at = content["s"], content["q"], content["t"]
            else:
                sender, seq, sent_at = MATCH_DATA.unpack(value)
        except (orjson.JSONDecodeError, KeyError, TypeError, struct.error):
            self.foreign += 1
            return
        key = sender << 32 | seq
        seen = self.seen.get(slot)
        if seen is None:
            seen = self.seen[slot] = set()
        if key in seen:
            self.duplicated += 1
            return
        seen.add(key)
        self.unique += 1
        start, end = self.window
        if start <= now < end:
            self.latencies.append(now - sent_at)
        if self.target is not None and self.unique >= self.target:
            self.reached.set()


class Worker:
    def __init__(self, conn: Connection, params: Params, index: int) -> None:
        self.conn = conn
        self.params = params
        self.index = index
        self.wire = wire_for(params.format)
        self.members = plan.members_of(params, index)
        self.tokens: dict[int, str] = {}
        self.sockets: dict[int, Socket] = {}
        #: The channel or match id each socket sends to.
        self.targets: dict[int, str] = {}
        self.receipts = Receipts(params.scenario)
        self.round_trips = array("d")
        self.ping_timeouts = 0
        self.send_lags = array("d")
        self.unsent = 0

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            command, argument = await loop.run_in_executor(None, self.conn.recv)
            if command == "stop":
                self.conn.send(("ok", None))
                return
            try:
                result = await getattr(self, "do_" + command)(argument)
            except (SetupError, OSError) as exc:
                # The server refused or is unreachable: the reason is enough.
                self.conn.send(("error", f"{type(exc).__name__}: {exc}"))
            except Exception:
                self.conn.send(("error", traceback.format_exc()))
            else:
                self.conn.send(("ok", result))

    # Setup

    async def do_auth(self, _: None) -> int:
        """Session tokens for every socket of this worker (not timed)."""
        params = self.params
        auth = Authenticator(params.host, params.port, params.server_key)
        loop = asyncio.get_running_loop()
        with ThreadPoolExecutor(max_workers=8) as pool:
            tokens = await asyncio.gather(
                *(
                    loop.run_in_executor(
                        pool,
                        auth.token,
                        f"{params.user_prefix}-{m.slot:06d}",
                        f"{params.user_prefix}{m.slot}",
                    )
                    for m in self.members
                )
            )
        self.tokens = {m.slot: token for m, token in zip(self.members, tokens, strict=True)}
        return len(self.tokens)

    async def do_connect(self, argument: dict[str, float]) -> dict[str, Any]:
        """Open every socket, ``concurrency`` at a time, from ``start`` on; how long
        each handshake took and which failed."""
        await _sleep_until(argument["start"])
        gate = asyncio.Semaphore(int(argument["concurrency"]))
        params, wire = self.params, self.wire
        latencies = array("d")
        errors: list[str] = []

        async def open_one(member: Member) -> None:
            url = socket_url(
                params.host, params.port_of(member), self.tokens[member.slot], params.format
            )
            async with gate:
                began = time.time()
                try:
                    sock = await Socket.open(member.slot, url, wire, self.receipts.on_push)
                except Exception as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")
                    return
                latencies.append(time.time() - began)
                self.sockets[member.slot] = sock

        started = time.time()
        await asyncio.gather(*(open_one(m) for m in self.members))
        return {
            "opened": len(latencies),
            "failures": len(errors),
            "errors": errors[:5],
            "started": started,
            "finished": time.time(),
            "latencies": latencies,
        }

    async def do_create(self, _: None) -> dict[int, str]:
        """Creators make their group's match; answers ``{group: match id}``."""
        created: dict[int, str] = {}
        authoritative = self.params.scenario == "authoritative"
        payload = orjson.dumps({"tick_rate": self.params.tick_rate}).decode()
        rpc_id = self.params.rpc_id

        async def create(member: Member) -> None:
            sock, wire = self.sockets[member.slot], self.wire
            if authoritative:
                answer = await sock.expect(
                    lambda cid: wire.rpc(cid, rpc_id, payload),
                    "rpc",
                    f"rpc {rpc_id} (the server must run examples/runtime/relay.py or its like)",
                )
                match_id = orjson.loads(answer)["match_id"]
                await sock.expect(lambda cid: wire.match_join(cid, match_id), "match", "join")
            else:
                match_id = await sock.expect(wire.match_create, "match", "match_create")
            created[member.group] = match_id

        await _limited(self.params.concurrency, [create(m) for m in self.members if m.creator])
        return created

    async def do_join(self, match_ids: dict[int, str] | None) -> int:
        """Chat: everyone joins its room. Matches: the others join by id."""
        wire = self.wire

        async def join(member: Member) -> None:
            sock = self.sockets[member.slot]
            if self.params.scenario == "chat":
                room = room_name(self.params, member.group)
                self.targets[member.slot] = await sock.expect(
                    lambda cid: wire.channel_join(cid, room), "channel", f"join {room}"
                )
                return
            assert match_ids is not None
            match_id = self.targets[member.slot] = match_ids[member.group]
            if not member.creator:
                await sock.expect(lambda cid: wire.match_join(cid, match_id), "match", "join")

        await _limited(self.params.concurrency, [join(m) for m in self.members])
        return len(self.targets)

    # Measured traffic

    async def do_traffic(self, times: dict[str, float]) -> dict[int, int]:
        """Send from ``start`` (warmup) to ``end``; answers messages sent per sender."""
        self.receipts.window = (times["window_start"], times["end"])
        if self.params.scenario == "ping":
            await asyncio.gather(*(self._pings(sock, times) for sock in self.sockets.values()))
            return {}
        return await self._send_schedule(times)

    async def _pings(self, sock: Socket, times: dict[str, float]) -> None:
        await _sleep_until(times["start"])
        window_start, end = times["window_start"], times["end"]
        ping = self.wire.ping
        while True:
            began = time.time()
            if began >= end:
                return
            try:
                await sock.request(ping, PING_TIMEOUT)
            except TimeoutError:
                self.ping_timeouts += 1
                continue
            except (ConnectionError, ConnectionClosed):
                return
            now = time.time()
            if window_start <= now < end:
                self.round_trips.append(now - began)

    async def _send_schedule(self, times: dict[str, float]) -> dict[int, int]:
        params = self.params
        start, window_start, end = times["start"], times["window_start"], times["end"]
        senders = sorted(self.sockets)
        total, rate = params.total_sockets, params.send_rate
        sequence = dict.fromkeys(senders, 0)
        chat = params.scenario == "chat"
        wire, lags = self.wire, self.send_lags
        behind = 0
        round_ = 0
        while True:
            for slot in senders:
                due = start + (round_ * total + slot) / rate
                if due >= end:
                    return sequence
                delay = due - time.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                else:
                    # Behind schedule: catch up, but let the readers run now and then.
                    behind += 1
                    if behind % 16 == 0:
                        await asyncio.sleep(0)
                sent_at = time.time()
                if due >= window_start:
                    lags.append(sent_at - due)
                sock, seq = self.sockets[slot], sequence[slot]
                if chat:
                    content = f'{{"s":{slot},"q":{seq},"t":{sent_at!r}}}'
                    frame = wire.channel_message_send(self.targets[slot], content)
                else:
                    data = MATCH_DATA.pack(slot, seq, sent_at)
                    frame = wire.match_data_send(self.targets[slot], OP_CODE, data)
                try:
                    await sock.send(frame)
                except ConnectionClosed:
                    self.unsent += 1
                    continue
                sequence[slot] = seq + 1
            round_ += 1

    async def do_drain(self, argument: dict[str, float]) -> dict[str, Any]:
        """Wait until ``expected`` deliveries arrived or ``deadline``; then the counts."""
        receipts = self.receipts
        if self.params.scenario in plan.GROUP_SCENARIOS:
            receipts.target = int(argument["expected"])
            if receipts.unique < receipts.target:
                try:
                    await asyncio.wait_for(
                        receipts.reached.wait(), max(0.0, argument["deadline"] - time.time())
                    )
                except TimeoutError:
                    pass
        return {
            "unique": receipts.unique,
            "duplicated": receipts.duplicated,
            "foreign": receipts.foreign,
            "latencies": receipts.latencies,
            "round_trips": self.round_trips,
            "ping_timeouts": self.ping_timeouts,
            "send_lags": self.send_lags,
            "unsent": self.unsent,
            "dropped": sum(sock.dropped for sock in self.sockets.values()),
        }

    # Teardown

    async def do_check(self, _: None) -> dict[str, int]:
        """How many sockets are still open, and how many the server dropped."""
        socks = self.sockets.values()
        return {"open": sum(s.is_open for s in socks), "dropped": sum(s.dropped for s in socks)}

    async def do_close(self, _: None) -> int:
        """Close every open socket, ``concurrency`` at a time; answers how many
        closed cleanly (the server answered our 1000 with its own close frame)."""
        still_open = [s for s in self.sockets.values() if s.is_open]
        await _limited(self.params.concurrency, [s.close() for s in still_open])
        return sum(s.ws.close_code == 1000 for s in still_open)


async def _sleep_until(wall: float) -> None:
    delay = wall - time.time()
    if delay > 0:
        await asyncio.sleep(delay)


async def _limited(limit: int, coroutines: list) -> None:
    """Run coroutines at most ``limit`` at a time; the first failure is raised."""
    gate = asyncio.Semaphore(max(1, limit))

    async def one(coroutine) -> None:
        async with gate:
            await coroutine

    await asyncio.gather(*(one(c) for c in coroutines))
