"""Feature flags: OFREP and flagd gRPC evaluations through Tandem beside the engine alone, and
the time from a flag-file edit to the change events.

    python bench/flags.py [--duration 5] [--concurrency 16] [--changes 20]

One sidecar (``tandem run`` with a ``flags.file`` component over a generated flag file: a
static, a targeting and a fractional flag plus 97 more, 100 in all) is driven from this process
(one asyncio loop on uvloop; aiohttp keep-alive connector; grpc.aio channel):

- **ofrep**: ``--concurrency`` connections (wrk when installed, one thread; else aiohttp)
  doing ``POST /ofrep/v1/evaluate/flags/{key}`` for
  ``--duration`` s, for the static, the targeting (``ends_with`` on an e-mail) and the
  fractional (4-way ``fractional`` on the targeting key) flag; evaluations/s, p50, p99;
- **bulk**: the same callers doing ``POST /ofrep/v1/evaluate/flags`` (all 100 flags);
- **grpc**: ``flagd.evaluation.v2.Service/ResolveBoolean`` of the targeting flag;
- **floor**: the same OFREP requests against a bare aiohttp handler (a child process on uvloop)
  that parses the body and calls the engine (``components.flags.engine``) with no middleware;
- **engine**: in-process evaluations/s of each flag (one thread, no I/O);
- **propagation**: ``--changes`` times, rewrite the file (atomic rename, after a random pause of
  up to 100 ms) and time until the ``configuration_change`` on a v2 ``EventStream`` and until
  the ``refetchEvaluation`` on ``/ofrep/v1/sse``; p50/p99.

Targets: OFREP targeting ≥ 10,000 evaluations/s, engine targeting ≥ 50,000/s, propagation
p99 < 1 s. Results also go to ``bench/results/flags-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from _common import REPO, Sidecar, free_port, git_revision, machine, verdict

sys.path.insert(0, str(REPO))

TARGETS = {"ofrep_targeting": 10_000.0, "engine_targeting": 50_000.0, "propagation_p99": 1.0}
KEYS = {"static": "static-flag", "targeting": "targeting-flag", "fractional": "fractional-flag"}


def flag_document(revision: int = 0) -> dict[str, Any]:
    flags: dict[str, Any] = {
        "static-flag": {
            "state": "ENABLED",
            "variants": {"on": True, "off": False},
            "defaultVariant": "on",
        },
        "targeting-flag": {
            "state": "ENABLED",
            "variants": {"on": True, "off": False},
            "defaultVariant": "off",
            "targeting": {"if": [{"ends_with": [{"var": "email"}, "@example.com"]}, "on", "off"]},
        },
        "fractional-flag": {
            "state": "ENABLED",
            "variants": {s: s for s in ("clubs", "diamonds", "hearts", "spades")},
            "defaultVariant": "clubs",
            "targeting": {
                "fractional": [["clubs", 25], ["diamonds", 25], ["hearts", 25], ["spades", 25]]
            },
        },
    }
    for i in range(97):
        flags[f"filler-{i}"] = {
            "state": "ENABLED",
            "variants": {"a": f"a{i}", "b": f"b{revision}"},
            "defaultVariant": "a",
            "targeting": {"if": [{"==": [{"var": "tier"}, "gold"]}, "b", None]},
        }
    return {"flags": flags}


def write(path: Path, document: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(document))
    os.replace(tmp, path)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)] if ordered else math.nan


async def load(
    op: Callable[[int], Awaitable[None]], duration: float, concurrency: int
) -> dict[str, float]:
    """``concurrency`` workers calling ``op`` for ``duration`` s (after a 0.5 s warm-up)."""
    latencies: list[float] = []

    async def worker(w: int, until: float, record: bool) -> None:
        i = w
        while (now := time.perf_counter()) < until:
            await op(i)
            if record:
                latencies.append(time.perf_counter() - now)
            i += concurrency

    warm = time.perf_counter() + 0.5
    await asyncio.gather(*(worker(w, warm, False) for w in range(concurrency)))
    start = time.perf_counter()
    await asyncio.gather(*(worker(w, start + duration, True) for w in range(concurrency)))
    elapsed = time.perf_counter() - start
    return {
        "per_s": len(latencies) / elapsed,
        "p50_ms": pct(latencies, 50) * 1000,
        "p99_ms": pct(latencies, 99) * 1000,
    }


def context(i: int) -> bytes:
    return json.dumps(
        {"context": {"targetingKey": f"user-{i}", "email": f"u{i}@example.com"}}
    ).encode()


WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local n = 0
request = function()
  n = n + 1
  local i = n % 256
  local body = string.format(
    '{"context":{"targetingKey":"user-%d","email":"u%d@example.com"}}', i, i)
  return wrk.format(nil, nil, nil, body)
end
"""


