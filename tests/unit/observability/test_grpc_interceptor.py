from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import grpc.aio
import pytest
import pytest_asyncio
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from runtime.api.grpc.interceptor import ApiInterceptor, Proxied
from runtime.observability.grpc_telemetry import GrpcTelemetry
from runtime.observability.metrics import Metrics
from runtime.observability.propagation import inject_grpc
from tests.conformance._harness.waiting import eventually

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"
SERVICE = "test.v1.Echo"

Context = grpc.aio.ServicerContext[Any, Any]


async def ok(request: bytes, context: Context) -> bytes:
    metadata: list[tuple[str, str]] = []
    inject_grpc(metadata)  # what a downstream call would carry
    return dict(metadata).get("traceparent", "").encode()


async def not_found(request: bytes, context: Context) -> bytes:
    await context.abort(grpc.StatusCode.NOT_FOUND, "no such key")
    raise AssertionError("abort returned")


async def set_code(request: bytes, context: Context) -> bytes:
    context.set_code(grpc.StatusCode.ALREADY_EXISTS)
    context.set_details("exists")
    return b""


async def boom(request: bytes, context: Context) -> bytes:
    raise RuntimeError("handler failed")


async def numbers(request: bytes, context: Context) -> AsyncIterator[bytes]:
    for i in range(3):
        yield str(i).encode()


async def collect(requests: AsyncIterator[bytes], context: Context) -> bytes:
    return b",".join([r async for r in requests])


async def settled(check: Callable[[], bool]) -> None:
    """The server finishes its span, metrics and log line after the client has its answer:
    poll until ``check`` holds (the shared helper fails the test after 5 s)."""
    await eventually(check, within=5.0, interval=0.005)


async def relay(path: str, requests: AsyncIterator[bytes], context: Context) -> None:
    """Stands in for the proxy: echoes the path it was given and the traceparent it sees
    (a path ending in ``/Crash`` fails unexpectedly)."""
    async for _ in requests:
        pass
    if path.endswith("/Crash"):
        raise RuntimeError("relay bug")
    metadata: list[tuple[str, str]] = []
    inject_grpc(metadata)
    await context.write(f"{path} {dict(metadata).get('traceparent', '')}".encode())


class Proxy(grpc.GenericRpcHandler):  # type: ignore[type-arg]
    """Takes any other method carrying ``dapr-app-id``, as ``runtime.api.grpc.proxy`` does."""

    def service(self, details: grpc.HandlerCallDetails) -> Any:
        metadata = dict(getattr(details, "invocation_metadata", None) or ())
        if "dapr-app-id" not in metadata:
            return None
        return Proxied(functools.partial(relay, details.method), details.method)


def handlers() -> grpc.GenericRpcHandler[Any, Any]:
    return grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Ok": grpc.unary_unary_rpc_method_handler(ok),
            "NotFound": grpc.unary_unary_rpc_method_handler(not_found),
            "SetCode": grpc.unary_unary_rpc_method_handler(set_code),
            "Boom": grpc.unary_unary_rpc_method_handler(boom),
            "Numbers": grpc.unary_stream_rpc_method_handler(numbers),
            "Collect": grpc.stream_unary_rpc_method_handler(collect),
        },
    )


