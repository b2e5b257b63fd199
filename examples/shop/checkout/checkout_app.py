"""checkout: prices an order and publishes it.

``POST /checkout`` with ``{"item": "tea", "qty": 3, "customer": "ann@example.com"}``:

- the payment provider's API key comes from the secret store ``secretstore``
  (``paymentApiKey``; fake, never printed whole);
- the flag ``new-pricing`` (OFREP on the sidecar, customer as context) turns on the new rule:
  10% off from 3 items; when no flag source answers, the old price applies and the answer says
  so (``"pricing": "standard (flags unavailable: ...)"``);
- the order is published to ``orders`` on ``pubsub``; the answer is the order.
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

from aiohttp import web
from tandem import AsyncClient
from tandem.errors import SidecarUnavailable, TandemError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from shop_common import CLIENT, PUBSUB, TOPIC, serve

PRICES = {"tea": 4.0, "cake": 3.5, "coffee": 3.0}
routes = web.RouteTableDef()


async def new_pricing(client: AsyncClient, customer: str) -> tuple[bool, str]:
    context = {"targetingKey": customer, "customer": customer}
    try:
        flag = await client.get_flag_details("new-pricing", False, context=context)
    except TandemError as err:
        return False, f"standard (flags unavailable: {err.status} {err.code})"
    on = flag.value is True
    return on, f"{'new' if on else 'standard'} ({flag.reason or '?'})"


@routes.post("/checkout")
async def checkout(request: web.Request) -> web.Response:
    client = request.app[CLIENT]
    try:
        body = await request.json()
        item, qty, customer = str(body["item"]), int(body["qty"]), str(body.get("customer", ""))
    except (ValueError, KeyError, TypeError):
        return web.json_response({"error": 'expected {"item": str, "qty": int}'}, status=400)
    if item not in PRICES or qty < 1:
        return web.json_response(
            {"error": f"unknown item or bad qty; items: {sorted(PRICES)}"}, status=400
        )
    try:
        key = (await client.get_secret("secretstore", "paymentApiKey"))["paymentApiKey"]
        discounted, pricing = await new_pricing(client, customer)
        total = PRICES[item] * qty * (0.9 if discounted and qty >= 3 else 1.0)
        order = {
            "id": f"order-{uuid.uuid4().hex[:12]}",
            "item": item,
            "qty": qty,
            "customer": customer,
            "total": round(total, 2),
            "pricing": pricing,
            "charged_with": f"...{key[-4:]}",  # the fake payment call
        }
        await client.publish(PUBSUB, TOPIC, order)
    except SidecarUnavailable as err:
        return web.json_response({"error": str(err)}, status=503)
    except TandemError as err:  # the secret or the publish failed
        return web.json_response({"error": f"{err.code}: {err}"}, status=502)
    print(f"published {order['id']}: {pricing}, total {order['total']}", flush=True)
    return web.json_response(order, status=201)


if __name__ == "__main__":
    app = web.Application()
    app.add_routes(routes)
    serve(app, 8081)
