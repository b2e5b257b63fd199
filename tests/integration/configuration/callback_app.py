"""A plain aiohttp app (no Dapr SDK) that records Dapr's configuration callbacks.

``POST /configuration/{store}/{key}`` answers 200 and records ``{"store", "key", "body"}``;
``GET /received`` returns every record so far. Port: argv[1]. Exits when its parent (the
sidecar) goes away.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

from aiohttp import web


async def main() -> None:
    received: list[dict[str, object]] = []

    async def callback(request: web.Request) -> web.Response:
        received.append(
            {
                "store": request.match_info["store"],
                "key": request.match_info["key"],
                "content_type": request.content_type,
                "body": json.loads(await request.read()),
            }
        )
        return web.Response(status=200)

    async def dump(_: web.Request) -> web.Response:
        return web.json_response(received)

    app = web.Application()
    app.router.add_post("/configuration/{store}/{key}", callback)
    app.router.add_get("/received", dump)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", int(sys.argv[1])).start()
    parent = os.getppid()
    while os.getppid() == parent:  # noqa: ASYNC110 (polling the parent: there is no event)
        await asyncio.sleep(0.2)
    await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
