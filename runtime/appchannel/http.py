"""The app channel to an HTTP app (``--app-protocol http``, ``https`` or ``h2c``).

Wire behaviour follows Dapr: invocations go to ``<verb> <base>/<method>?<query>`` with the
caller's headers; subscriptions come from ``GET /dapr/subscribe``; events are POSTed to their
route as ``application/cloudevents+json`` and the reply maps to SUCCESS/RETRY/DROP.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import quote

import msgspec

from runtime.appchannel._headers import http_headers, is_content_type, response_headers
from runtime.appchannel._subscriptions import subscriptions_from_json
from runtime.appchannel._transport import Reply, Transport
from runtime.appchannel.base import (
    AppChannelError,
    AppSubscription,
    AppUnavailable,
    BulkTopicEvent,
    CallGate,
    DeliveryStatus,
    InvalidInvokeRequest,
    InvokeRequest,
    InvokeResponse,
    TopicEvent,
)

__all__ = ["HttpAppChannel"]

log = logging.getLogger("tandem.app")

_VERBS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"})
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = _PATH_SAFE + "?"
CLOUDEVENT_JSON = "application/cloudevents+json"
CLOUDEVENT_BATCH_JSON = "application/cloudevents-batch+json"
_MAX_VERDICT = 1 << 20  # bytes of a delivery reply we parse for {"status": ...}


@lru_cache(maxsize=1024)
def _quote_path(path: str) -> str:
    return quote(path, safe=_PATH_SAFE)


class HttpAppChannel:
    def __init__(
        self,
        *,
        base_url: str,
        transport: Transport,
        gate: CallGate,
        app_token: str | None = None,
        health_path: str = "/healthz",
        health_timeout: float = 0.5,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._transport = transport
        self._gate = gate
        self._token = app_token
        self._health_path = health_path
        self._health_timeout = health_timeout

    def _url(self, path: str, query: str = "") -> str:
        url = f"{self._base}/{_quote_path(path.lstrip('/'))}"
        return f"{url}?{quote(query, safe=_QUERY_SAFE)}" if query else url

    async def invoke(self, request: InvokeRequest) -> InvokeResponse:
        verb = (request.verb or "").upper()
        if verb not in _VERBS:
            raise InvalidInvokeRequest(f"invalid HTTP verb {request.verb!r} for an HTTP app")
        headers = http_headers(
            request.headers, content_type=request.content_type, app_token=self._token
        )
        url = self._url(request.method, request.query)
        release = await self._gate.acquire()
        try:
            reply = await self._transport.send(verb, url, headers, request.body)
        except BaseException:
            release()
            raise

        async def close() -> None:
            try:
                await reply.close()
            finally:
                release()

        resp_headers = response_headers(reply.headers)
        content_type = next((v for n, v in resp_headers if is_content_type(n)), "")
        return InvokeResponse(
            status=reply.status,
            headers=resp_headers,
            content_type=content_type,
            body=reply.complete if reply.complete is not None else reply.body,
            on_close=close,
        )

    async def _call(
        self, verb: str, url: str, headers: list[tuple[str, str]], body: bytes = b""
    ) -> tuple[int, bytes]:
        """A gated call whose reply is read whole (small control messages)."""
        release = await self._gate.acquire()
        try:
            reply = await self._transport.send(verb, url, headers, body)
            try:
                complete = reply.complete
                return reply.status, complete if complete is not None else await _read(
                    reply, _MAX_VERDICT
                )
            finally:
                await reply.close()
        finally:
            release()

    async def list_subscriptions(self) -> list[AppSubscription]:
        status, body = await self._call(
            "GET", self._url("/dapr/subscribe"), http_headers((), app_token=self._token)
        )
        if status == 404:
            return []
        if not 200 <= status < 300:
            raise AppChannelError(f"GET /dapr/subscribe answered HTTP {status}")
        try:
            document = msgspec.json.decode(body) if body.strip() else []
        except msgspec.DecodeError as exc:
            raise AppChannelError(f"GET /dapr/subscribe: invalid JSON: {exc}") from exc
        return subscriptions_from_json(document)

    async def deliver_event(self, event: TopicEvent) -> DeliveryStatus:
        headers = http_headers(
            event.metadata.items(), content_type=CLOUDEVENT_JSON, app_token=self._token
        )
        body = event.cloud_event_json
        if body is None:
            body = msgspec.json.encode(dict(event.cloud_event))
        try:
            status, reply = await self._call("POST", self._url(event.path), headers, body)
        except AppUnavailable:
            raise
        except AppChannelError as exc:
            log.warning("delivering event on topic %r failed: %s (retry)", event.topic, exc)
            return DeliveryStatus.RETRY
        return _verdict(status, reply, event.topic)

    async def deliver_bulk(self, event: BulkTopicEvent) -> dict[str, DeliveryStatus]:
        ids = [entry.entry_id for entry in event.entries]
        document = {
            "id": event.id,
            "type": event.type,
            "topic": event.topic,
            "pubsubname": event.pubsub_name,
            "metadata": dict(event.metadata),
            "entries": [
                {
                    "entryId": entry.entry_id,
                    "event": _bulk_event(entry.event),
                    "metadata": dict(entry.metadata),
                    "contentType": entry.content_type,
                }
                for entry in event.entries
            ],
        }
        headers = http_headers(
            event.metadata.items(), content_type=CLOUDEVENT_BATCH_JSON, app_token=self._token
        )
        try:
            status, reply = await self._call(
                "POST", self._url(event.path), headers, msgspec.json.encode(document)
            )
        except AppUnavailable:
            raise
        except AppChannelError as exc:
            log.warning("bulk delivery on topic %r failed: %s (retry)", event.topic, exc)
            return dict.fromkeys(ids, DeliveryStatus.RETRY)
        if status == 404:
            return dict.fromkeys(ids, DeliveryStatus.DROP)
        if not 200 <= status < 300:
            return dict.fromkeys(ids, DeliveryStatus.RETRY)
        return _bulk_verdicts(ids, reply)

    async def health(self) -> bool:
        headers = http_headers((), app_token=self._token)
        try:
            async with asyncio.timeout(self._health_timeout):
                reply = await self._transport.send(
                    "GET", self._url(self._health_path), headers, b""
                )
                await reply.close()
        except (AppChannelError, TimeoutError):
            return False
        return 200 <= reply.status < 300

    async def aclose(self) -> None:
        await self._transport.aclose()


async def _read(reply: Reply, limit: int) -> bytes:
    parts: list[bytes] = []
    size = 0
    async for chunk in reply.body:
        parts.append(chunk)
        size += len(chunk)
        if size >= limit:
            break
    return b"".join(parts)


def _bulk_event(event: Mapping[str, Any] | bytes) -> Any:
    """Raw payloads travel base64-encoded in the JSON batch (as Go marshals []byte)."""
    if isinstance(event, bytes):
        return base64.b64encode(event).decode("ascii")
    return dict(event)


def _status_of(value: Any) -> DeliveryStatus | None:
    if not isinstance(value, str):
        return None
    try:
        return DeliveryStatus(value.upper())
    except ValueError:
        return None


def _verdict(status: int, body: bytes, topic: str) -> DeliveryStatus:
    """Dapr's mapping: 2xx → the body's ``status`` (empty, non-JSON or absent = SUCCESS;
    unknown = RETRY); 404 → DROP; anything else → RETRY."""
    if status == 404:
        log.warning("app answered 404 for an event on topic %r; dropping it", topic)
        return DeliveryStatus.DROP
    if not 200 <= status < 300:
        log.warning("app answered HTTP %d for an event on topic %r (retry)", status, topic)
        return DeliveryStatus.RETRY
    try:
        document = msgspec.json.decode(body) if body.strip() else None
    except msgspec.DecodeError:
        return DeliveryStatus.SUCCESS
    if not isinstance(document, dict) or document.get("status") in (None, ""):
        return DeliveryStatus.SUCCESS
    verdict = _status_of(document["status"])
    if verdict is None:
        log.warning("unknown status %r for an event on topic %r (retry)", document["status"], topic)
        return DeliveryStatus.RETRY
    if verdict is DeliveryStatus.DROP:
        log.warning("app dropped an event on topic %r", topic)
    return verdict


def _bulk_verdicts(ids: list[str], body: bytes) -> dict[str, DeliveryStatus]:
    """2xx + ``{"statuses": [{"entryId", "status"}]}``; a missing entry or status is RETRY."""
    verdicts = dict.fromkeys(ids, DeliveryStatus.RETRY)
    try:
        document = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return verdicts
    statuses = document.get("statuses") if isinstance(document, dict) else None
    for item in statuses if isinstance(statuses, list) else ():
        if not isinstance(item, dict) or item.get("entryId") not in verdicts:
            continue
        verdict = _status_of(item.get("status"))
        if verdict is not None:
            verdicts[item["entryId"]] = verdict
    return verdicts
