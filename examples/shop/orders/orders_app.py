"""orders: keeps every order in the state store and serves them over service invocation.

- subscribes to ``orders`` on the ``pubsub`` component (programmatic, ``/dapr/subscribe``);
- saves each order under its id in ``statestore`` (a redelivery overwrites the same key);
- ``GET /orders/{id}``: called by other apps as ``/v1.0/invoke/orders/method/orders/{id}``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from shop_common import PUBSUB, TOPIC, call, serve

STORE = "statestore"
routes = web.RouteTableDef()


@routes.get("/dapr/subscribe")
async def subscribe(_: web.Request) -> web.Response:
    return web.json_response([{"pubsubname": PUBSUB, "topic": TOPIC, "route": "/events/orders"}])


@routes.post("/events/orders")
async def on_order(request: web.Request) -> web.Response:
    event = await request.json()
    order = event.get("data") or {}
    if not isinstance(order, dict) or "id" not in order:
        print(f"dropping malformed event {event.get('id')}", flush=True)
        return web.json_response({"status": "DROP"})
    status, body = await call(
        request.app["session"],
        "POST",
        f"/v1.0/state/{STORE}",
        [{"key": order["id"], "value": order}],
    )
    if status != 204:
        print(f"saving {order['id']} failed ({status} {body}); asking for a retry", flush=True)
        return web.json_response({"status": "RETRY"})
    print(
        f"stored order {order['id']}: {order['qty']} x {order['item']} = {order['total']}",
        flush=True,
    )
    return web.json_response({"status": "SUCCESS"})


@routes.get("/orders/{id}")
async def get_order(request: web.Request) -> web.Response:
    status, body = await call(
        request.app["session"], "GET", f"/v1.0/state/{STORE}/{request.match_info['id']}"
    )
    if status == 204:
        return web.json_response({"error": "no such order"}, status=404)
    if status != 200:
        return web.json_response({"error": f"state store answered {status}"}, status=502)
    return web.json_response(body)


if __name__ == "__main__":
    app = web.Application()
    app.add_routes(routes)
    serve(app, 8082)
