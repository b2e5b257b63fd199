"""gRPC proxying through two real sidecars (mTLS on, the default): a plain generated grpcio
stub of ``tandemtest.Echo`` (``proxy/echo.proto``, compiled at test time) with ``dapr-app-id``
metadata, calling a grpc.aio server (``proxy/app.py``) behind the callee's sidecar.

``pxa`` is the caller's sidecar (``DAPR_API_TOKEN`` set, a resiliency timeout for ``pxb``);
``pxb`` runs the app with an ``accessControl`` that denies ``/tandemtest.Echo/Secret`` to ``pxa``.
"""

from __future__ import annotations

import contextlib
import json
import queue
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from tests.integration.harness import Sidecar, free_port, http_request, wait_until
from tests.integration.invoke.proxy.stubs import load
from tests.integration.state._grpc import fail

pytestmark = pytest.mark.integration

APP = Path(__file__).resolve().parent / "proxy" / "app.py"
TOKEN = "proxy-test-token"

ACL = """
apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata:
  name: pxb-acl
spec:
  accessControl:
    defaultAction: deny
    trustDomain: public
    policies:
      - appId: pxa
        defaultAction: allow
        namespace: default
        operations:
          - name: /tandemtest.Echo/Secret
            httpVerb: ["*"]
            action: deny
"""

RESILIENCY = """
apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata:
  name: proxy-policies
spec:
  policies:
    timeouts:
      bounded: 5s
  targets:
    apps:
      pxb:
        timeout: bounded
"""


@dataclass
class Proxy:
    pxa: Sidecar
    pxb: Sidecar
    pxb_metrics: int
    marks: Path
    pb: ModuleType
    pb_grpc: ModuleType
    channel: grpc.Channel  # to pxa's gRPC API port

    @property
    def stub(self) -> Any:
        return self.pb_grpc.EchoStub(self.channel)


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    tmp = tmp_path_factory.mktemp("grpcproxy")
    generated, marks = tmp / "generated", tmp / "marks"
    marks.mkdir()
    pb, pb_grpc = load(generated)
    acl = tmp / "acl.yaml"
    acl.write_text(ACL)
    app_port, metrics = free_port(), free_port()
    pxa_spec: dict[str, Any] = {
        "app_id": "pxa",
        "components": [RESILIENCY],
        "env": {"DAPR_API_TOKEN": TOKEN},
    }
    pxb_spec: dict[str, Any] = {
        "app_id": "pxb",
        "components": [RESILIENCY],
        "args": [
            *("--app-port", str(app_port), "--app-protocol", "grpc"),
            *("--config", str(acl), "--metrics-port", str(metrics)),
        ],
        "app_command": [sys.executable, str(APP), str(app_port), str(generated), str(marks)],
    }
    with contextlib.ExitStack() as stack:
        pxa = stack.enter_context(Sidecar.start(tmp, **pxa_spec))
        pxb = stack.enter_context(Sidecar.start(tmp, **pxb_spec))
        pxa.wait_ready()
        pxb.wait_ready()
        channel = stack.enter_context(grpc.insecure_channel(pxa.grpc_target))
        yield Proxy(pxa, pxb, metrics, marks, pb, pb_grpc, channel)


def _md(app_id: str = "pxb", *extra: tuple[str, str | bytes]) -> tuple[tuple[str, Any], ...]:
    return (("dapr-app-id", app_id), ("dapr-api-token", TOKEN), *extra)


def test_unary_passes_metadata_headers_and_trailers(proxy: Proxy) -> None:
    extra = (("x-custom", "v1"), ("x-data-bin", b"\x00\xff"), ("dapr-caller-app-id", "mallory"))
    reply, call = proxy.stub.Unary.with_call(proxy.pb.Msg(text="hi"), metadata=_md("pxb", *extra))
    seen = json.loads(reply.text)
    assert seen["x-custom"] == "v1"
    assert seen["x-data-bin"] == "00ff"
    assert seen["dapr-caller-app-id"] == "pxa"  # the verified identity, not the claim
    assert seen["dapr-callee-app-id"] == "pxb"
    assert "dapr-api-token" not in seen  # the caller's token for its sidecar stays there
    assert ("x-head", "h1") in tuple(call.initial_metadata())
    assert ("x-trail", "t1") in tuple(call.trailing_metadata())
    assert call.code() == grpc.StatusCode.OK


