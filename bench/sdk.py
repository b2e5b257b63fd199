"""SDK overhead per call: ``tandem.AsyncClient`` (and ``tandem.Client``) vs raw aiohttp.

    python bench/sdk.py [--calls 2000] [--rounds 5]

One sidecar (in-memory state store and pub/sub), one process, one connection each. For each
operation (state GET of a 100-byte JSON value, state SAVE, publish) the same request is made
back to back at concurrency 1 by:

- ``raw``: an ``aiohttp.ClientSession`` doing the HTTP call by hand (what the SDK does on the
  wire), reading the body;
- ``async``: ``AsyncClient`` (validation, error mapping, ``StateItem``);
- ``blocking``: ``Client`` from this thread (adds a hop to the client's loop thread).

Rounds alternate the paths (raw, async, blocking, raw, ...) so drift of the shared machine hits
all alike; each figure is the median over rounds of a round's mean per-call latency. Added
latency = (path - raw) / raw. Target: ``async`` under 10%.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
from _common import REPO, Sidecar

sys.path.insert(0, str(REPO / "sdk"))
from tandem import AsyncClient, Client

COMPONENTS = """\
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: statestore}
spec: {type: state.in-memory, version: v1}
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: pubsub}
spec: {type: pubsub.in-memory, version: v1}
"""
VALUE = {"id": "order-1", "item": "green tea", "qty": 2, "note": "x" * 40}


async def _mean_us(op: Callable[[], Awaitable[object]], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        await op()
    return (time.perf_counter() - start) / calls * 1e6


def _blocking_mean_us(op: Callable[[], object], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        op()
    return (time.perf_counter() - start) / calls * 1e6


async def run(url: str, calls: int, rounds: int) -> dict[str, dict[str, float]]:
    session = aiohttp.ClientSession()
    client = AsyncClient(http_endpoint=url)
    await client.__aenter__()
    sync = Client(http_endpoint=url)
    body = (
        b'[{"key":"bench","value":{"id":"order-1","item":"green tea","qty":2,"note":"'
        + b"x" * 40
        + b'"}}]'
    )

    async def raw_get() -> bytes:
        async with session.get(url + "/v1.0/state/statestore/bench") as r:
            return await r.read()

    async def raw_save() -> bytes:
        async with session.post(
            url + "/v1.0/state/statestore",
            data=body,
            headers={"Content-Type": "application/json"},
        ) as r:
            return await r.read()

    async def raw_publish() -> bytes:
        async with session.post(
            url + "/v1.0/publish/pubsub/bench",
            data=b'{"id":1}',
            headers={"Content-Type": "application/json"},
        ) as r:
            return await r.read()

    ops: dict[str, tuple[Callable[[], Awaitable[object]], ...]] = {
        "state GET": (raw_get, lambda: client.get_state("statestore", "bench")),
        "state SAVE": (raw_save, lambda: client.save_state("statestore", "bench", VALUE)),
        "publish": (raw_publish, lambda: client.publish("pubsub", "bench", {"id": 1})),
    }
    blocking: dict[str, Callable[[], object]] = {
        "state GET": lambda: sync.get_state("statestore", "bench"),
        "state SAVE": lambda: sync.save_state("statestore", "bench", VALUE),
        "publish": lambda: sync.publish("pubsub", "bench", {"id": 1}),
    }
    await raw_save()
    results: dict[str, dict[str, float]] = {}
    loop = asyncio.get_running_loop()
    for name, (raw, sdk) in ops.items():
        samples: dict[str, list[float]] = {"raw": [], "async": [], "blocking": []}
        await _mean_us(raw, calls // 4)  # warm-up
        await _mean_us(sdk, calls // 4)
        for _ in range(rounds):
            samples["raw"].append(await _mean_us(raw, calls))
            samples["async"].append(await _mean_us(sdk, calls))
            samples["blocking"].append(
                await loop.run_in_executor(None, _blocking_mean_us, blocking[name], calls)
            )
        results[name] = {k: statistics.median(v) for k, v in samples.items()}
    sync.close()
    await client.close()
    await session.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "res").mkdir()
        (work / "res" / "components.yaml").write_text(COMPONENTS)
        sidecar = Sidecar.spawn(work, app_id="sdkbench", resources=work / "res")
        try:
            sidecar.wait_ready()
            results = asyncio.run(
                run(f"http://127.0.0.1:{sidecar.http_port}", args.calls, args.rounds)
            )
        finally:
            sidecar.stop()
    print(f"per-call latency, c=1, median of {args.rounds} rounds x {args.calls} calls (us)")
    print(f"{'op':<12}{'raw':>9}{'async':>9}{'added':>9}{'blocking':>10}{'added':>9}")
    for name, r in results.items():
        a = (r["async"] - r["raw"]) / r["raw"] * 100
        b = (r["blocking"] - r["raw"]) / r["raw"] * 100
        print(
            f"{name:<12}{r['raw']:>9.0f}{r['async']:>9.0f}{a:>8.1f}%"
            f"{r['blocking']:>10.0f}{b:>8.1f}%"
        )


if __name__ == "__main__":
    main()