class Harness:
    def __init__(self, metrics: Metrics, interceptor: ApiInterceptor) -> None:
        self.metrics = metrics
        self.interceptor = interceptor
        self.server = grpc.aio.server(interceptors=[interceptor])
        self.server.add_generic_rpc_handlers([handlers(), Proxy()])
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.channel: grpc.aio.Channel | None = None

    async def __aenter__(self) -> Harness:
        await self.server.start()
        self.channel = grpc.aio.insecure_channel(f"127.0.0.1:{self.port}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.channel is not None
        await self.channel.close(None)
        await self.server.stop(None)

    async def call(
        self, method: str, request: bytes = b"", metadata: tuple[tuple[str, str], ...] = ()
    ) -> tuple[grpc.StatusCode, bytes]:
        assert self.channel is not None
        try:
            response = await self.channel.unary_unary(f"/{SERVICE}/{method}", None, None)(
                request, metadata=metadata
            )
        except grpc.aio.AioRpcError as exc:
            return exc.code(), b""
        return grpc.StatusCode.OK, response

    def count(self, method: str, status: str) -> float:
        value = self.metrics.registry.get_sample_value(
            "tandem_grpc_server_requests_total",
            {"app_id": "orders", "method": method, "status": status},
        )
        return value or 0.0


@pytest_asyncio.fixture
async def harness() -> AsyncIterator[Harness]:
    metrics = Metrics("orders")
    interceptor = ApiInterceptor(api_token=None, telemetry=GrpcTelemetry(metrics, app_id="orders"))
    async with Harness(metrics, interceptor) as h:
        yield h


async def test_status_labels(harness: Harness) -> None:
    assert (await harness.call("Ok"))[0] == grpc.StatusCode.OK
    assert (await harness.call("Ok"))[0] == grpc.StatusCode.OK
    assert (await harness.call("NotFound"))[0] == grpc.StatusCode.NOT_FOUND
    assert (await harness.call("SetCode"))[0] == grpc.StatusCode.ALREADY_EXISTS
    assert (await harness.call("Boom"))[0] == grpc.StatusCode.INTERNAL  # the error mapping
    assert (await harness.call("NoSuchMethod"))[0] == grpc.StatusCode.UNIMPLEMENTED

    await settled(
        lambda: (
            harness.count(f"/{SERVICE}/Boom", "INTERNAL") == 1
            and harness.count("unknown", "UNIMPLEMENTED") == 1
            and harness.count(f"/{SERVICE}/Ok", "OK") == 2
        )
    )
    assert harness.count(f"/{SERVICE}/Ok", "OK") == 2
    assert harness.count(f"/{SERVICE}/NotFound", "NOT_FOUND") == 1
    assert harness.count(f"/{SERVICE}/SetCode", "ALREADY_EXISTS") == 1
    assert harness.count(f"/{SERVICE}/Boom", "INTERNAL") == 1
    assert harness.count("unknown", "UNIMPLEMENTED") == 1
    body, _ = harness.metrics.render()
    assert b"NoSuchMethod" not in body
    latency = harness.metrics.registry.get_sample_value(
        "tandem_grpc_server_latency_seconds_count",
        {"app_id": "orders", "method": f"/{SERVICE}/Ok"},
    )
    assert latency == 2


async def test_wrapped_handler_is_built_once_per_method(harness: Harness) -> None:
    for _ in range(3):
        await harness.call("Ok")
    assert list(harness.interceptor._wrapped) == [f"/{SERVICE}/Ok"]


async def test_streaming_calls_are_counted(harness: Harness) -> None:
    assert harness.channel is not None
    stream = harness.channel.unary_stream(f"/{SERVICE}/Numbers", None, None)(b"")
    assert [item async for item in stream] == [b"0", b"1", b"2"]

    async def requests() -> AsyncIterator[bytes]:
        for item in (b"a", b"b"):
            yield item

    response = await harness.channel.stream_unary(f"/{SERVICE}/Collect", None, None)(requests())
    assert response == b"a,b"
    await settled(
        lambda: (
            harness.count(f"/{SERVICE}/Numbers", "OK") == 1
            and harness.count(f"/{SERVICE}/Collect", "OK") == 1
        )
    )
    assert harness.count(f"/{SERVICE}/Numbers", "OK") == 1
    assert harness.count(f"/{SERVICE}/Collect", "OK") == 1


async def test_pass_through_when_tracing_off(harness: Harness) -> None:
    code, body = await harness.call("Ok", metadata=(("traceparent", TRACEPARENT),))
    assert code == grpc.StatusCode.OK
    assert body.decode() == TRACEPARENT
    code, body = await harness.call("Ok")
    assert body == b""


async def test_server_span(harness: Harness, spans: InMemorySpanExporter) -> None:
    code, body = await harness.call("Ok", metadata=(("traceparent", TRACEPARENT),))
    assert code == grpc.StatusCode.OK
    await settled(lambda: len(spans.get_finished_spans()) >= 1)
    (span,) = spans.get_finished_spans()
    assert span.name == f"/{SERVICE}/Ok"
    assert span.kind == trace.SpanKind.SERVER
    assert format(span.context.trace_id, "032x") == TRACE_ID
    assert span.parent is not None
    assert format(span.parent.span_id, "016x") == PARENT_ID
    assert span.attributes is not None
    assert span.attributes["rpc.service"] == SERVICE
    assert span.attributes["rpc.method"] == "Ok"
    assert span.attributes["rpc.grpc.status_code"] == 0
    # the handler ran under the span
    assert body.decode() == f"00-{TRACE_ID}-{format(span.context.span_id, '016x')}-01"


async def test_span_status(harness: Harness, spans: InMemorySpanExporter) -> None:
    await harness.call("Boom")
    await harness.call("NotFound")
    await settled(lambda: len(spans.get_finished_spans()) >= 2)
    by_name = {s.name.rsplit("/", 1)[1]: s for s in spans.get_finished_spans()}
    assert by_name["Boom"].status.status_code == trace.StatusCode.ERROR
    assert [e.name for e in by_name["Boom"].events] == ["exception"]
    assert by_name["NotFound"].status.status_code == trace.StatusCode.UNSET
    assert by_name["NotFound"].attributes is not None
    assert by_name["NotFound"].attributes["rpc.grpc.status_code"] == 5


async def test_api_logging(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="test.grpc")
    telemetry = GrpcTelemetry(
        None, app_id="orders", api_logging=True, logger=logging.getLogger("test.grpc")
    )
    interceptor = ApiInterceptor(api_token=None, telemetry=telemetry)
    async with Harness(Metrics("orders"), interceptor) as h:
        await h.call("NotFound", b"secret-payload", metadata=(("authorization", "s3cr3t"),))
        await settled(lambda: any(r.name == "test.grpc" for r in caplog.records))
    (record,) = [r for r in caplog.records if r.name == "test.grpc"]
    line = record.getMessage()
    assert line.startswith(f"gRPC API called: /{SERVICE}/NotFound status=NOT_FOUND duration_ms=")
    assert line.endswith("app_id=orders")
    assert "secret" not in line
    assert "s3cr3t" not in line


async def test_refused_token_is_recorded() -> None:
    metrics = Metrics("orders")
    telemetry = GrpcTelemetry(metrics, app_id="orders")
    async with Harness(metrics, ApiInterceptor(api_token="t", telemetry=telemetry)) as h:
        assert (await h.call("Ok"))[0] == grpc.StatusCode.UNAUTHENTICATED
        assert (await h.call("Ok", metadata=(("dapr-api-token", "t"),)))[0] == grpc.StatusCode.OK
        await settled(lambda: h.count(f"/{SERVICE}/Ok", "OK") == 1)
        assert h.count(f"/{SERVICE}/Ok", "UNAUTHENTICATED") == 1


async def test_proxied_calls_are_labelled_and_never_cached(
    harness: Harness, spans: InMemorySpanExporter
) -> None:
    assert harness.channel is not None
    for i in range(3):
        path = f"/made.Up{i}/Method{i}"
        call = harness.channel.stream_stream(path, None, None)(
            iter([b"x"]), metadata=(("dapr-app-id", "b"), ("traceparent", TRACEPARENT))
        )
        (reply,) = [r async for r in call]
        seen_path, seen_parent = reply.decode().split(" ")
        assert seen_path == path  # the relay still gets the real path
        assert seen_parent.split("-")[1] == TRACE_ID  # it runs under the edge span
    await settled(lambda: harness.count("/*", "OK") == 3)
    assert harness.interceptor._wrapped == {}
    body, _ = harness.metrics.render()
    assert b"made.Up" not in body
    await settled(lambda: len(spans.get_finished_spans()) >= 3)
    names = {s.name for s in spans.get_finished_spans()}
    assert names == {"/*"}


async def test_proxied_unexpected_error_logs_the_real_path(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    assert harness.channel is not None
    call = harness.channel.stream_stream("/made.Up/Crash", None, None)(
        iter([b"x"]), metadata=(("dapr-app-id", "b"),)
    )
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        [r async for r in call]
    assert raised.value.code() == grpc.StatusCode.INTERNAL
    (record,) = [r for r in caplog.records if r.name == "tandem.api.grpc"]
    assert record.getMessage() == "unexpected error serving /made.Up/Crash"  # the log: real path
    await settled(lambda: harness.count("/*", "INTERNAL") == 1)  # the metric: bounded label
    body, _ = harness.metrics.render()
    assert b"made.Up" not in body
