"""Example app: an order service that keeps its orders in Tandem's state store.

It uses nothing but the standard library and the Dapr HTTP API that the sidecar serves on
``DAPR_HTTP_PORT`` (set by ``tandem run``). It serves ``GET /orders/<id>`` on ``APP_PORT`` and,
at start, walks through the state API: save, read with ETag, optimistic concurrency, a
transaction, key listing and a query. With ``--once`` it exits after the walk-through, and
``tandem run`` exits with it.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DAPR = f"http://127.0.0.1:{os.environ.get('DAPR_HTTP_PORT', '3500')}"
STORE = os.environ.get("STATE_STORE", "statestore")


def call(
    method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(DAPR + path, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def wait_for_sidecar() -> None:
    for _ in range(200):
        try:
            if call("GET", "/v1.0/healthz/outbound")[0] == 204:
                return
        except OSError:
            pass
        import time

        time.sleep(0.05)
    sys.exit("sidecar not reachable on " + DAPR)


def walkthrough() -> None:
    orders = [
        {"key": f"order-{i}", "value": {"id": i, "item": item, "qty": qty}}
        for i, (item, qty) in enumerate([("tea", 2), ("cake", 1), ("tea", 5)], start=1)
    ]
    status, _, _ = call("POST", f"/v1.0/state/{STORE}", orders)
    print(f"saved 3 orders -> {status}")

    status, headers, body = call("GET", f"/v1.0/state/{STORE}/order-1")
    etag = headers.get("ETag", "")
    print(f"order-1 -> {status} {body.decode()} (etag {etag})")

    fresh = [{"key": "order-1", "value": {"id": 1, "item": "tea", "qty": 3}, "etag": etag}]
    print(f"update with the current etag -> {call('POST', f'/v1.0/state/{STORE}', fresh)[0]}")
    status, _, body = call("POST", f"/v1.0/state/{STORE}", fresh)  # that etag is stale now
    print(f"update again with that, now stale, etag -> {status} {json.loads(body)['errorCode']}")

    tx = {
        "operations": [
            {
                "operation": "upsert",
                "request": {"key": "order-4", "value": {"id": 4, "item": "pie", "qty": 1}},
            },
            {"operation": "delete", "request": {"key": "order-2"}},
        ]
    }
    print(
        f"transaction (add order-4, delete order-2) -> "
        f"{call('POST', f'/v1.0/state/{STORE}/transaction', tx)[0]}"
    )

    status, _, body = call("GET", f"/v1.0-alpha1/state/{STORE}/keys?prefix=order-")
    print(f"keys -> {json.loads(body)['keys']}")

    query = {"filter": {"EQ": {"item": "tea"}}, "sort": [{"key": "qty", "order": "DESC"}]}
    status, _, body = call("POST", f"/v1.0-alpha1/state/{STORE}/query", query)
    teas = [r["data"] for r in json.loads(body)["results"]] if status == 200 else []
    print(f"query item == tea, by qty desc -> {teas}")


class Orders(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.startswith("/orders/"):
            status, _, body = call("GET", f"/v1.0/state/{STORE}/order-{self.path[8:]}")
            self.send_response(200 if status == 200 else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body if status == 200 else b'{"error":"not found"}')
        elif self.path == "/healthz":
            self.send_response(204)
            self.end_headers()
        else:
            self.send_response(404)
            self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def main() -> None:
    wait_for_sidecar()
    walkthrough()
    if "--once" in sys.argv:
        return
    port = int(os.environ.get("APP_PORT", "8080"))
    print(f"serving GET /orders/<id> on 127.0.0.1:{port} (Ctrl-C to stop)", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        ThreadingHTTPServer(("127.0.0.1", port), Orders).serve_forever()


if __name__ == "__main__":
    main()
