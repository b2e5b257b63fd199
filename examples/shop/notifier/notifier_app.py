"""notifier: tells the customer about each order (here: prints it and keeps the last ones).

Subscribes to ``orders`` on ``pubsub``; being another app id, it is another consumer group,
so it gets every order as ``orders`` does. ``notifications`` lists what it sent
(``/v1.0/invoke/notifier/method/notifications``).
"""

from __future__ import annotations

import sys
from collections import deque
from pathlib import Path

from tandem.app import App, CloudEvent, Drop, Request

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from shop_common import PUBSUB, TOPIC, serve

app = App()
sent: deque[str] = deque(maxlen=100)


@app.subscribe(PUBSUB, TOPIC, route="/events/orders")
async def on_order(event: CloudEvent) -> None:
    order = event.data
    if not isinstance(order, dict) or "id" not in order:
        raise Drop("not an order")
    if order["id"] not in sent:  # at-least-once delivery: notify once
        sent.append(order["id"])
        print(f"notified: order {order['id']} ({order.get('item')}) is on its way", flush=True)


@app.method("notifications")
async def notifications(_: Request) -> list[str]:
    return list(sent)


if __name__ == "__main__":
    serve(app.aiohttp_app(), 8083)
