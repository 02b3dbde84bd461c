"""What a run is made of: its parameters, its sockets, who is in which room or match,
which worker process holds each socket and how many deliveries each worker expects.

Every process computes the same plan from the same :class:`Params`, so the parent only
sends parameters, never socket lists. Sockets go to workers round robin, which puts
the members of one room or match in different processes on purpose: the server
cannot tell, and wall-clock latency works across processes on one machine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

SCENARIOS = ("connect", "ping", "chat", "match", "authoritative")
#: Scenarios where sockets send to a group and count what reaches the others.
GROUP_SCENARIOS = ("chat", "match", "authoritative")


@dataclass(frozen=True)
class Params:
    """The command line, as every process needs it."""

    scenario: str
    format: str = "json"
    host: str = "127.0.0.1"
    port: int = 7350
    server_key: str = "defaultkey"
    workers: int = 1
    sockets: int = 50
    concurrency: int = 50
    rooms: int = 20
    members: int = 25
    rate: float = 1000.0
    matches: int = 100
    players: int = 4
    hz: float = 10.0
    tick_rate: int = 10
    warmup: float = 2.0
    duration: float = 10.0
    drain: float = 2.0
    hold: float = 2.0
    user_prefix: str = "bench"
    rpc_id: str = "relay_create"
    #: Further ports of the same server (the nodes of a cluster): sockets are spread
    #: over ``port`` and these, by socket (``members``) or by room or match (``groups``).
    also_ports: tuple[int, ...] = ()
    spread: str = "members"

    def port_of(self, member: Member) -> int:
        """The port this member's socket connects to."""
        ports = (self.port, *self.also_ports)
        key = member.group if self.spread == "groups" and member.group >= 0 else member.slot
        return ports[key % len(ports)]

    @property
    def group_size(self) -> int:
        return self.members if self.scenario == "chat" else self.players

    @property
    def groups(self) -> int:
        if self.scenario == "chat":
            return self.rooms
        if self.scenario in ("match", "authoritative"):
            return self.matches
        return 0

    @property
    def total_sockets(self) -> int:
        if self.scenario in GROUP_SCENARIOS:
            return self.groups * self.group_size
        return self.sockets

    @property
    def send_rate(self) -> float:
        """Messages per second over all senders (chat: given; matches: players x Hz)."""
        if self.scenario == "chat":
            return self.rate
        if self.scenario in ("match", "authoritative"):
            return self.total_sockets * self.hz
        return 0.0

    @property
    def receivers_include_sender(self) -> bool:
        """Chat messages reach their sender too; match data only the others."""
        return self.scenario == "chat"

    def public(self) -> dict[str, object]:
        """The parameters that shape the load, for the report."""
        shared = {"workers": self.workers, "warmup_s": self.warmup, "duration_s": self.duration}
        if self.also_ports:
            shared = {**shared, "ports": 1 + len(self.also_ports), "spread": self.spread}
        if self.scenario == "connect":
            return {
                "sockets": self.sockets,
                "concurrency": self.concurrency,
                "hold_s": self.hold,
                "workers": self.workers,
            }
        if self.scenario == "ping":
            return {"sockets": self.sockets, **shared}
        if self.scenario == "chat":
            return {
                "rooms": self.rooms,
                "members": self.members,
                "rate": self.rate,
                "persistence": False,
                **shared,
            }
        extra = {"tick_rate": self.tick_rate} if self.scenario == "authoritative" else {}
        return {"matches": self.matches, "players": self.players, "hz": self.hz, **extra, **shared}


@dataclass(frozen=True)
class Member:
    """One socket: its global slot, its group (-1: none) and whether it creates it."""

    slot: int
    group: int
    creator: bool


def worker_of(slot: int, workers: int) -> int:
    return slot % workers


def members(params: Params) -> list[Member]:
    """Every socket of the run, in slot order."""
    size = params.group_size if params.scenario in GROUP_SCENARIOS else 1
    grouped = params.scenario in GROUP_SCENARIOS
    return [
        Member(slot, slot // size if grouped else -1, grouped and slot % size == 0)
        for slot in range(params.total_sockets)
    ]


def members_of(params: Params, worker: int) -> list[Member]:
    return [m for m in members(params) if worker_of(m.slot, params.workers) == worker]


def concurrency_share(params: Params, worker: int) -> int:
    """This worker's part of ``--concurrency`` (at least one)."""
    base, extra = divmod(params.concurrency, params.workers)
    return max(1, base + (1 if worker < extra else 0))


def expected_deliveries(params: Params, sent: Mapping[int, int]) -> list[int]:
    """For each worker, the deliveries its sockets should receive given how many
    messages each sender (by slot) sent."""
    size = params.group_size
    in_worker = [[0] * params.workers for _ in range(params.groups)]
    for member in members(params):
        in_worker[member.group][worker_of(member.slot, params.workers)] += 1
    expected = [0] * params.workers
    for slot, count in sent.items():
        group, home = slot // size, worker_of(slot, params.workers)
        for worker in range(params.workers):
            receivers = in_worker[group][worker]
            if worker == home and not params.receivers_include_sender:
                receivers -= 1
            expected[worker] += count * receivers
    return expected
