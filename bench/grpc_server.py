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
    ns = parser.parse_args(argv)
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
