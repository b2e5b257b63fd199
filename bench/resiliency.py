"""The cost of resiliency policies on the state API: GET through a store with no policy vs the
same backend through a store with a timeout + retry + circuit breaker, in one sidecar, one run.

    python bench/resiliency.py [--duration 5] [--repeat 2] [--stores sqlite,redis]
                               [--concurrency 16] [--quick]

One sidecar loads, per store type, two components on the same backend (the same Redis server,
the same SQLite file, the same keys): ``bench-<store>-plain`` with no policy (the runner's fast
path: the bare component call) and ``bench-<store>-policy``, the target of a Resiliency
document with ``timeout: 5s``, a constant retry (``100ms``, ``maxRetries: 3``) and a circuit
breaker (``consecutiveFailures > 5``). Nothing fails during the run, so the figures are the
policies' bookkeeping on the happy path: an ``asyncio.timeout`` per attempt, the breaker's
before/after, the retry loop, one more coroutine frame.

First, in this process, the runner's own cost: ``Runner.run`` around a coroutine that returns
at once vs awaiting it bare (best of 5 x 100,000 calls; CPU only, no I/O), per policy mix.
Then each round measures HTTP GET on both stores back to back, alternating which goes first; the
load generator and the measurement are ``bench/state.py``'s (warm-up, then the operations that
complete within ``--duration`` count; ``foreign`` is the share of the machine other processes
used: noise). Printed: each measurement, the per-round ratio policy / plain, and the best-of
ratio per store and concurrency with PASS/MISS against "< 5 % throughput loss". Results go to
``bench/results/resiliency-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import functools
import json
import secrets
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

# this checkout's runtime (as the sidecar's PYTHONPATH below), even when the venv's editable
# install points at another checkout (git worktrees)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import REPO, Sidecar, git_revision, machine, redis_component, sqlite_component
from redis.asyncio import Redis
from state import (
    VALUE,
    Measured,
    Meter,
    Sample,
    _delete_redis_keys,
    _host_port,
    _loop_runner,
    http_api,
    make_sample,
    measure,
    populate,
)

from runtime.resiliency import Resiliency, ResiliencyConfig
from runtime.resiliency.model import (
    BreakerSpec,
    ComponentTarget,
    PolicyNames,
    RetrySpec,
)

LOSS_TARGET = 0.05
STORES = ("sqlite", "redis")
VARIANTS = ("plain", "policy")


def resiliency_yaml(targets: Sequence[str]) -> str:
    doc = {
        "apiVersion": "dapr.io/v1alpha1",
        "kind": "Resiliency",
        "metadata": {"name": "bench"},
        "spec": {
            "policies": {
                "timeouts": {"general": "5s"},
                "retries": {"fast": {"policy": "constant", "duration": "100ms", "maxRetries": 3}},
                "circuitBreakers": {
                    "cb": {"maxRequests": 1, "timeout": "30s", "trip": "consecutiveFailures > 5"}
                },
            },
            "targets": {
                "components": {
                    name: {
                        "outbound": {"timeout": "general", "retry": "fast", "circuitBreaker": "cb"}
                    }
                    for name in targets
                }
            },
        },
    }
    return json.dumps(doc, indent=2) + "\n"


MICRO_CALLS = 100_000
MICRO_MIXES: dict[str, dict[str, str]] = {
    "timeout": {"timeout": "t"},
    "retry": {"retry": "r"},
    "breaker": {"circuitBreaker": "cb"},
    "timeout+retry+breaker": {"timeout": "t", "retry": "r", "circuitBreaker": "cb"},
}


async def micro() -> dict[str, float]:
    """Microseconds per call: bare, and each policy mix's added cost over bare."""

    async def op() -> int:
        return 1

    async def timed(call: Callable[[], Awaitable[int]]) -> float:
        best = float("inf")
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(MICRO_CALLS):
                await call()
            best = min(best, (time.perf_counter() - t0) / MICRO_CALLS * 1e6)
        return best

    bare = await timed(op)
    out = {"bare": bare}
    for label, names in MICRO_MIXES.items():
        config = ResiliencyConfig(
            timeouts={"t": 5.0},
            retries={"r": RetrySpec(duration=0.1, maxRetries=3)},
            breakers={"cb": BreakerSpec()},
            components={"s": ComponentTarget(outbound=PolicyNames(**names))},
        )
        runner = Resiliency(config).component_outbound("s", "state")
        assert runner is not None
        out[label] = await timed(functools.partial(runner.run, op)) - bare
    return out


