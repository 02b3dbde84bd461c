"""``benchmarks/bus_cost.py`` end to end: a short run on the test Redis, read back from
the table it prints."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_a_publish_costs_the_subscriber_what_the_timer_alone_does_not(redis_url) -> None:
    script = str(ROOT / "benchmarks" / "bus_cost.py")
    command = [sys.executable, script, "--redis", redis_url, "--gaps", "2", "--messages", "3"]
    command += ["--seconds", "0.5", "--runs", "1"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    header, *lines = done.stdout.strip().splitlines()
    assert header.startswith("gap ms  messages  publisher us  subscriber us  Redis us")
    rows = {int(line.split()[1]): [float(f) for f in line.split()[2:]] for line in lines}
    assert sorted(rows) == [0, 3]
    (tick_publisher, tick_subscriber, _), (publisher, subscriber, redis) = rows[0], rows[3]
    # Publishing costs the publisher more than its timer alone, and the subscriber
    # (which hears nothing without it) something; Redis runs here, so it is counted.
    assert publisher > tick_publisher > 0
    assert subscriber > tick_subscriber
    assert redis > 0


def test_a_gap_below_the_bus_own_is_refused() -> None:
    script = str(ROOT / "benchmarks" / "bus_cost.py")
    done = subprocess.run(
        [sys.executable, script, "--gaps", "1"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "each gap must be at least the bus's own 2 ms" in done.stderr
