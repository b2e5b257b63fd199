"""A plain aiohttp app subscribing through ``GET /dapr/subscribe``; port argv[1].

argv[2]: a JSON file holding the subscription list to answer (Dapr's JSON, v1 or v2 form).
argv[3]: a JSON-lines file where every delivery is appended: ``path``, the request headers
(lower-cased), the content type and the body (parsed JSON).
The answer follows the event's ``data.answer`` when present: ``success``, ``retry``, ``drop``
(a JSON ``status``), ``empty`` (200 without a body), or an HTTP status number (``404``,
``500``); a ``data.failures`` N answers 500 to the first N deliveries of that event id.
Exits when its parent (the sidecar) goes away.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from aiohttp import web


def main() -> int:
    port = int(sys.argv[1])
    subscriptions = json.loads(Path(sys.argv[2]).read_text())
    log_path = Path(sys.argv[3])
    parent = os.getppid()
    seen: Counter[str] = Counter()

    async def subscribe(_: web.Request) -> web.Response:
        return web.json_response(subscriptions)

    async def deliver(request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = raw.decode("utf-8", "replace")
        entry = {
            "path": request.path,
            "headers": {k.lower(): v for k, v in request.headers.items()},
            "content_type": request.content_type,
            "body": body,
        }
        with log_path.open("a") as f:  # noqa: ASYNC230 (a tiny local append)
            f.write(json.dumps(entry) + "\n")
        data = body.get("data") if isinstance(body, dict) else None
        answer = data.get("answer") if isinstance(data, dict) else None
        failures = data.get("failures") if isinstance(data, dict) else None
        if isinstance(failures, int) and isinstance(body, dict):
            seen[str(body.get("id"))] += 1
            if seen[str(body.get("id"))] <= failures:
                return web.Response(status=500)
        if isinstance(body, dict) and "entries" in body:  # bulk: every entry succeeds
            statuses = [{"entryId": e["entryId"], "status": "SUCCESS"} for e in body["entries"]]
            return web.json_response({"statuses": statuses})
        if answer in ("success", "retry", "drop"):
            return web.json_response({"status": answer.upper()})
        if answer == "empty":
            return web.Response(status=200)
        if isinstance(answer, int):
            return web.Response(status=answer)
        return web.json_response({"status": "SUCCESS"})

    async def watch_parent() -> None:
        while os.getppid() == parent:  # noqa: ASYNC110 (polling the parent pid)
            await asyncio.sleep(0.1)
        raise SystemExit(0)

    async def run() -> None:
        app = web.Application()
        app.router.add_get("/dapr/subscribe", subscribe)
        app.router.add_route("POST", "/{tail:.*}", deliver)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        await watch_parent()

    with contextlib.suppress(SystemExit):
        asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
