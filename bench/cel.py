"""CEL libraries for topic routing rules and breaker trips, measured side by side in one run.

    python bench/cel.py                                   # the libraries importable here
    python bench/cel.py --extra-path /tmp/celbench        # + those installed in that folder
    python bench/cel.py --extra-path /tmp/celbench --runs 11 --rounds 5 --seconds 2

The project depends on one library, ``cel-expr-python`` (Google's C++ CEL runtime,
``runtime/services/pubsub_routing.py`` and ``runtime/resiliency/trip.py``). To compare it with
the two the pub/sub issue names, install those into a folder of their own, never into the
project's venv::

    python -m pip install --target /tmp/celbench common-expression-language cel-python

``--extra-path`` folders are *appended* to ``sys.path`` in the measuring interpreters, after
the venv's ``site-packages``, so the project's own packages keep their versions. A library that
does not import is skipped with a message naming its package.

Per library, each figure in a fresh interpreter (``sys.executable``, children alternating
library by library, so a change of machine load hits them all):

- ``import``: wall time of the import (``from cel_expr_python import cel``, ``import cel``,
  ``import celpy``; median of ``--runs``), and the RSS it adds
  (``VmRSS`` after minus before, median); ``first use``: creating the environment, compiling
  the routing rule and evaluating it once, and the RSS after that;
- ``compile``: the routing rule compiled again and again once warm, µs per compile (median of
  ``--rounds`` children);
- ``eval``: the compiled rule evaluated for ``--seconds`` on a CloudEvent-like dict whose
  outcome is true, then on one whose outcome is false (the type differs: ``&&`` stops there),
  evals/s and CPU µs per eval (``time.process_time``), as Tandem calls it (the event wrapped
  as ``{"event": event}``, converted as each library needs, the result compared with True);
  and a breaker ``trip`` (``consecutiveFailures > 5 || totalFailures > 100``) over five ints;
- ``agrees``: the same answers as Tandem's router on a few events (true, false, a missing
  field, ``has()``), an evaluation error counting as no match.

Ratios are against ``cel-expr-python``. Prints a table; writes JSON to
``bench/results/cel-<time>.json``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import REPO, git_revision, machine

sys.path.insert(0, str(REPO))
from runtime.resiliency.trip import TRIP_VARIABLES  # the counts a trip expression sees

BENCH = Path(__file__).resolve().parent

ROUTE = 'event.type == "widget" && event.data.price > 100 && event.source.startsWith("shop")'
TRIP = "consecutiveFailures > 5 || totalFailures > 100"
EVENT_TRUE: dict[str, Any] = {
    "specversion": "1.0",
    "id": "5d3c1a5e-6f1b-4c55-9a53-1e6f6b1f2c9d",
    "source": "shop-eu",
    "type": "widget",
    "datacontenttype": "application/json",
    "topic": "orders",
    "pubsubname": "pubsub",
    "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "data": {"price": 150, "name": "gear", "tags": ["a", "b"]},
}
EVENT_FALSE = {**EVENT_TRUE, "type": "gadget"}
COUNTS_TRUE = dict(zip(TRIP_VARIABLES, (40, 30, 10, 0, 10), strict=True))
COUNTS_FALSE = dict(zip(TRIP_VARIABLES, (40, 38, 2, 30, 0), strict=True))
# (expression, event, Tandem's answer): an evaluation error is no match
AGREEMENT: list[tuple[str, dict[str, Any], bool]] = [
    (ROUTE, EVENT_TRUE, True),
    (ROUTE, EVENT_FALSE, False),
    (ROUTE, {k: v for k, v in EVENT_TRUE.items() if k != "data"}, False),
    ("has(event.data.price)", EVENT_TRUE, True),
    ("has(event.data.weight)", EVENT_TRUE, False),
    ('event.data.tags.exists(t, t == "b")', EVENT_TRUE, True),
]

# package -> the import statement timed (Tandem's for cel-expr-python: its package
# ``__init__`` is empty, the ``cel`` submodule loads the C++ extension)
LIBRARIES = {
    "cel-expr-python": "from cel_expr_python import cel",
    "common-expression-language": "import cel",
    "cel-python": "import celpy",
}
REFERENCE = "cel-expr-python"
# more than one way to evaluate: cel-python's interpreter (default) and its transpiler to Python
VARIANTS = {"cel-python": ("", "CompiledRunner")}

Predicate = Callable[[Mapping[str, Any]], bool]


# ---- in the measuring interpreter ----------------------------------------------------------


def _adapters(
    package: str,
) -> dict[str, tuple[Callable[[str], Predicate], Callable[[str], Predicate]]]:
    """variant -> (compile a routing rule over ``event``, compile a trip over the counts)."""
    if package == "cel-expr-python":
        from cel_expr_python import cel as gcel

        route_env = gcel.NewEnv(variables={"event": gcel.Type.DYN})
        trip_env = gcel.NewEnv(variables=dict.fromkeys(TRIP_VARIABLES, gcel.Type.INT))

        def g_route(expression: str) -> Predicate:
            program = route_env.compile(expression)

            def match(event: Mapping[str, Any]) -> bool:
                try:  # as runtime/services/pubsub_routing.py
                    return program.eval(data={"event": dict(event)}).plain_value() is True
                except (RuntimeError, TypeError, ValueError):
                    return False

            return match

        def g_trip(expression: str) -> Predicate:
            program = trip_env.compile(expression)

            def trip(counts: Mapping[str, Any]) -> bool:
                try:
                    return program.eval(data=dict(counts)).plain_value() is True
                except RuntimeError:
                    return False

            return trip

        return {"": (g_route, g_trip)}

    if package == "common-expression-language":
        # (by name: this file is a ``cel`` module too, for mypy)
        cel: Any = importlib.import_module("cel")

        def r_compile(name: str | None) -> Callable[[str], Predicate]:
            def build(expression: str) -> Predicate:
                program = cel.compile(expression)

                def match(value: Mapping[str, Any]) -> bool:
                    try:
                        context = {name: value} if name else value
                        return program.execute(context) is True
                    except (RuntimeError, TypeError, ValueError, KeyError):  # KeyError: a
                        return False  # missing field (the others raise no KeyError)

                return match

            return build

        return {"": (r_compile("event"), r_compile(None))}

    celpy: Any = importlib.import_module("celpy")
    celtypes = celpy.celtypes

    def p_variants(runner: Any) -> tuple[Callable[[str], Predicate], Callable[[str], Predicate]]:
        def build(expression: str, convert: Callable[[Mapping[str, Any]], Any]) -> Predicate:
            env = celpy.Environment(**runner)
            program = env.program(env.compile(expression))

            def match(value: Mapping[str, Any]) -> bool:
                try:
                    result = program.evaluate(convert(value))
                except Exception:  # CELEvalError, and TypeError from some operators
                    return False
                return isinstance(result, celtypes.BoolType) and bool(result)

            return match

        def route(expression: str) -> Predicate:
            return build(expression, lambda e: {"event": celpy.json_to_cel(dict(e))})

        def trip(expression: str) -> Predicate:
            return build(expression, lambda c: {k: celtypes.IntType(v) for k, v in c.items()})

        return route, trip

    return {
        "": p_variants({}),
        "CompiledRunner": p_variants({"runner_class": celpy.CompiledRunner}),
    }


def _rate(fn: Predicate, value: Mapping[str, Any], seconds: float) -> dict[str, float]:
    expected = fn(value)
    count = 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    stop = wall0 + seconds
    while time.perf_counter() < stop:
        for _ in range(200):
            fn(value)
        count += 200
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return {"per_s": count / wall, "cpu_us": cpu / count * 1e6, "result": float(expected)}


def child_run(package: str, variant: str, seconds: float) -> dict[str, Any]:
    """Compile and evaluation figures for one variant of ``package`` (one per interpreter:
    cel-python's parser is built once per process, for the first runner's tree class)."""
    out: dict[str, Any] = {}
    for name, (route, trip) in _adapters(package).items():
        if name != variant:
            continue
        route(ROUTE)  # warm
        times = []
        for _ in range(7):
            n, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < seconds / 10:
                route(ROUTE)
                n += 1
            times.append((time.perf_counter() - t0) / n)
        match = route(ROUTE)
        trips = trip(TRIP)
        agrees = sum(route(expr)(event) is want for expr, event, want in AGREEMENT)
        out = {
            "compile_us": statistics.median(times) * 1e6,
            "eval_true": _rate(match, EVENT_TRUE, seconds),
            "eval_false": _rate(match, EVENT_FALSE, seconds),
            "trip_true": _rate(trips, COUNTS_TRUE, seconds / 2),
            "trip_false": _rate(trips, COUNTS_FALSE, seconds / 2),
            "agrees": f"{agrees}/{len(AGREEMENT)}",
        }
    return out


def _rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def child_import(package: str) -> dict[str, Any]:
    """In the import probe, once the import was timed: the first use, the version."""
    import importlib.metadata

    version = importlib.metadata.version(package)
    r0, t0 = _rss_kib(), time.perf_counter()
    route, _ = _adapters(package)[""]
    ok = route(ROUTE)(EVENT_TRUE)
    return {
        "first_use_ms": (time.perf_counter() - t0) * 1000,
        "first_use_added_kib": _rss_kib() - r0,
        "first_use_ok": ok,
        "version": version,
    }


def _probe_code(package: str, extra: list[str]) -> str:
    """``python -c`` code: nothing but sys and time loaded before the import it times; then
    this file's ``child_import`` (run_path: its own imports come after the figures)."""
    return f"""\
import sys, time
sys.path.extend({extra!r})
def rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
r0 = rss()
t0 = time.perf_counter()
{LIBRARIES[package]}
t1 = time.perf_counter()
r1 = rss()
import json, runpy
first = runpy.run_path({str(Path(__file__).resolve())!r})["child_import"]({package!r})
print(json.dumps({{"import_ms": (t1 - t0) * 1000, "rss_import_kib": r1 - r0, **first}}))
"""


