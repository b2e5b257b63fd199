"""The cost of tracing: state API throughput and latency with tracing off, at sampling rate 0.01
and at 1, in one run.

    python bench/tracing.py [--duration 5] [--repeat 2] [--stores sqlite,redis] [--quick]

The observability issue asks for the cost of tracing at sampling rates 1 and 0.01 on the
invocation and state benchmarks, as a ratio against tracing off, with the target "under 10 %
throughput loss at sampling rate 0.01". Service invocation does not exist in Tandem yet: only the
state API is measured.

One run starts one OTLP/gRPC receiver (``bench/_tracing_receiver.py``: the tests' receiver,
counting spans, in a process of its own) and, every round, three fresh sidecars in turn (the same
components; one SQLite file and one app id per configuration: the receiver counts spans per
``service.name``):

- ``off``: no Configuration (no tracer provider: the sidecar only asks ``tracing_enabled()``);
- ``0.01`` and ``1``: a Configuration with ``spec.tracing.samplingRate`` and ``otel``
  ``endpointAddress`` = the receiver, ``protocol: grpc``, ``isSecure: false``.

The load generator is this process (one uvloop event loop, N workers; the measurement code of
``bench/state.py``: warm-up, then the operations completing within ``--duration`` count). Cells:
HTTP GET, HTTP SAVE and gRPC GET at each concurrency (default 1 and 16), per store, in two
traffic variants:

- ``plain``: no incoming ``traceparent``: the sidecar samples at its own rate (the headline);
- ``traceparent``: every request carries a sampled ``traceparent`` (``00-<trace>-<span>-01``,
  a new trace id per request): the sampler is parent-based (as Dapr's), so every request is
  traced whatever the rate. Ratios of this variant are against ``off`` with the same traffic
  (``off`` then only attaches the extracted context).

Each cell is measured on the three sidecars back to back (the others sit idle), in an order that
alternates over cells and over the ``--repeat`` rounds, so that the configurations see the same
machine; new processes each round, so that no configuration keeps one process's luck (hash seed,
memory layout, CPU placement move a process's throughput by several %). A measurement during
which other processes used more than ``--max-foreign`` % of the machine is repeated (up to
``--noise-retries`` times). Every cell keeps its best attempt (most ops/s).

Printed: the table, the throughput ratio config / off at the highest concurrency with PASS/MISS
for "< 10 % loss at 0.01" (plain traffic), the p50/p99 at concurrency 1, and the spans the
receiver got per configuration, counted after the sidecars exited (their queues flushed), per
request: 2 per traced request (the SERVER span and the ``state/<op>`` CLIENT span), ~0.02 at rate
0.01 without ``traceparent``, 0 off. Results go to ``bench/results/tracing-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import aiohttp
import grpc
from _common import (
    REPO,
    Sidecar,
    cpu_seconds,
    git_revision,
    machine,
    redis_component,
    sqlite_component,
    verdict,
)
from _profile import Profiler, summarise
from _tracing_receiver import MARKER, Collector, Counts
from redis.asyncio import Redis
from state import (
    VALUE,
    Counters,
    Meter,
    Op,
    Sample,
    _delete_redis_keys,
    _host_port,
    _loop_runner,
    make_sample,
    measure,
    populate,
)

from protos.dapr.common.v1 import common_pb2
from protos.dapr.runtime.v1 import dapr_pb2_grpc, state_pb2

LOSS_TARGET = 0.10  # throughput loss at sampling rate 0.01, plain traffic, highest concurrency
TARGET_RATE = "0.01"
OFF = "off"
VARIANTS = ("plain", "traceparent")
CELLS = (("http", "get"), ("http", "save"), ("grpc", "get"))
ALL_CELLS = (*CELLS, ("grpc", "save"))
STORES = ("sqlite", "redis")
COMP_NAMES = {"redis": "bench-redis", "sqlite": "bench-sqlite"}
_TICKS = os.sysconf("SC_CLK_TCK")
NTRACES = 4096  # distinct incoming traceparents, cycled
SPANS_PER_TRACED_REQUEST = 2  # SERVER span + the state/<op> CLIENT span
INVOCATION_NOTE = (
    "service invocation: NOT MEASURED - the building block does not exist in Tandem yet"
    " (state API only)"
)


def _traceparents(n: int = NTRACES) -> list[str]:
    """Sampled W3C traceparents with trace ids starting with MARKER (the receiver counts them)."""
    return [
        f"00-{MARKER.hex()}{secrets.token_hex(16 - len(MARKER))}-{secrets.token_hex(8)}-01"
        for _ in range(n)
    ]


TRACEPARENTS = _traceparents()


# ---- targets ------------------------------------------------------------------------------


class RequestCount:
    """Requests sent per traffic variant while one sidecar runs (warm-ups included)."""

    def __init__(self) -> None:
        self.by_variant = dict.fromkeys(VARIANTS, 0)


Close = Callable[[], Awaitable[None]]


async def http_target(
    base: str, store: str, op: str, concurrency: int, variant: str, count: RequestCount
) -> tuple[Op, aiohttp.ClientSession]:
    """``GET /v1.0/state/<store>/<key>`` or ``POST /v1.0/state/<store>``, as bench/state.py,
    with a ``traceparent`` header per request in the ``traceparent`` variant."""
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=concurrency, keepalive_timeout=60),
        headers={"Content-Type": "application/json"},
    )
    traced = variant == "traceparent"
    headers = itertools.cycle([{"traceparent": tp} for tp in TRACEPARENTS])
    counts = count.by_variant
    get_url = f"{base}/v1.0/state/{store}/"
    save_url = f"{base}/v1.0/state/{store}"
    head = b'[{"key":"'
    mid = b'","value":' + VALUE + b"}]"

    async def get(key: str) -> None:
        counts[variant] += 1
        async with session.get(get_url + key, headers=next(headers) if traced else None) as resp:
            body = await resp.read()
            if resp.status != 200 or len(body) != len(VALUE):
                raise RuntimeError(f"HTTP GET {key}: {resp.status} {body[:200]!r}")

    async def save(key: str) -> None:
        counts[variant] += 1
        async with session.post(
            save_url, data=head + key.encode() + mid, headers=next(headers) if traced else None
        ) as resp:
            if resp.status != 204:
                raise RuntimeError(f"HTTP SAVE {key}: {resp.status} {(await resp.read())[:200]!r}")

    return (get if op == "get" else save), session


async def grpc_target(
    target: str, store: str, op: str, variant: str, count: RequestCount
) -> tuple[Op, grpc.aio.Channel]:
    """``GetState`` / ``SaveState`` with one ``StateItem``, as bench/state.py, with
    ``traceparent`` metadata per call in the ``traceparent`` variant."""
    channel = grpc.aio.insecure_channel(target)
    stub = dapr_pb2_grpc.DaprStub(channel)
    traced = variant == "traceparent"
    metadata = itertools.cycle([(("traceparent", tp),) for tp in TRACEPARENTS])
    counts = count.by_variant

    async def get(key: str) -> None:
        counts[variant] += 1
        resp = await stub.GetState(
            state_pb2.GetStateRequest(store_name=store, key=key),
            metadata=next(metadata) if traced else None,
        )
        if len(resp.data) != len(VALUE):
            raise RuntimeError(f"gRPC GET {key}: {resp!r}")

    async def save(key: str) -> None:
        counts[variant] += 1
        await stub.SaveState(
            state_pb2.SaveStateRequest(
                store_name=store, states=[common_pb2.StateItem(key=key, value=VALUE)]
            ),
            metadata=next(metadata) if traced else None,
        )

    return (get if op == "get" else save), channel


def _thread_cpu_seconds(pid: int) -> float:
    """User + system CPU time of the main thread of ``pid`` (its event loop)."""
    text = Path(f"/proc/{pid}/task/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


class CollectorMeter(Meter):
    """bench/state.py's meter, also reading the receiver's CPU time at each reading (``measure``
    reads twice: window start and end)."""

    def __init__(self, sidecar_pid: int, redis: Redis | None, collector_pid: int) -> None:
        super().__init__(sidecar_pid, redis)
        self.collector_pid = collector_pid
        self.collector_cpu: list[float] = []
        self.loop_cpu: list[float] = []  # the sidecar's main thread: its event loop

    async def read(self) -> Counters:
        self.collector_cpu.append(cpu_seconds(self.collector_pid))
        self.loop_cpu.append(_thread_cpu_seconds(self.sidecar_pid or 0))
        return await super().read()


# ---- results ------------------------------------------------------------------------------


@dataclass
class TracingSample(Sample):
    config: str = OFF  # "off" or the sampling rate as written in the Configuration
    variant: str = "plain"
    collector_cpu_us_per_op: float = float("nan")
    sidecar_loop_cpu_us_per_op: float = float("nan")  # its main thread; the rest: other threads
    noisy: bool = False  # foreign_pct above --max-foreign


@dataclass
class SpanCheck:
    """What the receiver got while one sidecar ran (counted until it exited: flushed)."""

    config: str
    requests_plain: int
    requests_traceparent: int
    spans: int
    spans_plain: int  # trace ids not started by the bench: root traces the sidecar sampled
    spans_traceparent: int
    server_spans: int
    client_spans: int
    exports: int
    names: dict[str, int]
    dropped_logged: bool  # the SDK logged "Queue full, dropping ..." (rate-limited log line)
    exit_codes: list[int]  # of the sidecar processes of this configuration, one per round

    @property
    def per_request_plain(self) -> float:
        return self.spans_plain / self.requests_plain if self.requests_plain else float("nan")

    @property
    def per_request_traceparent(self) -> float:
        n = self.requests_traceparent
        return self.spans_traceparent / n if n else float("nan")


@dataclass
class Ratio:
    store: str
    variant: str
    path: str
    op: str
    concurrency: int
    config: str
    ratio: float  # ops/s config / ops/s off
    off_spread: float | None  # (max - min) / max of off's ops/s over the rounds: the noise
    paired: list[float]  # per round: config / off of that round (the same minutes, new processes)
    sidecar_cpu_off: float | None
    sidecar_cpu: float | None
    target: str
    ok: bool | None  # None: no target for this one


@dataclass
class Results:
    date: str
    command: str
    machine: dict[str, object]
    settings: dict[str, object]
    note: str = INVOCATION_NOTE
    samples: list[TracingSample] = field(default_factory=list)  # every round
    best: list[TracingSample] = field(default_factory=list)
    ratios: list[Ratio] = field(default_factory=list)
    spans: list[SpanCheck] = field(default_factory=list)
    profiles: list[str] = field(default_factory=list)


Key = tuple[str, str, str, str, str, int]  # config, variant, store, path, op, concurrency


def _key(s: TracingSample) -> Key:
    return (s.config, s.variant, s.store, s.path, s.op, s.concurrency)


def best_of(samples: Sequence[TracingSample]) -> list[TracingSample]:
    """Per cell, the attempt with the most ops/s among the clean ones (not ``noisy``); a noisy
    one only when the cell has no clean attempt."""
    best: dict[Key, TracingSample] = {}
    for s in samples:
        k = _key(s)
        if k not in best or (not s.noisy, s.ops_per_s) > (not best[k].noisy, best[k].ops_per_s):
            best[k] = s
    return list(best.values())


# ---- the run ------------------------------------------------------------------------------


@dataclass
class Settings:
    stores: list[str]
    concurrency: list[int]
    rates: list[str]
    variants: list[str]
    cells: list[tuple[str, str]]
    duration: float
    warmup: float
    repeat: int
    redis_host: str
    quick: bool
    max_foreign: float
    noise_retries: int
    profile: list[str] = field(default_factory=list)  # "config:variant:store:path:op:c"
    py_spy_args: list[str] = field(default_factory=list)

    @property
    def configs(self) -> list[str]:
        return [OFF, *self.rates]


def _label(config: str) -> str:
    return config if config == OFF else f"rate-{config}"


def configuration_yaml(rate: str, endpoint: str) -> str:
    return f"""apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata:
  name: bench-tracing
