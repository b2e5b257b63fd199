"""Request bytes the gRPC API cannot decode are the caller's mistake, answered as such.

Corrupt wire format or invalid UTF-8 in a string field: INVALID_ARGUMENT with ErrorInfo
``ERR_MALFORMED_REQUEST`` and a message naming the method, never grpcio's UNKNOWN carrying the
Python exception text, and no traceback in the sidecar's log.

gRPC calls use Tandem's generated stubs; this module must never import the ``dapr`` SDK.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from protos.dapr.runtime.v1 import dapr_pb2_grpc, state_pb2
from tests.integration.harness import Sidecar, component_yaml

pytestmark = pytest.mark.integration

DAPR = "/dapr.proto.runtime.v1.Dapr/"
UNDECODABLE = [
    (DAPR + "GetState", b"\xff\xff\xff\xff"),  # garbage
    (DAPR + "GetState", b"\x0a\x02\xff\xfe\x12\x01k"),  # store_name: invalid UTF-8
    (DAPR + "SaveState", b"\x0a\x0astate"),  # truncated
    (DAPR + "SaveState", b"\x0a\x01s\x12\x04\x0a\x02\xc3\x28"),  # states[0].key: invalid UTF-8
    (DAPR + "SetMetadata", b"\x0a\x02\xff\xfe"),
    (DAPR + "Shutdown", b"\xff\xff"),
    ("/tandem.runtime.v1.Tandem/ListStateKeysAlpha1", b"\x0f\x01"),  # wire type 7
]


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sidecar]:
    tmp: Path = tmp_path_factory.mktemp("decoding")
    with Sidecar.start(tmp, components=[component_yaml("statestore")], app_id="decoding") as sc:
        yield sc


@pytest.fixture(scope="module")
def channel(sidecar: Sidecar) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(sidecar.grpc_target) as ch:
        yield ch


def _error_info(err: grpc.RpcError) -> error_details_pb2.ErrorInfo:
    trailers: Any = err.trailing_metadata()
    (raw,) = [v for k, v in trailers if k == "grpc-status-details-bin"]
    info = error_details_pb2.ErrorInfo()
    assert status_pb2.Status.FromString(raw).details[0].Unpack(info)
    return info


@pytest.mark.parametrize(("method", "payload"), UNDECODABLE, ids=lambda v: repr(v)[-24:])
def test_undecodable_request_is_invalid_argument(
    sidecar: Sidecar, channel: grpc.Channel, method: str, payload: bytes
) -> None:
    call = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
    with pytest.raises(grpc.RpcError) as caught:
        call(payload, timeout=5)
    err: Any = caught.value
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, err.details()
    assert err.details() == f"failed to decode the {method} request message"
    info = _error_info(err)
    assert (info.reason, info.domain) == ("ERR_MALFORMED_REQUEST", "dapr.io")
    assert "Traceback" not in sidecar.logs()
    assert sidecar.proc.poll() is None


def test_still_serves_after_undecodable_requests(channel: grpc.Channel) -> None:
    stub = dapr_pb2_grpc.DaprStub(channel)
    got = stub.GetState(state_pb2.GetStateRequest(store_name="statestore", key="k"), timeout=5)
    assert got.data == b""
