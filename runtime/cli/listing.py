"""``tandem list``: the sidecars running on this machine, from the name resolution registry.

Every sidecar registers itself in ``$TANDEM_HOME/data/nameresolution.db`` (the default
``nameresolution.sqlite`` resolver) and removes its row at exit; a row whose pid is gone is
skipped. The API ports are read from the sidecar's command line (``/proc/<pid>/cmdline``), the
same flags ``tandem run`` parsed. Sidecars configured with another resolver are not listed.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sqlite3
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from components.nameresolution.sqlite import pid_alive

__all__ = ["SidecarEntry", "format_table", "running_sidecars"]


@dataclass(frozen=True, slots=True)
class SidecarEntry:
    app_id: str
    pid: int
    http_port: int | None
    grpc_port: int | None
    internal_port: int
    metrics_port: int | None
    app_port: int | None
    age_seconds: float  # since the last heartbeat


def running_sidecars(home: Path) -> list[SidecarEntry]:
    db_path = home / "data" / "nameresolution.db"
    if not db_path.is_file():
        return []
    try:
        db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5.0)
        with contextlib.closing(db):
            rows = db.execute(
                "SELECT app_id, pid, port, heartbeat FROM sidecars WHERE hostname = ?",
                (socket.gethostname(),),
            ).fetchall()
    except sqlite3.Error:
        return []
    now = time.time()
    found = []
    for app_id, pid, port, beat in rows:
        if not pid_alive(int(pid)):
            continue
        http, grpc, metrics, app_port = _ports_of(int(pid))
        found.append(
            SidecarEntry(
                str(app_id), int(pid), http, grpc, int(port), metrics, app_port, now - beat
            )
        )
    return sorted(found, key=lambda e: (e.app_id, e.pid))


def _ports_of(pid: int) -> tuple[int | None, int | None, int | None, int | None]:
    """(HTTP, gRPC, metrics, app) ports from the sidecar's own command line."""
    from runtime.config import UsageError, config_from_args, parse_args

    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
        args = argv[argv.index("run") :]
        cut = args.index("--") if "--" in args else len(args)
        cfg = config_from_args(parse_args(args[:cut]), {})
    except (OSError, ValueError, UsageError, SystemExit):
        return None, None, None, None
    return cfg.http_port, cfg.grpc_port, cfg.metrics_port, cfg.app_port


def format_table(entries: list[SidecarEntry], *, as_json: bool = False) -> str:
    if as_json:
        return json.dumps([asdict(e) for e in entries], indent=2)
    if not entries:
        return "no sidecars running"
    head = ("APP ID", "PID", "HTTP", "GRPC", "INTERNAL", "METRICS", "APP PORT")
    rows = [
        tuple(
            "-" if v is None else str(v)
            for v in (
                e.app_id,
                e.pid,
                e.http_port,
                e.grpc_port,
                e.internal_port,
                e.metrics_port,
                e.app_port,
            )
        )
        for e in entries
    ]
    widths = [max(len(r[i]) for r in (head, *rows)) for i in range(len(head))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in (head, *rows)
    )
