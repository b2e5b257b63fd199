"""Sidecar start-up time and idle memory, beside the bare interpreter's.

    python bench/startup.py [--runs 10] [--idle 2] [--redis-host 127.0.0.1:6379] [--no-redis]
                            [--before DIR] [--from-source]

Each run starts ``tandem run --app-id bench`` with a fresh ``TANDEM_HOME`` (a temp dir) on free
ports, measures the time from just before exec to the first ``GET /v1.0/healthz/outbound`` 204
(polled every 5 ms on a fresh connection), waits ``--idle`` seconds, reads ``VmRSS`` (and
``VmHWM``, the peak; ``Pss`` and private ``Uss`` from smaps_rollup) of the sidecar from /proc and
stops it with SIGTERM. Scenarios:

- ``python -c pass``: the interpreter alone (exec to exit; max RSS from wait4's rusage);
- ``python -c 'import aiohttp.web, grpc.aio'``: the floor of a sidecar serving both (the idle
  RSS target is at most 10 MB above it);
- ``python -c 'import <tandem's modules>'``: the interpreter plus the modules ``tandem run``
  imports before it serves (exec to imported: ``os._exit`` skips the teardown);
- ``tandem (embedded defaults)``: the sidecar with the embedded ``state.sqlite`` store;
- ``tandem (state.redis)``: ``--resources-path`` with one ``state.redis`` component (127.0.0.1),
  so the cost of loading a driver shows.

``--before DIR``: a checkout of another revision (e.g. ``git worktree add /tmp/old <rev>``); each
sidecar scenario is also run from it (``PYTHONPATH=DIR``), alternating run by run with this
tree, so both see the same load. This tree's runs set ``PYTHONPATH`` to this checkout.

The trees' ``.pyc`` files are written first (``compileall``), so a start reads compiled
modules as an installed sidecar does; ``--from-source`` skips that (with
``PYTHONDONTWRITEBYTECODE=1`` set, every start then recompiles the checkout).

Targets (issue 15): start-up <= 250 ms, idle RSS <= 56 MB and <= the floor + 10 MB (MB = 10^6
bytes), judged on the median. Results are also written to
``bench/results/startup-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from _common import (
    REPO,
    Sidecar,
    cpu_seconds,
    git_revision,
    machine,
    median,
    probe,
    redis_component,
    rss_kib,
    smaps_kib,
    verdict,
)

STARTUP_TARGET_S = 0.25
RSS_TARGET_MB = 56.0
FLOOR_MARGIN_MB = 10.0
_FLOOR_IMPORTS = "import aiohttp.web, grpc.aio\nimport os; os._exit(0)"
_READY_LOG = re.compile(r"ready for outbound calls in ([0-9.]+)s")
# What `tandem run` imports before it serves (lifecycle + both API servers + the SQLite store +
# metrics); os._exit leaves out the interpreter's teardown, which the sidecar does not wait for.
_SERVING_IMPORTS = (
    "import runtime.__main__, runtime.lifecycle, runtime.api.http.server, "
    "runtime.api.grpc.server, runtime.observability.metrics, components.state.sqlite\n"
    "import os; os._exit(0)"
)


@dataclass
class Scenario:
    name: str
    startup_s: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    peak_mb: list[float] = field(default_factory=list)
    pss_mb: list[float] = field(default_factory=list)
    uss_mb: list[float] = field(default_factory=list)
    in_process_s: list[float] = field(default_factory=list)  # the sidecar's own "ready in" log
    cpu_s: list[float] = field(default_factory=list)  # the sidecar's CPU time at the first 204

    def summary(self) -> dict[str, float | None]:
        def stat(values: list[float], fn: Callable[[list[float]], float]) -> float | None:
            return fn(values) if values else None

        return {
            "startup_min_s": stat(self.startup_s, min),
            "startup_median_s": stat(self.startup_s, median),
            "startup_max_s": stat(self.startup_s, max),
            "rss_median_mb": stat(self.rss_mb, median),
            "peak_rss_median_mb": stat(self.peak_mb, median),
            "pss_median_mb": stat(self.pss_mb, median),
            "uss_median_mb": stat(self.uss_mb, median),
            "in_process_ready_median_s": stat(self.in_process_s, median),
            "cpu_to_ready_median_s": stat(self.cpu_s, median),
        }


def _mb(kib: int) -> float:
    return kib * 1024 / 1e6


def run_python(code: str, runs: int, name: str) -> Scenario:
    """``python -c code``: exec to exit, and the child's max RSS (wait4 rusage, KiB on Linux)."""
    sc = Scenario(name)
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise RuntimeError(f"python -c {code!r} exited with {proc.returncode}")
        sc.startup_s.append(elapsed)
        sc.peak_mb.append(_mb(usage.ru_maxrss))
        sc.rss_mb.append(_mb(usage.ru_maxrss))
    return sc


