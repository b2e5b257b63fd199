"""With ``DAPR_API_TOKEN`` set, every configuration call needs it, streaming ones included."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from protos.dapr.runtime.v1 import configuration_pb2 as pb
from protos.dapr.runtime.v1 import dapr_pb2_grpc
from tests.integration.harness import Sidecar, component_yaml

pytestmark = pytest.mark.integration

TOKEN = "s3cret-token"


def test_configuration_calls_need_the_token(tmp_path: Path) -> None:
    file = tmp_path / "c.yaml"
    file.write_text("a: '1'\n")
    component = component_yaml("cfg", "configuration.file", {"path": str(file)})
    with Sidecar.start(tmp_path, components=[component], env={"DAPR_API_TOKEN": TOKEN}) as sc:
        assert sc.request("GET", "/v1.0/configuration/cfg?key=a").status == 401
        ok = sc.request("GET", "/v1.0/configuration/cfg?key=a", headers={"dapr-api-token": TOKEN})
        assert ok.status == 200
        with grpc.insecure_channel(sc.grpc_target) as channel:
            stub = dapr_pb2_grpc.DaprStub(channel)
            request = pb.SubscribeConfigurationRequest(store_name="cfg", keys=["a"])
            for rpc in (stub.SubscribeConfiguration, stub.SubscribeConfigurationAlpha1):
                with pytest.raises(grpc.RpcError) as info:
                    next(iter(rpc(request, timeout=10)))
                assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
            with pytest.raises(grpc.RpcError) as info:
                stub.GetConfiguration(pb.GetConfigurationRequest(store_name="cfg"), timeout=10)
            assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
            stream = stub.SubscribeConfiguration(
                request, metadata=(("dapr-api-token", TOKEN),), timeout=10
            )
            assert next(iter(stream)).id
            stream.cancel()  # type: ignore[no-untyped-call]