spec:
  tracing:
    samplingRate: "{rate}"
    otel:
      endpointAddress: "{endpoint}"
      protocol: grpc
      isSecure: false
"""


def _progress(s: TracingSample) -> None:
    print(
        f"  [{s.round}] {s.config:<5} {s.variant:<11} {s.store:<6} {s.path:<4} {s.op:<4}"
        f" c={s.concurrency:<3} {s.ops_per_s:>8.0f} ops/s  p50 {s.p50_us:>6.0f} us"
        f"  p99 {s.p99_us:>6.0f} us  sidecar {s.sidecar_cpu_us_per_op or 0:>4.0f} us/op"
        f"  foreign {s.foreign_pct:>3.0f}%{'  (noisy)' if s.noisy else ''}",
        file=sys.stderr,
        flush=True,
    )


class TracingBench:
    """Three sidecars (one per configuration), started in turn and kept running; every cell is
    measured on each of them back to back, so that the configurations see the same machine."""

    def __init__(
        self, settings: Settings, work: Path, results: Results, collector: Collector
    ) -> None:
        self.settings = settings
        self.work = work
        self.results = results
        self.collector = collector
        # one app id per configuration: the receiver counts spans by service.name; Redis keys
        # are "<app id>||<key>", all under the run's prefix
        self.prefix = f"tandem-bench-{secrets.token_hex(4)}"
        self.app_ids = {c: f"{self.prefix}-{_label(c)}" for c in settings.configs}
        # the same components for every sidecar; each its own SQLite file (WAL checkpoints of
        # one sidecar's writes must not land in another's measurement)
        self.resources: dict[str, Path] = {}
        for config in settings.configs:
            folder = work / _label(config) / "resources"
            folder.mkdir(parents=True)
            if "redis" in settings.stores:
                (folder / "redis.yaml").write_text(
                    redis_component(COMP_NAMES["redis"], settings.redis_host)
                )
            if "sqlite" in settings.stores:
                (folder / "sqlite.yaml").write_text(
                    sqlite_component(COMP_NAMES["sqlite"], folder.parent / "sidecar.db")
                )
            self.resources[config] = folder
        self.config_files: dict[str, Path] = {}
        for rate in settings.rates:
            path = work / f"config-{rate}.yaml"
            path.write_text(configuration_yaml(rate, collector.endpoint))
            self.config_files[rate] = path
        self.info: Redis | None = None
        if "redis" in settings.stores:
            h, p = _host_port(settings.redis_host)
            self.info = Redis(host=h, port=p)
        self.sidecars: dict[str, Sidecar] = {}  # the running ones (this round)
        self.exit_codes: dict[str, list[int]] = {}
        self.logs: dict[str, str] = {}
        self.counts = {c: RequestCount() for c in settings.configs}

    async def run(self) -> None:
        settings = self.settings
        cells = [
            (store, variant, path, op)
            for store in settings.stores
            for variant in settings.variants
            for path, op in settings.cells
        ]
        try:
            for rnd in range(1, settings.repeat + 1):
                # fresh processes every round: a process's own luck (hash seed, memory layout,
                # CPU placement) moves its throughput by several %; rounds average it out
                await self.start_sidecars(rnd)
                try:
                    for i, (store, variant, path, op) in enumerate(cells):
                        for j, concurrency in enumerate(settings.concurrency):
                            # alternate the order over cells and rounds: none always goes first
                            order = settings.configs
                            for config in order if (rnd + i + j) % 2 else order[::-1]:
                                await self.measure_cell(
                                    config, variant, store, path, op, concurrency, rnd
                                )
                finally:
                    self.stop_sidecars()
        finally:
            if self.info is not None:
                await _delete_redis_keys(self.info, self.prefix)
                await self.info.aclose()
        self.check_spans()

    async def start_sidecars(self, rnd: int) -> None:
        settings = self.settings
        for config in settings.configs:
            extra = [] if config == OFF else ["--config", str(self.config_files[config])]
            side = Sidecar.spawn(
                self.work / _label(config) / f"round-{rnd}",
                app_id=self.app_ids[config],
                resources=self.resources[config],
                extra_args=extra,
            )
            self.sidecars[config] = side
            side.wait_ready()
            print(f"[{rnd}] tracing {config}: sidecar pid {side.pid} ready", file=sys.stderr)
        for config, side in self.sidecars.items():
            for store in settings.stores:
                await self.populate(side, store, self.counts[config])

    def stop_sidecars(self) -> None:
        """SIGTERM each; its exit flushes its span queue to the receiver."""
        for config, side in self.sidecars.items():
            self.exit_codes.setdefault(config, []).append(side.stop())
            self.logs[config] = self.logs.get(config, "") + side.logs()
        self.sidecars.clear()

    async def measure_cell(
        self, config: str, variant: str, store: str, path: str, op: str, concurrency: int, rnd: int
    ) -> None:
        """One measurement; again (up to ``noise_retries`` times) while other processes used
        more than ``max_foreign`` % of the machine during it. Every attempt is kept."""
        settings = self.settings
        for attempt in range(settings.noise_retries + 1):
            if attempt:
                await asyncio.sleep(1)
            sample = await self.retrying(config, variant, store, path, op, concurrency, rnd)
            sample.noisy = sample.foreign_pct > settings.max_foreign
            self.results.samples.append(sample)
            _progress(sample)
            if not sample.noisy:
                return

    def check_spans(self) -> None:
        received = self.collector.counts()
        for config in self.settings.configs:
            got = received.get(self.app_ids[config], Counts())
            count = self.counts[config].by_variant
            log = self.logs.get(config, "")
            check = SpanCheck(
                config=config,
                requests_plain=count["plain"],
                requests_traceparent=count["traceparent"],
                spans=got.spans,
                spans_plain=got.spans - got.marked,
                spans_traceparent=got.marked,
                server_spans=got.server,
                client_spans=got.client,
                exports=got.exports,
                names=got.names,
                dropped_logged="Queue full" in log or "dropping" in log.lower(),
                exit_codes=self.exit_codes.get(config, []),
            )
            self.results.spans.append(check)
        others = set(received) - set(self.app_ids.values())
        if others:
            print(f"receiver: spans from other services {sorted(others)}", file=sys.stderr)

    async def populate(self, side: Sidecar, store: str, count: RequestCount) -> None:
        """Write every key, so that every GET hits (counted as plain requests)."""
        fn, close = await self.open(side, store, "http", "save", 16, "plain", count)
        try:
            await populate(fn)
        finally:
            await close()

    async def open(
        self,
        side: Sidecar,
        store: str,
        path: str,
        op: str,
        concurrency: int,
        variant: str,
        count: RequestCount,
    ) -> tuple[Op, Close]:
        name = COMP_NAMES[store]
        if path == "http":
            fn, session = await http_target(
                f"http://127.0.0.1:{side.http_port}", name, op, concurrency, variant, count
            )
            return fn, session.close
        fn, channel = await grpc_target(f"127.0.0.1:{side.grpc_port}", name, op, variant, count)

        async def close() -> None:
            await channel.close(None)

        return fn, close

    async def retrying(
        self,
        config: str,
        variant: str,
        store: str,
        path: str,
        op: str,
        concurrency: int,
        rnd: int,
        attempts: int = 3,
    ) -> TracingSample:
        """``one``, again after a pause when it fails (the shared Redis may be restarted)."""
        side = self.sidecars[config]
        for attempt in range(1, attempts + 1):
            try:
                return await self.one(config, variant, store, path, op, concurrency, rnd)
            except Exception as exc:
                if attempt == attempts or side.proc.poll() is not None:
                    raise
                print(
                    f"  {config} {variant} {store} {path} {op} c={concurrency} failed"
                    f" ({exc!r:.200}); retrying in 3 s",
                    file=sys.stderr,
                )
                await asyncio.sleep(3)
                await self.populate(side, store, self.counts[config])
        raise AssertionError("unreachable")

    async def one(
        self,
        config: str,
        variant: str,
        store: str,
        path: str,
        op: str,
        concurrency: int,
        rnd: int,
    ) -> TracingSample:
        settings = self.settings
        side = self.sidecars[config]
        count = self.counts[config]
        fn, close = await self.open(side, store, path, op, concurrency, variant, count)
        profiler = None
        if f"{config}:{variant}:{store}:{path}:{op}:{concurrency}" in settings.profile:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            out = REPO / "bench" / "results" / "profiles"
            out /= f"{stamp}-tracing-{config}-{variant}-{store}-{path}-{op}-c{concurrency}.txt"
            profiler = Profiler(
                side.pid, out, settings.warmup + settings.duration, extra=settings.py_spy_args
            )
            await profiler.start()
        meter = CollectorMeter(
            side.pid, self.info if store == "redis" else None, self.collector.pid
        )
        try:
            measured = await measure(
                fn,
                concurrency=concurrency,
                warmup=settings.warmup,
                duration=settings.duration,
                meter=meter,
            )
        finally:
            await close()
            if profiler is not None:
                await profiler.wait()
                self.results.profiles.append(str(profiler.out.relative_to(REPO)))
                print(summarise(profiler.out, 25), file=sys.stderr)
        collector_cpu = meter.collector_cpu[-1] - meter.collector_cpu[0]
        ncpu = len(os.sched_getaffinity(0))
        # the receiver is ours, not foreign load
        measured.foreign_share = max(
            0.0, measured.foreign_share - collector_cpu / (measured.wall_s * ncpu)
        )
        sample = make_sample(
            measured,
            store=store,
            op=op,
            concurrency=concurrency,
            path=path,
            rnd=rnd,
            duration=settings.duration,
        )
        n = sample.ops
        return TracingSample(
            **asdict(sample),
            config=config,
            variant=variant,
            collector_cpu_us_per_op=collector_cpu / n * 1e6 if n else float("nan"),
            sidecar_loop_cpu_us_per_op=(
                (meter.loop_cpu[-1] - meter.loop_cpu[0]) / n * 1e6 if n else float("nan")
            ),
        )


# ---- reporting ----------------------------------------------------------------------------


def _spread(samples: Sequence[TracingSample], key: Key) -> float | None:
    """(max - min) / max of ops/s over the rounds of one cell; None with one round."""
    mine = [s for s in samples if _key(s) == key]
    clean = [s for s in mine if not s.noisy]
    values = [s.ops_per_s for s in (clean if len(clean) > 1 else mine)]
    if len(values) < 2 or not max(values):
        return None
    return (max(values) - min(values)) / max(values)


def _paired(samples: Sequence[TracingSample], key: Key, off_key: Key) -> list[float]:
    """Per round, the ratio of the two cells' best attempts in that round."""

    def best_by_round(k: Key) -> dict[int, float]:
        out: dict[int, float] = {}
        for s in samples:
            if _key(s) == k:
                out[s.round] = max(out.get(s.round, 0.0), s.ops_per_s)
        return out

    mine, off = best_by_round(key), best_by_round(off_key)
    return [mine[r] / off[r] for r in sorted(mine) if off.get(r)]


