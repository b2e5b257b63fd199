"""A sidecar without any secret store answers the secrets API with a client error (the app asks
for a store it does not have), on both protocols: 400 / FAILED_PRECONDITION
``ERR_SECRET_STORES_NOT_CONFIGURED`` (Dapr: 500)."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from tests.integration.harness import Sidecar, component_yaml
from tests.integration.secrets._grpc import SecretsGrpc
from tests.integration.state._grpc import fail

pytestmark = pytest.mark.integration


def test_no_secret_store_at_all(tmp_path: Path) -> None:
    with Sidecar.start(tmp_path, components=[component_yaml("statestore")]) as sc:
        for path in ("/v1.0/secrets/any/key", "/v1.0/secrets/any/bulk"):
            resp = sc.request("GET", path)
            assert resp.status == 400
            assert resp.json()["errorCode"] == "ERR_SECRET_STORES_NOT_CONFIGURED"
        rpc = SecretsGrpc(sc.grpc_target)
        try:
            for call in (lambda: rpc.get("any", "key"), lambda: rpc.bulk("any")):
                failure = fail(call)
                assert failure.code == grpc.StatusCode.FAILED_PRECONDITION
                assert failure.error_code == "ERR_SECRET_STORES_NOT_CONFIGURED"
        finally:
            rpc.close()
