"""Idle memory of the sidecar by module, beside the aiohttp + grpc floor.

    python bench/footprint.py [--idle 1.5] [--top 25] [--tree DIR] [-- <extra tandem run flags>]

1. Starts ``python -X importtime -m runtime run --app-id bench`` on the embedded defaults (fresh
   ``TANDEM_HOME``, free ports), waits for ``/v1.0/healthz/outbound`` 204 and ``--idle`` seconds,
   reads its ``VmRSS`` and stops it. The import log gives every module the sidecar loaded until
   then (lazy imports at start-up included), in load order, and each one's own import time.
2. In a fresh interpreter, imports those modules one by one in the same order (a module's
   dependencies come before it in the log, so each step costs only its own code) and reads
   ``VmRSS`` from /proc/self/status after each: the incremental RSS of each module, summed per
   group (the top-level package; ``runtime.*`` and ``components.*`` by their second level).
3. In other fresh interpreters: ``import aiohttp.web, grpc.aio`` alone, the floor the idle
   RSS target is set against (floor + 10 MB, and 56 MB); and the same serving (two aiohttp sites
   and a grpc.aio server on uvloop, idle), the floor of a process that serves both.

``--tree DIR`` measures another checkout (e.g. ``git worktree add /tmp/old <rev>``) with the
same script. Prints the table of groups (MB, import ms, module count), the interpreter, the
floor, the sum of the imports and the sidecar's idle RSS; the rest (idle RSS - imports) is what
serving allocates (sockets, the SQLite stores, threads, caches). MB = 10^6 bytes. Figures are
one run's: the RSS steps are steady to ~0.1 MB, import times are noisy (compare within a run).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO, free_port, probe, rss_kib

RSS_TARGET_MB = 56.0
FLOOR_MARGIN_MB = 10.0
_LINE = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)\s*$")

# Runs in a fresh interpreter: import each module named on stdin (one a line, in order), print
# "<module>\t<VmRSS KiB>\t<ok>" after each. The first line is the interpreter's own RSS.
_CHILD = r"""
import importlib, sys
def rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
print("<interpreter>\t%d\t1" % rss(), flush=True)
for name in sys.stdin.read().split():
    ok = 1
    if name not in sys.modules:
        try:
            importlib.import_module(name)
        except BaseException:
            ok = 0
    print("%s\t%d\t%d" % (name, rss(), ok), flush=True)
"""
_FLOOR = (
    "import aiohttp.web, grpc.aio, json, sys\n"
    "rss = [l for l in open('/proc/self/status') if l.startswith('VmRSS:')][0].split()[1]\n"
    "print(json.dumps({'kib': int(rss), 'modules': sorted(sys.modules)}))"
)


# The floor serving: two aiohttp sites (API, metrics) and a grpc.aio server on uvloop, idle.
_SERVING_FLOOR = r"""
import asyncio, uvloop
import aiohttp.web as web, grpc.aio
async def main():
    for _ in range(2):
        runner = web.AppRunner(web.Application())
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
    server = grpc.aio.server()
    server.add_insecure_port("127.0.0.1:0")
    await server.start()
    await asyncio.sleep(IDLE)
    print([l for l in open("/proc/self/status") if l.startswith("VmRSS:")][0].split()[1])
uvloop.run(main())
"""


def group_of(module: str) -> str:
    parts = module.split(".")
    if parts[0] in ("runtime", "components", "protos") and len(parts) > 1:
        return ".".join(parts[:2])
    return parts[0]


def sidecar_imports(
    env: dict[str, str], idle: float, extra: list[str]
) -> tuple[list[tuple[str, int]], int]:
    """(module, self µs) in load order, and the sidecar's idle VmRSS in KiB."""
    with tempfile.TemporaryDirectory(prefix="tandem-footprint-") as tmp:
        http_port, grpc_port, metrics_port = free_port(), free_port(), free_port()
        cmd = [
            sys.executable,
            "-X",
            "importtime",
            "-m",
            "runtime",
            "run",
            "--app-id",
            "bench",
            "--dapr-http-port",
            str(http_port),
            "--dapr-grpc-port",
            str(grpc_port),
            "--metrics-port",
            str(metrics_port),
            *extra,
        ]
        log = Path(tmp) / "importtime.log"
        with log.open("w") as err:
            proc = subprocess.Popen(
                cmd,
                stdout=subprocess.DEVNULL,
                stderr=err,
                env={**env, "TANDEM_HOME": tmp},
                cwd=tmp,
            )
        deadline = time.monotonic() + 30
        while probe(http_port) != 204:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"tandem did not become ready:\n{log.read_text()[-3000:]}")
            time.sleep(0.01)
        time.sleep(idle)
        rss = rss_kib(proc.pid) or 0
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
        modules: list[tuple[str, int]] = []
        for line in log.read_text().splitlines():
            m = _LINE.match(line)
            if m:
                modules.append((m.group(4), int(m.group(1))))
    return modules, rss


def step_rss(env: dict[str, str], modules: list[str]) -> list[tuple[str, int, bool]]:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD],
        input="\n".join(modules),
        capture_output=True,
        text=True,
        env=env,
        cwd=tempfile.gettempdir(),
        check=True,
    ).stdout
    rows = []
    for line in out.splitlines():
        name, kib, ok = line.split("\t")
        rows.append((name, int(kib), ok == "1"))
    return rows


def _mb(kib: float) -> float:
    return kib * 1024 / 1e6