@dataclass
class Settings:
    stores: list[str]
    concurrency: list[int]
    duration: float
    warmup: float
    repeat: int
    redis_host: str


@dataclass
class Ratio:
    store: str
    concurrency: int
    per_round: list[float]
    best: float
    ok: bool
    sidecar_us_per_op: dict[str, float]  # lowest of the rounds, per variant


@dataclass
class Results:
    date: str
    command: str
    machine: dict[str, object]
    settings: dict[str, object]
    micro_us: dict[str, float] = field(default_factory=dict)
    samples: list[Sample] = field(default_factory=list)
    ratios: list[Ratio] = field(default_factory=list)


def _name(store: str, variant: str) -> str:
    return f"bench-{store}-{variant}"


def _progress(s: Sample) -> None:
    print(
        f"  [{s.round}] {s.store:<6} c={s.concurrency:<3} {s.path:<7}"
        f" {s.ops_per_s:>9.0f} ops/s  p50 {s.p50_us:>7.0f} us  p99 {s.p99_us:>7.0f} us"
        f"  sidecar {s.sidecar_cpu_us_per_op or 0:>5.0f} us/op  foreign {s.foreign_pct:>3.0f}%",
        file=sys.stderr,
        flush=True,
    )


async def run(settings: Settings, work: Path, results: Results) -> None:
    results.micro_us = await micro()
    print("runner cost per call (in-process, no I/O), added to a bare await:", file=sys.stderr)
    for label, us in results.micro_us.items():
        print(f"  {label:<22} {us:6.2f} us", file=sys.stderr, flush=True)
    app_id = f"tandem-bench-{secrets.token_hex(4)}"
    resources = work / "resources"
    resources.mkdir()
    for variant in VARIANTS:
        if "redis" in settings.stores:
            text = redis_component(_name("redis", variant), settings.redis_host)
            (resources / f"redis-{variant}.yaml").write_text(text)
        if "sqlite" in settings.stores:
            text = sqlite_component(_name("sqlite", variant), work / "sidecar.db")
            (resources / f"sqlite-{variant}.yaml").write_text(text)
    targets = [_name(s, "policy") for s in settings.stores]
    (resources / "resiliency.yaml").write_text(resiliency_yaml(targets))
    # PYTHONPATH: the sidecar runs this checkout even when the venv's editable install points
    # at another one (git worktrees)
    side = Sidecar.spawn(work, app_id=app_id, resources=resources, env={"PYTHONPATH": str(REPO)})
    info: Redis | None = None
    if "redis" in settings.stores:
        host, port = _host_port(settings.redis_host)
        info = Redis(host=host, port=port)
    try:
        side.wait_ready()
        if "resiliency bench loaded" not in side.logs():
            raise RuntimeError(f"the sidecar did not load the Resiliency document:\n{side.logs()}")
        base = f"http://127.0.0.1:{side.http_port}"
        meter = Meter(side.pid, info)
        for store in settings.stores:  # both components read the same keys
            await _populate(base, store)
        for rnd in range(1, settings.repeat + 1):
            for store in settings.stores:
                for c in settings.concurrency:
                    order = VARIANTS if rnd % 2 else VARIANTS[::-1]
                    for variant in order:
                        m = await _measure_cell(base, store, variant, c, settings, meter)
                        sample = make_sample(
                            m,
                            store=store,
                            op="get",
                            concurrency=c,
                            path=variant,
                            rnd=rnd,
                            duration=settings.duration,
                        )
                        results.samples.append(sample)
                        _progress(sample)
    finally:
        side.stop()
        if info is not None:
            await _delete_redis_keys(info, app_id)
            await info.aclose()


async def _populate(base: str, store: str) -> None:
    target = await http_api(base, _name(store, "plain"), 16)
    try:
        await populate(target.save)
    finally:
        await target.close()


