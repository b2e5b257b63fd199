"""An in-process OTLP trace receiver for tests: what a collector would see.

It serves ``opentelemetry.proto.collector.trace.v1.TraceService/Export`` over gRPC and, with
``http=True``, ``POST /v1/traces`` (protobuf) over HTTP. Use it as the ``otlp_receiver`` fixture
or directly::

    async with OtlpReceiver() as receiver:
        # point the sidecar at receiver.grpc_endpoint ("127.0.0.1:PORT"), protocol grpc, or at
        # receiver.http_endpoint ("http://127.0.0.1:PORT/v1/traces") with http=True
        spans = await receiver.wait_for_spans(lambda s: s.name.startswith("GET /v1.0/state/"))

Waiting polls with a deadline: no fixed sleeps. Synchronous tests use ``ThreadedOtlpReceiver``
(the same receiver on its own event loop thread)::

    with ThreadedOtlpReceiver() as receiver:
        ...
        spans = receiver.wait_for_spans(lambda s: s.kind == 2)
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest_asyncio
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

__all__ = ["OtlpReceiver", "ReceivedSpan", "ThreadedOtlpReceiver", "otlp_receiver"]

TRACE_SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"


@dataclass(frozen=True)
class ReceivedSpan:
    """One exported span, ids as lowercase hex (``parent_span_id`` is "" for a root span)."""

    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    kind: int  # opentelemetry.proto.trace.v1.Span.SpanKind: 2 SERVER, 3 CLIENT
    status_code: int  # 0 unset, 1 ok, 2 error
    attributes: dict[str, Any] = field(default_factory=dict)
    resource: dict[str, Any] = field(default_factory=dict)
    scope: str = ""
    transport: str = "grpc"
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (name, attributes)


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    return getattr(value, kind)


def _attributes(items: Any) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for item in items:
        assert isinstance(item, KeyValue)
        result[item.key] = _value(item.value)
    return result


def _spans(request: ExportTraceServiceRequest, transport: str) -> list[ReceivedSpan]:
    spans = []
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(
                    ReceivedSpan(
                        name=span.name,
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex(),
                        kind=int(span.kind),
                        status_code=int(span.status.code),
                        attributes=_attributes(span.attributes),
                        resource=resource,
                        scope=scope_spans.scope.name,
                        transport=transport,
                        events=[(e.name, _attributes(e.attributes)) for e in span.events],
                    )
                )
    return spans


class OtlpReceiver:
    """Collects every span exported to it, in arrival order."""

    def __init__(self, *, host: str = "127.0.0.1", http: bool = False) -> None:
        self.host = host
        self._want_http = http
        self.spans: list[ReceivedSpan] = []
        self.export_calls = 0
        self._changed = asyncio.Condition()
        self._server: grpc.aio.Server | None = None
        self._http: web.AppRunner | None = None
        self.grpc_port = 0
        self.http_port = 0

    @property
    def grpc_endpoint(self) -> str:
        """``host:port`` for an OTLP/gRPC exporter (insecure)."""
        return f"{self.host}:{self.grpc_port}"

    @property
    def http_endpoint(self) -> str:
        """The full OTLP/HTTP traces URL (needs ``http=True``)."""
        if not self._http:
            raise RuntimeError("OtlpReceiver was created without http=True")
        return f"http://{self.host}:{self.http_port}/v1/traces"

    async def _store(self, request: ExportTraceServiceRequest, transport: str) -> None:
        async with self._changed:
            self.export_calls += 1
            self.spans.extend(_spans(request, transport))
            self._changed.notify_all()

    async def _export(
        self, request: ExportTraceServiceRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> ExportTraceServiceResponse:
        await self._store(request, "grpc")
        return ExportTraceServiceResponse()

    async def _http_export(self, request: web.Request) -> web.Response:
        message = ExportTraceServiceRequest()
        message.ParseFromString(await request.read())
        await self._store(message, "http")
        return web.Response(
            body=ExportTraceServiceResponse().SerializeToString(),
            content_type="application/x-protobuf",
        )

    async def start(self) -> OtlpReceiver:
        server = grpc.aio.server()
        handler = grpc.unary_unary_rpc_method_handler(
            self._export,
            request_deserializer=ExportTraceServiceRequest.FromString,
            response_serializer=ExportTraceServiceResponse.SerializeToString,
        )
        server.add_generic_rpc_handlers(
            [grpc.method_handlers_generic_handler(TRACE_SERVICE, {"Export": handler})]
        )
        self.grpc_port = server.add_insecure_port(f"{self.host}:0")
        await server.start()
        self._server = server
        if self._want_http:
            app = web.Application()
            app.router.add_post("/v1/traces", self._http_export)
            runner = web.AppRunner(app, access_log=None, handle_signals=False)
            await runner.setup()
            site = web.TCPSite(runner, self.host, 0)
            await site.start()
            self._http = runner
            self.http_port = _port(runner)
        return self

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop(None)
            self._server = None
        if self._http is not None:
            await self._http.cleanup()
            self._http = None

    async def __aenter__(self) -> OtlpReceiver:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def wait_for_spans(
        self,
        predicate: Callable[[ReceivedSpan], bool] | None = None,
        *,
        count: int = 1,
        within: float = 10.0,
    ) -> list[ReceivedSpan]:
        """Wait up to ``within`` seconds until ``count`` received spans match ``predicate``;
        return the matches.

        Raises ``TimeoutError`` listing the span names seen so far.
        """
        deadline = time.monotonic() + within
        async with self._changed:
            while True:
                matches = [s for s in self.spans if predicate is None or predicate(s)]
                if len(matches) >= count:
                    return matches
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    names = sorted({s.name for s in self.spans})
                    raise TimeoutError(
                        f"wanted {count} matching span(s), got {len(matches)};"
                        f" received {len(self.spans)} span(s) named {names}"
                    )
                try:
                    await asyncio.wait_for(self._changed.wait(), remaining)
                except TimeoutError:
                    continue

    def clear(self) -> None:
        self.spans.clear()


class ThreadedOtlpReceiver:
    """``OtlpReceiver`` running on a private event loop thread, for synchronous tests."""

    def __init__(self, *, host: str = "127.0.0.1", http: bool = True) -> None:
        self.receiver = OtlpReceiver(host=host, http=http)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="otlp-receiver", daemon=True
        )

    def __enter__(self) -> ThreadedOtlpReceiver:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.receiver.start(), self._loop).result(30)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            asyncio.run_coroutine_threadsafe(self.receiver.stop(), self._loop).result(30)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(30)
            self._loop.close()

    @property
    def grpc_endpoint(self) -> str:
        return self.receiver.grpc_endpoint

    @property
    def http_endpoint(self) -> str:
        return self.receiver.http_endpoint

    @property
    def spans(self) -> list[ReceivedSpan]:
        return list(self.receiver.spans)

    def wait_for_spans(
        self,
        predicate: Callable[[ReceivedSpan], bool] | None = None,
        *,
        count: int = 1,
        within: float = 10.0,
    ) -> list[ReceivedSpan]:
        future = asyncio.run_coroutine_threadsafe(
            self.receiver.wait_for_spans(predicate, count=count, within=within), self._loop
        )
        return future.result(within + 5.0)


def _port(runner: web.AppRunner) -> int:
    address = runner.addresses[0]
    return int(address[1])


@pytest_asyncio.fixture
async def otlp_receiver() -> AsyncIterator[OtlpReceiver]:
    """A started receiver (gRPC and HTTP), stopped after the test."""
    async with OtlpReceiver(http=True) as receiver:
        yield receiver


def tracing_config(folder: Path, endpoint: str, protocol: str = "grpc", rate: str = "1") -> Path:
    """A Configuration file in ``folder`` exporting spans to ``endpoint`` over OTLP
    (``protocol`` grpc or http, plaintext) at sampling rate ``rate``."""
    path = folder / f"tracing-{protocol}-{rate}.yaml"
    path.write_text(f"""
apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata:
  name: tracing
spec:
  tracing:
    samplingRate: "{rate}"
    otel:
      endpointAddress: "{endpoint}"
      protocol: {protocol}
      isSecure: false
""")
    return path
