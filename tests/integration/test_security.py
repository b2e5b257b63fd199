"""API token (HTTP and gRPC), request size limits, loopback-only listening.

gRPC calls use Tandem's generated stubs; this module must never import the ``dapr`` SDK.
"""

from __future__ import annotations

import json
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from protos.dapr.common.v1 import common_pb2
from protos.dapr.runtime.v1 import dapr_pb2, dapr_pb2_grpc, metadata_pb2, state_pb2
from tests.integration.harness import (
    LOOPBACK,
    Sidecar,
    component_yaml,
    http_request,
    listening_addresses,
    wait_until,
)

pytestmark = pytest.mark.integration

TOKEN = "s3cr3t-t0ken"
BODY_LIMIT = 1024


def error_info(err: grpc.RpcError) -> error_details_pb2.ErrorInfo | None:
    trailers: Any = err.trailing_metadata()
    for key, value in trailers or ():
        if key == "grpc-status-details-bin":
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                info = error_details_pb2.ErrorInfo()
                if detail.Unpack(info):
                    return info
    return None


# API token ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sidecar]:
    tmp: Path = tmp_path_factory.mktemp("token")
    with Sidecar.start(
        tmp, components=[component_yaml("statestore")], env={"DAPR_API_TOKEN": TOKEN}
    ) as sc:
        yield sc


@pytest.fixture(scope="module")
def secured_stub(secured: Sidecar) -> Iterator[dapr_pb2_grpc.DaprStub]:
    with grpc.insecure_channel(secured.grpc_target) as channel:
        yield dapr_pb2_grpc.DaprStub(channel)


PROTECTED = [
    ("GET", "/v1.0/metadata", None),
    ("PUT", "/v1.0/metadata/k", "v"),
    ("POST", "/v1.0/state/statestore", '[{"key": "k", "value": 1}]'),
    ("GET", "/v1.0/state/statestore/k", None),
    ("DELETE", "/v1.0/state/statestore/k", None),
    ("POST", "/v1.0/shutdown", None),
    ("GET", "/v1.0/no-such-route", None),
]


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED, ids=str)
@pytest.mark.parametrize("token", [None, "wrong", "", TOKEN + "x", TOKEN.upper()])
def test_http_without_the_right_token_is_401(
    secured: Sidecar, method: str, path: str, body: str | None, token: str | None
) -> None:
    headers = {} if token is None else {"dapr-api-token": token}
    resp = secured.request(method, path, body, headers)
    assert resp.status == 401
    # Dapr answers plain text here; Tandem the table's JSON error (declared in runtime/errors.py)
    assert resp.content_type == "application/json"
    expected = (
        "missing api token in request metadata"
        if not token
        else "authentication error: api token mismatch"
    )
    assert resp.json() == {"errorCode": "ERR_UNAUTHENTICATED", "message": expected}
    assert secured.proc.poll() is None


