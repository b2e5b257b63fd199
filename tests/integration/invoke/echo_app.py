"""An aiohttp app for invocation tests, on port argv[1]; exits when its parent goes away.

- ``ANY /echo/...``: JSON of what arrived (method, raw path, query, headers, body);
- ``ANY /status/{code}``: answers that status (``x-attempt`` counts calls per ``?key=``);
- ``GET /hang``: never answers;
- ``GET /big?bytes=N``: N bytes, streamed in 1 MiB chunks;
- ``POST /upload``: counts the streamed request body, answers the count;
- ``GET /sse``: one event, then the next only after ``POST /sse/release`` (proves flushing);
- ``GET /healthz``: 200.
"""

from __future__ import annotations

import asyncio
import collections
import os
import sys

from aiohttp import web

_MiB = 1 << 20


async def echo(request: web.Request) -> web.Response:
    body = await request.read()
    document = {
        "method": request.method,
        "path": request.raw_path.split("?", 1)[0],
        "query": request.rel_url.raw_query_string,
        "headers": {k.lower(): v for k, v in request.headers.items()},
        "body": body.decode("utf-8", "replace"),
    }
    return web.json_response(document, headers={"x-echo": "1"}, status=200)


attempts: collections.Counter[str] = collections.Counter()
released = asyncio.Event()


async def status(request: web.Request) -> web.Response:
    key = request.query.get("key", "")
    attempts[key] += 1
    return web.Response(
        status=int(request.match_info["code"]),
        text=f"status {request.match_info['code']}",
        headers={"x-attempt": str(attempts[key])},
    )


async def hang(request: web.Request) -> web.Response:
    await asyncio.Event().wait()
    raise AssertionError


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


async def upload(request: web.Request) -> web.Response:
    total = 0
    async for chunk in request.content.iter_any():
        total += len(chunk)
    return web.json_response({"received": total})


async def sse(request: web.Request) -> web.StreamResponse:
    released.clear()
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    await response.write(b"data: first\n\n")
    await released.wait()
    await response.write(b"data: second\n\n")
    await response.write_eof()
    return response


async def release(request: web.Request) -> web.Response:
    released.set()
    return web.Response(text="ok")


async def health(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def watch_parent(parent: int) -> None:
    while os.getppid() == parent:  # noqa: ASYNC110 (polling another process)
        await asyncio.sleep(0.2)
    os._exit(0)


async def main() -> None:
    app = web.Application(client_max_size=1 << 30)
    app.router.add_get("/healthz", health)
    app.router.add_route("*", "/status/{code}", status)
    app.router.add_get("/hang", hang)
    app.router.add_get("/big", big)
    app.router.add_post("/upload", upload)
    app.router.add_get("/sse", sse)
    app.router.add_post("/sse/release", release)
    app.router.add_route("*", "/{tail:.*}", echo)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", int(sys.argv[1])).start()
    await watch_parent(os.getppid())


if __name__ == "__main__":
    asyncio.run(main())
