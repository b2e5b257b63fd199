"""Test an ``App``'s handlers without a sidecar: events go through the same dispatcher.

Example::

    from tandem.testing import deliver, call

    async def test_order_handler() -> None:
        assert await deliver(app, "pubsub", "orders", {"id": 1, "qty": 2}) == Status.SUCCESS
        resp = await call(app, "place", json={"id": "o-1"})
        assert resp.status == 200
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Mapping
from typing import Any

from tandem.app import App, Response, Status

__all__ = ["call", "cloud_event", "deliver"]


def cloud_event(
    pubsub: str, topic: str, data: Any, *, content_type: str | None = None, **attributes: Any
) -> bytes:
    """A CloudEvents envelope as the sidecar delivers it (``bytes`` data as ``data_base64``)."""
    doc: dict[str, Any] = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "tandem.testing",
        "type": "com.dapr.event.sent",
        "topic": topic,
        "pubsubname": pubsub,
        "traceparent": "00-" + "0" * 31 + "1-" + "0" * 15 + "1-01",
    }
    if isinstance(data, bytes):
        doc["datacontenttype"] = content_type or "application/octet-stream"
        doc["data_base64"] = base64.b64encode(data).decode()
    elif isinstance(data, str) and content_type is None:
        doc["datacontenttype"] = "text/plain"
        doc["data"] = data
    else:
        doc["datacontenttype"] = content_type or "application/json"
        doc["data"] = data
    doc.update(attributes)
    return json.dumps(doc).encode()


def _verdict(answer: Response) -> Status:
    """Dapr's reading of a delivery answer."""
    if answer.status == 404:
        return Status.DROP
    if not 200 <= answer.status < 300:
        return Status.RETRY
    try:
        doc = json.loads(answer.body) if answer.body.strip() else {}
    except ValueError:
        return Status.SUCCESS
    value = doc.get("status") if isinstance(doc, dict) else None
    if not value:
        return Status.SUCCESS
    try:
        return Status(str(value).upper())
    except ValueError:
        return Status.RETRY


async def deliver(
    app: App, pubsub: str, topic: str, data: Any, *, content_type: str | None = None
) -> Status:
    """Deliver one event to the App's subscription for ``pubsub``/``topic``; Dapr's verdict.

    Raises LookupError when the App has no subscription for it.
    """
    for sub in app.subscriptions():
        if sub["pubsubname"] == pubsub and sub["topic"] == topic:
            body = cloud_event(pubsub, topic, data, content_type=content_type)
            headers = {"content-type": "application/cloudevents+json"}
            return _verdict(await app.handle("POST", sub["route"], headers, body))
    raise LookupError(f"no subscription for {pubsub}/{topic}")


async def call(
    app: App,
    name: str,
    *,
    json: Any = None,
    data: bytes = b"",
    method: str = "POST",
    headers: Mapping[str, str] | None = None,
) -> Response:
    """Call the App's invocation handler ``name`` as the sidecar would."""
    body = data
    hdrs = {k.lower(): v for k, v in (headers or {}).items()}
    if json is not None:
        body = _json_bytes(json)
        hdrs.setdefault("content-type", "application/json")
    return await app.handle(method, "/" + name.strip("/"), hdrs, body)


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value).encode()