def ratios(
    best: Sequence[TracingSample], samples: Sequence[TracingSample], settings: Settings
) -> list[Ratio]:
    """Throughput config / off at the highest concurrency, per store, variant and cell."""
    by = {_key(s): s for s in best}
    hi = max(settings.concurrency)
    out: list[Ratio] = []
    for store in settings.stores:
        for variant in settings.variants:
            for path, op in settings.cells:
                off = by.get((OFF, variant, store, path, op, hi))
                if off is None or not off.ops_per_s:
                    continue
                spread = _spread(samples, _key(off))
                for rate in settings.rates:
                    s = by.get((rate, variant, store, path, op, hi))
                    if s is None:
                        continue
                    r = s.ops_per_s / off.ops_per_s
                    headline = rate == TARGET_RATE and variant == "plain"
                    paired = _paired(samples, _key(s), _key(off))
                    out.append(
                        Ratio(
                            store=store,
                            variant=variant,
                            path=path,
                            op=op,
                            concurrency=hi,
                            config=rate,
                            ratio=r,
                            off_spread=spread,
                            paired=paired,
                            sidecar_cpu_off=off.sidecar_cpu_us_per_op,
                            sidecar_cpu=s.sidecar_cpu_us_per_op,
                            target=f"> {1 - LOSS_TARGET:.2f}" if headline else "-",
                            ok=(r > 1 - LOSS_TARGET) if headline else None,
                        )
                    )
    return out


