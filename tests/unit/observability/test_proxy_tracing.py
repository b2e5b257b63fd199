"""Traces of a proxied gRPC call across two sidecars (``GrpcProxyService`` on both sides, the
real tunnel on loopback): a CLIENT span on the caller's sidecar under the API edge's span, a
SERVER span on the callee's under it, and the app sees the SERVER span's ``traceparent``."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from aiohttp import web
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from components.base import ComponentContext
from components.nameresolution.static import StaticMetadata, StaticResolver
from runtime.appchannel.grpc import GrpcAppChannel
from runtime.appchannel.rawgrpc import Metadata, Status
from runtime.internal.grpcproxy import TunnelClient, TunnelServer
from runtime.observability.propagation import extract_grpc
from runtime.observability.tracing import get_tracer
from runtime.services.grpcproxy import GrpcProxyService

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
MAX_FRAME = 1 << 16


class _App:
    """The app's call: answers one empty message, status ``code``."""

    def __init__(self, metadata: Metadata, code: grpc.StatusCode) -> None:
        self.metadata = metadata
        self._code = code

    async def write(self, message: bytes) -> None:
        pass

    async def done_writing(self) -> None:
        pass

    async def initial_metadata(self) -> Metadata:
        return ()

    async def read(self) -> bytes | None:
        return None

    async def status(self) -> Status:
        return self._code, "", ()

    def cancel(self) -> None:
        pass


class _GrpcApp(GrpcAppChannel):
    """A gRPC app channel whose raw calls are ``_App``s (no connection)."""

    def __init__(self, code: grpc.StatusCode) -> None:
        self.calls: list[_App] = []
        self._code = code

    async def open_raw(
        self, method: str, metadata: Metadata, seconds_left: float | None
    ) -> Any:  # a RawCall
        self.calls.append(_App(metadata, self._code))
        return self.calls[-1]


def _context(app_id: str) -> ComponentContext:
    return ComponentContext(
        name="nr", app_id=app_id, namespace="", home=Path("."), logger=logging.getLogger("t")
    )


@pytest.fixture
async def callee() -> AsyncIterator[tuple[int, _GrpcApp]]:
    app = _GrpcApp(grpc.StatusCode.UNIMPLEMENTED)
    service = GrpcProxyService(
        app_id="callee",
        namespace="",
        resolver=None,
        client=TunnelClient(max_frame=MAX_FRAME),
        app_channel=lambda: app,
    )
    web_app = web.Application()
    web_app.router.add_routes(
        [TunnelServer(service.open_local, gate=None, max_frame=MAX_FRAME).route()]
    )
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield int(runner.addresses[0][1]), app
    await runner.cleanup()


async def test_client_and_server_spans_carry_the_trace(
    callee: tuple[int, _GrpcApp], spans: InMemorySpanExporter
) -> None:
    port, app = callee
    resolver = StaticResolver(
        StaticMetadata.model_validate({"apps": {"callee": [f"127.0.0.1:{port}"]}}),
        context=_context("caller"),
    )
    client = TunnelClient(max_frame=MAX_FRAME)
    caller = GrpcProxyService(
        app_id="caller", namespace="", resolver=resolver, client=client, app_channel=lambda: None
    )
    metadata = (("traceparent", TRACEPARENT), ("x-k", "v"))
    edge = get_tracer().start_span("/*", extract_grpc(metadata), kind=SpanKind.SERVER)
    token = otel_context.attach(trace.set_span_in_context(edge))
    try:
        call = await caller.open("callee", "/a.B/C", metadata, 5.0)
    finally:
        otel_context.detach(token)
    try:
        await call.write(b"x")
        await call.done_writing()
        assert await call.read() is None
        status = await call.status()
    finally:
        await client.aclose()
    edge.end()
    assert status[0] == grpc.StatusCode.UNIMPLEMENTED  # the app's own status, unchanged

    by_name = {s.name: s for s in spans.get_finished_spans()}
    client_span = by_name["invoke callee/a.B/C"]
    server_span = by_name["CallLocal/callee/a.B/C"]
    assert client_span.kind == SpanKind.CLIENT
    assert server_span.kind == SpanKind.SERVER
    assert {s.context.trace_id for s in by_name.values()} == {int(TRACE_ID, 16)}
    assert client_span.parent is not None
    assert client_span.parent.span_id == edge.get_span_context().span_id
    assert server_span.parent is not None
    assert server_span.parent.span_id == client_span.context.span_id
    assert server_span.attributes is not None
    assert server_span.attributes["rpc.grpc.status_code"] == 12
    (seen,) = app.calls
    sent = dict(seen.metadata)
    assert sent["traceparent"] == f"00-{TRACE_ID}-{server_span.context.span_id:016x}-01"
    assert sent["x-k"] == "v"
    assert [k for k, _ in seen.metadata].count("traceparent") == 1
