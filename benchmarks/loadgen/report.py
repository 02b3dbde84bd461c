"""Percentiles and the human-readable report, both made from the result dict that
is also printed as the final JSON line."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


def percentile(ordered: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def latency_ms(seconds: Sequence[float]) -> dict[str, float] | None:
    """p50, p99 and max in milliseconds (None without samples)."""
    if not seconds:
        return None
    ordered = sorted(seconds)
    return {
        "p50": round(percentile(ordered, 0.50) * 1000, 3),
        "p99": round(percentile(ordered, 0.99) * 1000, 3),
        "max": round(ordered[-1] * 1000, 3),
        "samples": len(ordered),
    }


def _ms(figures: dict[str, float] | None) -> str:
    if figures is None:
        return "no samples"
    return f"p50 {figures['p50']:.2f}  p99 {figures['p99']:.2f}  max {figures['max']:.2f}"


def _describe(result: dict[str, Any]) -> str:
    p, scenario = result["params"], result["scenario"]
    if scenario == "connect":
        return f"{p['sockets']} sockets, {p['concurrency']} at a time"
    if scenario == "ping":
        return f"{p['sockets']} sockets pinging back to back"
    if scenario == "chat":
        return (
            f"{p['rooms']} rooms x {p['members']} members, {p['rate']:g} msgs/s offered, "
            "persistence false (the database is not involved)"
        )
    kind = "authoritative relay" if scenario == "authoritative" else "relayed"
    tick = f", tick rate {p['tick_rate']}" if scenario == "authoritative" else ""
    return f"{p['matches']} {kind} matches x {p['players']} players at {p['hz']:g} Hz{tick}"


def lines(result: dict[str, Any]) -> list[str]:
    """The report for a reader, in the order they would ask."""
    counts, rates = result["counts"], result["rates"]
    scenario = result["scenario"]
    out = [f"{scenario} ({result['format']}): {_describe(result)}"]
    window = f"{result['window_s']:.2f} s"
    if scenario == "connect":
        out.append(
            f"connected {counts['connects']} in {window}: {rates['connects_per_s']:.0f} "
            f"connects/s, {counts['failures']} failures; handshake ms {_ms(result['latency_ms'])}"
        )
        out.append(
            f"after holding them idle: {counts['open_after_hold']} still open, "
            f"{result['lost']} dropped by the server"
        )
        work = "connects"
    elif scenario == "ping":
        out.append(
            f"{counts['round_trips']} round trips in {window}: "
            f"{rates['round_trips_per_s']:.0f}/s, {counts['timeouts']} timed out"
        )
        out.append(f"round trip ms: {_ms(result['latency_ms'])}")
        work = "round trips"
    else:
        out.append(
            f"window {window}: {counts['sent_in_window']} messages sent "
            f"({rates['offered_per_s']:.0f}/s), {counts['deliveries']} deliveries received "
            f"({rates['deliveries_per_s']:.0f}/s)"
        )
        out.append(f"delivery latency ms: {_ms(result['latency_ms'])}")
        out.append(f"send lag ms (load generator behind schedule): {_ms(result['send_lag_ms'])}")
        out.append(
            f"whole run: {counts['sent']} sent, {counts['received']} of {counts['expected']} "
            f"expected deliveries received: lost {result['lost']}, "
            f"duplicated {result['duplicated']}, sockets dropped {counts['dropped']}"
        )
        work = "deliveries"
    if "tick_overruns" in result:
        overruns = result["tick_overruns"]
        out.append(
            "tick overruns in the window: "
            + ("not reported" if overruns is None else f"{overruns} (from the server's metrics)")
        )
    out.extend(_usage_lines(result, work))
    return out


def _usage_lines(result: dict[str, Any], work: str) -> list[str]:
    seconds = result["window_s"]
    out = []
    if result["server_cpu_s"] is None:
        out.append("server: no --server-pid given, server CPU and memory not measured")
    else:
        cpu = result["server_cpu_s"]
        per = result["per_cpu_second"]
        per_text = f"{per:.0f} {work} per server CPU-second" if per else f"no {work}"
        out.append(
            f"server: {cpu:.2f} CPU-s in the window ({cpu / seconds * 100:.0f}% of one core), "
            f"RSS {result['server_rss_kb']} kB; {per_text}"
        )
        if "server_rss_per_socket_kb" in result:
            out.append(f"server RSS per socket: {result['server_rss_per_socket_kb']:.1f} kB")
    loadgen = result["loadgen_cpu_s"]
    others = "neither side" if result["server_cpu_s"] is not None else "others (server included)"
    out.append(
        f"load generator: {loadgen:.2f} CPU-s in the window "
        f"({loadgen / seconds * 100:.0f}% of one core, {result['params'].get('workers', 1)} "
        f"workers); machine busy {result['machine_busy_pct']:.0f}% of {result['cpus']} CPUs, "
        f"{result['other_cpu_s']:.2f} CPU-s of it by {others}"
    )
    return out
