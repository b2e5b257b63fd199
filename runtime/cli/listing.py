"""``tandem list``: the sidecars running on this machine, from the files they announce.

Every sidecar, once it serves, writes ``$TANDEM_HOME/run/<pid>.json`` (its app id and ports)
and holds an exclusive lock on ``$TANDEM_HOME/run/<pid>.lock`` for as long as it runs; it
removes both at exit. The operating system releases the lock when the process ends, however it
ends, so a lock that can be taken marks a dead sidecar (its files are then removed), with no
``/proc`` and no pid-reuse mistakes. Portable: ``fcntl.flock`` on POSIX, ``msvcrt.locking``
on Windows. Listed whatever the sidecar's name resolver.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

__all__ = ["SidecarEntry", "announce", "format_table", "running_sidecars"]


@dataclass(frozen=True, slots=True)
class SidecarEntry:
    app_id: str
    pid: int
    http_port: int | None
    grpc_port: int | None
    internal_port: int | None
    metrics_port: int | None
    app_port: int | None
    uptime_seconds: float  # since it started serving


def _run_dir(home: Path) -> Path:
    return home / "run"


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(f: IO[bytes]) -> bool:
        try:
            msvcrt.locking(f.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

else:
    import fcntl

    def _try_lock(f: IO[bytes]) -> bool:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        return True


@contextlib.contextmanager
def announce(home: Path, entry: SidecarEntry) -> Iterator[None]:
    """Announce this sidecar to ``tandem list`` until the block exits (or the process dies).

    The lock is taken before the info file appears, so a reader that sees the file and can take
    the lock knows the process is gone. Never raises for the announcement itself: a sidecar
    that cannot announce still runs, unlisted.
    """
    folder = _run_dir(home)
    lock_path, info_path = folder / f"{entry.pid}.lock", folder / f"{entry.pid}.json"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        lock: IO[bytes] | None = open(lock_path, "wb")  # noqa: SIM115 - held: liveness
    except OSError:
        lock = None
    if lock is None or not _try_lock(lock):
        if lock is not None:
            lock.close()
        yield
        return
    try:
        doc = asdict(entry)
        del doc["uptime_seconds"]
        doc["started"] = time.time()
        tmp = info_path.with_suffix(".tmp")
        with contextlib.suppress(OSError):
            tmp.write_text(json.dumps(doc))
            tmp.replace(info_path)  # readers never see a half-written file
        yield
    finally:
        info_path.unlink(missing_ok=True)
        lock_path.unlink(missing_ok=True)
        lock.close()


def _alive(lock_path: Path) -> bool:
    """True while the announcing process holds the lock."""
    try:
        with open(lock_path, "rb+") as f:
            return not _try_lock(f)  # closing the file releases a lock taken here
    except FileNotFoundError:
        return False
    except OSError:
        return True  # not ours to judge (permissions): assume it runs


def running_sidecars(home: Path) -> list[SidecarEntry]:
    """The sidecars announced under ``home`` that are still running; stale files removed."""
    folder = _run_dir(home)
    if not folder.is_dir():
        return []
    now = time.time()
    found = []
    for info_path in folder.glob("*.json"):
        lock_path = info_path.with_suffix(".lock")
        if not _alive(lock_path):
            with contextlib.suppress(OSError):  # the sidecar died without cleaning up
                info_path.unlink(missing_ok=True)
                lock_path.unlink(missing_ok=True)
            continue
        try:
            doc: dict[str, Any] = json.loads(info_path.read_text())
            started = float(doc.pop("started"))
            found.append(SidecarEntry(**doc, uptime_seconds=round(now - started, 1)))
        except (OSError, ValueError, TypeError, KeyError):
            continue  # vanished or unreadable: not listed
    return sorted(found, key=lambda e: (e.app_id, e.pid))


def format_table(entries: list[SidecarEntry], *, as_json: bool = False) -> str:
    if as_json:
        return json.dumps([asdict(e) for e in entries], indent=2)
    if not entries:
        return "no sidecars running"
    head = ("APP ID", "PID", "HTTP", "GRPC", "INTERNAL", "METRICS", "APP PORT", "UPTIME")
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
                f"{e.uptime_seconds:.0f}s",
            )
        )
        for e in entries
    ]
    widths = [max(len(r[i]) for r in (head, *rows)) for i in range(len(head))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in (head, *rows)
    )
