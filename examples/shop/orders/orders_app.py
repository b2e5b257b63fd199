"""orders: keeps every order in the state store and serves them over service invocation.

- subscribes to ``orders`` on the ``pubsub`` component (``/dapr/subscribe``, served by the
  SDK's ``App``);
- saves each order under its id in ``statestore`` (a redelivery overwrites the same key; a
  failed save raises, which asks the sidecar for a redelivery);
- ``orders/{id}``: called by other apps as ``/v1.0/invoke/orders/method/orders/{id}``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from aiohttp import web
from tandem.app import App, CloudEvent, Drop, Request, Response

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from shop_common import CLIENT, PUBSUB, STORE, TOPIC, serve

app = App()
web_app = web.Application()


@app.subscribe(PUBSUB, TOPIC, route="/events/orders")
async def on_order(event: CloudEvent) -> None:
    order = event.data
    if not isinstance(order, dict) or "id" not in order:
        print(f"dropping malformed event {event.id}", flush=True)
        raise Drop("not an order")
    await web_app[CLIENT].save_state(STORE, order["id"], order)  # raises: RETRY
    print(
        f"stored order {order['id']}: {order['qty']} x {order['item']} = {order['total']}",
        flush=True,
    )


@app.method("orders/{id}")
async def get_order(request: Request) -> Response:
    item = await web_app[CLIENT].get_state(STORE, request.path_params["id"])
    if item is None:
        return Response.json({"error": "no such order"}, status=404)
    return Response(item.data, content_type="application/json")


if __name__ == "__main__":
    serve(app.aiohttp_app(web_app), 8082)
