"""No request, however malformed, crashes the sidecar or stops it serving the next one.

Every malformed request that reaches the API gets a 4xx Dapr error body (JSON with an
``errorCode``); requests the HTTP parser itself rejects (bad request line, oversized headers,
bad framing) get a plain 400 and the connection is closed. Afterwards a normal request still
works and the log holds no "unexpected error" (an unhandled exception turned into a 500).
gRPC calls use Tandem's generated stubs; this module must never import the ``dapr`` SDK.
"""

from __future__ import annotations

import contextlib
import re
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest

from protos.dapr.common.v1 import common_pb2
from protos.dapr.runtime.v1 import dapr_pb2_grpc, metadata_pb2, state_pb2
from protos.tandem.v1 import tandem_pb2, tandem_pb2_grpc
from tests.integration.harness import Sidecar, component_yaml

pytestmark = pytest.mark.integration

JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sidecar]:
    tmp: Path = tmp_path_factory.mktemp("robust")
    with Sidecar.start(tmp, components=[component_yaml("statestore")], app_id="robust") as sc:
        yield sc
        logs = sc.logs()
    # no unhandled exception (a 500) and no traceback logged for a client's mistake
    assert "unexpected error" not in logs, logs
    assert "Traceback" not in logs, logs


def assert_still_serving(sc: Sidecar) -> None:
    assert sc.proc.poll() is None, sc.logs()
    save = sc.request("POST", "/v1.0/state/statestore", '[{"key": "ok", "value": {"n": 1}}]', JSON)
    assert save.status == 204, save.text
    got = sc.request("GET", "/v1.0/state/statestore/ok")
    assert (got.status, got.json()) == (200, {"n": 1})
    assert sc.request("GET", "/v1.0/healthz").status == 204


# HTTP: malformed requests that reach the API ------------------------------------------------

BAD_REQUESTS: list[tuple[str, str, bytes | None]] = [
    # garbage and wrong-shaped bodies
    ("POST", "/v1.0/state/statestore", b"\x00\xffgarbage"),
    ("POST", "/v1.0/state/statestore", b"{"),
    ("POST", "/v1.0/state/statestore", b"null"),
    ("POST", "/v1.0/state/statestore", b""),
    ("POST", "/v1.0/state/statestore", b'{"key": "a", "value": 1}'),
    ("POST", "/v1.0/state/statestore", b"[" * 100_000),
    ("POST", "/v1.0/state/statestore", b'"' + b"\\" * 10_001 + b'"'),
    # wrong types
    ("POST", "/v1.0/state/statestore", b'[{"key": 1, "value": 2}]'),
    ("POST", "/v1.0/state/statestore", b'[{"value": 2}]'),
    ("POST", "/v1.0/state/statestore", b'[{"key": "a", "etag": [1]}]'),
    ("POST", "/v1.0/state/statestore", b'[{"key": "a", "options": {"consistency": 5}}]'),
    ("POST", "/v1.0/state/statestore", b'[{"key": "a", "metadata": {"nested": {"x": 1}}}]'),
    ("POST", "/v1.0/state/statestore", b'[{"key": "a", "metadata": {"ttlInSeconds": "soon"}}]'),
    (
        "POST",
        "/v1.0/state/statestore?metadata.ttlInSeconds=99999999999999999999999",
        b"[]"[:0] + b'[{"key": "a"}]',
    ),
    ("POST", "/v1.0/state/statestore/bulk", b'{"keys": "notalist"}'),
    ("POST", "/v1.0/state/statestore/bulk", b'{"keys": [1, 2]}'),
    ("POST", "/v1.0/state/statestore/transaction", b'{"operations": "x"}'),
    ("POST", "/v1.0/state/statestore/transaction", b'{"operations": [{"operation": "upsert"}]}'),
    (
        "POST",
        "/v1.0/state/statestore/transaction",
        b'{"operations": [{"operation": "frob", "request": {"key": "a"}}]}',
    ),
    ("POST", "/v1.0-alpha1/state/statestore/query", b"garbage"),
    ("POST", "/v1.0-alpha1/state/statestore/query", b'{"filter": {"EQ": 5}}'),
    ("POST", "/v1.0-alpha1/state/statestore/query", b'{"page": {"limit": -1}}'),
    ("GET", "/v1.0-alpha1/state/statestore/keys?limit=abc", None),
    ("GET", "/v1.0-alpha1/state/statestore/keys?limit=-5", None),
    # invalid UTF-8 and odd keys
    ("POST", "/v1.0/state/statestore", b'[{"key": "\xff\xfe", "value": 1}]'),
    ("POST", "/v1.0/state/statestore/bulk", b'{"keys": ["\xff"]}'),
    (
        "POST",
        "/v1.0/state/statestore/transaction",
        b'{"operations": [{"operation": "upsert", "request": {"key": "\xed\xa0\x80"}}]}',
    ),
    ("POST", "/v1.0/state/statestore", b'[{"key": "", "value": 1}]'),
    ("POST", "/v1.0/state/statestore", b'[{"key": "a||b", "value": 1}]'),
    ("GET", "/v1.0/state/statestore/a||b", None),
    ("GET", "/v1.0/state/statestore/a?consistency=wat", None),
    ("DELETE", "/v1.0/state/statestore/a?concurrency=wat", None),
    # unknown stores and routes
    ("POST", "/v1.0/state/nostore", b'[{"key": "a", "value": 1}]'),
    ("GET", "/v1.0/state/nostore/k", None),
    ("GET", "/v1.0/nope", None),
    ("GET", "/", None),
    ("GET", "/v1.0/state", None),
    ("GET", "/v2.0/metadata", None),
    ("PUT", "/v1.0/metadata/", b"x"),
    ("GET", "/v1.0/" + "x" * 4000, None),
    # wrong methods
    ("PATCH", "/v1.0/state/statestore", b"[]"),
    ("DELETE", "/v1.0/metadata", None),
    ("GET", "/v1.0/shutdown", None),
    ("PUT", "/v1.0/healthz", None),
    ("POST", "/v1.0/healthz/outbound", None),
    ("OPTIONS", "/v1.0/metadata", None),
    ("TRACE", "/v1.0/state/statestore/k", None),
]