def _raw_http(port: int, head: bytes) -> tuple[bytes, bytes]:
    """Sends a request head as raw bytes; returns the response status line and body."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(head)
        response = b""
        while chunk := s.recv(65536):
            response += chunk
    status_line, _, rest = response.partition(b"\r\n")
    return status_line, rest.partition(b"\r\n\r\n")[2]


@pytest.mark.parametrize(
    "value",
    [b"\xe9t\xe9", b"s3cr3t-t0ken\xff", "s3cr3t-t0kén".encode(), b"\xc3(", b"\x80\x81"],
    ids=["latin1", "token-plus-byte", "utf8", "bad-utf8", "continuation-bytes"],
)
def test_http_non_utf8_token_is_401_without_traceback(secured: Sidecar, value: bytes) -> None:
    """Header bytes that are not UTF-8 (or not the token's UTF-8) are a plain 401."""
    status, body = _raw_http(
        secured.http_port,
        b"GET /v1.0/metadata HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"dapr-api-token: " + value + b"\r\n\r\n",
    )
    assert status.startswith(b"HTTP/1.1 401"), status
    assert json.loads(body)["errorCode"] == "ERR_UNAUTHENTICATED"
    assert "Traceback" not in secured.logs()
    assert secured.proc.poll() is None


def test_http_with_the_right_token(secured: Sidecar) -> None:
    auth = {"dapr-api-token": TOKEN}
    assert secured.request("GET", "/v1.0/metadata", headers=auth).status == 200
    assert secured.request("PUT", "/v1.0/metadata/tok", "yes", auth).status == 204
    meta = secured.request("GET", "/v1.0/metadata", headers=auth).json()
    assert meta["extended"]["tok"] == "yes"
    save = secured.request("POST", "/v1.0/state/statestore", '[{"key":"a","value":1}]', auth)
    assert save.status == 204
    assert secured.request("GET", "/v1.0/state/statestore/a", headers=auth).json() == 1
    unknown = secured.request("GET", "/v1.0/no-such-route", headers=auth)
    assert unknown.status == 404
    assert unknown.json()["errorCode"].startswith("ERR_")


def test_rejected_requests_have_no_effect(secured: Sidecar) -> None:
    assert secured.request("PUT", "/v1.0/metadata/sneaky", "x").status == 401
    assert secured.request("POST", "/v1.0/shutdown").status == 401
    meta = secured.request("GET", "/v1.0/metadata", headers={"dapr-api-token": TOKEN}).json()
    assert "sneaky" not in meta["extended"]
    assert secured.proc.poll() is None


@pytest.mark.parametrize("path", ["/v1.0/healthz", "/v1.0/healthz/outbound"])
def test_health_endpoints_are_exempt(secured: Sidecar, path: str) -> None:
    assert secured.request("GET", path).status == 204
    assert secured.request("GET", path, headers={"dapr-api-token": "wrong"}).status == 204


def test_token_header_name_is_case_insensitive(secured: Sidecar) -> None:
    assert secured.request("GET", "/v1.0/metadata", headers={"DAPR-API-TOKEN": TOKEN}).status == 200


def grpc_calls(
    stub: dapr_pb2_grpc.DaprStub,
) -> list[tuple[str, object]]:
    return [
        (
            "GetMetadata",
            lambda md: stub.GetMetadata(metadata_pb2.GetMetadataRequest(), metadata=md, timeout=5),
        ),
        (
            "SetMetadata",
            lambda md: stub.SetMetadata(
                metadata_pb2.SetMetadataRequest(key="g", value="v"), metadata=md, timeout=5
            ),
        ),
        (
            "GetState",
            lambda md: stub.GetState(
                state_pb2.GetStateRequest(store_name="statestore", key="a"), metadata=md, timeout=5
            ),
        ),
        (
            "SaveState",
            lambda md: stub.SaveState(
                state_pb2.SaveStateRequest(
                    store_name="statestore", states=[common_pb2.StateItem(key="g", value=b"1")]
                ),
                metadata=md,
                timeout=5,
            ),
        ),
        ("Shutdown", lambda md: stub.Shutdown(dapr_pb2.ShutdownRequest(), metadata=md, timeout=5)),
    ]


@pytest.mark.parametrize("token", [None, "wrong", TOKEN + "x"])
def test_grpc_without_the_right_token_is_unauthenticated(
    secured: Sidecar, secured_stub: dapr_pb2_grpc.DaprStub, token: str | None
) -> None:
    md = () if token is None else (("dapr-api-token", token),)
    for name, call in grpc_calls(secured_stub):
        with pytest.raises(grpc.RpcError) as info:
            call(md)  # type: ignore[operator]
        err = info.value
        assert err.code() == grpc.StatusCode.UNAUTHENTICATED, name
        details = error_info(err)
        assert details is not None
        assert details.domain == "dapr.io"
        assert details.reason == "ERR_UNAUTHENTICATED"
    assert secured.proc.poll() is None


def test_grpc_with_the_right_token(secured_stub: dapr_pb2_grpc.DaprStub) -> None:
    md = (("dapr-api-token", TOKEN),)
    meta = secured_stub.GetMetadata(metadata_pb2.GetMetadataRequest(), metadata=md, timeout=5)
    assert meta.id == "testapp"
    secured_stub.SaveState(
        state_pb2.SaveStateRequest(
            store_name="statestore", states=[common_pb2.StateItem(key="g", value=b"42")]
        ),
        metadata=md,
        timeout=5,
    )
    got = secured_stub.GetState(
        state_pb2.GetStateRequest(store_name="statestore", key="g"), metadata=md, timeout=5
    )
    assert got.data == b"42"


def test_token_from_environment(tmp_path: Path) -> None:
    with Sidecar.start(tmp_path, empty_resources=True, env={"DAPR_API_TOKEN": "env-token"}) as sc:
        assert sc.request("GET", "/v1.0/metadata").status == 401
        assert (
            sc.request("GET", "/v1.0/metadata", headers={"dapr-api-token": "env-token"}).status
            == 200
        )
        with grpc.insecure_channel(sc.grpc_target) as channel:
            stub = dapr_pb2_grpc.DaprStub(channel)
            with pytest.raises(grpc.RpcError) as info:
                stub.GetMetadata(metadata_pb2.GetMetadataRequest(), timeout=5)
            assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
            md = (("dapr-api-token", "env-token"),)
            assert stub.GetMetadata(metadata_pb2.GetMetadataRequest(), metadata=md, timeout=5).id


def test_token_never_logged(secured: Sidecar) -> None:
    assert TOKEN not in secured.logs()


# request size limit --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sidecar]:
    tmp: Path = tmp_path_factory.mktemp("limit")
    with Sidecar.start(
        tmp, components=[component_yaml("statestore")], args=["--max-body-size", "1Ki"]
    ) as sc:
        yield sc


def big_state_body(size: int) -> str:
    return '[{"key": "big", "value": "' + "x" * size + '"}]'


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "/v1.0/metadata/big", "x" * (BODY_LIMIT + 1)),
        ("POST", "/v1.0/state/statestore", big_state_body(2 * BODY_LIMIT)),
        ("POST", "/v1.0/state/statestore/bulk", '{"keys": ["' + "k" * 4096 + '"]}'),
        (
            "POST",
            "/v1.0/state/statestore/transaction",
            '{"operations": ['
            + '{"operation": "upsert", "request": {"key": "k", "value": 1}},' * 40
            + "]}",
        ),
    ],
    ids=["metadata", "state", "bulk", "transaction"],
)
def test_http_body_over_the_limit_is_413(
    limited: Sidecar, method: str, path: str, body: str
) -> None:
    resp = limited.request(method, path, body, {"Content-Type": "application/json"})
    assert resp.status == 413
    assert resp.json()["errorCode"] == "ERR_BODY_TOO_LARGE"
    assert limited.request("GET", "/v1.0/healthz").status == 204


