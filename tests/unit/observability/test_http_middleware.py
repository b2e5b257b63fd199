from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from aiohttp.typedefs import Handler
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from runtime.observability.http_telemetry import http_middleware
from runtime.observability.metrics import Metrics
from runtime.observability.propagation import inject_http

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"
STATE_ROUTE = "/v1.0/state/{storeName}/{key}"

Client = TestClient[web.Request, web.Application]


async def get_state(request: web.Request) -> web.Response:
    outgoing: dict[str, str] = {}
    inject_http(outgoing)  # what a downstream call from the handler would carry
    return web.json_response({"key": request.match_info["key"], "outgoing": outgoing})


async def boom(request: web.Request) -> web.Response:
    raise RuntimeError("handler failed")


async def gone(request: web.Request) -> web.Response:
    raise web.HTTPNotFound(text="no such thing")


async def healthz(request: web.Request) -> web.Response:
    return web.Response(status=204)


async def publish(request: web.Request) -> web.Response:
    return web.Response(status=204)


@web.middleware
async def error_mapper(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Stands in for the lead's error-mapping middleware."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        return web.json_response({"errorCode": "ERR_X"}, status=exc.status)
    except Exception:
        return web.json_response({"errorCode": "ERR_INTERNAL"}, status=500)


def make_app(
    metrics: Metrics, *, inner: bool = False, api_logging: bool = False
) -> web.Application:
    telemetry = http_middleware(
        metrics, app_id="orders", api_logging=api_logging, logger=logging.getLogger("test.api")
    )
    app = web.Application(
        middlewares=[error_mapper, telemetry] if inner else [telemetry, error_mapper]
    )
    app.router.add_get(STATE_ROUTE, get_state)
    app.router.add_get("/boom", boom)
    app.router.add_get("/gone", gone)
    app.router.add_get("/v1.0/healthz", healthz)
    app.router.add_post("/v1.0/publish/{pubsubname}/{topic:.+}", publish)
    return app


def count(metrics: Metrics, method: str, path: str, status: int) -> float:
    value = metrics.registry.get_sample_value(
        "tandem_http_server_requests_total",
        {"app_id": "orders", "method": method, "path": path, "status": str(status)},
    )
    return value or 0.0


@pytest_asyncio.fixture
async def metrics() -> Metrics:
    return Metrics("orders")


@pytest_asyncio.fixture(params=[False, True], ids=["outermost", "inside-error-mapper"])
async def client(request: pytest.FixtureRequest, metrics: Metrics) -> AsyncIterator[Client]:
    async with TestClient(TestServer(make_app(metrics, inner=request.param))) as test_client:
        yield test_client


async def test_route_template_label(client: Client, metrics: Metrics) -> None:
    response = await client.get("/v1.0/state/mystore/secret-key-1?metadata.partition=p9")
    assert response.status == 200
    assert count(metrics, "GET", STATE_ROUTE, 200) == 1
    response = await client.post("/v1.0/publish/pubsub/a/b/c")
    assert response.status == 204
    assert count(metrics, "POST", "/v1.0/publish/{pubsubname}/{topic}", 204) == 1
    body, _ = metrics.render()
    assert b"secret-key-1" not in body
    assert b"p9" not in body


async def test_status_labels(client: Client, metrics: Metrics) -> None:
    assert (await client.get("/nowhere/at/all")).status == 404
    assert (await client.get("/gone")).status == 404
    assert (await client.get("/boom")).status == 500
    assert (await client.put("/gone")).status == 405
    assert count(metrics, "GET", "unmatched", 404) == 1
    assert count(metrics, "GET", "/gone", 404) == 1
    assert count(metrics, "GET", "/boom", 500) == 1
    assert count(metrics, "PUT", "unmatched", 405) == 1
    latency = metrics.registry.get_sample_value(
        "tandem_http_server_latency_seconds_count",
        {"app_id": "orders", "method": "GET", "path": "/boom"},
    )
    assert latency == 1


async def test_pass_through_traceparent_when_tracing_off(client: Client) -> None:
    response = await client.get(
        "/v1.0/state/s/k", headers={"traceparent": TRACEPARENT, "tracestate": "a=1"}
    )
    body = await response.json()
    assert body["outgoing"] == {"traceparent": TRACEPARENT, "tracestate": "a=1"}
    assert "traceparent" not in response.headers  # no span of our own


async def test_server_span(client: Client, spans: InMemorySpanExporter) -> None:
    response = await client.get("/v1.0/state/s/k", headers={"traceparent": TRACEPARENT})
    assert response.status == 200
    (span,) = spans.get_finished_spans()
    assert span.name == f"GET {STATE_ROUTE}"
    assert span.kind == trace.SpanKind.SERVER
    assert format(span.context.trace_id, "032x") == TRACE_ID
    assert span.parent is not None
    assert format(span.parent.span_id, "016x") == PARENT_ID
    assert span.attributes is not None
    assert span.attributes["http.route"] == STATE_ROUTE
    assert span.attributes["http.response.status_code"] == 200
    assert span.status.status_code == trace.StatusCode.UNSET

    # the handler ran inside the span: downstream calls carry our span id
    span_id = format(span.context.span_id, "016x")
    body = await response.json()
    assert body["outgoing"]["traceparent"] == f"00-{TRACE_ID}-{span_id}-01"
    # and the caller learns the trace id, as daprd does
    assert response.headers["traceparent"] == f"00-{TRACE_ID}-{span_id}-01"


async def test_server_span_errors(client: Client, spans: InMemorySpanExporter) -> None:
    await client.get("/boom")
    await client.get("/gone")
    await client.get("/missing")
    by_name = {s.name: s for s in spans.get_finished_spans()}
    assert by_name["GET /boom"].status.status_code == trace.StatusCode.ERROR
    if client.app.middlewares[0] is error_mapper:
        # telemetry saw the exception itself (it sits inside the error mapper)
        assert [e.name for e in by_name["GET /boom"].events] == ["exception"]
    assert by_name["GET /gone"].status.status_code == trace.StatusCode.UNSET  # 4xx: caller's
    assert by_name["GET"].attributes is not None
    assert by_name["GET"].attributes["http.response.status_code"] == 404
    root = by_name["GET /boom"]
    assert root.parent is None  # no traceparent: a new trace


async def test_health_checks_not_traced_or_logged(
    metrics: Metrics, spans: InMemorySpanExporter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="test.api")
    async with TestClient(TestServer(make_app(metrics, api_logging=True))) as client:
        assert (await client.get("/v1.0/healthz")).status == 204
    assert spans.get_finished_spans() == ()
    assert not [r for r in caplog.records if r.name == "test.api"]
    assert count(metrics, "GET", "/v1.0/healthz", 204) == 1


async def test_api_logging_line(metrics: Metrics, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="test.api")
    async with TestClient(TestServer(make_app(metrics, api_logging=True))) as client:
        await client.get(
            "/v1.0/state/mystore/secret-key-1?metadata.token=hunter2",
            headers={"Authorization": "Bearer s3cr3t", "traceparent": TRACEPARENT},
        )
        await client.get("/boom")
    records = [r for r in caplog.records if r.name == "test.api"]
    assert len(records) == 2
    line = records[0].getMessage()
    assert line.startswith(f"HTTP API called: GET {STATE_ROUTE} status=200 duration_ms=")
    assert line.endswith("app_id=orders")
    for secret in ("secret-key-1", "mystore", "hunter2", "s3cr3t", "metadata.token", TRACE_ID):
        assert secret not in line
    assert records[0].__dict__["path"] == STATE_ROUTE
    assert records[0].__dict__["status"] == 200
    assert "status=500" in records[1].getMessage()


async def test_no_logging_by_default(client: Client, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    await client.get("/v1.0/state/s/k")
    assert not [r for r in caplog.records if r.name == "test.api"]


async def test_works_without_metrics(spans: InMemorySpanExporter) -> None:
    app = web.Application(middlewares=[http_middleware(None, app_id="a")])
    app.router.add_get("/x", healthz)
    async with TestClient(TestServer(app)) as client:
        assert (await client.get("/x")).status == 204
    assert [s.name for s in spans.get_finished_spans()] == ["GET /x"]