# ---- the parent ------------------------------------------------------------------------------


def _child(args: list[str]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=300, check=False, cwd=REPO
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip().splitlines()[-1] if out.stderr else "failed")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _importable(package: str, extra: list[str]) -> str | None:
    """None when ``package`` imports here; else why not."""
    code = f"import sys; sys.path.extend({extra!r}); {LIBRARIES[package]}"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPO,
    )
    if out.returncode == 0:
        return None
    lines = out.stderr.strip().splitlines()
    return lines[-1] if lines else f"exit {out.returncode}"


def _fmt(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def _ratio(value: float, reference: float) -> str:
    return f"{value / reference:.2f}x" if reference else "-"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--extra-path", action="append", default=[], help="appended to sys.path")
    parser.add_argument("--runs", type=int, default=9, help="fresh interpreters per import")
    parser.add_argument("--rounds", type=int, default=3, help="measuring children per library")
    parser.add_argument("--seconds", type=float, default=1.0, help="per throughput figure")
    parser.add_argument("--child-run", help=argparse.SUPPRESS)
    parser.add_argument("--variant", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    extra = [str(Path(p).resolve()) for p in args.extra_path]
    if args.child_run:
        # this file is bench/cel.py: its folder must not shadow common-expression-language's
        # ``cel`` (python puts a script's folder first on sys.path)
        sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH]
        sys.path.extend(extra)
        print(json.dumps(child_run(args.child_run, args.variant, args.seconds)))
        return 0

    packages = []
    for package, module in LIBRARIES.items():
        why = _importable(package, extra)
        if why is None:
            packages.append(package)
        else:
            print(
                f"skipped {package} ({module}: {why}); install it with "
                f"`python -m pip install --target /tmp/celbench {package}` and pass "
                "--extra-path /tmp/celbench"
            )
    if not packages:
        return 1
    load0 = os.getloadavg()
    imports: dict[str, list[dict[str, Any]]] = {p: [] for p in packages}
    for _ in range(args.runs):  # alternating: run i of every library, then run i + 1
        for package in packages:
            imports[package].append(_child(["-c", _probe_code(package, extra)]))
    variants = [(p, v) for p in packages for v in VARIANTS.get(p, ("",))]
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {pv: [] for pv in variants}
    me = str(Path(__file__).resolve())
    for _ in range(args.rounds):
        for package, variant in variants:
            cmd = [me, "--child-run", package, "--variant", variant]
            cmd += ["--seconds", str(args.seconds)]
            for path in extra:
                cmd += ["--extra-path", path]
            runs[package, variant].append(_child(cmd))
    load1 = os.getloadavg()

    rows: list[dict[str, Any]] = []
    for package, variant in variants:
        imp = imports[package]

        def med(key: str, imp: list[dict[str, Any]] = imp) -> float:
            return float(statistics.median(float(i[key]) for i in imp))

        rounds = runs[package, variant]

        def rmed(key: str, sub: str | None = None, rounds: list[Any] = rounds) -> float:
            return float(statistics.median(float(r[key][sub] if sub else r[key]) for r in rounds))

        rows.append(
            {
                "package": package,
                "variant": variant,
                "version": imp[0]["version"],
                "import_ms": med("import_ms"),
                "rss_import_mb": med("rss_import_kib") * 1024 / 1e6,
                "first_use_ms": med("first_use_ms"),
                "rss_first_use_mb": med("first_use_added_kib") * 1024 / 1e6,
                "compile_us": rmed("compile_us"),
                "eval_true_per_s": rmed("eval_true", "per_s"),
                "eval_false_per_s": rmed("eval_false", "per_s"),
                "eval_true_cpu_us": rmed("eval_true", "cpu_us"),
                "eval_false_cpu_us": rmed("eval_false", "cpu_us"),
                "trip_true_per_s": rmed("trip_true", "per_s"),
                "trip_false_per_s": rmed("trip_false", "per_s"),
                "agrees": rounds[0]["agrees"],
                "first_use_ok": imp[0]["first_use_ok"],
            }
        )

    ref = next((r for r in rows if r["package"] == REFERENCE and not r["variant"]), rows[0])
    columns = [
        ("import ms", "import_ms", 1),
        ("+RSS MB", "rss_import_mb", 1),
        ("1st use ms", "first_use_ms", 1),
        ("+RSS used", "rss_first_use_mb", 1),
        ("compile µs", "compile_us", 0),
        ("true ev/s", "eval_true_per_s", 0),
        ("false ev/s", "eval_false_per_s", 0),
        ("µs CPU/ev", "eval_true_cpu_us", 1),
        ("trip ev/s", "trip_true_per_s", 0),
    ]
    name_width = max(len(f"{r['package']} {r['variant']}") for r in rows) + 2
    head = f"{'library':{name_width}}{'version':>9}" + "".join(f"{c[0]:>12}" for c in columns)
    print(
        f"\nCEL: routing rule {ROUTE!r}\n      trip {TRIP!r}\n"
        f"import: median of {args.runs} fresh interpreters; compile/eval: median of "
        f"{args.rounds} children, {args.seconds:g} s per figure; load average "
        f"{load0[0]:.2f} -> {load1[0]:.2f}\n"
    )
    print(head + "  agrees")
    for r in rows:
        name = f"{r['package']} {r['variant']}".strip()
        cells = "".join(f"{_fmt(r[key], d):>12}" for _, key, d in columns)
        print(f"{name:{name_width}}{r['version']:>9}{cells}  {r['agrees']}")
    print(f"\nratio to {REFERENCE} (time and memory: lower is better; ev/s: higher is better)")
    for r in rows:
        if r is ref:
            continue
        name = f"{r['package']} {r['variant']}".strip()
        cells = "".join(f"{_ratio(r[key], ref[key]):>12}" for _, key, _ in columns)
        print(f"{name:{name_width}}{'':>9}{cells}")

    out = REPO / "bench" / "results" / f"cel-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "machine": machine(),
                "git": git_revision(),
                "settings": {**vars(args), "route": ROUTE, "trip": TRIP},
                "load_average": [load0, load1],
                "rows": rows,
                "raw": {
                    "imports": imports,
                    "runs": {f"{p} {v}".strip(): r for (p, v), r in runs.items()},
                },
            },
            indent=2,
        )
    )
    print(f"\nwritten to {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