def test_server_streaming(proxy: Proxy) -> None:
    replies = proxy.stub.ServerStream(proxy.pb.Msg(text="s", count=5), metadata=_md())
    assert [r.text for r in replies] == [f"s-{i}" for i in range(5)]


def test_client_streaming(proxy: Proxy) -> None:
    requests = (proxy.pb.Msg(text=t, blob=b"x" * 1000) for t in ("a", "b", "c"))
    reply = proxy.stub.ClientStream(requests, metadata=_md())
    assert (reply.text, reply.count) == ("a+b+c", 3000)


def test_bidi_streaming_interleaves(proxy: Proxy) -> None:
    """Each reply is read before the next request is sent: nothing waits for the whole stream."""
    outbox: queue.Queue[Any] = queue.Queue()

    def requests() -> Iterator[Any]:
        while (message := outbox.get()) is not None:
            yield message

    replies = proxy.stub.Bidi(requests(), metadata=_md())
    for i in range(5):
        blob = bytes([i]) * (1 << 20)  # 1 MiB messages
        outbox.put(proxy.pb.Msg(text=f"m{i}", blob=blob))
        reply = next(replies)
        assert (reply.text, reply.blob == blob) == (f"m{i}", True)
    outbox.put(None)
    assert list(replies) == []


def test_error_status_details_and_trailers_pass_through(proxy: Proxy) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        proxy.stub.Unary(proxy.pb.Msg(text="fail"), metadata=_md())
    err: Any = raised.value
    assert err.code() == grpc.StatusCode.NOT_FOUND
    assert err.details() == "nope"
    assert ("x-why", "because") in tuple(err.trailing_metadata())
    status = rpc_status.from_call(err)
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    assert info.reason == "NOPE"


@pytest.mark.parametrize("via", ["pxa", "pxb"])  # through both sidecars; the app's own
def test_a_method_the_app_does_not_serve_is_its_unimplemented(proxy: Proxy, via: str) -> None:
    """The app's own status comes back unchanged, for every call kind, not a sidecar error."""
    sidecar = proxy.pxa if via == "pxa" else proxy.pxb
    with grpc.insecure_channel(sidecar.grpc_target) as raw:
        channel: Any = raw  # the stubs require serializers, these calls send raw bytes
        calls: list[Callable[[], object]] = [
            lambda: channel.unary_unary("/tandemtest.Echo/Missing", None, None)(
                b"", metadata=_md(), timeout=10
            ),
            lambda: list(
                channel.unary_stream("/tandemtest.Echo/Missing", None, None)(
                    b"", metadata=_md(), timeout=10
                )
            ),
            lambda: channel.stream_unary("/tandemtest.Nope/Missing", None, None)(
                iter([b"", b"x" * 70000]), metadata=_md(), timeout=10
            ),
            lambda: list(
                channel.stream_stream("/tandemtest.Nope/Missing", None, None)(
                    iter([b""] * 5), metadata=_md(), timeout=10
                )
            ),
        ]
        for call in calls:
            with pytest.raises(grpc.RpcError) as raised:
                call()
            err: Any = raised.value
            assert err.code() == grpc.StatusCode.UNIMPLEMENTED, err
            assert "ERR_" not in (err.details() or "")


def test_unknown_app_id_is_404_naming_it(proxy: Proxy) -> None:
    failure = fail(proxy.stub.Unary, proxy.pb.Msg(text="x"), metadata=_md("nosuchapp"))
    assert failure.code == grpc.StatusCode.NOT_FOUND
    assert failure.error_code == "ERR_DIRECT_INVOKE"
    assert "nosuchapp" in failure.message