async def _measure_cell(
    base: str, store: str, variant: str, c: int, settings: Settings, meter: Meter
) -> Measured:
    """One measurement; retried twice (after writing the keys again) when a GET fails, e.g.
    because another test restarted the shared Redis meanwhile."""
    for attempt in range(3):
        target = await http_api(base, _name(store, variant), c)
        try:
            return await measure(
                target.get,
                concurrency=c,
                warmup=settings.warmup,
                duration=settings.duration,
                meter=meter,
            )
        except RuntimeError as exc:
            if attempt == 2:
                raise
            print(f"  {store} {variant}: {exc}; writing the keys again", file=sys.stderr)
            await _populate(base, store)
        finally:
            await target.close()
    raise AssertionError("unreachable")


def ratios(samples: Sequence[Sample], settings: Settings) -> list[Ratio]:
    out: list[Ratio] = []
    for store in settings.stores:
        for c in settings.concurrency:
            cell = [s for s in samples if s.store == store and s.concurrency == c]
            by_round: dict[int, dict[str, float]] = {}
            for s in cell:
                by_round.setdefault(s.round, {})[s.path] = s.ops_per_s
            per_round = [r["policy"] / r["plain"] for r in by_round.values() if r.get("plain")]
            best = {
                v: max((s.ops_per_s for s in cell if s.path == v), default=0.0) for v in VARIANTS
            }
            value = best["policy"] / best["plain"] if best["plain"] else float("nan")
            cpu = {
                v: min(
                    (
                        s.sidecar_cpu_us_per_op
                        for s in cell
                        if s.path == v and s.sidecar_cpu_us_per_op
                    ),
                    default=float("nan"),
                )
                for v in VARIANTS
            }
            out.append(Ratio(store, c, per_round, value, value >= 1 - LOSS_TARGET, cpu))
    return out


def parse(argv: Sequence[str] | None) -> Settings:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measurement")
    parser.add_argument("--warmup", type=float, default=None, help="seconds (default 1)")
    parser.add_argument("--repeat", type=int, default=2, help="rounds (order alternates)")
    parser.add_argument("--stores", default="sqlite,redis", help="comma list of sqlite, redis")
    parser.add_argument("--concurrency", default="16", help="comma list of worker counts")
    parser.add_argument("--redis-host", default="127.0.0.1:6379")
    parser.add_argument("--quick", action="store_true", help="smoke run: 0.5 s, one round")
    ns = parser.parse_args(argv)
    stores = [s.strip() for s in ns.stores.split(",") if s.strip()]
    bad = [s for s in stores if s not in STORES]
    if bad:
        parser.error(f"unknown store: {', '.join(bad)}")
    return Settings(
        stores=[s for s in STORES if s in stores],
        concurrency=sorted({int(c) for c in ns.concurrency.split(",") if c.strip()}),
        duration=0.5 if ns.quick else ns.duration,
        warmup=ns.warmup if ns.warmup is not None else (0.2 if ns.quick else 1.0),
        repeat=1 if ns.quick else max(1, ns.repeat),
        redis_host=ns.redis_host,
    )


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse(argv)
    loop_name, runner = _loop_runner()
    results = Results(
        date=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        command=" ".join(["python bench/resiliency.py", *(sys.argv[1:] if argv is None else argv)]),
        machine={**machine(), "git": git_revision()},
        settings={**asdict(settings), "client_loop": loop_name, "value_bytes": len(VALUE)},
    )
    with tempfile.TemporaryDirectory(prefix="tandem-bench-resiliency-") as tmp:
        runner(run(settings, Path(tmp), results))
    results.ratios = ratios(results.samples, settings)
    print("\nHTTP GET throughput, policy (timeout + retry + breaker) / plain (no policy):")
    for r in results.ratios:
        rounds = ", ".join(f"{x:.3f}" for x in r.per_round)
        verdict = "PASS" if r.ok else "MISS"
        print(
            f"  {r.store:<6} c={r.concurrency:<3} best-of {r.best:.3f}"
            f" ({(1 - r.best) * 100:+.1f}% loss; rounds: {rounds})"
            f"  target < {LOSS_TARGET:.0%} loss: {verdict}"
        )
        cpu = r.sidecar_us_per_op
        print(
            f"  {'':<6} {'':<5} sidecar CPU per GET {cpu['plain']:.0f} -> {cpu['policy']:.0f} us"
            f" (lowest of the rounds)"
        )
    out_dir = REPO / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"resiliency-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(asdict(results), indent=2))
    print(f"\nresults: {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