def _us(value: float | None) -> str:
    return "-" if value is None or value != value else f"{value:.0f}"


def table(best: Sequence[TracingSample], settings: Settings) -> str:
    head = (
        f"{'store':<7}{'traffic':<12}{'API':<5}{'op':<5}{'c':>3}  {'tracing':<8}{'ops/s':>8}"
        f"{'vs off':>8}{'p50 us':>8}{'p90 us':>8}{'p99 us':>8}{'client':>8}{'sidecar':>8}"
        f"{'(loop)':>7}"
        f"{'collector':>10}{'busy':>6}{'foreign':>8}"
    )
    lines = [head, "-" * len(head)]
    by = {_key(s): s for s in best}
    for store in settings.stores:
        for variant in settings.variants:
            for path, op in settings.cells:
                for c in settings.concurrency:
                    off = by.get((OFF, variant, store, path, op, c))
                    for config in settings.configs:
                        s = by.get((config, variant, store, path, op, c))
                        if s is None:
                            continue
                        rel = (
                            f"{s.ops_per_s / off.ops_per_s:.2f}x" if off and off.ops_per_s else "-"
                        )
                        lines.append(
                            f"{store:<7}{variant:<12}{path.upper():<5}{op.upper():<5}{c:>3}"
                            f"  {config:<8}{s.ops_per_s:>8.0f}{rel:>8}{s.p50_us:>8.0f}"
                            f"{s.p90_us:>8.0f}{s.p99_us:>8.0f}{_us(s.client_cpu_us_per_op):>8}"
                            f"{_us(s.sidecar_cpu_us_per_op):>8}"
                            f"{_us(s.sidecar_loop_cpu_us_per_op):>7}"
                            f"{_us(s.collector_cpu_us_per_op):>10}{s.machine_busy_pct:>5.0f}%"
                            f"{s.foreign_pct:>7.0f}%"
                        )
    lines += [
        "traffic: plain = no incoming traceparent (the sidecar samples at its rate);",
        "  traceparent = a sampled incoming traceparent per request (parent-based: always traced)",
        "vs off: throughput / tracing off, same traffic",
        "client / sidecar / collector: CPU us per operation of the bench process / the sidecar /",
        "  the OTLP receiver; (loop): the sidecar's main thread (the rest is its other threads:",
        "  span export, aiosqlite's, grpc's)",
        "busy: all CPUs of the machine; foreign: other processes' CPU as a share of the machine",
        "  (noise)",
    ]
    return "\n".join(lines)


