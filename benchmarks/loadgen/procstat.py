"""CPU time and memory of processes, read from ``/proc`` (Linux).

The benchmark samples the server and its own processes at the exact start and end of
the measured window, so CPU seconds are those spent on the measured traffic only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of one process (``/proc/PID/stat`` fields 14 and 15)."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    # The command name may hold spaces and parentheses: fields start after the last ")".
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_kb(pid: int) -> int:
    """Resident set size (``VmRSS`` in ``/proc/PID/status``), in kB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def machine_ticks() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine since boot, from ``/proc/stat``."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:9]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values)
    return total - idle, total


def own_cpu_seconds() -> float:
    """CPU time of this process only (not of its children)."""
    times = os.times()
    return times.user + times.system


@dataclass(frozen=True)
class Snapshot:
    """Everything sampled at one instant."""

    wall: float
    server_cpu: dict[int, float] = field(default_factory=dict)
    server_rss: dict[int, int] = field(default_factory=dict)
    loadgen_cpu: float = 0.0
    machine: tuple[int, int] = (0, 0)


def snapshot(wall: float, server_pids: list[int], loadgen_pids: list[int]) -> Snapshot:
    """Sample the server processes, the load generator's workers and this process."""
    return Snapshot(
        wall=wall,
        server_cpu={pid: cpu_seconds(pid) for pid in server_pids},
        server_rss={pid: rss_kb(pid) for pid in server_pids},
        loadgen_cpu=own_cpu_seconds() + sum(cpu_seconds(pid) for pid in loadgen_pids),
        machine=machine_ticks(),
    )


@dataclass(frozen=True)
class Usage:
    """What happened between two snapshots."""

    seconds: float
    server_cpu_s: float | None
    server_rss_start_kb: int | None
    server_rss_end_kb: int | None
    loadgen_cpu_s: float
    machine_busy: float  # 0..1 of all CPUs
    machine_busy_s: float  # CPU-seconds, all processes and the kernel

    @classmethod
    def between(cls, start: Snapshot, end: Snapshot) -> Usage:
        has_server = bool(start.server_cpu)
        server_cpu = sum(end.server_cpu.values()) - sum(start.server_cpu.values())
        busy = end.machine[0] - start.machine[0]
        total = end.machine[1] - start.machine[1]
        return cls(
            seconds=end.wall - start.wall,
            server_cpu_s=server_cpu if has_server else None,
            server_rss_start_kb=sum(start.server_rss.values()) if has_server else None,
            server_rss_end_kb=sum(end.server_rss.values()) if has_server else None,
            loadgen_cpu_s=end.loadgen_cpu - start.loadgen_cpu,
            machine_busy=busy / total if total else 0.0,
            machine_busy_s=busy / CLOCK_TICKS,
        )
