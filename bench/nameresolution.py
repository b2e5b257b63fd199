"""Resolve latency per name resolver, and the balancer's cost per call.

Each resolver is built from its catalog type with the metadata below, three replicas of one app
id are registered (resolvers that register), then ``resolve`` is timed ``--n`` times in one
process. ``static`` (a dict lookup) is the baseline; rows with ``cacheTime: 0s`` show the
uncached cost of the registries. Rounds alternate between resolvers. Needs Redis on
127.0.0.1:6379 for the redis rows (skipped otherwise) and loopback multicast for mdns.

    python bench/nameresolution.py [--n 2000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from components.base import ComponentContext
from components.nameresolution import Address, RegisteringResolver, Registration
from runtime.internal.balancer import Balancer
from runtime.registry import Registry

APP = "bench-app"
_KEY = uuid.uuid4().hex[:8]

RESOLVERS: list[tuple[str, str, dict[str, str]]] = [
    ("static", "nameresolution.static", {"apps": f"{APP}: [127.0.0.1:1, 127.0.0.1:2]"}),
    ("dns (template)", "nameresolution.dns", {"template": "{appid}:50002"}),
    ("sqlite (cacheTime 1s)", "nameresolution.sqlite", {}),
    ("sqlite (cacheTime 0s)", "nameresolution.sqlite", {"cacheTime": "0s"}),
    ("redis (cacheTime 1s)", "nameresolution.redis", {"keyPrefix": f"bench{_KEY}:"}),
    (
        "redis (cacheTime 0s)",
        "nameresolution.redis",
        {"keyPrefix": f"bench{_KEY}:", "cacheTime": "0s"},
    ),
    (
        "mdns",
        "nameresolution.mdns",
        {"interfaces": "127.0.0.1", "serviceType": "_tandem-bench._tcp"},
    ),
]


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


async def _build(kind: str, metadata: dict[str, str], home: Path) -> Any:
    cls = Registry().resolve(kind, "v1")
    context = ComponentContext(
        name=kind, app_id="bench", namespace="", home=home, logger=logging.getLogger("bench")
    )
    resolver = cls(cls.Metadata.model_validate(metadata), context=context)
    await resolver.init()
    return resolver


async def _time(resolver: Any, n: int) -> tuple[float, float]:
    """(p50 µs, CPU µs per resolve)."""
    samples: list[float] = []
    cpu = time.process_time()
    for _ in range(n):
        start = time.perf_counter()
        await resolver.resolve(APP, "")
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1e6, (time.process_time() - cpu) / n * 1e6


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="tandem-bench-nr-"))
    built: list[tuple[str, Any, list[Any]]] = []
    for label, kind, metadata in RESOLVERS:
        if kind == "nameresolution.redis" and not _redis_up():
            print(f"{label}: skipped (no Redis on 127.0.0.1:6379)")
            continue
        resolver = await _build(kind, metadata, home)
        registrars: list[Any] = []
        if isinstance(resolver, RegisteringResolver) and "0s" not in metadata.values():
            for port in (41001, 41002, 41003):  # three replicas, each its own registrar
                registrar = await _build(kind, metadata, home)
                await registrar.register(
                    Registration(
                        app_id=APP,
                        namespace="",
                        address=Address("127.0.0.1", port),
                        pid=os.getpid(),
                        hostname=socket.gethostname(),
                    )
                )
                registrars.append(registrar)
        built.append((label, resolver, registrars))
    for _ in range(100):  # mdns: until the announcements arrived (10 s at most)
        if await built[-1][1].resolve(APP, ""):
            break
        await asyncio.sleep(0.1)
    results: dict[str, list[tuple[float, float]]] = {label: [] for label, _, _ in built}
    for _ in range(args.rounds):
        for label, resolver, _ in built:
            results[label].append(await _time(resolver, args.n))
    base = min(p for p, _ in results["static"])
    print(f"resolve of one app id, {args.n} x {args.rounds} rounds, load {os.getloadavg()[0]:.2f}")
    print(f"{'resolver':24} {'found':>5} {'p50 µs':>9} {'CPU µs/op':>10} {'x static':>9}")
    for label, resolver, _ in built:
        p50 = min(p for p, _ in results[label])
        cpu = min(c for _, c in results[label])
        found = len(await resolver.resolve(APP, ""))
        print(f"{label:24} {found:>5} {p50:>9.1f} {cpu:>10.1f} {p50 / base:>9.1f}")
    balancer = Balancer()
    replicas = [Address("127.0.0.1", p) for p in (41001, 41002, 41003)]
    cpu = time.process_time()
    for _ in range(args.n * 10):
        address = balancer.pick(APP, replicas)
        balancer.observe(address, 0.001, ok=True)
    per = (time.process_time() - cpu) / (args.n * 10) * 1e6
    print(f"balancer pick + observe (3 replicas): {per:.1f} µs CPU per call")
    for _, resolver, registrars in built:
        for registrar in registrars:
            await registrar.close()
        await resolver.close()


if __name__ == "__main__":
    asyncio.run(main())
