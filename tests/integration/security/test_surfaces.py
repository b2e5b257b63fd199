"""The app-facing surfaces: the API token guards every HTTP route and every RPC (streaming
included) but the health endpoints; the APIs, metrics and internal port stay on loopback
unless told otherwise; exposing the APIs with no token is warned about."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import grpc
import pytest

from tests.fuzz._http import routes
from tests.integration.harness import Sidecar, free_port, http_request
from tests.integration.test_security import LOOPBACK, listening_addresses

pytestmark = pytest.mark.integration

TOKEN = "s3cret-token-for-coverage"
EXEMPT = ("/v1.0/healthz", "/v1.0/healthz/outbound")


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sidecar]:
    tmp = tmp_path_factory.mktemp("coverage")
    with Sidecar.start(tmp, empty_resources=True, env={"DAPR_API_TOKEN": TOKEN}) as sc:
        sc.wait_ready()
        yield sc


def _concrete(template: str) -> str:
    out = []
    for part in template.split("/"):
        out.append("x" if part.startswith("{") else part)
    return "/".join(out)


def test_every_http_route_needs_the_token(secured: Sidecar) -> None:
    checked = 0
    for route in routes():
        if route.template in EXEMPT or route.method == "HEAD":
            continue
        r = http_request(secured.http_port, route.method, _concrete(route.template), b"{}")
        assert r.status == 401, f"{route.name}: {r.status}"
        checked += 1
    assert checked > 20


def _all_rpcs() -> list[tuple[str, bool, bool]]:
    """(path, client streaming, server streaming) of every method of every registered service."""
    from google.protobuf import descriptor_pool

    from runtime.api.grpc.servicer import GRPC_SERVICES
    from tests.fuzz._grpc import _Recorder

    recorder = _Recorder()
    for base, add in GRPC_SERVICES:
        add(base(), cast(Any, recorder))
    pool = descriptor_pool.Default()
    return [
        (f"/{s.full_name}/{m.name}", m.client_streaming, m.server_streaming)
        for s in map(pool.FindServiceByName, recorder.services)
        for m in s.methods
    ]


def _complete(call: Any, arg: Any, *, streamed: bool) -> None:
    result = call(arg, timeout=5)
    if streamed:
        list(result)


def test_every_rpc_unary_and_streaming_needs_the_token(secured: Sidecar) -> None:
    rpcs = _all_rpcs()
    assert any(cs or ss for _, cs, ss in rpcs), "no streaming RPC found"
    with grpc.insecure_channel(secured.grpc_target) as channel:
        for path, client_streaming, server_streaming in rpcs:
            kind: Any = {
                (False, False): channel.unary_unary,
                (False, True): channel.unary_stream,
                (True, False): channel.stream_unary,
                (True, True): channel.stream_stream,
            }[(client_streaming, server_streaming)]
            call = kind(path)
            arg: Any = iter([b""]) if client_streaming else b""
            with pytest.raises(grpc.RpcError) as info:
                _complete(call, arg, streamed=server_streaming)
            assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED, path
    assert secured.proc.poll() is None


def test_health_endpoints_need_no_token(secured: Sidecar) -> None:
    for path in EXEMPT:
        assert http_request(secured.http_port, "GET", path).status in (200, 204), path


def test_metrics_and_internal_port_listen_on_loopback_by_default(tmp_path: Path) -> None:
    if not Path("/proc/net/tcp").exists():
        pytest.skip("needs /proc/net/tcp")
    metrics, internal = free_port(), free_port()
    args = ["--metrics-port", str(metrics), "--dapr-internal-grpc-port", str(internal)]
    with Sidecar.start(tmp_path, empty_resources=True, args=args) as sc:
        sc.wait_ready()
        for port in (metrics, internal):
            found = listening_addresses(port)
            assert found, port
            assert found <= LOOPBACK, found
        assert "reachable from other hosts" not in sc.logs()


def test_non_loopback_listen_address_without_token_is_warned(tmp_path: Path) -> None:
    args = ["--dapr-listen-addresses", "0.0.0.0"]
    with Sidecar.start(tmp_path, empty_resources=True, args=args) as sc:
        sc.wait_ready()
        assert "reachable from other hosts, and no API token is set" in sc.logs()