def test_http_chunked_body_over_the_limit_is_413(limited: Sidecar) -> None:
    with socket.create_connection(("127.0.0.1", limited.http_port), timeout=10) as s:
        chunk = b"x" * 700
        s.sendall(
            b"PUT /v1.0/metadata/chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            + b"%x\r\n%s\r\n" % (len(chunk), chunk) * 3
            + b"0\r\n\r\n"
        )
        response = b""
        while not response.endswith(b"}"):
            chunk = s.recv(4096)
            if not chunk:
                break
            response += chunk
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), head
    assert json.loads(body)["errorCode"] == "ERR_BODY_TOO_LARGE"


def test_http_body_at_the_limit_is_accepted(limited: Sidecar) -> None:
    assert limited.request("PUT", "/v1.0/metadata/small", "y" * BODY_LIMIT).status == 204
    body = big_state_body(100)
    assert limited.request("POST", "/v1.0/state/statestore", body).status == 204


def test_grpc_message_over_the_limit_is_resource_exhausted(limited: Sidecar) -> None:
    with grpc.insecure_channel(limited.grpc_target) as channel:
        stub = dapr_pb2_grpc.DaprStub(channel)
        with pytest.raises(grpc.RpcError) as info:
            stub.SaveState(
                state_pb2.SaveStateRequest(
                    store_name="statestore",
                    states=[common_pb2.StateItem(key="big", value=b"x" * (2 * BODY_LIMIT))],
                ),
                timeout=5,
            )
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        with pytest.raises(grpc.RpcError) as info:
            stub.SetMetadata(
                metadata_pb2.SetMetadataRequest(key="k", value="v" * 2 * BODY_LIMIT), timeout=5
            )
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        # a small request on the same channel still works
        stub.SetMetadata(metadata_pb2.SetMetadataRequest(key="k", value="small"), timeout=5)
        got = stub.GetState(state_pb2.GetStateRequest(store_name="statestore", key="k"), timeout=5)
        assert got.data == b""


