"""A no-op unary RPC on grpcio's servers: as Tandem configures it, tuned, and the sync server.

    python bench/grpc_server.py [--rounds 3] [--duration 3] [--concurrency 16] [--base DIR]

Each variant serves ``/dapr.proto.runtime.v1.Dapr/SetMetadata`` (the Dapr proto wire, a
no-op handler returning ``Empty``) in its own process, driven by one ``grpc.aio`` channel at
``--concurrency`` callers; the figure is the server's CPU time per call (see ``_servers``):

- ``aio-tandem``: ``grpc.aio.server`` with Tandem's options and its interceptor as
  ``runtime.api.grpc.server`` builds it (one ``ApiInterceptor`` with ``GrpcTelemetry``: metrics
  on, tracing off, no API token; safe decoding, error mapping). Before the fold (up to
  b1e2b34) the same variant ran two interceptors, telemetry then the API one.
- ``base:aio-tandem`` (with ``--base DIR``): ``aio-tandem`` as the checkout ``DIR`` defines it
  (e.g. ``git worktree add /tmp/base <rev>``), measured alternated with the others.
- ``aio-bare``: the same server and options, no interceptor: grpcio's asyncio floor.
- ``aio-tuned``: no interceptor, and the options ``grpc.optimization_target=throughput``,
  ``grpc.so_reuseport=1``, no ``grpc.max_concurrent_streams`` bound.
- ``sync-pool``: ``grpc.server`` (the threaded server) with a 16-thread pool, Tandem's
  options, no interceptor.

``--chain N`` measures the interceptors alone, in process (no server, no socket): N calls of
what grpc.aio does per call (``intercept_service`` through the chain, then the wrapped unary
behavior with a stand-in context), CPU time per call minus that of the bare handler. Each
round runs in a fresh process for this tree and, with ``--base``, for that checkout
(``PYTHONPATH``), alternated; the best round of each is kept.
"""

from __future__ import annotations

import argparse
import sys
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
from _servers import Call, measure_variants, table

VARIANTS = ("aio-tandem", "aio-bare", "aio-tuned", "sync-pool")
_SERVICE = "dapr.proto.runtime.v1.Dapr"


def _options(tuned: bool) -> list[tuple[str, Any]]:
    base: list[tuple[str, Any]] = [
        ("grpc.max_receive_message_length", 4 << 20),
        ("grpc.max_send_message_length", 4 << 20),
        ("grpc.server_handshake_timeout_ms", 10_000),
        ("grpc.max_connection_idle_ms", 300_000),
        ("grpc.keepalive_time_ms", 60_000),
        ("grpc.keepalive_timeout_ms", 20_000),
    ]
    if tuned:
        return [*base, ("grpc.optimization_target", "throughput"), ("grpc.so_reuseport", 1)]
    return [*base, ("grpc.so_reuseport", 0), ("grpc.max_concurrent_streams", 100)]


def _handler(fn: Any) -> grpc.GenericRpcHandler:  # type: ignore[type-arg]
    from protos.dapr.runtime.v1 import metadata_pb2

    empty = b""  # google.protobuf.Empty
    method = grpc.unary_unary_rpc_method_handler(
        fn,
        request_deserializer=metadata_pb2.SetMetadataRequest.FromString,
        response_serializer=lambda _: empty,
    )
    return grpc.method_handlers_generic_handler(_SERVICE, {"SetMetadata": method})


async def _serve_aio(variant: str, port: int) -> None:
    interceptors: list[Any] = []
    if variant == "aio-tandem":
        from runtime.api.grpc.interceptor import ApiInterceptor
        from runtime.observability.grpc_telemetry import GrpcTelemetry
        from runtime.observability.metrics import Metrics

        metrics = Metrics("bench", process_metrics=False)
        telemetry = GrpcTelemetry(metrics, app_id="bench")
        interceptors = [ApiInterceptor(api_token=None, telemetry=telemetry)]

    async def noop(request: Any, context: Any) -> None:
        return None

    server = grpc.aio.server(interceptors=interceptors, options=_options(variant == "aio-tuned"))
    server.add_generic_rpc_handlers((_handler(noop),))
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    print("ready", flush=True)
    await server.wait_for_termination()


def _serve_sync(port: int) -> None:
    def noop(request: Any, context: Any) -> None:
        return None

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16), options=_options(False))
    server.add_generic_rpc_handlers((_handler(noop),))
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    print("ready", flush=True)
    server.wait_for_termination()


