"""A/B of the sidecar-to-sidecar transport candidates for a 100-byte call (one process each).

    python bench/invoke_transport.py [--seconds 3]

Server and client run in separate processes on loopback, each on one uvloop loop, as two
sidecars would. Measured per transport: p50 of sequential calls (1 in flight) and throughput
with 16 calls in flight. Candidates: aiohttp HTTP/1.1 keep-alive, ``lean-h1`` (Tandem's own
HTTP/1.1 client, ``runtime/appchannel/_h1.py``, against the same aiohttp server: what
invocation uses), grpc.aio unary (HTTP/2),
and grpc.aio bidirectional stream per call (how a streaming body would travel over gRPC).
For gRPC proxying, whose calls may be any kind and so travel as one stream each: ``tunnel`` is
the frame tunnel over aiohttp HTTP/1.1 that Tandem uses (``runtime/internal/grpcproxy.py``, an
echo behind it), against ``grpc-stream``, which a second internal port serving grpc.aio would
cost. ``--kinds`` picks some; the CPU per call of both processes is printed too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import socket
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

__all__ = ["main"]

PAYLOAD = b"x" * 100
_IDENTITY = (lambda b: b, lambda b: b)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(kind: str, port: int) -> None:
    import uvloop

    async def main() -> None:
        if kind == "tunnel":
            from aiohttp import web

            from runtime.internal.grpcproxy import TunnelServer

            async def open_local(method: str, metadata: Any, seconds_left: Any) -> Any:
                return _EchoCall()

            app = web.Application()
            app.router.add_routes([TunnelServer(open_local, gate=None, max_frame=1 << 20).route()])
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
        elif kind in ("aiohttp", "lean-h1"):
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


class _EchoCall:
    """A ``RawCall`` that answers each message with itself."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()

    async def write(self, message: bytes) -> None:
        await self._queue.put(message)

    async def done_writing(self) -> None:
        await self._queue.put(None)

    async def initial_metadata(self) -> tuple[()]:
        return ()

    async def read(self) -> bytes | None:
        return await self._queue.get()

    async def status(self) -> Any:
        import grpc

        return grpc.StatusCode.OK, "", ()

    def cancel(self) -> None:
        pass


async def _client(kind: str, port: int, seconds: float) -> dict[str, float]:
    if kind == "tunnel":
        from components.nameresolution import Address
        from runtime.internal.grpcproxy import TunnelClient

        tunnels = TunnelClient(max_frame=1 << 20)
        address = Address("127.0.0.1", port)

        async def call() -> None:
            tunnel = tunnels.open([address], "/bench.Echo/Stream", (), [], None)
            await tunnel.write(PAYLOAD)
            await tunnel.done_writing()
            while await tunnel.read() is not None:
                pass
            await tunnel.status()

        close = tunnels.aclose
    elif kind == "aiohttp":
        import aiohttp

        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64))
        url = f"http://127.0.0.1:{port}/m"

        async def call() -> None:
            async with session.post(url, data=PAYLOAD) as r:
                await r.read()

        close = session.close
    elif kind == "lean-h1":
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
    await asyncio.gather(*(worker() for _ in range(16)))
    rps = done / (time.perf_counter() - start)
    await close()
    return {"p50_us": statistics.median(lat) * 1e6, "rps_c16": rps, "calls": 300 + len(lat) + done}


def _cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _own_cpu() -> float:
    t = os.times()
    return t.user + t.system


def main() -> None:
    import uvloop

    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument(
        "--kinds", default="aiohttp,lean-h1,grpc-unary,grpc-stream,tunnel", help="comma-separated"
    )
    parser.add_argument("--rounds", type=int, default=1, help="alternated rounds")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    kinds = args.kinds.split(",") * args.rounds
    for i, kind in enumerate(kinds):
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
        cpu0 = _cpu(server.pid or 0) + _own_cpu()
        r = uvloop.run(_client(kind, port, args.seconds))
        r["cpu_us_per_call"] = (_cpu(server.pid or 0) + _own_cpu() - cpu0) / r.pop("calls") * 1e6
        server.terminate()
        server.join()
        results[f"{kind}#{i // len(args.kinds.split(','))}"] = r
        print(
            f"{kind:12s} p50 {r['p50_us']:7.0f} us   c=16 {r['rps_c16']:7.0f}/s   "
            f"CPU {r['cpu_us_per_call']:5.0f} us/call (both processes)"
        )
    print(f"load average {os.getloadavg()}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
