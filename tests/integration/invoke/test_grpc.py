"""gRPC ``InvokeService`` through two real sidecars: the twin of ``test_http.py`` (same case
names where both protocols express the case), the HTTP-extension rules, a ``dapr.ext.grpc.App``
callee, and error parity with HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.protobuf import any_pb2

from protos.dapr.common.v1 import common_pb2
from protos.dapr.runtime.v1 import dapr_pb2_grpc, invoke_pb2
from tests.integration.invoke.conftest import Mesh
from tests.integration.state._grpc import fail

pytestmark = pytest.mark.integration

VERB = common_pb2.HTTPExtension.Verb


@pytest.fixture(scope="module")
def stub(mesh: Mesh) -> Iterator[dapr_pb2_grpc.DaprStub]:
    with grpc.insecure_channel(mesh.alpha.grpc_target) as channel:
        yield dapr_pb2_grpc.DaprStub(channel)


def _request(
    app_id: str, method: str, verb: str | None = "GET", query: str = "", data: bytes = b""
) -> invoke_pb2.InvokeServiceRequest:
    message = common_pb2.InvokeRequest(
        method=method, data=any_pb2.Any(value=data), content_type="text/plain"
    )
    if verb is not None:
        message.http_extension.verb = VERB.Value(verb)
        message.http_extension.querystring = query
    return invoke_pb2.InvokeServiceRequest(id=app_id, message=message)


def _echo(stub: dapr_pb2_grpc.DaprStub, request: Any, **metadata: str) -> Any:
    reply, call = stub.InvokeService.with_call(request, metadata=tuple(metadata.items()))
    assert dict(call.initial_metadata())["dapr-http-status"] == "200"
    return json.loads(reply.data.value)


@pytest.mark.parametrize("verb", ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_invoke_passes_verb_query_headers_and_body(stub: dapr_pb2_grpc.DaprStub, verb: str) -> None:
    body = b"payload" if verb not in ("GET", "OPTIONS") else b""
    seen = _echo(
        stub,
        _request("beta", "echo/a%20b/c", verb, "x=1&y=%2F&x=2", body),
        **{"x-custom": "v"},
    )
    assert seen["method"] == verb
    assert seen["path"] == "/echo/a%20b/c"
    assert seen["query"] == "x=1&y=%2F&x=2"
    assert seen["headers"]["x-custom"] == "v"
    assert seen["body"] == body.decode()


def test_callee_identity_headers_are_set_and_not_spoofable(stub: dapr_pb2_grpc.DaprStub) -> None:
    seen = _echo(stub, _request("beta", "echo"), **{"dapr-caller-app-id": "mallory"})
    assert seen["headers"]["dapr-caller-app-id"] == "alpha"
    assert seen["headers"]["dapr-callee-app-id"] == "beta"


def test_callee_status_headers_and_body_come_back_unchanged(
    stub: dapr_pb2_grpc.DaprStub,
) -> None:
    failure = fail(stub.InvokeService, _request("beta", "status/404", "GET", "key=g404"))
    assert failure.code == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as info:
        stub.InvokeService(_request("beta", "status/409", "GET", "key=g409"))
    call: Any = info.value
    assert call.code() == grpc.StatusCode.ABORTED
    assert dict(call.initial_metadata())["dapr-http-status"] == "409"


def test_self_invocation_reaches_the_local_app(stub: dapr_pb2_grpc.DaprStub) -> None:
    seen = _echo(stub, _request("alpha", "echo/self"))
    assert seen["headers"]["dapr-callee-app-id"] == "alpha"


def test_app_id_with_namespace_is_accepted(stub: dapr_pb2_grpc.DaprStub) -> None:
    assert _echo(stub, _request("beta.", "echo/ns"))["path"] == "/echo/ns"


def test_unknown_app_id_is_404_naming_it(stub: dapr_pb2_grpc.DaprStub) -> None:
    failure = fail(stub.InvokeService, _request("nosuchapp", "x"))
    assert failure.code == grpc.StatusCode.NOT_FOUND
    assert failure.error_code == "ERR_DIRECT_INVOKE"
    assert "nosuchapp" in failure.message


def test_path_traversal_is_normalised_and_never_escapes(stub: dapr_pb2_grpc.DaprStub) -> None:
    seen = _echo(stub, _request("beta", "echo/%2e%2e/../../etc/passwd"))
    assert seen["path"] == "/etc/passwd"


def test_an_http_callee_needs_a_verb(stub: dapr_pb2_grpc.DaprStub) -> None:
    failure = fail(stub.InvokeService, _request("beta", "echo", verb=None))
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert failure.error_code == "ERR_DIRECT_INVOKE"


def test_grpc_callee_gets_data_type_and_metadata(stub: dapr_pb2_grpc.DaprStub, mesh: Mesh) -> None:
    message = common_pb2.InvokeRequest(
        method="echo",
        data=any_pb2.Any(type_url="type.googleapis.com/x.Y", value=b"hello"),
        content_type="text/plain",
    )
    reply, call = stub.InvokeService.with_call(
        invoke_pb2.InvokeServiceRequest(id="gamma", message=message),
        metadata=(("x-custom", "v"),),
    )
    seen = json.loads(reply.data.value)
    assert seen["data"] == "hello"
    assert seen["type_url"] == "type.googleapis.com/x.Y"
    assert seen["metadata"]["x-custom"] == "v"
    assert seen["metadata"]["dapr-caller-app-id"] == "alpha"
    assert reply.content_type == "application/json"
    assert dict(call.initial_metadata())["x-echo"] == "1"


def test_grpc_callee_over_http(mesh: Mesh) -> None:
    r = mesh.alpha.request(
        "POST", "/v1.0/invoke/gamma/method/echo", b"hi", {"Content-Type": "text/plain"}
    )
    assert r.status == 200
    assert json.loads(r.text)["data"] == "hi"
    assert r.headers["x-echo"] == "1"


def test_unknown_grpc_method_of_a_grpc_callee_is_unimplemented(
    stub: dapr_pb2_grpc.DaprStub, mesh: Mesh
) -> None:
    failure = fail(stub.InvokeService, _request("gamma", "no-such-method", verb=None))
    assert failure.code == grpc.StatusCode.UNIMPLEMENTED
    r = mesh.alpha.request("POST", "/v1.0/invoke/gamma/method/no-such-method", b"x")
    assert r.status == 501


@pytest.mark.parametrize("target", ["nosuchapp", ""])
def test_errors_are_the_same_on_both_protocols(
    stub: dapr_pb2_grpc.DaprStub, mesh: Mesh, target: str
) -> None:
    r = mesh.alpha.request("GET", "/anything", None, {"dapr-app-id": target} if target else {})
    if not target:  # no app id at all: no invocation on HTTP, INVALID_ARGUMENT on gRPC
        failure = fail(stub.InvokeService, _request("", "x"))
        assert failure.error_code == "ERR_DIRECT_INVOKE"
        assert "failed getting app id" in failure.message
        return
    failure = fail(stub.InvokeService, _request(target, "anything"))
    assert r.json()["errorCode"] == failure.error_code == "ERR_DIRECT_INVOKE"
    assert r.json()["message"] == failure.message


def test_a_response_larger_than_one_message_may_hold_is_refused_clearly(
    stub: dapr_pb2_grpc.DaprStub, mesh: Mesh
) -> None:
    """gRPC only: ``InvokeService`` holds the response in one message, so at most
    ``--max-body-size`` (4 MiB by default) is buffered (over HTTP the body streams)."""
    too_big = (4 << 20) + 1
    failure = fail(stub.InvokeService, _request("beta", "big", "GET", f"bytes={too_big}"))
    assert failure.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert failure.error_code == "ERR_DIRECT_INVOKE"
    assert "--max-body-size" in failure.message
    assert "beta" in failure.message
    assert _echo(stub, _request("beta", "echo/after"))["path"] == "/echo/after"  # still serving


@pytest.mark.parametrize("target", ["beta", "alpha"])  # a peer's app, then our own
def test_proxying_to_an_http_app_is_dapr_s_error(mesh: Mesh, target: str) -> None:
    """gRPC proxying (a method the sidecar does not serve, ``dapr-app-id``) to an app whose
    channel is HTTP: Dapr's INTERNAL ``ERR_DIRECT_INVOKE``, naming the app; nothing reaches it."""
    with grpc.insecure_channel(mesh.alpha.grpc_target) as channel:
        raw = channel.unary_unary("/some.Service/Method", None, None)  # bytes as they are
        failure = fail(raw, b"", metadata=(("dapr-app-id", target),))
    assert failure.code == grpc.StatusCode.INTERNAL
    assert failure.error_code == "ERR_DIRECT_INVOKE"
    assert f"failed to proxy a gRPC call to app id '{target}'" in failure.message
    assert "does not speak gRPC" in failure.message