@pytest.mark.parametrize(("method", "path", "body"), BAD_REQUESTS, ids=lambda v: repr(v)[:40])
def test_malformed_request_gets_a_dapr_error(
    sidecar: Sidecar, method: str, path: str, body: bytes | None
) -> None:
    resp = sidecar.request(method, path, body, JSON)
    assert 400 <= resp.status < 500, (resp.status, resp.text)
    assert resp.content_type == "application/json", resp.text
    error = resp.json()
    assert error["errorCode"].startswith("ERR_")
    assert isinstance(error["message"], str)
    assert error["message"]


def test_odd_but_valid_keys_work(sidecar: Sidecar) -> None:
    for key in ("%ff%fe", "%E2%9C%93", "a%2Fb", "..%2F..", "x" * 500):
        resp = sidecar.request("GET", f"/v1.0/state/statestore/{key}")
        assert resp.status in (200, 204), (key, resp.status, resp.text)
    # NUL is refused in keys on every store (PostgreSQL cannot keep it), as bad input
    nul = sidecar.request("GET", "/v1.0/state/statestore/a%00b")
    assert (nul.status, nul.json()["errorCode"]) == (400, "ERR_MALFORMED_REQUEST")
    # invalid UTF-8 inside a stored value is not an error (the value is kept as bytes)
    body = b'[{"key": "latin", "value": "\xc3\x28"}]'
    assert sidecar.request("POST", "/v1.0/state/statestore", body, JSON).status == 204
    assert sidecar.request("PUT", "/v1.0/metadata/%ff%fe", b"\xff\xfe\x00").status == 204


def test_a_burst_of_malformed_requests_leaves_the_sidecar_serving(sidecar: Sidecar) -> None:
    for _ in range(3):
        for method, path, body in BAD_REQUESTS:
            assert sidecar.request(method, path, body, JSON).status >= 400
    assert_still_serving(sidecar)


# HTTP: requests the protocol parser rejects ---------------------------------------------------