def _wrk_ms(text: str) -> float:
    value, unit = float(text.rstrip("usm")), text.lstrip("0123456789.")
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(url: str, args: argparse.Namespace) -> dict[str, float]:
    """One wrk run (1 thread, ``--concurrency`` connections) with a 0.5 s warm-up first."""
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    script.write_text(WRK_SCRIPT)
    base = ["wrk", "-t1", f"-c{args.concurrency}", "-s", str(script), "--latency"]
    try:
        subprocess.run([*base, "-d1s", url], capture_output=True, check=True, timeout=60)
        out = subprocess.run(
            [*base, f"-d{args.duration:g}s", url],
            capture_output=True,
            text=True,
            check=True,
            timeout=args.duration + 60,
        ).stdout
    finally:
        script.unlink()
    fields = {line.split()[0]: line.split()[1] for line in out.splitlines() if line.split()}
    errors = "Non-2xx" in out or "Socket errors" in out
    return {
        "per_s": float(fields["Requests/sec:"]),
        "p50_ms": _wrk_ms(fields["50%"]),
        "p99_ms": _wrk_ms(fields["99%"]),
        "errors": float(errors),
    }


async def ofrep(base: str, args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if args.client == "wrk":
        for name, key in KEYS.items():
            url = f"{base}/ofrep/v1/evaluate/flags/{key}"
            out[name] = await asyncio.to_thread(wrk, url, args)
        if base != args.floor_url:
            out["bulk100"] = await asyncio.to_thread(wrk, f"{base}/ofrep/v1/evaluate/flags", args)
        return out
    bodies = [context(i) for i in range(256)]
    connector = aiohttp.TCPConnector(limit=args.concurrency)
    async with aiohttp.ClientSession(base, connector=connector) as session:
        for name, key in KEYS.items():

            async def one(i: int, key: str = key) -> None:
                async with session.post(
                    f"/ofrep/v1/evaluate/flags/{key}", data=bodies[i % 256]
                ) as r:
                    await r.read()
                    assert r.status == 200, r.status

            out[name] = await load(one, args.duration, args.concurrency)

        async def bulk(i: int) -> None:
            async with session.post("/ofrep/v1/evaluate/flags", data=bodies[i % 256]) as r:
                await r.read()
                assert r.status == 200, r.status

        if base != args.floor_url:
            out["bulk100"] = await load(bulk, args.duration, args.concurrency)
    return out


async def grpc_resolves(target: str, args: argparse.Namespace) -> dict[str, float]:
    from google.protobuf import struct_pb2
    from grpc import aio

    from protos.flagd.evaluation.v2 import evaluation_pb2 as v2
    from protos.flagd.evaluation.v2 import evaluation_pb2_grpc as v2_grpc

    requests = []
    for i in range(256):
        ctx = struct_pb2.Struct()
        ctx.update({"targetingKey": f"user-{i}", "email": f"u{i}@example.com"})
        requests.append(v2.ResolveBooleanRequest(flag_key=KEYS["targeting"], context=ctx))
    async with aio.insecure_channel(target) as channel:
        stub = v2_grpc.ServiceStub(channel)

        async def one(i: int) -> None:
            await stub.ResolveBoolean(requests[i % 256])

        return await load(one, args.duration, args.concurrency)


def engine(seconds: float) -> dict[str, float]:
    from components.flags.engine import evaluate, parse_flag_set

    flags = parse_flag_set(flag_document())
    contexts = [{"targetingKey": f"user-{i}", "email": f"u{i}@example.com"} for i in range(256)]
    out = {}
    for name, key in KEYS.items():
        flag, n = flags[key], 0
        stop = time.perf_counter() + seconds
        start = time.perf_counter()
        while time.perf_counter() < stop:
            for c in contexts:
                evaluate(flag, c)
            n += len(contexts)
        out[name] = n / (time.perf_counter() - start)
    return out


async def propagation(sc: Sidecar, path: Path, changes: int) -> dict[str, Any]:
    from grpc import aio

    from protos.flagd.evaluation.v2 import evaluation_pb2 as v2
    from protos.flagd.evaluation.v2 import evaluation_pb2_grpc as v2_grpc

    grpc_seen: asyncio.Queue[float] = asyncio.Queue()
    sse_seen: asyncio.Queue[float] = asyncio.Queue()

    async def events() -> None:
        async with aio.insecure_channel(f"127.0.0.1:{sc.grpc_port}") as channel:
            async for event in v2_grpc.ServiceStub(channel).EventStream(v2.EventStreamRequest()):
                if event.type in ("provider_ready", "configuration_change"):
                    grpc_seen.put_nowait(time.perf_counter())

    async def sse() -> None:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{sc.http_port}/ofrep/v1/sse") as resp,
        ):
            sse_seen.put_nowait(time.perf_counter())
            async for line in resp.content:
                if line.startswith(b"data:") and b"refetchEvaluation" in line:
                    sse_seen.put_nowait(time.perf_counter())

    tasks = [asyncio.create_task(events()), asyncio.create_task(sse())]
    await asyncio.wait_for(grpc_seen.get(), 10)
    await asyncio.wait_for(sse_seen.get(), 10)
    to_grpc: list[float] = []
    to_sse: list[float] = []
    for revision in range(1, changes + 1):
        await asyncio.sleep(random.uniform(0, 0.1))
        edited = time.perf_counter()
        write(path, flag_document(revision))
        to_grpc.append(await asyncio.wait_for(grpc_seen.get(), 10) - edited)
        to_sse.append(await asyncio.wait_for(sse_seen.get(), 10) - edited)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "eventstream": {"p50_ms": pct(to_grpc, 50) * 1000, "p99_ms": pct(to_grpc, 99) * 1000},
        "sse": {"p50_ms": pct(to_sse, 50) * 1000, "p99_ms": pct(to_sse, 99) * 1000},
    }


