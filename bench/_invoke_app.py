"""The app behind the invocation benchmark (port argv[1]): ``GET /hello`` answers 100 bytes,
``GET /big?bytes=N`` streams N bytes in 1 MiB chunks. aiohttp on uvloop."""

from __future__ import annotations

import sys

import uvloop
from aiohttp import web

HELLO = b"h" * 100
_MiB = 1 << 20


async def hello(request: web.Request) -> web.Response:
    return web.Response(body=HELLO, content_type="text/plain")


async def big(request: web.Request) -> web.StreamResponse:
    total = int(request.query["bytes"])
    response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
    await response.prepare(request)
    chunk = b"z" * _MiB
    while total > 0:
        await response.write(chunk[: min(total, _MiB)])
        total -= _MiB
    await response.write_eof()
    return response


async def main() -> None:
    app = web.Application()
    app.router.add_get("/hello", hello)
    app.router.add_get("/big", big)
    app.router.add_get("/healthz", hello)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", int(sys.argv[1])).start()
    await __import__("asyncio").Event().wait()


if __name__ == "__main__":
    uvloop.run(main())
