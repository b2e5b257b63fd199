"""Configuration API: gets per second through Tandem beside a direct read, and propagation time
from a change in the backend to the app's callback.

    python bench/configuration.py [--duration 5] [--changes 200] [--backends redis,postgresql,file]

One sidecar (``tandem run`` with a ``configuration.redis``, a ``configuration.postgresql`` and a
``configuration.file`` component, and ``--app-port`` pointing at this process) is driven from
this process, which is also the app: an aiohttp server receiving the configuration callbacks.

- **gets**: 16 concurrent callers (one asyncio loop, aiohttp keep-alive connector) doing
  ``GET /v1.0/configuration/<store>?key=<k>`` for ``--duration`` seconds, over 64 keys; beside
  the same number of callers reading directly: redis-py ``GET`` of the raw key, asyncpg
  ``SELECT ... WHERE key = $1`` through a pool of 16. The file store has no direct baseline.
- **propagation**: one HTTP subscription per store (``GET .../subscribe?key=<k>``); then
  ``--changes`` times, one change at a time: write a new value straight into the backend (redis
  ``SET``, PostgreSQL ``UPDATE``, an atomic rewrite of the file) after a random pause of up to
  100 ms (so changes do not fall in step with the file's polling), and time until the app's
  callback for that value arrives. p50/p99 by nearest rank. Targets: p99 < 100 ms for Redis and
  PostgreSQL, < 1 s for the file (which Tandem polls every 100 ms by default).

Results also go to ``bench/results/configuration-<timestamp>.json``. Redis keys live under
``tandem-bench-cfg-<run>:`` and the PostgreSQL table ``tandem_bench_cfg_<run>``; both are
removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import secrets
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from _common import REPO, Sidecar, free_port, git_revision, machine, verdict
from aiohttp import web
from redis.asyncio import Redis

REDIS_HOST = "127.0.0.1:6379"
POSTGRES_DSN = os.environ.get("TANDEM_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
CONCURRENCY = 16
NKEYS = 64
TARGETS = {"redis": 0.1, "postgresql": 0.1, "file": 1.0}  # propagation p99, seconds
STORES = {"redis": "bench-redis", "postgresql": "bench-pg", "file": "bench-file"}


def _component(name: str, type_: str, metadata: dict[str, str]) -> str:
    items = "".join(f'  - name: {k}\n    value: "{v}"\n' for k, v in metadata.items())
    return (
        f"apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: {name}\n"
        f"spec:\n  type: {type_}\n  version: v1\n  metadata:\n{items}"
    )


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


async def throughput(op: Callable[[int], Awaitable[None]], duration: float) -> float:
    """Operations per second of CONCURRENCY workers calling ``op`` for ``duration`` seconds."""
    done = 0
    stop = time.perf_counter() + duration

    async def worker(w: int) -> None:
        nonlocal done
        i = w
        while time.perf_counter() < stop:
            await op(i % NKEYS)
            done += 1
            i += CONCURRENCY

    await asyncio.gather(*(worker(w) for w in range(CONCURRENCY)))
    return done / duration


class Backend:
    """Direct access to one backend: write an item, read it, clean up."""

    def __init__(self, kind: str, run: str, folder: Path) -> None:
        self.kind = kind
        self.prefix = f"tandem-bench-cfg-{run}:"
        self.table = f"tandem_bench_cfg_{run}"
        self.file = folder / "configuration.yaml"
        self.items: dict[str, str] = {}
        self.redis: Redis | None = None
        self.pool: Any = None

    def metadata(self) -> dict[str, str]:
        if self.kind == "redis":
            return {"redisHost": REDIS_HOST, "itemPrefix": self.prefix}
        if self.kind == "postgresql":
            return {"connectionString": POSTGRES_DSN, "table": self.table, "notifyChannel": "b"}
        return {"path": str(self.file)}

    async def open(self) -> None:
        if self.kind == "redis":
            host, _, port = REDIS_HOST.partition(":")
            self.redis = Redis(host=host, port=int(port))
        elif self.kind == "postgresql":
            self.pool = await asyncpg.create_pool(POSTGRES_DSN, min_size=1, max_size=CONCURRENCY)
        else:
            self.file.write_text("{}\n")

    async def write(self, values: dict[str, str]) -> None:
        if self.redis is not None:
            await self.redis.mset({self.prefix + k: f"{v}||1" for k, v in values.items()})
        elif self.pool is not None:
            await self.pool.executemany(
                f"INSERT INTO {self.table} (key, value, version) VALUES ($1, $2, '1') "
                "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                list(values.items()),
            )
        else:
            self.items.update(values)
            tmp = self.file.with_suffix(".tmp")
            tmp.write_text(
                json.dumps({k: {"value": v, "version": "1"} for k, v in self.items.items()})
            )
            os.replace(tmp, self.file)

    async def read(self, key: str) -> None:
        if self.redis is not None:
            await self.redis.get(self.prefix + key)
        else:
            await self.pool.fetchrow(
                f"SELECT value, version, metadata FROM {self.table} WHERE key = $1",
                key,
            )

    async def close(self) -> None:
        if self.redis is not None:
            keys = [k async for k in self.redis.scan_iter(match=self.prefix + "*")]
            if keys:
                await self.redis.delete(*keys)
            await self.redis.aclose()
        if self.pool is not None:
            from components.configuration.postgresql import trigger_name

            await self.pool.execute(f"DROP TABLE IF EXISTS {self.table}")
            await self.pool.execute(f"DROP FUNCTION IF EXISTS {trigger_name(self.table, 'b')}()")
            await self.pool.close()


class App:
    """This process as the app: receives ``POST /configuration/{store}/{key}``."""

    def __init__(self) -> None:
        self.waiting: dict[tuple[str, str], asyncio.Future[float]] = {}

    async def callback(self, request: web.Request) -> web.Response:
        arrived = time.perf_counter()
        body = await request.json()
        for item in body["items"].values():
            fut = self.waiting.pop((request.match_info["store"], item["value"]), None)
            if fut is not None and not fut.done():
                fut.set_result(arrived)
        return web.Response()

    async def serve(self, port: int) -> web.AppRunner:
        app = web.Application()
        app.router.add_post("/configuration/{store}/{key}", self.callback)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        return runner


async def propagation(
    backend: Backend, app: App, http: aiohttp.ClientSession, base: str, changes: int
) -> list[float]:
    store = STORES[backend.kind]
    async with http.get(f"{base}/v1.0/configuration/{store}/subscribe?key=watched") as resp:
        assert resp.status == 200, await resp.text()
        sub_id = (await resp.json())["id"]
    loop = asyncio.get_running_loop()
    out = []
    for i in range(changes):
        value = f"change-{i}-{secrets.token_hex(4)}"
        fut: asyncio.Future[float] = loop.create_future()
        app.waiting[(store, value)] = fut
        # a random pause: changes come at random moments, not in step with the file's polling
        await asyncio.sleep(random.uniform(0, 0.1))
        start = time.perf_counter()
        await backend.write({"watched": value})
        out.append(await asyncio.wait_for(fut, 10) - start)
    async with http.get(f"{base}/v1.0/configuration/{store}/{sub_id}/unsubscribe") as resp:
        assert resp.status == 200
    return out


async def main(args: argparse.Namespace) -> dict[str, Any]:
    run = secrets.token_hex(4)
    kinds = args.backends.split(",")
    results: dict[str, Any] = {"machine": machine(), "git": git_revision(), "backends": {}}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        backends = {k: Backend(k, run, folder) for k in kinds}
        for b in backends.values():
            await b.open()
        resources = folder / "resources"
        resources.mkdir()
        types = {"redis": "redis", "postgresql": "postgresql", "file": "file"}
        for k, b in backends.items():
            text = _component(STORES[k], f"configuration.{types[k]}", b.metadata())
            (resources / f"{k}.yaml").write_text(text)
        app, app_port = App(), free_port()
        runner = await app.serve(app_port)
        sidecar = Sidecar.spawn(
            folder,
            app_id="bench-cfg",
            resources=resources,
            extra_args=["--app-port", str(app_port)],
            env={"PYTHONPATH": str(REPO)},  # this checkout's runtime, not an installed one
        )
        try:
            await asyncio.to_thread(sidecar.wait_ready)
            base = f"http://127.0.0.1:{sidecar.http_port}"
            connector = aiohttp.TCPConnector(limit=CONCURRENCY)
            async with aiohttp.ClientSession(connector=connector) as http:
                for kind, b in backends.items():
                    await b.write({f"k{i:03d}": f"value-{i}" for i in range(NKEYS)})
                    store = STORES[kind]

                    async def via_tandem(i: int, store: str = store) -> None:
                        url = f"{base}/v1.0/configuration/{store}?key=k{i:03d}"
                        async with http.get(url) as resp:
                            assert resp.status == 200, await resp.text()
                            await resp.read()

                    last = f"{base}/v1.0/configuration/{store}?key=k{NKEYS - 1:03d}"
                    for _ in range(200):  # the file store sees the write on its next poll
                        async with http.get(last) as resp:
                            if resp.status == 200:
                                break
                        await asyncio.sleep(0.02)
                    await throughput(via_tandem, args.warmup)
                    tandem = await throughput(via_tandem, args.duration)
                    direct = None
                    if kind != "file":

                        async def directly(i: int, b: Backend = b) -> None:
                            await b.read(f"k{i:03d}")

                        await throughput(directly, args.warmup)
                        direct = await throughput(directly, args.duration)
                    changes = args.changes if kind != "file" else max(20, args.changes // 5)
                    lat = await propagation(b, app, http, base, changes)
                    results["backends"][kind] = {
                        "get_ops_s": tandem,
                        "direct_ops_s": direct,
                        "propagation_s": {"p50": pct(lat, 50), "p99": pct(lat, 99), "n": len(lat)},
                    }
        finally:
            sidecar.stop()
            await runner.cleanup()
            for b in backends.values():
                await b.close()
    return results


def report(results: dict[str, Any]) -> None:
    print(
        f"\nconfiguration gets: HTTP, {CONCURRENCY} callers; "
        "propagation: backend write -> app callback"
    )
    print(
        f"{'backend':<11} {'tandem get/s':>13} {'direct get/s':>13} {'ratio':>6}"
        f" {'prop p50':>9} {'prop p99':>9} {'n':>4}  target p99"
    )
    for kind, r in results["backends"].items():
        direct = r["direct_ops_s"]
        ratio = f"{r['get_ops_s'] / direct:.2f}" if direct else "-"
        p = r["propagation_s"]
        target = TARGETS[kind]
        print(
            f"{kind:<11} {r['get_ops_s']:>13,.0f} {direct or 0:>13,.0f} {ratio:>6}"
            f" {p['p50'] * 1000:>7.1f}ms {p['p99'] * 1000:>7.1f}ms {p['n']:>4}"
            f"  < {target * 1000:.0f} ms {verdict(p['p99'] < target)}"
        )


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--changes", type=int, default=200)
    parser.add_argument("--backends", default="redis,postgresql,file")
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    results = asyncio.run(main(args))
    report(results)
    out = REPO / "bench" / "results" / f"configuration-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"\nresults: {out.relative_to(REPO)}")


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    cli()
