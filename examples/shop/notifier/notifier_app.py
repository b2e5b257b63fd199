"""notifier: tells the customer about each order (here: prints it and keeps the last ones).

Subscribes to ``orders`` on ``pubsub``; being another app id, it is another consumer group,
so it gets every order as ``orders`` does. ``GET /notifications`` lists what it sent
(``/v1.0/invoke/notifier/method/notifications``).
"""

from __future__ import annotations

import sys
from collections import deque
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from shop_common import PUBSUB, TOPIC, serve

routes = web.RouteTableDef()
sent: deque[str] = deque(maxlen=100)


@routes.get("/dapr/subscribe")
async def subscribe(_: web.Request) -> web.Response:
    return web.json_response([{"pubsubname": PUBSUB, "topic": TOPIC, "route": "/events/orders"}])


@routes.post("/events/orders")
async def on_order(request: web.Request) -> web.Response:
    order = (await request.json()).get("data") or {}
    if not isinstance(order, dict) or "id" not in order:
        return web.json_response({"status": "DROP"})
    if order["id"] not in sent:  # at-least-once delivery: notify once
        sent.append(order["id"])
        print(f"notified: order {order['id']} ({order['item']}) is on its way", flush=True)
    return web.json_response({"status": "SUCCESS"})


@routes.get("/notifications")
async def notifications(_: web.Request) -> web.Response:
    return web.json_response(list(sent))


if __name__ == "__main__":
    app = web.Application()
    app.add_routes(routes)
    serve(app, 8083)
