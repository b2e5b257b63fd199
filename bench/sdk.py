"""SDK overhead per call: ``tandem.AsyncClient`` (and ``tandem.Client``) vs raw aiohttp.

    python bench/sdk.py [--calls 2000] [--rounds 5] [--ref main]

One sidecar (in-memory state store and pub/sub), one process, one connection each. For each
operation (state GET of a 100-byte JSON value, state SAVE, publish) the same request is made
back to back at concurrency 1 by:

- ``raw``: an ``aiohttp.ClientSession`` doing the HTTP call by hand (what the SDK does on the
  wire), JSON-encoding the value on each call as a hand-written client does, reading the body;
- ``async``: ``AsyncClient`` (validation, error mapping, ``StateItem``);
- ``blocking``: ``Client`` called from the main thread with no event loop running there, as a
  blocking program uses it (adds a hop to the client's private loop thread);
- ``requests``: a ``requests.Session`` doing the call by hand, the blocking baseline: the
  ``blocking vs requests`` column is the blocking facade's added cost against it.

- ``ref async`` (with ``--ref REV``): ``AsyncClient`` as of git revision ``REV`` (its
  ``sdk/tandem`` extracted and imported as ``tandem_ref``), to measure an SDK change before
  and after in the same run.

Rounds alternate the paths (raw, async, blocking, raw, ...) so drift of the shared machine hits
all alike; each figure is the median over rounds of a round's mean per-call latency. Added
latency is the median over rounds of (path - raw) / raw, each round against the raw round next
to it (a shared machine's load drifts between rounds, far less within one); many short rounds
(``--calls 300 --rounds 40``) suit a busy machine. Target: ``async`` under 10%. The client CPU
per call (this process, ``time.process_time``) is also printed: at concurrency 1 the SDK's own
work is serial with the call, so added CPU is the SDK's added latency on an idle machine, and
it is less sensitive than wall-clock latency to other load on a shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import requests
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


def _import_ref(rev: str, into: Path) -> type[AsyncClient]:
    """``AsyncClient`` from the SDK at git revision ``rev``, imported as ``tandem_ref``."""
    names = subprocess.run(
        ["git", "ls-tree", "--name-only", f"{rev}:sdk/tandem"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    package = into / "tandem_ref"
    package.mkdir()
    for name in names:
        text = subprocess.run(
            ["git", "show", f"{rev}:sdk/tandem/{name}"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        (package / name).write_text(re.sub(r"\bfrom tandem\b", "from tandem_ref", text))
    sys.path.insert(0, str(into))
    client: type[AsyncClient] = importlib.import_module("tandem_ref").AsyncClient
    return client


CPU: dict[str, list[float]] = {}  # client CPU us per call, by path


async def _mean_us(op: Callable[[], Awaitable[object]], calls: int, path: str = "") -> float:
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(calls):
        await op()
    CPU.setdefault(path, []).append((time.process_time() - cpu) / calls * 1e6)
    return (time.perf_counter() - start) / calls * 1e6


def _blocking_mean_us(op: Callable[[], object], calls: int, path: str = "") -> float:
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(calls):
        op()
    CPU.setdefault(path, []).append((time.process_time() - cpu) / calls * 1e6)
    return (time.perf_counter() - start) / calls * 1e6


class Paths:
    """The three paths to one sidecar; async ones run on ``loop`` (idle between rounds)."""

    def __init__(
        self, url: str, loop: asyncio.AbstractEventLoop, ref: type[AsyncClient] | None
    ) -> None:
        self.url, self.loop = url, loop
        self.session = loop.run_until_complete(_session())
        self.client = AsyncClient(http_endpoint=url)
        loop.run_until_complete(self.client.__aenter__())
        self.ref = ref(http_endpoint=url) if ref is not None else None
        if self.ref is not None:
            loop.run_until_complete(self.ref.__aenter__())
        self.sync = Client(http_endpoint=url)
        self.requests = requests.Session()  # the blocking baseline: what a blocking app uses

    def raw_sync_get(self) -> bytes:
        return self.requests.get(self.url + "/v1.0/state/statestore/bench").content

    def raw_sync_save(self) -> bytes:
        return self.requests.post(
            self.url + "/v1.0/state/statestore",
            data=json.dumps([{"key": "bench", "value": VALUE}], separators=(",", ":")),
            headers={"Content-Type": "application/json"},
        ).content

    def raw_sync_publish(self) -> bytes:
        return self.requests.post(
            self.url + "/v1.0/publish/pubsub/bench",
            data=json.dumps({"id": 1}, separators=(",", ":")),
            headers={"Content-Type": "application/json"},
        ).content

    async def raw_get(self) -> bytes:
        async with self.session.get(self.url + "/v1.0/state/statestore/bench") as r:
            return await r.read()

    async def raw_save(self) -> bytes:
        async with self.session.post(
            self.url + "/v1.0/state/statestore",
            data=json.dumps([{"key": "bench", "value": VALUE}], separators=(",", ":")),
            headers={"Content-Type": "application/json"},
        ) as r:
            return await r.read()

    async def raw_publish(self) -> bytes:
        async with self.session.post(
            self.url + "/v1.0/publish/pubsub/bench",
            data=json.dumps({"id": 1}, separators=(",", ":")),
            headers={"Content-Type": "application/json"},
        ) as r:
            return await r.read()

    def ops(self) -> dict[str, Ops]:
        c, s, r = self.client, self.sync, self.ref or self.client
        return {
            "state GET": Ops(
                self.raw_get,
                lambda: c.get_state("statestore", "bench"),
                lambda: s.get_state("statestore", "bench"),
                lambda: r.get_state("statestore", "bench"),
                self.raw_sync_get,
            ),
            "state SAVE": Ops(
                self.raw_save,
                lambda: c.save_state("statestore", "bench", VALUE),
                lambda: s.save_state("statestore", "bench", VALUE),
                lambda: r.save_state("statestore", "bench", VALUE),
                self.raw_sync_save,
            ),
            "publish": Ops(
                self.raw_publish,
                lambda: c.publish("pubsub", "bench", {"id": 1}),
                lambda: s.publish("pubsub", "bench", {"id": 1}),
                lambda: r.publish("pubsub", "bench", {"id": 1}),
                self.raw_sync_publish,
            ),
        }

    def close(self) -> None:
        self.requests.close()
        self.sync.close()
        self.loop.run_until_complete(self.client.close())
        if self.ref is not None:
            self.loop.run_until_complete(self.ref.close())
        self.loop.run_until_complete(self.session.close())


@dataclass(frozen=True)
class Ops:
    raw: Callable[[], Awaitable[object]]
    sdk: Callable[[], Awaitable[object]]
    blocking: Callable[[], object]
    ref: Callable[[], Awaitable[object]]
    raw_blocking: Callable[[], object]


async def _session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession()


def _median_ratio(path: list[float], raw: list[float]) -> float:
    return statistics.median(p / r for p, r in zip(path, raw, strict=True))


def run(
    url: str, calls: int, rounds: int, ref: type[AsyncClient] | None = None
) -> dict[str, dict[str, float]]:
    """Rounds alternate raw, async (on an event loop), blocking (from this thread, with
    no loop running here, as a blocking program calls it) and, with ``ref``, ref async."""
    loop = asyncio.new_event_loop()
    paths = Paths(url, loop, ref)
    results: dict[str, dict[str, float]] = {}
    try:
        loop.run_until_complete(paths.raw_save())
        for name, op in paths.ops().items():
            samples: dict[str, list[float]] = {
                "raw": [],
                "async": [],
                "blocking": [],
                "raw blocking": [],
            }
            if ref is not None:
                samples["ref async"] = []
            loop.run_until_complete(_mean_us(op.raw, calls // 4))  # warm-up
            loop.run_until_complete(_mean_us(op.sdk, calls // 4))
            loop.run_until_complete(_mean_us(op.ref, calls // 4))
            _blocking_mean_us(op.blocking, calls // 4)
            _blocking_mean_us(op.raw_blocking, calls // 4)
            CPU.clear()
            for _ in range(rounds):
                samples["raw"].append(loop.run_until_complete(_mean_us(op.raw, calls, "raw")))
                samples["async"].append(loop.run_until_complete(_mean_us(op.sdk, calls, "async")))
                samples["blocking"].append(_blocking_mean_us(op.blocking, calls, "blocking"))
                samples["raw blocking"].append(
                    _blocking_mean_us(op.raw_blocking, calls, "raw blocking")
                )
                if ref is not None:
                    samples["ref async"].append(
                        loop.run_until_complete(_mean_us(op.ref, calls, "ref async"))
                    )
            results[name] = {k: statistics.median(v) for k, v in samples.items()}
            results[name] |= {f"{k} cpu": statistics.median(v) for k, v in CPU.items()}
            results[name] |= {f"{k} min": min(v) for k, v in samples.items()}
            # Added cost as the median of each round's ratio to the raw round next to it: the
            # load of a shared machine drifts between rounds, far less within one.
            for k, values in samples.items():
                results[name][f"{k} ratio"] = _median_ratio(values, samples["raw"])
                results[name][f"{k} cpu ratio"] = _median_ratio(CPU[k], CPU["raw"])
            # the blocking facade against the blocking baseline (requests), round by round
            results[name]["blocking vs requests ratio"] = _median_ratio(
                samples["blocking"], samples["raw blocking"]
            )
            results[name]["blocking vs requests cpu ratio"] = _median_ratio(
                CPU["blocking"], CPU["raw blocking"]
            )
    finally:
        paths.close()
        loop.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--ref", help="also measure the SDK at this git revision")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        ref = _import_ref(args.ref, work) if args.ref else None
        (work / "res").mkdir()
        (work / "res" / "components.yaml").write_text(COMPONENTS)
        sidecar = Sidecar.spawn(work, app_id="sdkbench", resources=work / "res")
        try:
            sidecar.wait_ready()
            url = f"http://127.0.0.1:{sidecar.http_port}"
            results = run(url, args.calls, args.rounds, ref)
        finally:
            sidecar.stop()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"per-call latency (us), c=1, {args.rounds} rounds x {args.calls} calls; load {load}")
    for stat, suffix in (
        ("latency, median of rounds", ""),
        ("latency, best round", " min"),
        ("client CPU per call (this process), median of rounds", " cpu"),
    ):
        print(f"{stat}:")
        head = f"  {'op':<12}{'raw':>9}{'async':>9}{'added':>9}{'blocking':>10}{'added':>9}"
        head += f"{'requests':>10}{'blocking vs requests':>22}"
        print(head + (f"{'ref async':>11}{'added':>9}" if ref is not None else ""))
        for name, r in results.items():
            raw, aio, blk = r["raw" + suffix], r["async" + suffix], r["blocking" + suffix]

            def added(path: str, r: dict[str, float] = r, suffix: str = suffix) -> float:
                if suffix == " min":  # best round against best round
                    return (r[path + suffix] / r["raw" + suffix] - 1) * 100
                return (r[f"{path}{suffix} ratio"] - 1) * 100

            line = (
                f"  {name:<12}{raw:>9.0f}{aio:>9.0f}{added('async'):>8.1f}%"
                f"{blk:>10.0f}{added('blocking'):>8.1f}%{r['raw blocking' + suffix]:>10.0f}"
            )
            if suffix == " min":
                vs = r["blocking min"] / r["raw blocking min"]
            else:
                vs = r[f"blocking vs requests{suffix} ratio"]
            line += f"{(vs - 1) * 100:>21.1f}%"
            if ref is not None:
                old = r["ref async" + suffix]
                line += f"{old:>11.0f}{added('ref async'):>8.1f}%"
            print(line)


if __name__ == "__main__":
    main()
