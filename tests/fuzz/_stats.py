"""Requests and outcomes per route, per backend and protocol, for the end-of-run summary."""

from __future__ import annotations

import json
import os
from collections import defaultdict
from dataclasses import asdict, dataclass

__all__ = ["RSS", "STATS", "RouteStats", "record", "record_rss", "table", "write_report"]


@dataclass
class RouteStats:
    requests: int = 0
    ok: int = 0  # 2xx / OK
    client_errors: int = 0  # 4xx / a non-server gRPC code
    allowed_5xx: int = 0  # Dapr's documented 500s (see ALLOWED_5XX in test_fuzz.py)
    server_errors: int = 0  # 5xx / INTERNAL, UNKNOWN, DATA_LOSS: each one fails the run
    skipped: int = 0  # generated but not sendable, or behind a switch


# (backend, protocol) -> route -> stats
STATS: dict[tuple[str, str], dict[str, RouteStats]] = defaultdict(dict)


# backend -> (VmRSS before the fuzz, VmRSS after it), bytes
RSS: dict[str, tuple[int, int]] = {}


def record_rss(backend: str, before: int, after: int) -> None:
    RSS[backend] = (before, after)


def record(backend: str, protocol: str, route: str, outcome: str) -> None:
    stats = STATS[backend, protocol].setdefault(route, RouteStats())
    if outcome != "skipped":
        stats.requests += 1
    setattr(stats, outcome, getattr(stats, outcome) + 1)


def table() -> list[str]:
    head = f"{'backend':<11}{'proto':<6}{'route':<58}{'reqs':>7}{'2xx':>7}{'4xx':>7}"
    head += f"{'5xx-ok':>7}{'5xx':>5}{'skip':>6}"
    lines = [head]
    for (backend, protocol), routes in sorted(STATS.items()):
        total = RouteStats()
        for route, s in sorted(routes.items()):
            lines.append(
                f"{backend:<11}{protocol:<6}{route[:57]:<58}{s.requests:>7}{s.ok:>7}"
                f"{s.client_errors:>7}{s.allowed_5xx:>7}{s.server_errors:>5}{s.skipped:>6}"
            )
            for name in asdict(total):
                setattr(total, name, getattr(total, name) + getattr(s, name))
        lines.append(
            f"{backend:<11}{protocol:<6}{'TOTAL':<58}{total.requests:>7}{total.ok:>7}"
            f"{total.client_errors:>7}{total.allowed_5xx:>7}{total.server_errors:>5}"
            f"{total.skipped:>6}"
        )
    for backend, (before, after) in sorted(RSS.items()):
        lines.append(
            f"{backend:<11}sidecar VmRSS before / after the fuzz: {before / 1e6:.1f} / "
            f"{after / 1e6:.1f} MB"
        )
    return lines


def write_report() -> None:
    """Write the figures as JSON to ``$TANDEM_FUZZ_REPORT`` when it is set."""
    path = os.environ.get("TANDEM_FUZZ_REPORT")
    if not path or not STATS:
        return
    doc: dict[str, object] = {
        f"{b}/{p}": {route: asdict(s) for route, s in routes.items()}
        for (b, p), routes in STATS.items()
    }
    doc["rss_bytes"] = {b: {"before": r[0], "after": r[1]} for b, r in RSS.items()}
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2)
