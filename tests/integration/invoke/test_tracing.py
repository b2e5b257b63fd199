"""W3C trace context through service invocation, HTTP and gRPC ``InvokeService``, between two
real sidecars exporting to a test OTLP receiver: the caller's sidecar records a CLIENT span,
the callee's a SERVER span (its child), and the app gets a ``traceparent`` of the same trace
whose parent is the callee's span, with the ``tracestate`` unchanged.

The callee's app is an HTTP server in this process that records the headers of every request.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import grpc
import pytest
from google.protobuf import any_pb2

from protos.dapr.common.v1 import common_pb2
from protos.dapr.runtime.v1 import dapr_pb2_grpc, invoke_pb2
from tests.integration.harness import Sidecar, run_sdk, sdk_facts, wait_until
from tests.otlp_receiver import ReceivedSpan, ThreadedOtlpReceiver, tracing_config

pytestmark = pytest.mark.integration

SDK_INVOKE = Path(__file__).resolve().parent / "sdk_traced_invoke.py"

SERVER, CLIENT = 2, 3  # OTLP SpanKind values
TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
TRACESTATE = "vendor1=opaque-1,vendor2=x:y"


class Recorder(BaseHTTPRequestHandler):
    """Answers 200 with a small JSON body; keeps each request's headers (as sent) by path."""

    seen: ClassVar[dict[str, list[tuple[str, str]]]] = {}
    lock: ClassVar[threading.Lock] = threading.Lock()

    def _record(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        with self.lock:
            self.seen[self.path] = [(k.lower(), v) for k, v in self.headers.items()]
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._record()

    def do_POST(self) -> None:
        self._record()

    def log_message(self, format: str, *args: object) -> None:
        pass


@dataclass
class Traced:
    caller: Sidecar  # no app
    callee: Sidecar  # the Recorder app
    receiver: ThreadedOtlpReceiver

    def app_headers(self, path: str) -> dict[str, str]:
        assert wait_until(lambda: path in Recorder.seen, 10), f"the app never got {path}"
        with Recorder.lock:
            headers = Recorder.seen[path]
        names = [name for name, _ in headers]
        for name in ("traceparent", "tracestate"):
            assert names.count(name) <= 1, f"{name} sent more than once: {headers}"
        return dict(headers)


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Traced]:
    tmp = tmp_path_factory.mktemp("invoke-tracing")
    app = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    app.daemon_threads = True
    threading.Thread(target=app.serve_forever, name="recorder-app", daemon=True).start()
    with contextlib.ExitStack() as stack:
        stack.callback(app.server_close)
        stack.callback(app.shutdown)
        receiver = stack.enter_context(ThreadedOtlpReceiver(http=False))
        config = ["--config", str(tracing_config(tmp, receiver.grpc_endpoint))]
        # one TANDEM_HOME (tmp / "home"): one local CA and one name-resolution file
        callee = stack.enter_context(
            Sidecar.start(
                tmp,
                app_id="callee",
                empty_resources=True,
                args=["--app-port", str(app.server_address[1]), *config],
            )
        )
        caller = stack.enter_context(
            Sidecar.start(tmp, app_id="caller", empty_resources=True, args=config)
        )
        callee.wait_ready()
        yield Traced(caller, callee, receiver)


def _invoke(traced: Traced, protocol: str, method: str, headers: dict[str, str]) -> None:
    """Call ``callee``'s ``method`` through the caller's sidecar, over HTTP or gRPC."""
    if protocol == "http":
        r = traced.caller.request("GET", f"/v1.0/invoke/callee/method/{method}", headers=headers)
        assert r.status == 200, r.text
        assert r.json() == {"ok": True}
        return
    message = common_pb2.InvokeRequest(method=method, data=any_pb2.Any(), content_type="")
    message.http_extension.verb = common_pb2.HTTPExtension.Verb.GET
    with grpc.insecure_channel(traced.caller.grpc_target) as channel:
        reply = dapr_pb2_grpc.DaprStub(channel).InvokeService(
            invoke_pb2.InvokeServiceRequest(id="callee", message=message),
            metadata=tuple(headers.items()),
            timeout=10,
        )
    assert json.loads(reply.data.value) == {"ok": True}


def _one(spans: list[ReceivedSpan], service: str, kind: int, name: str) -> ReceivedSpan:
    found = [
        s
        for s in spans
        if s.resource.get("service.name") == service and s.kind == kind and s.name == name
    ]
    assert len(found) == 1, f"expected one {service} {name!r} span of kind {kind}: {spans}"
    return found[0]