FLOOR = r"""
import asyncio, json, sys, uvloop
from aiohttp import web
sys.path.insert(0, sys.argv[3])
from components.flags.engine import evaluate, parse_flag_set

flags = parse_flag_set(json.loads(open(sys.argv[2]).read()))

async def one(request):
    body = json.loads(await request.read() or b"{}")
    res = evaluate(flags[request.match_info["key"]], body.get("context") or {})
    return web.json_response({"key": res.key, "value": res.value, "variant": res.variant,
                              "reason": res.reason.value, "metadata": dict(res.metadata)})

app = web.Application()
app.router.add_post("/ofrep/v1/evaluate/flags/{key}", one)
uvloop.install()
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""


async def wait_port(port: int) -> None:
    async with asyncio.timeout(15):
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                return
            except OSError:
                await asyncio.sleep(0.05)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"machine": machine(), "git": git_revision(), "args": vars(args)}
    with tempfile.TemporaryDirectory(prefix="tandem-bench-flags-") as tmp:
        folder = Path(tmp)
        path = folder / "flags.json"
        write(path, flag_document())
        resources = folder / "resources"
        resources.mkdir()
        (resources / "flags.yaml").write_text(
            "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: flags\n"
            f"spec:\n  type: flags.file\n  version: v1\n  metadata:\n"
            f'  - name: path\n    value: "{path}"\n'
        )
        results["engine"] = engine(min(args.duration, 2.0))
        # PYTHONPATH: the sidecar runs this working tree even when the ``tandem`` script next
        # to the interpreter belongs to another (editable) checkout
        sc = Sidecar.spawn(
            folder, app_id="bench-flags", resources=resources, env={"PYTHONPATH": str(REPO)}
        )
        try:
            sc.wait_ready()
            results["ofrep"] = await ofrep(f"http://127.0.0.1:{sc.http_port}", args)
            results["grpc"] = await grpc_resolves(f"127.0.0.1:{sc.grpc_port}", args)
            results["propagation"] = await propagation(sc, path, args.changes)
        finally:
            sc.stop()
        port = free_port()
        args.floor_url = f"http://127.0.0.1:{port}"
        floor = subprocess.Popen(  # noqa: ASYNC220 (a server for the run's length)
            [sys.executable, "-c", FLOOR, str(port), str(path), str(REPO)], cwd=REPO
        )
        try:
            await wait_port(port)
            results["floor"] = await ofrep(args.floor_url, args)
        finally:
            floor.terminate()
            floor.wait()
    return results


def report(r: dict[str, Any]) -> None:
    cpus, a = r["machine"].get("cpus_usable", "?"), r["args"]
    print(f"\nfeature flags ({cpus} CPUs), c={a['concurrency']}, HTTP client {a['client']}")
    print(f"{'path':<28}{'evals/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'floor/s':>10}")
    for name in (*KEYS, "bulk100"):
        row = r["ofrep"][name]
        floor = r["floor"].get(name, {}).get("per_s")
        floor_text = f"{floor:>10.0f}" if floor else f"{'-':>10}"
        print(
            f"{'OFREP ' + name:<28}{row['per_s']:>10.0f}{row['p50_ms']:>9.2f}"
            f"{row['p99_ms']:>9.2f}{floor_text}"
        )
    g = r["grpc"]
    print(
        f"{'flagd gRPC v2 targeting':<28}{g['per_s']:>10.0f}{g['p50_ms']:>9.2f}{g['p99_ms']:>9.2f}"
    )
    for name, per_s in r["engine"].items():
        print(f"{'engine ' + name:<28}{per_s:>10.0f}")
    for name, p in r["propagation"].items():
        print(f"{'edit → ' + name:<28}{'':>10}{p['p50_ms']:>9.1f}{p['p99_ms']:>9.1f}")
    t = TARGETS
    ofrep_ok = r["ofrep"]["targeting"]["per_s"] >= t["ofrep_targeting"]
    engine_ok = r["engine"]["targeting"] >= t["engine_targeting"]
    worst = max(p["p99_ms"] for p in r["propagation"].values()) / 1000
    print(f"\nOFREP targeting ≥ {t['ofrep_targeting']:.0f}/s: {verdict(ofrep_ok)}")
    print(f"engine targeting ≥ {t['engine_targeting']:.0f}/s: {verdict(engine_ok)}")
    print(
        f"propagation p99 < {t['propagation_p99']:.0f} s: {verdict(worst < t['propagation_p99'])}"
    )


def cli() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--changes", type=int, default=20)
    p.add_argument(
        "--client",
        choices=["wrk", "aiohttp"],
        default="wrk" if shutil.which("wrk") else "aiohttp",
        help="HTTP load generator for OFREP (default: wrk when installed)",
    )
    args = p.parse_args()
    args.floor_url = ""
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    results = asyncio.run(main(args))
    report(results)
    out = REPO / "bench" / "results" / f"flags-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"\nresults: {out}")


if __name__ == "__main__":
    cli()