def run_sidecar(
    name: str, runs: int, idle: float, redis_host: str | None, before: Path | None = None
) -> list[Scenario]:
    """``runs`` starts from this tree (and from ``before``, alternating, when given)."""
    trees = [(name, REPO)] + ([(f"{name} [before]", before)] if before else [])
    scenarios = {tree: Scenario(label) for label, tree in trees}
    for i in range(runs):
        for tree, sc in scenarios.items():
            _one_start(sc, tree, i, runs, idle, redis_host)
    return list(scenarios.values())


def _one_start(
    sc: Scenario, tree: Path, i: int, runs: int, idle: float, redis_host: str | None
) -> None:
    name = sc.name
    with tempfile.TemporaryDirectory(prefix="tandem-bench-") as tmp:
        work = Path(tmp)
        resources: Path | None = None
        if redis_host:
            resources = work / "resources"
            resources.mkdir()
            (resources / "redis.yaml").write_text(redis_component("statestore", redis_host))
        side = Sidecar.spawn(
            work, app_id="bench", resources=resources, env={"PYTHONPATH": str(tree)}
        )
        try:
            sc.startup_s.append(side.wait_ready())
            sc.cpu_s.append(cpu_seconds(side.pid))
            time.sleep(idle)
            if side.proc.poll() is not None or probe(side.http_port) != 204:
                raise RuntimeError(f"tandem died while idle:\n{side.logs()}")
            rss = rss_kib(side.pid)
            peak = rss_kib(side.pid, "VmHWM")
            if rss is not None:
                sc.rss_mb.append(_mb(rss))
            if peak is not None:
                sc.peak_mb.append(_mb(peak))
            shares = smaps_kib(side.pid)
            if shares:
                sc.pss_mb.append(_mb(shares["Pss"]))
                sc.uss_mb.append(_mb(shares["Uss"]))
        finally:
            side.stop()
        m = _READY_LOG.search(side.logs())
        if m:
            sc.in_process_s.append(float(m.group(1)))
    print(f"  {name}: run {i + 1}/{runs}: {sc.startup_s[-1] * 1000:.0f} ms", file=sys.stderr)


def _fmt_s(v: float | None) -> str:
    return "-" if v is None else f"{v * 1000:.0f} ms"


def _fmt_mb(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f} MB"