def ratio_lines(rs: Sequence[Ratio]) -> str:
    lines = [
        f"{'store':<7}{'traffic':<12}{'API':<5}{'op':<5}{'c':>3}  {'tracing':<8}{'vs off':>7}"
        f"{'loss':>7}{'off noise':>10}{'per round':>12}{'sidecar us/op off -> on':>25}   target",
    ]
    for r in rs:
        cpu = f"{_us(r.sidecar_cpu_off)} -> {_us(r.sidecar_cpu)}"
        judged = "" if r.ok is None else f"{r.target:<7} {verdict(r.ok)}"
        noise = "-" if r.off_spread is None else f"{r.off_spread * 100:.1f}%"
        rounds = f"{min(r.paired):.2f}-{max(r.paired):.2f}" if len(r.paired) > 1 else "-"
        lines.append(
            f"{r.store:<7}{r.variant:<12}{r.path.upper():<5}{r.op.upper():<5}{r.concurrency:>3}"
            f"  {r.config:<8}{r.ratio:>7.2f}{(1 - r.ratio) * 100:>6.1f}%{noise:>10}{rounds:>12}"
            f"{cpu:>25}   {judged}"
        )
    lines += [
        "vs off: best round / best round; off noise: (max - min) / max of tracing-off ops/s over"
        " the rounds\n(a loss smaller than it is not resolved); per round: the lowest and highest"
        " ratio within one round",
    ]
    return "\n".join(lines)