def test_no_app_id_is_unimplemented(proxy: Proxy) -> None:
    failure = fail(proxy.stub.Unary, proxy.pb.Msg(text="x"), metadata=(("dapr-api-token", TOKEN),))
    assert failure.code == grpc.StatusCode.UNIMPLEMENTED


def test_api_token_is_required(proxy: Proxy) -> None:
    no_token = (("dapr-app-id", "pxb"),)
    for call in (
        lambda: proxy.stub.Unary(proxy.pb.Msg(text="x"), metadata=no_token),
        lambda: list(proxy.stub.ServerStream(proxy.pb.Msg(count=1), metadata=no_token)),
    ):
        failure = fail(call)
        assert failure.code == grpc.StatusCode.UNAUTHENTICATED


def test_acl_denies_and_never_reaches_the_app(proxy: Proxy) -> None:
    failure = fail(proxy.stub.Secret, proxy.pb.Msg(text="x"), metadata=_md())
    assert failure.code == grpc.StatusCode.PERMISSION_DENIED
    assert failure.error_code == "ERR_DIRECT_INVOKE"
    assert proxy.pxb.wait_for_log(
        "access denied by accessControl: caller spiffe://public/ns/default/pxa -> "
        "callee spiffe://public/ns/default/pxb: (gRPC) /tandemtest.Echo/Secret"
    )
    metrics = http_request(proxy.pxb_metrics, "GET", "/metrics").text
    assert any(
        line.startswith("tandem_invocation_denied_total{")
        and 'caller_app="pxa"' in line
        and 'reason="acl"' in line
        for line in metrics.splitlines()
    ), metrics
    # the local app answers the same method: only the peer's call is denied
    with grpc.insecure_channel(proxy.pxb.grpc_target) as channel:
        reply = proxy.pb_grpc.EchoStub(channel).Secret(
            proxy.pb.Msg(), metadata=(("dapr-app-id", "pxb"),)
        )
    assert reply.text == "secret"


def test_acl_allows_other_methods(proxy: Proxy) -> None:
    reply = proxy.stub.Unary(proxy.pb.Msg(text="x"), metadata=_md())
    assert json.loads(reply.text)["dapr-caller-app-id"] == "pxa"


def test_own_app_id_reaches_the_local_app(proxy: Proxy) -> None:
    with grpc.insecure_channel(proxy.pxb.grpc_target) as channel:
        reply = proxy.pb_grpc.EchoStub(channel).Unary(
            proxy.pb.Msg(text="x"), metadata=(("dapr-app-id", "pxb"),)
        )
    seen = json.loads(reply.text)
    assert (seen["dapr-caller-app-id"], seen["dapr-callee-app-id"]) == ("pxb", "pxb")


def test_client_cancel_cancels_the_app_call(proxy: Proxy) -> None:
    replies = proxy.stub.ServerStream(proxy.pb.Msg(text="hang", count=101), metadata=_md())
    assert next(replies).text == "first"
    replies.cancel()
    assert wait_until((proxy.marks / "cancelled-101").exists, 20)


def test_deadline_propagates(proxy: Proxy) -> None:
    failure = fail(
        proxy.stub.Unary, proxy.pb.Msg(text="hang", count=102), metadata=_md(), timeout=1.0
    )
    assert failure.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert wait_until((proxy.marks / "cancelled-102").exists, 20)


def test_resiliency_timeout_bounds_a_call_without_deadline(proxy: Proxy) -> None:
    failure = fail(proxy.stub.Unary, proxy.pb.Msg(text="hang", count=103), metadata=_md())
    assert failure.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert wait_until((proxy.marks / "cancelled-103").exists, 20)


def test_garbage_bytes_reach_the_app_and_the_sidecars_keep_serving(proxy: Proxy) -> None:
    raw = proxy.channel.unary_unary("/tandemtest.Echo/Unary", None, None)  # bytes as they are
    failure = fail(raw, b"\xff\xff\xff\xff", metadata=_md())
    assert failure.code != grpc.StatusCode.OK
    reply = proxy.stub.Unary(proxy.pb.Msg(text="after"), metadata=_md())
    assert json.loads(reply.text)["dapr-callee-app-id"] == "pxb"