def report(scenarios: list[Scenario], runs: int, idle: float, floor_mb: float | None) -> str:
    rss_limit = (
        RSS_TARGET_MB if floor_mb is None else min(RSS_TARGET_MB, floor_mb + FLOOR_MARGIN_MB)
    )
    lines = [
        f"start-up: exec -> first /v1.0/healthz/outbound 204 (python: exec -> exit); {runs} runs",
        f"RSS: VmRSS after {idle:g} s idle (python: max RSS); MB = 10^6 bytes",
        "",
        f"{'scenario':<40} {'min':>8} {'median':>8} {'max':>8} {'in-proc':>8} {'CPU':>8} "
        f"{'RSS med':>9} {'peak med':>9} {'PSS med':>9} {'USS med':>9}  target",
    ]
    for sc in scenarios:
        s = sc.summary()
        target = ""
        if sc.name.startswith("tandem"):
            start_ok = (s["startup_median_s"] or 1e9) <= STARTUP_TARGET_S
            rss_ok = (s["rss_median_mb"] or 1e9) <= rss_limit
            target = (
                f"start<={STARTUP_TARGET_S * 1000:g}ms {verdict(start_ok)}  "
                f"RSS<={rss_limit:.1f}MB {verdict(rss_ok)}"
            )
        lines.append(
            f"{sc.name:<40} {_fmt_s(s['startup_min_s']):>8} {_fmt_s(s['startup_median_s']):>8} "
            f"{_fmt_s(s['startup_max_s']):>8} {_fmt_s(s['in_process_ready_median_s']):>8} "
            f"{_fmt_s(s['cpu_to_ready_median_s']):>8} "
            f"{_fmt_mb(s['rss_median_mb']):>9} {_fmt_mb(s['peak_rss_median_mb']):>9}"
            f" {_fmt_mb(s['pss_median_mb']):>9} {_fmt_mb(s['uss_median_mb']):>9}  {target}"
        )
    lines.append("")
    lines.append(
        f"RSS target: min({RSS_TARGET_MB:g} MB, floor + {FLOOR_MARGIN_MB:g} MB) = "
        f"{rss_limit:.1f} MB"
        " (floor: the median max RSS of importing aiohttp.web and grpc.aio)"
    )
    lines.append(
        "PSS / USS: shared pages split between the processes mapping them / left out (the"
        " target is judged on RSS)"
    )
    lines.append(
        "CPU: the sidecar's user + system CPU time at the first 204, median (steadier than the"
        " wall clock on a loaded machine)"
    )
    lines.append(
        "in-proc: the sidecar's own log 'ready for outbound calls in X s' (from Sidecar() to"
        " serving, i.e. without interpreter start and imports)"
    )
    return "\n".join(lines)


def compile_tree(tree: Path) -> None:
    """Write the tree's ``.pyc`` files, as an installed package has them.

    With ``PYTHONDONTWRITEBYTECODE=1`` in the environment (common in containers and CI) an
    editable checkout is never compiled, so every start would recompile ~300 modules and the
    figure would measure the compiler, not the sidecar.
    """
    dirs = [str(tree / d) for d in ("runtime", "components", "protos") if (tree / d).is_dir()]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *dirs], check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=10, help="starts per scenario (default 10)")
    parser.add_argument("--idle", type=float, default=2.0, help="seconds idle before reading RSS")
    parser.add_argument("--redis-host", default="127.0.0.1:6379")
    parser.add_argument("--no-redis", action="store_true", help="skip the state.redis scenario")
    parser.add_argument("--no-json", action="store_true", help="do not write bench/results/")
    parser.add_argument(
        "--before", type=Path, default=None, help="another checkout, run alternately (PYTHONPATH)"
    )
    parser.add_argument(
        "--from-source",
        action="store_true",
        help="do not compile the trees' .pyc first (measures a start that compiles every module)",
    )
    args = parser.parse_args(argv)
    if not args.from_source:
        for tree in [REPO] + ([args.before] if args.before else []):
            compile_tree(tree)

    floor = run_python(_FLOOR_IMPORTS, args.runs, "python -c 'import aiohttp.web, grpc.aio'")
    scenarios = [
        run_python("pass", args.runs, "python -c pass"),
        floor,
        run_python(_SERVING_IMPORTS, args.runs, "python -c 'import <tandem's modules>'"),
        *run_sidecar("tandem (embedded defaults)", args.runs, args.idle, None, args.before),
    ]
    if not args.no_redis:
        scenarios += run_sidecar(
            "tandem (state.redis)", args.runs, args.idle, args.redis_host, args.before
        )
    text = report(scenarios, args.runs, args.idle, floor.summary()["rss_median_mb"])
    print(text)
    if not args.no_json:
        out_dir = REPO / "bench" / "results"
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"startup-{time.strftime('%Y%m%d-%H%M%S')}.json"
        doc = {
            "benchmark": "startup",
            "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "command": " ".join([Path(sys.argv[0]).name, *(argv or sys.argv[1:])]),
            "machine": {**machine(), "git": git_revision()},
            "runs": args.runs,
            "idle_s": args.idle,
            "before": str(args.before) if args.before else None,
            "targets": {
                "startup_s": STARTUP_TARGET_S,
                "rss_mb": RSS_TARGET_MB,
                "rss_above_floor_mb": FLOOR_MARGIN_MB,
            },
            "scenarios": [{**asdict(sc), "summary": sc.summary()} for sc in scenarios],
        }
        path.write_text(json.dumps(doc, indent=2))
        print(f"\nresults: {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