def _tandem_interceptors() -> list[Any]:
    """Tandem's interceptors as ``runtime.api.grpc.server`` builds them (metrics on, tracing
    off, no API token), in this revision or one before the fold (two interceptors)."""
    from runtime.api.grpc.interceptor import ApiInterceptor
    from runtime.observability import grpc_telemetry
    from runtime.observability.metrics import Metrics

    metrics = Metrics("bench", process_metrics=False)
    telemetry = getattr(grpc_telemetry, "GrpcTelemetry", None)
    if telemetry is None:  # before the fold
        old = grpc_telemetry.GrpcTelemetryInterceptor  # type: ignore[attr-defined]
        return [old(metrics, app_id="bench"), ApiInterceptor(api_token=None)]
    return [ApiInterceptor(api_token=None, telemetry=telemetry(metrics, app_id="bench"))]


class _Details:
    method = f"/{_SERVICE}/SetMetadata"
    invocation_metadata = ()


class _Context:
    """What the wrapped behaviors read of a grpc.aio servicer context on the OK path."""

    def invocation_metadata(self) -> tuple[()]:
        return ()

    def code(self) -> None:
        return None


async def _chain_round(calls: int) -> tuple[float, float]:
    """CPU µs per call through Tandem's interceptors, and through no interceptor."""
    import functools
    import time

    from protos.dapr.runtime.v1 import metadata_pb2

    async def noop(request: Any, context: Any) -> None:
        return None

    handler = grpc.unary_unary_rpc_method_handler(
        noop, request_deserializer=metadata_pb2.SetMetadataRequest.FromString
    )

    async def run(interceptors: Any, details: Any) -> Any:  # grpc.aio's _run_interceptor
        interceptor = next(interceptors, None)
        if interceptor is None:
            return handler
        continuation = functools.partial(run, interceptors)
        return await interceptor.intercept_service(continuation, details)

    chain, details, context = _tandem_interceptors(), _Details(), _Context()
    request = metadata_pb2.SetMetadataRequest(key="k", value="v")
    figures = []
    for interceptors in (chain, []):
        cpu = 0.0
        for _ in range(2):  # warm-up, then measured
            start = time.process_time()
            for _ in range(calls):
                wrapped = await run(iter(interceptors), details)
                await wrapped.unary_unary(request, context)
            cpu = time.process_time() - start
        figures.append(cpu / calls * 1e6)
    return figures[0], figures[1]


def _chain(calls: int, rounds: int, base: Path | None) -> None:
    import json
    import os
    import subprocess

    trees = {"this tree": Path(__file__).resolve().parents[1]}
    if base is not None:
        trees["base"] = base
    best: dict[str, tuple[float, float]] = {}
    for rnd in range(1, rounds + 1):
        for name, tree in trees.items():
            out = subprocess.run(
                [sys.executable, __file__, "--chain-child", str(calls)],
                env={**os.environ, "PYTHONPATH": str(tree)},
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            chain, bare = json.loads(out.splitlines()[-1])
            load = os.getloadavg()[0]
            print(
                f"  [{rnd}] {name:<10} chain {chain:6.1f} us  bare {bare:5.1f} us  load {load:.2f}"
            )
            if name not in best or chain - bare < best[name][0] - best[name][1]:
                best[name] = (chain, bare)
    print(f"\ninterceptor chain, in process, {calls} calls, best of {rounds} rounds\n")
    for name, (chain, bare) in best.items():
        print(f"{name:<10} {chain - bare:6.1f} us per call (chain {chain:.1f}, bare {bare:.1f})")


async def _connect(port: int) -> tuple[Call, Any]:
    from protos.dapr.runtime.v1 import dapr_pb2_grpc, metadata_pb2

    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    stub = dapr_pb2_grpc.DaprStub(channel)
    request = metadata_pb2.SetMetadataRequest(key="k", value="v")

    async def call() -> None:
        await stub.SetMetadata(request)

    async def close() -> None:
        await channel.close(None)

    return call, close


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--serve", choices=VARIANTS)
    parser.add_argument("--base", type=Path, help="a checkout to serve the base:* variants")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--chain", type=int, metavar="N", help="interceptors alone, N calls")
    parser.add_argument("--chain-child", type=int, help=argparse.SUPPRESS)
    ns = parser.parse_args(argv)
    if ns.chain_child:
        import asyncio
        import json

        print(json.dumps(asyncio.run(_chain_round(ns.chain_child))))
        return 0
    if ns.chain:
        _chain(ns.chain, ns.rounds, ns.base.resolve() if ns.base else None)
        return 0
    if ns.serve == "sync-pool":
        _serve_sync(ns.port)
        return 0
    if ns.serve:
        import uvloop

        uvloop.run(_serve_aio(ns.serve, ns.port))
        return 0
    variants = [v for v in ns.variants.split(",") if v]
    results = measure_variants(
        Path(__file__).resolve(),
        variants,
        _connect,
        concurrency=ns.concurrency,
        rounds=ns.rounds,
        warmup=ns.warmup,
        duration=ns.duration,
        base=ns.base.resolve() if ns.base else None,
    )
    print(f"\ngRPC no-op unary SetMetadata, c={ns.concurrency}, best of {ns.rounds} rounds\n")
    print(table(results, variants[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
