"""Access control in the callee's sidecar (beta's Configuration in conftest.py)."""

from __future__ import annotations

import grpc
import pytest

from protos.dapr.common.v1 import common_pb2
from protos.dapr.runtime.v1 import dapr_pb2_grpc, invoke_pb2
from tests.integration.harness import http_request
from tests.integration.security.conftest import Pair

pytestmark = pytest.mark.integration


def test_allowed_operation(pair: Pair) -> None:
    r = pair.alpha.request("GET", "/v1.0/invoke/beta/method/echo/orders/1")
    assert r.status == 200, r.text


@pytest.mark.parametrize(
    ("verb", "path"),
    [
        ("POST", "echo/orders/1"),  # verb not allowed
        ("GET", "other"),  # no rule: the policy's default
        ("GET", "echo/admin/x"),  # a more specific deny
        ("GET", "echo/%2e%2e/echo/admin/x"),
        ("GET", "echo/x/%2E%2E/admin/x"),
        ("GET", "echo//admin/x"),
        ("GET", "echo/./admin/x"),
    ],
)
def test_denied_operations_get_403(pair: Pair, verb: str, path: str) -> None:
    r = pair.alpha.request(verb, f"/v1.0/invoke/beta/method/{path}")
    assert r.status == 403, r.text
    assert r.json()["errorCode"] == "ERR_DIRECT_INVOKE"


def test_a_denied_call_never_reaches_the_app_and_is_counted_and_logged(pair: Pair) -> None:
    r = pair.alpha.request("POST", "/v1.0/invoke/beta/method/status/200?key=acl-probe")
    assert r.status == 403, r.text
    r = pair.alpha.request("GET", "/v1.0/invoke/beta/method/status/200?key=acl-probe")
    assert r.status == 200, r.text
    assert r.headers.get("x-attempt") == "1"  # the denied POST did not reach the app
    assert pair.beta.wait_for_log(
        "access denied by accessControl: caller spiffe://public/ns/default/alpha -> "
        "callee spiffe://public/ns/default/beta: POST status/200"
    )
    metrics = http_request(pair.beta_metrics, "GET", "/metrics").text
    line = next(
        (
            x
            for x in metrics.splitlines()
            if x.startswith("tandem_invocation_denied_total{")
            and 'caller_app="alpha"' in x
            and 'reason="acl"' in x
        ),
        None,
    )
    assert line is not None, metrics
    assert float(line.rsplit(" ", 1)[1]) >= 1


def test_invoke_service_denied_is_permission_denied(pair: Pair) -> None:
    with grpc.insecure_channel(pair.alpha.grpc_target) as channel:
        stub = dapr_pb2_grpc.DaprStub(channel)
        request = invoke_pb2.InvokeServiceRequest(id="beta")
        request.message.method = "echo/admin/x"
        request.message.http_extension.verb = common_pb2.HTTPExtension.GET
        with pytest.raises(grpc.RpcError) as info:
            stub.InvokeService(request, timeout=10)
        assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
        request.message.method = "echo/ok"
        reply = stub.InvokeService(request, timeout=10)
        assert b"alpha" in reply.data.value
