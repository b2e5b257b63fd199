"""``DAPR_API_TOKEN`` on flagd's gRPC services, streaming ones included, on the sidecar's gRPC
API port and on ``--flagd-port``: no token or a wrong one is UNAUTHENTICATED before anything
is streamed; the right one (``dapr-api-token`` metadata) is served."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest

from protos.flagd.evaluation.v1 import evaluation_pb2 as v1
from protos.flagd.evaluation.v1 import evaluation_pb2_grpc as v1_grpc
from protos.flagd.evaluation.v2 import evaluation_pb2 as v2
from protos.flagd.evaluation.v2 import evaluation_pb2_grpc as v2_grpc
from protos.flagd.sync.v1 import sync_pb2, sync_pb2_grpc
from tests.integration.flags._support import start_with_flags
from tests.integration.harness import Sidecar, free_port

pytestmark = pytest.mark.integration

TOKEN = "flagd-s3cret"
WRONG = [(), (("dapr-api-token", "not-" + TOKEN),), (("dapr-api-token", ""),)]
RIGHT = (("dapr-api-token", TOKEN),)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Sidecar, int]]:
    flagd_port = free_port()
    tmp = tmp_path_factory.mktemp("flagd-token")
    with start_with_flags(
        tmp, env={"DAPR_API_TOKEN": TOKEN}, args=["--flagd-port", str(flagd_port)]
    ) as (sidecar, _):
        yield sidecar, flagd_port


@pytest.fixture(params=["grpc-port", "flagd-port"])
def channel(request: pytest.FixtureRequest, served: tuple[Sidecar, int]) -> Iterator[grpc.Channel]:
    sidecar, flagd_port = served
    target = sidecar.grpc_target if request.param == "grpc-port" else f"127.0.0.1:{flagd_port}"
    with grpc.insecure_channel(target) as ch:
        yield ch


Call = Callable[[grpc.Channel, Any], Any]

STREAMS: dict[str, Call] = {
    "evaluation.v1/EventStream": lambda ch, md: v1_grpc.ServiceStub(ch).EventStream(
        v1.EventStreamRequest(), metadata=md, timeout=10
    ),
    "evaluation.v2/EventStream": lambda ch, md: v2_grpc.ServiceStub(ch).EventStream(
        v2.EventStreamRequest(), metadata=md, timeout=10
    ),
    "sync.v1/SyncFlags": lambda ch, md: sync_pb2_grpc.FlagSyncServiceStub(ch).SyncFlags(
        sync_pb2.SyncFlagsRequest(), metadata=md, timeout=10
    ),
}

UNARY: dict[str, Call] = {
    "evaluation.v1/ResolveBoolean": lambda ch, md: v1_grpc.ServiceStub(ch).ResolveBoolean(
        v1.ResolveBooleanRequest(flag_key="bool-flag"), metadata=md, timeout=10
    ),
    "evaluation.v2/ResolveBoolean": lambda ch, md: v2_grpc.ServiceStub(ch).ResolveBoolean(
        v2.ResolveBooleanRequest(flag_key="bool-flag"), metadata=md, timeout=10
    ),
    "sync.v1/FetchAllFlags": lambda ch, md: sync_pb2_grpc.FlagSyncServiceStub(ch).FetchAllFlags(
        sync_pb2.FetchAllFlagsRequest(), metadata=md, timeout=10
    ),
}


@pytest.mark.parametrize("rpc", sorted(STREAMS))
def test_a_stream_without_the_right_token_is_unauthenticated(
    channel: grpc.Channel, rpc: str
) -> None:
    for metadata in WRONG:
        stream = STREAMS[rpc](channel, metadata)
        got: list[Any] = []
        with pytest.raises(grpc.RpcError) as info:
            got.extend(stream)  # the refusal ends the stream before any message
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED, (rpc, metadata)
        assert got == [], (rpc, metadata)


@pytest.mark.parametrize("rpc", sorted(STREAMS))
def test_a_stream_with_the_token_is_served(channel: grpc.Channel, rpc: str) -> None:
    stream = STREAMS[rpc](channel, RIGHT)
    try:
        first = next(stream)
    finally:
        stream.cancel()
    if rpc.startswith("evaluation"):
        assert first.type == "provider_ready"
    else:
        assert "bool-flag" in json.loads(first.flag_configuration)["flags"]


@pytest.mark.parametrize("rpc", sorted(UNARY))
def test_a_unary_call_needs_the_token(channel: grpc.Channel, rpc: str) -> None:
    for metadata in WRONG:
        with pytest.raises(grpc.RpcError) as info:
            UNARY[rpc](channel, metadata)
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED, (rpc, metadata)
    reply = UNARY[rpc](channel, RIGHT)
    if rpc.startswith("evaluation"):
        assert (reply.value, reply.variant) == (True, "on")
    else:
        assert "bool-flag" in json.loads(reply.flag_configuration)["flags"]


def test_the_sidecar_survived(served: tuple[Sidecar, int]) -> None:
    sidecar, _ = served
    assert sidecar.proc.poll() is None
    assert "Traceback" not in sidecar.logs()
    assert TOKEN not in sidecar.logs()


def test_ofrep_and_flagd_share_the_token(served: tuple[Sidecar, int]) -> None:
    """The HTTP twin (OFREP), for the same sidecar: 401 without, 200 with."""
    sidecar, _ = served
    path = "/ofrep/v1/evaluate/flags/bool-flag"
    body = json.dumps({"context": {"targetingKey": "u"}})
    headers = {"Content-Type": "application/json"}
    assert sidecar.request("POST", path, body, headers).status == 401
    wrong = {**headers, "dapr-api-token": "not-" + TOKEN}
    assert sidecar.request("POST", path, body, wrong).status == 401
    right = {**headers, "dapr-api-token": TOKEN}
    assert sidecar.request("POST", path, body, right).status == 200
