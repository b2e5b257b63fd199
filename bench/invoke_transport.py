"""A/B of the sidecar-to-sidecar transport candidates for a 100-byte call (one process each).

    python bench/invoke_transport.py [--seconds 3]

Server and client run in separate processes on loopback, each on one uvloop loop, as two
sidecars would. Measured per transport: p50 of sequential calls (1 in flight) and throughput
with 16 calls in flight, and the client process's CPU per call at 16 in flight. Candidates:
aiohttp HTTP/1.1 keep-alive (``ClientSession``), Tandem's lean HTTP/1.1 client
(``runtime/appchannel/_h1.py``, against the same aiohttp server), grpc.aio unary (HTTP/2), and
grpc.aio bidirectional stream per call (how a streaming body would travel over gRPC).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import socket
import statistics
import sys
import time
from pathlib import Path

__all__ = ["main"]

PAYLOAD = b"x" * 100
_REPO = str(Path(__file__).resolve().parent.parent)
_IDENTITY = (lambda b: b, lambda b: b)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(kind: str, port: int) -> None:
    import uvloop

    async def main() -> None:
        if kind in ("aiohttp", "lean-h1"):
            from aiohttp import web

            async def handle(request: web.Request) -> web.StreamResponse:
                return web.Response(body=await request.read())

            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", handle)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
        else:
            import grpc
            from grpc import aio

            async def unary(request: bytes, context: object) -> bytes:
                return request

            async def stream(it: object, context: object):  # type: ignore[no-untyped-def]
                async for chunk in it:  # type: ignore[attr-defined]
                    yield chunk

            handler = grpc.method_handlers_generic_handler(
                "bench.Echo",
                {
                    "Unary": grpc.unary_unary_rpc_method_handler(unary, *_IDENTITY),
                    "Stream": grpc.stream_stream_rpc_method_handler(stream, *_IDENTITY),
                },
            )
            server = aio.server()
            server.add_generic_rpc_handlers((handler,))
            server.add_insecure_port(f"127.0.0.1:{port}")
            await server.start()
        await asyncio.Event().wait()

    uvloop.run(main())


async def _client(kind: str, port: int, seconds: float) -> dict[str, float]:
    if kind == "aiohttp":
        import aiohttp

        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64))
        url = f"http://127.0.0.1:{port}/m"

        async def call() -> None:
            async with session.post(url, data=PAYLOAD) as r:
                await r.read()

        close = session.close
    elif kind == "lean-h1":
        sys.path.insert(0, _REPO)
        from runtime.appchannel._h1 import Pool

        pool = Pool("127.0.0.1", port, limit=64)

        async def call() -> None:
            response = await pool.request("POST", "/m", [], PAYLOAD)
            if response.complete is None:
                async for _ in response.chunks():
                    pass
            response.close()

        close = pool.aclose
    else:
        from grpc import aio

        channel = aio.insecure_channel(f"127.0.0.1:{port}")
        unary = channel.unary_unary("/bench.Echo/Unary", *_IDENTITY)
        stream = channel.stream_stream("/bench.Echo/Stream", *_IDENTITY)

        async def call() -> None:
            if kind == "grpc-unary":
                await unary(PAYLOAD)
            else:
                async for _ in stream(iter([PAYLOAD])):
                    pass

        async def close() -> None:
            await channel.close(None)

    for _ in range(300):
        await call()
    lat = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t = time.perf_counter()
        await call()
        lat.append(time.perf_counter() - t)
    done = 0
    end = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < end:
            await call()
            done += 1

    start = time.perf_counter()
    cpu = time.process_time()
    await asyncio.gather(*(worker() for _ in range(16)))
    rps = done / (time.perf_counter() - start)
    cpu_us = (time.process_time() - cpu) / max(done, 1) * 1e6
    await close()
    return {"p50_us": statistics.median(lat) * 1e6, "rps_c16": rps, "client_cpu_us": cpu_us}


def main() -> None:
    import uvloop

    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    results = {}
    for kind in ("aiohttp", "lean-h1", "grpc-unary", "grpc-stream"):
        port = _free_port()
        server = multiprocessing.Process(target=_serve, args=(kind, port), daemon=True)
        server.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        results[kind] = uvloop.run(_client(kind, port, args.seconds))
        server.terminate()
        server.join()
        r = results[kind]
        print(
            f"{kind:12s} p50 {r['p50_us']:7.0f} us   c=16 {r['rps_c16']:7.0f}/s   "
            f"client CPU {r['client_cpu_us']:5.0f} us per call"
        )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
