"""Pub/sub API routes (``/v1.0/publish``, bulk under ``/v1.0-alpha1`` and ``/v1.0``)."""

from __future__ import annotations

import base64
import binascii

import msgspec
from aiohttp import web

from runtime.api.http.codec import decode_body, json_response, query_metadata
from runtime.api.http.keys import SERVICES
from runtime.services.pubsub import BulkPublishEntry
from runtime.services.pubsub_errors import PubSubErrors

__all__ = ["routes"]

routes = web.RouteTableDef()

# The topic is the rest of the path (it may hold "/"); empty names reach the service, which
# answers them with Dapr's codes.
_PUBLISH = "/v1.0/publish/{pubsub:[^/]*}/{topic:.*}"
_BULK = "/publish/bulk/{pubsub:[^/]*}/{topic:.*}"

Scalar = str | int | float | bool


class _BulkEntry(msgspec.Struct):
    entryId: str = ""  # noqa: N815 (Dapr's JSON name)
    event: msgspec.Raw = msgspec.Raw(b"null")
    contentType: str = ""  # noqa: N815
    metadata: dict[str, str] | None = None


def _event_bytes(entry: _BulkEntry, pubsub: str, topic: str) -> tuple[bytes, str]:
    """The entry's event as bytes, by its content type (Dapr's bulk publish rules)."""
    raw = bytes(entry.event)
    content_type = entry.contentType
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/octet-stream":
        try:
            return base64.b64decode(msgspec.json.decode(raw, type=str), validate=True), content_type
        except (msgspec.DecodeError, binascii.Error):
            raise PubSubErrors.EVENTS_SER(
                topic=topic,
                name=pubsub,
                detail=f"entry {entry.entryId!r}: an octet-stream event must be a base64 string",
                resource=pubsub,
            ) from None
    if media == "application/json" or media.endswith("+json"):
        return raw, content_type
    if raw.startswith(b'"'):
        return msgspec.json.decode(raw, type=str).encode(), content_type or "text/plain"
    return raw, content_type or "application/json"


@routes.route("POST", "/v1.0-alpha1" + _BULK)
@routes.route("PUT", "/v1.0-alpha1" + _BULK)
@routes.route("POST", "/v1.0" + _BULK)
@routes.route("PUT", "/v1.0" + _BULK)
async def bulk_publish(request: web.Request) -> web.Response:
    pubsub, topic = request.match_info["pubsub"], request.match_info["topic"]
    service = request.app[SERVICES].pubsub
    service.live(pubsub, topic)  # Dapr's lookup errors before body errors
    body = await decode_body(request, list[_BulkEntry])
    entries = []
    for entry in body:
        data, content_type = _event_bytes(entry, pubsub, topic)
        entries.append(
            BulkPublishEntry(
                entry_id=entry.entryId,
                event=data,
                content_type=content_type,
                metadata=entry.metadata or {},
            )
        )
    failed = await service.bulk_publish(pubsub, topic, entries, metadata=query_metadata(request))
    if not failed:
        return web.Response(status=204)
    return json_response(
        {
            "failedEntries": [{"entryId": f.entry_id, "error": f.error} for f in failed],
            "errorCode": PubSubErrors.PUBLISH_MESSAGE.code,
        },
        status=500,
    )


# After the bulk routes: "/v1.0/publish/bulk/..." must not read as pubsub "bulk".
@routes.route("POST", _PUBLISH)
@routes.route("PUT", _PUBLISH)
async def publish(request: web.Request) -> web.Response:
    await request.app[SERVICES].pubsub.publish(
        request.match_info["pubsub"],
        request.match_info["topic"],
        await request.read(),
        content_type=request.headers.get("Content-Type", ""),
        metadata=query_metadata(request),
    )
    return web.Response(status=204)