def latency_lines(best: Sequence[TracingSample], settings: Settings) -> str:
    lo = min(settings.concurrency)
    by = {_key(s): s for s in best}
    configs = settings.configs
    head = (
        f"{'store':<7}{'traffic':<12}{'API':<5}{'op':<5}{'c':>3}  "
        + "".join(f"{'p50 ' + c:>11}" for c in configs)
        + "".join(f"{'p99 ' + c:>11}" for c in configs)
    )
    lines = [head]
    for store in settings.stores:
        for variant in settings.variants:
            for path, op in settings.cells:
                row = [by.get((c, variant, store, path, op, lo)) for c in configs]
                p50 = "".join(f"{_us(s.p50_us if s else None):>11}" for s in row)
                p99 = "".join(f"{_us(s.p99_us if s else None):>11}" for s in row)
                lines.append(
                    f"{store:<7}{variant:<12}{path.upper():<5}{op.upper():<5}{lo:>3}  {p50}{p99}"
                )
    lines.append("latency in us at the lowest concurrency (best round by ops/s)")
    return "\n".join(lines)


def span_lines(checks: Sequence[SpanCheck], settings: Settings) -> str:
    lines = [
        f"{'tracing':<8}{'requests plain':>15}{'traceparent':>12}{'spans':>9}{'exports':>8}"
        f"{'spans/req plain':>16}{'traceparent':>12}{'SERVER':>8}{'CLIENT':>8}  drops logged"
    ]
    for config in settings.configs:
        mine = [c for c in checks if c.config == config]
        if not mine:
            continue
        rp = sum(c.requests_plain for c in mine)
        rt = sum(c.requests_traceparent for c in mine)
        sp = sum(c.spans_plain for c in mine)
        st = sum(c.spans_traceparent for c in mine)
        per_p = f"{sp / rp:.4f}" if rp else "-"
        per_t = f"{st / rt:.4f}" if rt else "-"
        lines.append(
            f"{config:<8}{rp:>15}{rt:>12}{sp + st:>9}{sum(c.exports for c in mine):>8}"
            f"{per_p:>16}{per_t:>12}{sum(c.server_spans for c in mine):>8}"
            f"{sum(c.client_spans for c in mine):>8}"
            f"  {'yes' if any(c.dropped_logged for c in mine) else 'no'}"
        )
    names: Counts = Counts()
    for c in checks:
        names = names + Counts(names=c.names)
    top = sorted(names.names.items(), key=lambda kv: -kv[1])[:6]
    lines.append(
        "requests include warm-ups and the 256 writes per store before the GETs; expected"
        f" spans/request:\n{SPANS_PER_TRACED_REQUEST} when traced (SERVER + state CLIENT span),"
        f" ~{SPANS_PER_TRACED_REQUEST * 0.01:g} at 0.01 plain, 0 off"
    )
    if top:
        lines.append("span names: " + ", ".join(f"{n} ({c})" for n, c in top))
    return "\n".join(lines)