def _invocation_spans(traced: Traced, trace_id: str, method: str) -> tuple[ReceivedSpan, ...]:
    """The caller's CLIENT span and the callee's SERVER span of one invocation (waiting for
    both to be exported), after checking they are linked."""

    def ours(s: ReceivedSpan) -> bool:
        return s.trace_id == trace_id and s.name.endswith(f"callee/{method}")

    spans = traced.receiver.wait_for_spans(ours, count=2)
    client = _one(spans, "caller", CLIENT, f"invoke callee/{method}")
    server = _one(spans, "callee", SERVER, f"CallLocal/callee/{method}")
    assert server.parent_span_id == client.span_id
    assert client.span_id != server.span_id
    return client, server


def _traceparent(headers: dict[str, str]) -> tuple[str, str, str]:
    match = TRACEPARENT.fullmatch(headers.get("traceparent", ""))
    assert match, f"no valid traceparent reached the app: {headers}"
    trace_id, parent, flags = match.groups()
    return trace_id, parent, flags


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_the_callers_trace_reaches_the_app_through_a_client_and_a_server_span(
    traced: Traced, protocol: str
) -> None:
    trace_id, parent = secrets.token_hex(16), secrets.token_hex(8)
    method = f"traced/{protocol}/{secrets.token_hex(4)}"
    sent = {"traceparent": f"00-{trace_id}-{parent}-01", "tracestate": TRACESTATE}
    _invoke(traced, protocol, method, sent)
    got = traced.app_headers(f"/{method}")
    app_trace, app_parent, flags = _traceparent(got)
    assert (app_trace, flags) == (trace_id, "01")
    assert app_parent != parent  # a span of the sidecars' in between
    assert got.get("tracestate") == TRACESTATE
    client, server = _invocation_spans(traced, trace_id, method)
    assert app_parent == server.span_id  # the app's parent is the callee's SERVER span
    # the CLIENT span descends from the caller's API span, itself the child of the caller's
    api = traced.receiver.wait_for_spans(
        lambda s: s.trace_id == trace_id and s.span_id == client.parent_span_id
    )[0]
    assert (api.kind, api.parent_span_id) == (SERVER, parent)
    assert api.resource.get("service.name") == "caller"


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_the_dapr_sdks_invoke_method_carries_the_trace(traced: Traced, protocol: str) -> None:
    """The official SDK's ``invoke_method(..., metadata=...)``: gRPC ``InvokeService`` metadata
    or HTTP headers, as DAPR_API_METHOD_INVOCATION_PROTOCOL says."""
    trace_id, parent = secrets.token_hex(16), secrets.token_hex(8)
    method = f"sdk/{protocol}/{secrets.token_hex(4)}"
    traceparent = f"00-{trace_id}-{parent}-01"
    command = [sys.executable, str(SDK_INVOKE), "callee", method, traceparent, TRACESTATE]
    env = {"DAPR_API_METHOD_INVOCATION_PROTOCOL": protocol}
    assert sdk_facts(run_sdk(traced.caller, command, env=env)) == {"ok": True}
    got = traced.app_headers(f"/{method}")
    app_trace, app_parent, _ = _traceparent(got)
    assert app_trace == trace_id
    assert got.get("tracestate") == TRACESTATE
    _, server = _invocation_spans(traced, trace_id, method)
    assert app_parent == server.span_id


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_with_no_incoming_trace_the_app_still_gets_one(traced: Traced, protocol: str) -> None:
    method = f"untraced/{protocol}/{secrets.token_hex(4)}"
    _invoke(traced, protocol, method, {})
    trace_id, app_parent, flags = _traceparent(traced.app_headers(f"/{method}"))
    # sampled (rate 1); the SDK may also set W3C level 2's "random trace id" bit (0x02)
    assert int(flags, 16) & 0x01, flags
    assert trace_id != "0" * 32
    _, server = _invocation_spans(traced, trace_id, method)
    assert app_parent == server.span_id


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_an_unsampled_trace_passes_through_unchanged(traced: Traced, protocol: str) -> None:
    trace_id, parent = secrets.token_hex(16), secrets.token_hex(8)
    method = f"unsampled/{protocol}/{secrets.token_hex(4)}"
    sent = {"traceparent": f"00-{trace_id}-{parent}-00", "tracestate": TRACESTATE}
    _invoke(traced, protocol, method, sent)
    got = traced.app_headers(f"/{method}")
    assert got.get("traceparent") == sent["traceparent"]
    assert got.get("tracestate") == TRACESTATE