def raw_exchange(port: int, payload: bytes, *, close_write: bool = False) -> bytes:
    """Send ``payload`` and read until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        # the server may reject and close before reading everything
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            s.sendall(payload)
        if close_write:
            s.shutdown(socket.SHUT_WR)
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
    return data


RAW_GARBAGE = [
    b"GARBAGE\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,  # a TLS ClientHello
    b"GET /v1.0/metadata HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n",
    b"GET /v1.0/metadata HTTP/1.1\r\nHost: x\r\n" + b"X-H: v\r\n" * 50_000 + b"\r\n",
    b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /v1.0/state/statestore HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    b"POST /v1.0/state/statestore HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    b"POST /v1.0/state/statestore HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"POST /v1.0/state/statestore HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"zz\r\nnot hex\r\n0\r\n\r\n",
    b"GET /v1.0/metadata HTTP/9.9\r\nHost: x\r\n\r\n",
    b"GET /v1.0/\x00metadata HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /v1.0/metadata HTTP/1.1\r\nBad Header Name: x\r\n\r\n",
    b"FROB /v1.0/metadata HTTP/1.1\r\nHost: x\r\n\r\n",
]


@pytest.mark.parametrize("payload", RAW_GARBAGE, ids=lambda p: repr(p[:30]))
def test_protocol_garbage_is_rejected(sidecar: Sidecar, payload: bytes) -> None:
    response = raw_exchange(sidecar.http_port, payload)
    assert response.startswith(b"HTTP/1."), response[:200]
    status = int(response.split(b" ", 2)[1])
    assert status == 400, response[:200]
    assert sidecar.proc.poll() is None


def test_empty_lines_then_eof(sidecar: Sidecar) -> None:
    assert raw_exchange(sidecar.http_port, b"\r\n\r\n\r\n", close_write=True) == b""
    assert sidecar.proc.poll() is None


def test_client_disconnects_mid_request(sidecar: Sidecar) -> None:
    for _ in range(20):
        with socket.create_connection(("127.0.0.1", sidecar.http_port), timeout=5) as s:
            s.sendall(
                b"POST /v1.0/state/statestore HTTP/1.1\r\nHost: x\r\n"
                b'Content-Length: 1000\r\n\r\n[{"key": '
            )
        with socket.create_connection(("127.0.0.1", sidecar.http_port), timeout=5) as s:
            s.sendall(b"GET /v1.0/meta")
        with socket.create_connection(("127.0.0.1", sidecar.http_port), timeout=5) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            s.sendall(b"GET /v1.0/metadata HTTP/1.1\r\nHost: x\r\n\r\n")
        # closed with RST before reading the answer
    assert_still_serving(sidecar)


def test_many_connections_at_once(sidecar: Sidecar) -> None:
    sockets = [
        socket.create_connection(("127.0.0.1", sidecar.http_port), timeout=5) for _ in range(200)
    ]
    try:
        assert_still_serving(sidecar)
    finally:
        for s in sockets:
            s.close()
    assert_still_serving(sidecar)


def test_pipelined_requests_mixing_good_and_bad(sidecar: Sidecar) -> None:
    good = b"GET /v1.0/healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    bad = b"POST /v1.0/state/statestore HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n{"
    last = b"GET /v1.0/healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    response = raw_exchange(sidecar.http_port, good + bad + last)
    statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", response)
    assert statuses == [b"204", b"400", b"204"], response


def test_after_all_http_abuse(sidecar: Sidecar) -> None:
    assert_still_serving(sidecar)


# gRPC ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def channel(sidecar: Sidecar) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(sidecar.grpc_target) as ch:
        yield ch


def state_item(**kwargs: object) -> common_pb2.StateItem:
    return common_pb2.StateItem(**kwargs)  # type: ignore[arg-type]


def bad_grpc_calls(ch: grpc.Channel) -> list[tuple[str, Callable[[], object]]]:
    d = dapr_pb2_grpc.DaprStub(ch)
    t = tandem_pb2_grpc.TandemStub(ch)
    return [
        ("GetState empty", lambda: d.GetState(state_pb2.GetStateRequest(), timeout=5)),
        (
            "GetState no key",
            lambda: d.GetState(state_pb2.GetStateRequest(store_name="statestore"), timeout=5),
        ),
        (
            "GetState ||",
            lambda: d.GetState(
                state_pb2.GetStateRequest(store_name="statestore", key="a||b"), timeout=5
            ),
        ),
        ("SaveState empty", lambda: d.SaveState(state_pb2.SaveStateRequest(), timeout=5)),
        (
            "SaveState empty key",
            lambda: d.SaveState(
                state_pb2.SaveStateRequest(store_name="statestore", states=[state_item()]),
                timeout=5,
            ),
        ),
        (
            "SaveState bad ttl",
            lambda: d.SaveState(
                state_pb2.SaveStateRequest(
                    store_name="statestore",
                    states=[state_item(key="a", metadata={"ttlInSeconds": "x"})],
                ),
                timeout=5,
            ),
        ),
        ("GetBulkState empty", lambda: d.GetBulkState(state_pb2.GetBulkStateRequest(), timeout=5)),
        ("DeleteState empty", lambda: d.DeleteState(state_pb2.DeleteStateRequest(), timeout=5)),
        (
            "DeleteBulkState empty",
            lambda: d.DeleteBulkState(state_pb2.DeleteBulkStateRequest(), timeout=5),
        ),
        (
            "Transaction empty",
            lambda: d.ExecuteStateTransaction(
                state_pb2.ExecuteStateTransactionRequest(), timeout=5
            ),
        ),
        (
            "Transaction empty op",
            lambda: d.ExecuteStateTransaction(
                state_pb2.ExecuteStateTransactionRequest(
                    storeName="statestore", operations=[state_pb2.TransactionalStateOperation()]
                ),
                timeout=5,
            ),
        ),
        ("Query empty", lambda: d.QueryStateAlpha1(state_pb2.QueryStateRequest(), timeout=5)),
        (
            "Query garbage",
            lambda: d.QueryStateAlpha1(
                state_pb2.QueryStateRequest(store_name="statestore", query="{"), timeout=5
            ),
        ),
        (
            "ListKeys empty",
            lambda: t.ListStateKeysAlpha1(tandem_pb2.ListStateKeysRequest(), timeout=5),
        ),
        (
            "ListKeys bad token",
            lambda: t.ListStateKeysAlpha1(
                tandem_pb2.ListStateKeysRequest(store_name="statestore", token="zz"), timeout=5
            ),
        ),
    ]


def raw_call(ch: grpc.Channel, method: str, payload: bytes) -> bytes:
    call = ch.unary_unary(method, request_serializer=lambda b: b, response_deserializer=lambda b: b)
    result: bytes = call(payload, timeout=5)
    return result


RAW_GRPC = [
    ("/dapr.proto.runtime.v1.Dapr/GetState", b"\xff\xff\xff\xff"),
    ("/dapr.proto.runtime.v1.Dapr/GetState", b"\x0a\x02\xff\xfe\x12\x01k"),  # invalid UTF-8 string
    ("/dapr.proto.runtime.v1.Dapr/SaveState", b"\x0a\x0astate"),  # truncated
    ("/dapr.proto.runtime.v1.Dapr/SetMetadata", b"\x0a\x02\xff\xfe"),
    ("/dapr.proto.runtime.v1.Dapr/Shutdown", b"\xff\xff"),
    ("/dapr.proto.runtime.v1.Dapr/NoSuchMethod", b""),
    ("/no.such.Service/Method", b""),
]


def test_grpc_malformed_requests_get_errors(sidecar: Sidecar, channel: grpc.Channel) -> None:
    for name, call in bad_grpc_calls(channel):
        with pytest.raises(grpc.RpcError) as info:
            call()
        code = info.value.code()
        assert code in (
            grpc.StatusCode.INVALID_ARGUMENT,
            grpc.StatusCode.NOT_FOUND,
            grpc.StatusCode.UNIMPLEMENTED,
            grpc.StatusCode.FAILED_PRECONDITION,
        ), (name, code)
    for method, payload in RAW_GRPC:
        with pytest.raises(grpc.RpcError) as info:
            raw_call(channel, method, payload)
        assert info.value.code() != grpc.StatusCode.OK
    assert sidecar.proc.poll() is None


def test_grpc_huge_metadata_header(sidecar: Sidecar, channel: grpc.Channel) -> None:
    stub = dapr_pb2_grpc.DaprStub(channel)
    with pytest.raises(grpc.RpcError):
        stub.GetMetadata(
            metadata_pb2.GetMetadataRequest(), metadata=(("x-big", "a" * 100_000),), timeout=5
        )
    assert stub.GetMetadata(metadata_pb2.GetMetadataRequest(), timeout=5).id == "robust"


def test_grpc_still_serves_after_abuse(sidecar: Sidecar, channel: grpc.Channel) -> None:
    for _ in range(3):
        for _name, call in bad_grpc_calls(channel):
            with pytest.raises(grpc.RpcError):
                call()
    stub = dapr_pb2_grpc.DaprStub(channel)
    stub.SaveState(
        state_pb2.SaveStateRequest(
            store_name="statestore", states=[state_item(key="g", value=b"1")]
        ),
        timeout=5,
    )
    assert (
        stub.GetState(state_pb2.GetStateRequest(store_name="statestore", key="g"), timeout=5).data
        == b"1"
    )
    # a fresh channel works too
    with grpc.insecure_channel(sidecar.grpc_target) as fresh:
        assert (
            dapr_pb2_grpc.DaprStub(fresh)
            .GetMetadata(metadata_pb2.GetMetadataRequest(), timeout=5)
            .id
        )
    assert_still_serving(sidecar)