# ---- command line -------------------------------------------------------------------------


def parse(argv: Sequence[str] | None) -> Settings:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measurement")
    parser.add_argument("--warmup", type=float, default=None, help="seconds (default 1; quick 0.2)")
    parser.add_argument(
        "--repeat",
        type=int,
        default=None,
        help="rounds; configurations alternate, each cell keeps its best (default 2; quick 1)",
    )
    parser.add_argument("--stores", default="sqlite", help="comma list of sqlite, redis")
    parser.add_argument("--concurrency", default="1,16", help="comma list of worker counts")
    parser.add_argument(
        "--rates", default="0.01,1", help="sampling rates to compare with off (default 0.01,1)"
    )
    parser.add_argument(
        "--variants", default=",".join(VARIANTS), help="comma list of plain, traceparent"
    )
    parser.add_argument(
        "--cells",
        default=",".join(f"{p}:{o}" for p, o in CELLS),
        help="comma list of API:OP (default http:get,http:save,grpc:get; grpc:save works too)",
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 0.75 s runs, < 60 s")
    parser.add_argument("--redis-host", default="127.0.0.1:6379")
    parser.add_argument(
        "--report",
        metavar="JSON",
        help="print the tables of an earlier run's results file (must be the only option)",
    )
    parser.add_argument(
        "--max-foreign",
        type=float,
        default=10.0,
        metavar="PCT",
        help="re-measure when other processes used more than PCT %% of the machine (default 10)",
    )
    parser.add_argument(
        "--noise-retries",
        type=int,
        default=None,
        help="re-measurements of a noisy cell (default 2; quick 0)",
    )
    parser.add_argument(
        "--profile",
        action="append",
        default=[],
        metavar="CONFIG:TRAFFIC:STORE:API:OP:C",
        help="py-spy the sidecar during this measurement, e.g. 1:plain:sqlite:http:get:16"
        " (repeatable; the samples cost CPU, so do not compare those figures)",
    )
    parser.add_argument(
        "--py-spy-arg", action="append", default=[], help="extra py-spy record flag (repeatable)"
    )
    ns = parser.parse_args(argv)
    stores = [s.strip() for s in ns.stores.split(",") if s.strip()]
    variants = [v.strip() for v in ns.variants.split(",") if v.strip()]
    rates = [r.strip() for r in ns.rates.split(",") if r.strip()]
    cells = [tuple(c.strip().split(":", 1)) for c in ns.cells.split(",") if c.strip()]
    bad = [s for s in stores if s not in STORES] + [v for v in variants if v not in VARIANTS]
    bad += [":".join(c) for c in cells if c not in ALL_CELLS]
    if bad:
        parser.error(f"unknown store, traffic variant or cell: {', '.join(bad)}")
    for rate in rates:
        try:
            ok = 0.0 < float(rate) <= 1.0
        except ValueError:
            ok = False
        if not ok:
            parser.error(f"--rates: {rate!r} is not a sampling rate in (0, 1]")
    return Settings(
        stores=[s for s in STORES if s in stores],
        concurrency=sorted({int(c) for c in ns.concurrency.split(",") if c.strip()}),
        rates=list(dict.fromkeys(rates)),
        variants=[v for v in VARIANTS if v in variants],
        cells=[c for c in ALL_CELLS if c in cells],
        duration=0.75 if ns.quick else ns.duration,
        warmup=ns.warmup if ns.warmup is not None else (0.2 if ns.quick else 1.0),
        repeat=max(1, ns.repeat if ns.repeat is not None else (1 if ns.quick else 2)),
        redis_host=ns.redis_host,
        quick=ns.quick,
        max_foreign=ns.max_foreign,
        noise_retries=max(
            0, ns.noise_retries if ns.noise_retries is not None else (0 if ns.quick else 2)
        ),
        profile=list(ns.profile),
        py_spy_args=list(ns.py_spy_arg),
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--report"]:
        if len(args) != 2:
            print("usage: python bench/tracing.py --report bench/results/tracing-<stamp>.json")
            return 2
        results, settings = load(Path(args[1]))
        print(f"{results.command}  ({results.date}, {results.machine.get('git')})")
        report(results, settings)
        return 0
    settings = parse(argv)
    os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")  # see bench/state.py
    # OTEL_EXPORTER_OTLP_* in the environment would turn tracing on in the "off" sidecar
    dropped = [name for name in os.environ if name.startswith("OTEL_")]
    for name in dropped:
        del os.environ[name]
    if dropped:
        print(
            f"ignoring {', '.join(sorted(dropped))} (not passed to the sidecars)", file=sys.stderr
        )
    loop_name, runner = _loop_runner()
    results = Results(
        date=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        command=" ".join(["python bench/tracing.py", *(sys.argv[1:] if argv is None else argv)]),
        machine={**machine(), "git": git_revision()},
        settings={
            **asdict(settings),
            "configs": settings.configs,
            "client_loop": loop_name,
            "value_bytes": len(VALUE),
            "traceparents": NTRACES,
        },
    )
    started = time.monotonic()
    print(INVOCATION_NOTE, file=sys.stderr, flush=True)
    collector = Collector()
    try:
        with tempfile.TemporaryDirectory(prefix="tandem-bench-tracing-") as tmp:
            bench = TracingBench(settings, Path(tmp), results, collector)
            runner(bench.run())
    finally:
        collector.close()
    report(results, settings)
    out_dir = REPO / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"tracing-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(asdict(results), indent=2))
    print(f"\nresults: {out.relative_to(REPO)} ({time.monotonic() - started:.1f} s)")
    return 0


def load(path: Path) -> tuple[Results, Settings]:
    """A results file written by this script, for ``--report``."""
    data = json.loads(path.read_text())
    names = {f.name for f in fields(Settings)}
    raw = {k: v for k, v in data["settings"].items() if k in names}
    raw["cells"] = [tuple(c) for c in raw.get("cells", CELLS)]
    settings = Settings(**raw)
    results = Results(
        date=data["date"],
        command=data["command"],
        machine=data["machine"],
        settings=data["settings"],
        samples=[TracingSample(**s) for s in data["samples"]],
        spans=[SpanCheck(**c) for c in data["spans"]],
        profiles=data.get("profiles", []),
    )
    return results, settings


def report(results: Results, settings: Settings) -> None:
    """Compute the best cells and the ratios into ``results`` and print the tables."""
    results.best = best_of(results.samples)
    results.ratios = ratios(results.best, results.samples, settings)
    cpus = results.machine["cpus_usable"]
    loop_name = results.settings.get("client_loop", "?")
    print(
        f"\nTandem state API, tracing off vs sampling rate {' and '.join(settings.rates)}"
        f" (OTLP/gRPC to a receiver process): {settings.duration:g} s per measurement after"
        f" {settings.warmup:g} s warm-up, best of {settings.repeat} round(s) per cell;"
        f" {cpus} CPUs shared by client, sidecar, receiver and backend; client loop {loop_name}\n"
    )
    print(INVOCATION_NOTE + "\n")
    print(table(results.best, settings))
    noisy = sum(s.noisy for s in results.samples)
    noisy_best = [s for s in results.best if s.noisy]
    print(
        f"\nnoise: {noisy} of {len(results.samples)} measurements had foreign > "
        f"{settings.max_foreign:g} %; {len(noisy_best)} of the {len(results.best)} cells above"
        " kept\nsuch a measurement (highest foreign in the table:"
        f" {max((s.foreign_pct for s in results.best), default=0):.0f} %)"
    )
    print(f"\nThroughput vs tracing off at c={max(settings.concurrency)}:\n")
    print(ratio_lines(results.ratios))
    headline = [r for r in results.ratios if r.ok is not None]
    if headline:
        worst = min(headline, key=lambda r: r.ratio)
        print(
            f"\ntarget < {LOSS_TARGET:.0%} throughput loss at sampling rate {TARGET_RATE}"
            f" (no incoming traceparent): {verdict(all(r.ok for r in headline))}"
            f" (worst: {worst.store} {worst.path.upper()} {worst.op.upper()}"
            f" {(1 - worst.ratio) * 100:.1f}% loss)"
        )
    print(f"\nLatency at c={min(settings.concurrency)}:\n")
    print(latency_lines(results.best, settings))
    print("\nSpans received by the OTLP receiver (all rounds):\n")
    print(span_lines(results.spans, settings))


if __name__ == "__main__":
    sys.exit(main())
