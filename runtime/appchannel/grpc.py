"""The app channel to a gRPC app (``--app-protocol grpc``): the app's ``AppCallback`` service.

As in Dapr: a non-OK status from ``OnInvoke`` is the app's answer (mapped to an HTTP status,
with the status as JSON body), not a channel error; ``ListTopicSubscriptions`` answering
UNIMPLEMENTED means no subscriptions; ``OnTopicEvent`` UNIMPLEMENTED drops the event and any
other error retries it; ``OnBulkTopicEvent`` UNIMPLEMENTED falls back to
``AppCallbackAlpha.OnBulkTopicEventAlpha1``. Health probes call ``AppCallbackHealthCheck``.
With ``grpcs`` the app's certificate is not verified, as in Dapr (see ``_grpc_tls``).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Mapping
from typing import Any

import grpc
from google.protobuf import any_pb2, empty_pb2, struct_pb2

from protos.dapr.common.v1 import common_pb2
from protos.dapr.runtime.v1 import appcallback_pb2 as pb
from protos.dapr.runtime.v1 import appcallback_pb2_grpc as pb_grpc
from runtime.appchannel._grpc_tls import pinned_credentials
from runtime.appchannel._headers import grpc_metadata, response_headers
from runtime.appchannel.base import (
    API_TOKEN_HEADER,
    AppChannelError,
    AppSubscription,
    BulkEntry,
    BulkSubscribe,
    BulkTopicEvent,
    CallGate,
    DeliveryStatus,
    InvalidInvokeRequest,
    InvokeRequest,
    InvokeResponse,
    TopicEvent,
    TopicRule,
)
from runtime.appchannel.rawgrpc import AppCall, Metadata

__all__ = ["GrpcAppChannel", "http_status_from_grpc", "topic_event_request"]

log = logging.getLogger("tandem.app")
_Status = pb.TopicEventResponse.TopicEventResponseStatus
_VERDICTS = {
    _Status.SUCCESS: DeliveryStatus.SUCCESS,
    _Status.RETRY: DeliveryStatus.RETRY,
    _Status.DROP: DeliveryStatus.DROP,
}
# CloudEvent attributes that TopicEventRequest carries as fields, not as extensions.
_CE_FIELDS = frozenset(
    {"id", "source", "type", "specversion", "datacontenttype", "data", "data_base64"}
)
# Dapr's gRPC → HTTP status table (grpc-gateway's, with CANCELLED → 408).
_HTTP_FROM_GRPC = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 408,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
}


def http_status_from_grpc(code: grpc.StatusCode) -> int:
    return _HTTP_FROM_GRPC.get(code, 500)


class GrpcAppChannel:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        gate: CallGate,
        app_token: str | None = None,
        health_timeout: float = 0.5,
        max_message_size: int = 4 << 20,
        tls: bool = False,
    ) -> None:
        self._host, self._port = host, port
        self._options: list[tuple[str, int | str]] = [
            ("grpc.max_receive_message_length", max_message_size),
            ("grpc.max_send_message_length", max_message_size),
        ]
        self._stubs: _Stubs | None = None
        self._connecting = asyncio.Lock()
        if not tls:
            self._stubs = _Stubs(grpc.aio.insecure_channel(self._target, options=self._options))
        self._gate = gate
        self._token = app_token
        self._health_timeout = health_timeout

    @property
    def _target(self) -> str:
        return f"[{self._host}]:{self._port}" if ":" in self._host else f"{self._host}:{self._port}"

    async def _connect(self) -> _Stubs:
        """The stubs; a TLS channel is made on first use (it needs the app's certificate).
        Raises AppChannelError when the app cannot be reached for it."""
        if self._stubs is not None:
            return self._stubs
        async with self._connecting:
            if self._stubs is None:
                try:
                    async with asyncio.timeout(max(self._health_timeout, 5.0)):
                        credentials, name = await pinned_credentials(self._host, self._port)
                except TimeoutError as exc:
                    raise AppChannelError(f"TLS to the app at {self._target}: timed out") from exc
                options = list(self._options)
                if name:
                    options.append(("grpc.ssl_target_name_override", name))
                self._stubs = _Stubs(
                    grpc.aio.secure_channel(self._target, credentials, options=options)
                )
            return self._stubs

    async def invoke(self, request: InvokeRequest) -> InvokeResponse:
        body = request.body
        if not isinstance(body, bytes):  # OnInvoke is unary: gather the stream
            body = b"".join([chunk async for chunk in body])
        message = common_pb2.InvokeRequest(
            method=request.method,
            data=any_pb2.Any(type_url=request.data_type_url, value=body),
            content_type=request.content_type,
        )
        if request.verb is not None:
            try:
                verb = common_pb2.HTTPExtension.Verb.Value(request.verb.upper())
            except ValueError:
                raise InvalidInvokeRequest(f"invalid HTTP verb {request.verb!r}") from None
            message.http_extension.verb = verb
            message.http_extension.querystring = request.query
        metadata = grpc_metadata(request.headers, app_token=self._token)
        async with self._gate.call():
            call = (await self._connect()).app.OnInvoke(message, metadata=metadata)
            try:
                reply = await call
            except grpc.aio.AioRpcError as exc:
                return _error_response(exc)
            headers = await call.initial_metadata()
        return InvokeResponse(
            status=200,
            headers=response_headers(_text_pairs(headers)),
            content_type=reply.content_type,
            body=reply.data.value,
            data_type_url=reply.data.type_url,
        )

    async def open_raw(
        self, method: str, metadata: Metadata, seconds_left: float | None
    ) -> AppCall:
        """A proxied call of any kind to ``method`` (``/pkg.Service/Method``), bytes both ways,
        holding a concurrency slot until it ends; raises AppUnavailable / AppChannelError."""
        release = await self._gate.acquire()
        try:
            channel = (await self._connect()).channel
            if self._token:
                metadata = (*metadata, (API_TOKEN_HEADER, self._token))
            multi = channel.stream_stream(method, None, None)  # bytes as they are
            call = multi(None, metadata=metadata, timeout=seconds_left)
        except BaseException:
            release()
            raise
        return AppCall(call, release)

    async def list_subscriptions(self) -> list[AppSubscription]:
        metadata = grpc_metadata((), app_token=self._token)
        async with self._gate.call():
            stubs = await self._connect()
            try:
                reply = await stubs.app.ListTopicSubscriptions(empty_pb2.Empty(), metadata=metadata)
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
                    return []
                raise AppChannelError(f"ListTopicSubscriptions: {_describe(exc)}") from exc
        return [_subscription(s) for s in reply.subscriptions]

    async def deliver_event(self, event: TopicEvent) -> DeliveryStatus:
        message = _topic_event(event)
        metadata = grpc_metadata(event.metadata, app_token=self._token)
        async with self._gate.call():
            try:
                reply = await (await self._connect()).app.OnTopicEvent(message, metadata=metadata)
            except AppChannelError as exc:
                log.warning("OnTopicEvent for topic %r: %s (retry)", event.topic, exc)
                return DeliveryStatus.RETRY
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
                    log.warning("app does not handle topic %r; dropping the event", event.topic)
                    return DeliveryStatus.DROP
                log.warning("OnTopicEvent for topic %r: %s (retry)", event.topic, _describe(exc))
                return DeliveryStatus.RETRY
        verdict = _VERDICTS.get(reply.status, DeliveryStatus.RETRY)
        if verdict is DeliveryStatus.DROP:
            log.warning("app dropped an event on topic %r", event.topic)
        return verdict

    async def deliver_bulk(self, event: BulkTopicEvent) -> dict[str, DeliveryStatus]:
        ids = [entry.entry_id for entry in event.entries]
        message = pb.TopicEventBulkRequest(
            id=event.id,
            entries=[_bulk_entry(entry) for entry in event.entries],
            metadata=dict(event.metadata),
            topic=event.topic,
            pubsub_name=event.pubsub_name,
            type=event.type,
            path=event.path,
        )
        metadata = grpc_metadata(event.metadata, app_token=self._token)
        async with self._gate.call():
            try:
                stubs = await self._connect()
                try:
                    reply = await stubs.app.OnBulkTopicEvent(message, metadata=metadata)
                except grpc.aio.AioRpcError as exc:
                    if exc.code() != grpc.StatusCode.UNIMPLEMENTED:
                        raise
                    reply = await stubs.alpha.OnBulkTopicEventAlpha1(message, metadata=metadata)
            except AppChannelError as exc:
                log.warning("OnBulkTopicEvent for %r: %s (retry)", event.topic, exc)
                return dict.fromkeys(ids, DeliveryStatus.RETRY)
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
                    return dict.fromkeys(ids, DeliveryStatus.DROP)
                log.warning("OnBulkTopicEvent for %r: %s (retry)", event.topic, _describe(exc))
                return dict.fromkeys(ids, DeliveryStatus.RETRY)
        verdicts = dict.fromkeys(ids, DeliveryStatus.RETRY)
        for item in reply.statuses:
            if item.entry_id in verdicts:
                verdicts[item.entry_id] = _VERDICTS.get(item.status, DeliveryStatus.RETRY)
        return verdicts

    async def health(self) -> bool:
        try:
            await (await self._connect()).health.HealthCheck(
                empty_pb2.Empty(),
                metadata=grpc_metadata((), app_token=self._token),
                timeout=self._health_timeout,
            )
        except (grpc.aio.AioRpcError, AppChannelError):
            return False
        return True

    async def aclose(self) -> None:
        if self._stubs is not None:
            await self._stubs.channel.close(None)


class _Stubs:
    __slots__ = ("alpha", "app", "channel", "health")

    def __init__(self, channel: grpc.aio.Channel) -> None:
        self.channel = channel
        self.app = pb_grpc.AppCallbackStub(channel)
        self.alpha = pb_grpc.AppCallbackAlphaStub(channel)
        self.health = pb_grpc.AppCallbackHealthCheckStub(channel)


def _describe(exc: grpc.aio.AioRpcError) -> str:
    return f"{exc.code().name}: {exc.details() or ''}"


def _text_pairs(metadata: Any) -> list[tuple[str, str]]:
    if not metadata:
        return []
    return [(str(k), v) for k, v in metadata if isinstance(v, str)]


def _error_response(exc: grpc.aio.AioRpcError) -> InvokeResponse:
    code = exc.code()
    body = json.dumps({"code": code.value[0], "message": exc.details() or "", "details": []})
    return InvokeResponse(
        status=http_status_from_grpc(code),
        headers=response_headers(_text_pairs(exc.initial_metadata())),
        content_type="application/json",
        body=body.encode(),
        grpc_status=code.value[0],
    )


def _subscription(sub: pb.TopicSubscription) -> AppSubscription:
    # As Dapr does for gRPC apps, the default route is always the last rule, even when empty:
    # OnTopicEvent with path "" reaches the topic's default handler (the SDK's App relies on it).
    rules = [TopicRule(r.match, r.path) for r in sub.routes.rules]
    rules.append(TopicRule("", sub.routes.default))
    bulk = None
    if sub.HasField("bulk_subscribe"):
        bulk = BulkSubscribe(
            enabled=sub.bulk_subscribe.enabled,
            max_messages_count=sub.bulk_subscribe.max_messages_count,
            max_await_duration_ms=sub.bulk_subscribe.max_await_duration_ms,
        )
    return AppSubscription(
        pubsub_name=sub.pubsub_name,
        topic=sub.topic,
        rules=tuple(rules),
        metadata=dict(sub.metadata),
        dead_letter_topic=sub.dead_letter_topic,
        bulk_subscribe=bulk,
    )


def _event_data(cloud_event: Mapping[str, Any]) -> bytes:
    """``data_base64`` decoded, a string's UTF-8, or other JSON data re-encoded."""
    if isinstance(cloud_event.get("data_base64"), str):
        try:
            return base64.b64decode(cloud_event["data_base64"], validate=True)
        except ValueError:
            return b""
    data = cloud_event.get("data")
    if data is None:
        return b""
    if isinstance(data, str):
        return data.encode()
    if isinstance(data, bytes):
        return data
    return json.dumps(data, separators=(",", ":")).encode()


def _extensions(cloud_event: Mapping[str, Any]) -> struct_pb2.Struct:
    extensions = struct_pb2.Struct()
    for key, value in cloud_event.items():
        if key in _CE_FIELDS:
            continue
        try:
            extensions.update({key: value})
        except (ValueError, TypeError):  # not representable in a Struct
            log.debug("CloudEvent attribute %r not sent to the app: %r", key, value)
    return extensions


def _text(cloud_event: Mapping[str, Any], key: str) -> str:
    value = cloud_event.get(key)
    return value if isinstance(value, str) else ""


def _topic_event(event: TopicEvent) -> pb.TopicEventRequest:
    ce = event.cloud_event
    return pb.TopicEventRequest(
        id=_text(ce, "id"),
        source=_text(ce, "source"),
        type=_text(ce, "type"),
        spec_version=_text(ce, "specversion"),
        data_content_type=_text(ce, "datacontenttype"),
        data=_event_data(ce),
        topic=event.topic,
        pubsub_name=event.pubsub_name,
        path=event.path,
        extensions=_extensions(ce),
    )


def topic_event_request(event: TopicEvent) -> pb.TopicEventRequest:
    """The gRPC message of an event, as sent to a gRPC app (and to streaming subscribers)."""
    return _topic_event(event)


def _bulk_entry(entry: BulkEntry) -> pb.TopicEventBulkRequestEntry:
    message = pb.TopicEventBulkRequestEntry(
        entry_id=entry.entry_id, content_type=entry.content_type, metadata=dict(entry.metadata)
    )
    if isinstance(entry.event, bytes):
        message.bytes = entry.event
    else:
        ce = entry.event
        message.cloud_event.CopyFrom(
            pb.TopicEventCERequest(
                id=_text(ce, "id"),
                source=_text(ce, "source"),
                type=_text(ce, "type"),
                spec_version=_text(ce, "specversion"),
                data_content_type=_text(ce, "datacontenttype"),
                data=_event_data(ce),
                extensions=_extensions(ce),
            )
        )
    return message