# listening addresses ---------------------------------------------------------------------------


def non_loopback_address() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))  # no packet is sent
        except OSError:
            return None
        address: str = s.getsockname()[0]
    return None if address.startswith("127.") else address


def test_listens_on_loopback_by_default(tmp_path: Path) -> None:
    if not Path("/proc/net/tcp").exists():
        pytest.skip("needs /proc/net/tcp")
    with Sidecar.start(tmp_path, empty_resources=True) as sc:
        for port in (sc.http_port, sc.grpc_port):
            found = listening_addresses(port)
            assert found, port
            assert found <= LOOPBACK, found
        address = non_loopback_address()
        if address is not None:
            with pytest.raises(ConnectionRefusedError):
                http_request(sc.http_port, "GET", "/v1.0/healthz", host=address, timeout=2)


# The token never on a command line (issue 8) ------------------------------------------------

HOLD_APP = (
    "import json, os, sys, time, pathlib\n"
    "out, stop = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])\n"
    "out.with_suffix('.tmp').write_text(json.dumps(dict(os.environ)))\n"
    "out.with_suffix('.tmp').replace(out)\n"
    "deadline = time.monotonic() + 60\n"
    "while not stop.exists() and time.monotonic() < deadline:\n"
    "    time.sleep(0.02)\n"
)


def _cmdline(pid: int) -> bytes:
    return Path(f"/proc/{pid}/cmdline").read_bytes()


@pytest.mark.parametrize("how", ["token-file", "environment"])
def test_token_is_not_on_the_command_line_and_reaches_the_app(tmp_path: Path, how: str) -> None:
    """Every local user can read /proc/PID/cmdline (and ps); the token must not be there, and
    the app started by ``tandem run`` still gets DAPR_API_TOKEN in its environment."""
    if not Path("/proc/self/cmdline").exists():
        pytest.skip("needs /proc")
    token = "tok-" + "9" * 24
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    out, stop = tmp_path / "env.json", tmp_path / "stop"
    sc = Sidecar.spawn(
        tmp_path,
        empty_resources=True,
        args=["--api-token-file", str(token_file)] if how == "token-file" else [],
        env={"DAPR_API_TOKEN": token} if how == "environment" else {},
        app_command=[sys.executable, "-c", HOLD_APP, str(out), str(stop)],
    )
    try:
        assert wait_until(out.exists, 15), sc.logs()
        app_env = json.loads(out.read_text())
        assert app_env["DAPR_API_TOKEN"] == token
        assert token.encode() not in _cmdline(sc.proc.pid)
        assert b"run" in _cmdline(sc.proc.pid)  # it is the sidecar's command line
        sc.wait_ready()
        assert sc.request("GET", "/v1.0/metadata").status == 401
        assert sc.request("GET", "/v1.0/metadata", headers={"dapr-api-token": token}).status == 200
    finally:
        stop.touch()
        sc.stop()
    assert token not in sc.logs()


def test_token_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("open-token")
    token_file.chmod(0o644)
    sc = Sidecar.spawn(tmp_path, empty_resources=True, args=["--api-token-file", str(token_file)])
    try:
        assert sc.wait_exit() == 2
    finally:
        sc.stop()
    assert "chmod 600" in sc.logs()
    assert "open-token" not in sc.logs()


def test_api_token_flag_is_refused_without_echoing_it(tmp_path: Path) -> None:
    sc = Sidecar.spawn(tmp_path, empty_resources=True, args=["--api-token", "flag-token-123"])
    try:
        assert sc.wait_exit() == 2
    finally:
        sc.stop()
    assert "DAPR_API_TOKEN" in sc.logs()
    assert "flag-token-123" not in sc.logs()