def _table(title: str, groups: dict[str, dict[str, float]], top: int) -> list[str]:
    ranked = sorted(groups.items(), key=lambda kv: -kv[1]["kib"])
    total = {k: sum(g[k] for g in groups.values()) for k in ("kib", "us", "n")}
    lines = [f"{title:<40} {'RSS MB':>7} {'import ms':>9} {'modules':>7}"]
    rest = {"kib": 0.0, "us": 0.0, "n": 0.0}
    for i, (name, g) in enumerate(ranked):
        if i < top:
            lines.append(
                f"  {name:<38} {_mb(g['kib']):>7.1f} {g['us'] / 1000:>9.1f} {int(g['n']):>7}"
            )
        else:
            for k in rest:
                rest[k] += g[k]
    if rest["n"]:
        lines.append(
            f"  {'(the other groups)':<38} {_mb(rest['kib']):>7.1f} {rest['us'] / 1000:>9.1f} "
            f"{int(rest['n']):>7}"
        )
    lines.append(
        f"  {'total':<38} {_mb(total['kib']):>7.1f} {total['us'] / 1000:>9.1f} {int(total['n']):>7}"
    )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--idle", type=float, default=1.5, help="seconds idle before reading RSS")
    parser.add_argument("--top", type=int, default=25, help="groups to list per table")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the tables")
    parser.add_argument(
        "--tree", type=Path, default=REPO, help="the checkout to measure (default: this one)"
    )
    parser.add_argument("extra", nargs="*", help="extra `tandem run` flags (after --)")
    args = parser.parse_args(argv)
    env = dict(os.environ)
    # the tree measured comes first on sys.path (the cwd is a temp dir, never the checkout)
    env["PYTHONPATH"] = str(args.tree.resolve())

    modules, idle_kib = sidecar_imports(env, args.idle, args.extra)
    floor = json.loads(
        subprocess.run(
            [sys.executable, "-c", _FLOOR], capture_output=True, text=True, env=env, check=True
        ).stdout
    )
    floor_set = set(floor["modules"])
    serving_floor_kib = int(
        subprocess.run(
            [sys.executable, "-c", _SERVING_FLOOR.replace("IDLE", repr(args.idle))],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        ).stdout
    )
    # the floor's modules first (in the sidecar's order), then the rest: the second table is
    # what Tandem adds above `import aiohttp.web, grpc.aio`
    ordered = [m for m, _ in modules if m in floor_set] + [
        m for m, _ in modules if m not in floor_set
    ]
    steps = step_rss(env, ordered)
    self_us = dict(modules)
    interp_kib = steps[0][1]
    sections: dict[bool, dict[str, dict[str, float]]] = {True: {}, False: {}}
    failed: list[str] = []
    prev = interp_kib
    floor_end = interp_kib
    for name, kib, ok in steps[1:]:
        in_floor = name in floor_set
        g = sections[in_floor].setdefault(group_of(name), {"kib": 0, "us": 0, "n": 0})
        g["kib"] += kib - prev
        g["us"] += self_us.get(name, 0)
        g["n"] += 1
        prev = kib
        if in_floor:
            floor_end = kib
        if not ok:
            failed.append(name)
    imports_kib = prev
    limit = min(RSS_TARGET_MB, _mb(floor["kib"]) + FLOOR_MARGIN_MB)
    if args.json:
        doc = {
            "idle_rss_mb": _mb(idle_kib),
            "floor_mb": _mb(floor["kib"]),
            "serving_floor_mb": _mb(serving_floor_kib),
            "interpreter_mb": _mb(interp_kib),
            "imports_mb": _mb(imports_kib),
            "target_mb": limit,
            "floor_groups": {k: {**v, "mb": _mb(v["kib"])} for k, v in sections[True].items()},
            "above_floor_groups": {
                k: {**v, "mb": _mb(v["kib"])} for k, v in sections[False].items()
            },
        }
        print(json.dumps(doc, indent=2))
        return 0
    lines = [
        f"tandem run --app-id bench {' '.join(args.extra)}".rstrip(),
        f"VmRSS step after each import, in the sidecar's order; MB = 10^6 bytes; "
        f"interpreter alone {_mb(interp_kib):.1f} MB",
        "",
        *_table("the floor's modules (aiohttp.web, grpc.aio)", sections[True], args.top),
        "",
        *_table("above the floor (what Tandem adds)", sections[False], args.top),
        "",
        f"interpreter + the floor's modules, in the sidecar's order  {_mb(floor_end):6.1f} MB",
        f"  (import aiohttp.web, grpc.aio alone, fresh interpreter: {_mb(floor['kib']):.1f} MB)",
        f"+ every other module the sidecar loaded                   {_mb(imports_kib):6.1f} MB"
        f"  ({len(modules)} modules, {sum(self_us.values()) / 1000:.0f} ms of import time)",
        f"sidecar idle VmRSS after {args.idle:g} s                             "
        f"{_mb(idle_kib):6.1f} MB",
        f"  of which serving (idle - imports)                        "
        f"{_mb(idle_kib - imports_kib):6.1f} MB",
        f"the floor serving (aiohttp x2 + grpc.aio servers, uvloop, idle {args.idle:g} s) "
        f"{_mb(serving_floor_kib):6.1f} MB",
        f"target: idle RSS <= min({RSS_TARGET_MB:g} MB, floor + {FLOOR_MARGIN_MB:g} MB) = "
        f"{limit:.1f} MB: {'PASS' if _mb(idle_kib) <= limit else 'MISS'}",
    ]
    if failed:
        lines.append(
            f"(not importable on their own, counted as 0: {', '.join(sorted(set(failed)))})"
        )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
