"""``GET /v1.0/metadata``, ``PUT /v1.0/metadata/{key}`` and gRPC ``GetMetadata``/``SetMetadata``.

gRPC calls use Tandem's generated stubs (``protos.dapr.runtime.v1``); this module must never
import the ``dapr`` SDK (both declare the same protobuf symbols).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from protos.dapr.runtime.v1 import dapr_pb2_grpc, metadata_pb2
from runtime._version import __version__
from tests.integration.apps import python_app
from tests.integration.harness import Sidecar, component_yaml, free_port

pytestmark = pytest.mark.integration

APP_ID = "meta-app"
CAPABILITIES = {"ETAG", "TRANSACTIONAL", "QUERY_API", "TTL"}


@pytest.fixture(scope="module")
def app_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory, app_port: int) -> Iterator[Sidecar]:
    tmp: Path = tmp_path_factory.mktemp("metadata")
    components = [
        component_yaml("statestore"),
        component_yaml("cache", metadata={"keyPrefix": "name"}),
        component_yaml("not-mine", scopes=["someone-else"]),
    ]
    with Sidecar.start(
        tmp,
        app_id=APP_ID,
        components=components,
        args=[
            "--app-port",
            str(app_port),
            "--app-protocol",
            "http",
            "--enable-app-health-check",
            "--app-health-check-path",
            "/health",
            "--app-health-probe-interval",
            "3",
            "--app-health-probe-timeout",
            "250",
            "--app-health-threshold",
            "4",
            "--app-max-concurrency",
            "7",
        ],
    ) as sc:
        yield sc


@pytest.fixture(scope="module")
def stub(sidecar: Sidecar) -> Iterator[dapr_pb2_grpc.DaprStub]:
    with grpc.insecure_channel(sidecar.grpc_target) as channel:
        yield dapr_pb2_grpc.DaprStub(channel)


def http_metadata(sc: Sidecar) -> dict[str, Any]:
    resp = sc.request("GET", "/v1.0/metadata")
    assert resp.status == 200
    assert resp.content_type == "application/json"
    body: dict[str, Any] = resp.json()
    return body


def grpc_metadata(stub: dapr_pb2_grpc.DaprStub) -> metadata_pb2.GetMetadataResponse:
    return stub.GetMetadata(metadata_pb2.GetMetadataRequest(), timeout=5)


def test_http_metadata(sidecar: Sidecar, app_port: int) -> None:
    meta = http_metadata(sidecar)
    assert meta["id"] == APP_ID
    assert meta["runtimeVersion"] == __version__
    components = {c["name"]: c for c in meta["components"]}
    assert set(components) == {"statestore", "cache"}  # not-mine is scoped to another app
    for c in components.values():
        assert c["type"] == "state.in-memory"
        assert c["version"] == "v1"
        assert set(c["capabilities"]) >= CAPABILITIES
    assert meta["extended"]["daprRuntimeVersion"] == __version__
    assert meta["appConnectionProperties"] == {
        "port": app_port,
        "protocol": "http",
        "channelAddress": "127.0.0.1",
        "maxConcurrency": 7,
        "health": {
            "healthCheckPath": "/health",
            "healthProbeInterval": "3s",
            "healthProbeTimeout": "250ms",
            "healthThreshold": 4,
        },
    }


def test_grpc_metadata(sidecar: Sidecar, stub: dapr_pb2_grpc.DaprStub, app_port: int) -> None:
    meta = grpc_metadata(stub)
    assert meta.id == APP_ID
    assert meta.runtime_version == __version__
    components = {c.name: c for c in meta.registered_components}
    assert set(components) == {"statestore", "cache"}
    for c in components.values():
        assert (c.type, c.version) == ("state.in-memory", "v1")
        assert set(c.capabilities) >= CAPABILITIES
    assert meta.extended_metadata["daprRuntimeVersion"] == __version__
    conn = meta.app_connection_properties
    assert (conn.port, conn.protocol, conn.channel_address) == (app_port, "http", "127.0.0.1")
    assert conn.max_concurrency == 7
    assert conn.health.health_check_path == "/health"
    assert conn.health.health_probe_interval == "3s"
    assert conn.health.health_probe_timeout == "250ms"
    assert conn.health.health_threshold == 4


def test_http_and_grpc_agree(sidecar: Sidecar, stub: dapr_pb2_grpc.DaprStub) -> None:
    http = http_metadata(sidecar)
    grpc_meta = grpc_metadata(stub)
    assert http["id"] == grpc_meta.id
    assert http["extended"] == dict(grpc_meta.extended_metadata)
    assert [
        (c["name"], c["type"], c["version"], c["capabilities"]) for c in http["components"]
    ] == [
        (c.name, c.type, c.version, list(c.capabilities)) for c in grpc_meta.registered_components
    ]


def test_put_metadata_shows_in_both_apis(sidecar: Sidecar, stub: dapr_pb2_grpc.DaprStub) -> None:
    key = f"k{uuid.uuid4().hex[:8]}"
    resp = sidecar.request(
        "PUT", f"/v1.0/metadata/{key}", "hello world", {"Content-Type": "text/plain"}
    )
    assert resp.status == 204
    assert resp.body == b""
    assert http_metadata(sidecar)["extended"][key] == "hello world"
    assert grpc_metadata(stub).extended_metadata[key] == "hello world"
    # overwrite, unicode, empty
    assert sidecar.request("PUT", f"/v1.0/metadata/{key}", "ünïcödé ✓".encode()).status == 204
    assert http_metadata(sidecar)["extended"][key] == "ünïcödé ✓"
    assert sidecar.request("PUT", f"/v1.0/metadata/{key}", b"").status == 204
    assert http_metadata(sidecar)["extended"][key] == ""


def test_put_metadata_key_is_url_decoded(sidecar: Sidecar) -> None:
    assert sidecar.request("PUT", "/v1.0/metadata/with%20space", "v").status == 204
    assert http_metadata(sidecar)["extended"]["with space"] == "v"


def test_grpc_set_metadata_shows_in_both_apis(
    sidecar: Sidecar, stub: dapr_pb2_grpc.DaprStub
) -> None:
    key = f"g{uuid.uuid4().hex[:8]}"
    stub.SetMetadata(metadata_pb2.SetMetadataRequest(key=key, value="from-grpc"), timeout=5)
    assert grpc_metadata(stub).extended_metadata[key] == "from-grpc"
    assert http_metadata(sidecar)["extended"][key] == "from-grpc"


def test_metadata_wrong_method(sidecar: Sidecar) -> None:
    resp = sidecar.request("DELETE", "/v1.0/metadata")
    assert 400 <= resp.status < 500
    assert resp.json()["errorCode"].startswith("ERR_")


def test_metadata_without_app_port_or_components(tmp_path: Path) -> None:
    with Sidecar.start(tmp_path, empty_resources=True, app_id="bare") as sc:
        meta = http_metadata(sc)
    assert meta["id"] == "bare"
    assert meta["components"] == []
    assert meta["appConnectionProperties"] == {"protocol": "http", "channelAddress": "127.0.0.1"}


def test_metadata_reports_the_app_process(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    command = python_app("signal_trap", marker)
    with Sidecar.start(tmp_path, empty_resources=True, app_command=command) as sc:
        extended = http_metadata(sc)["extended"]
        assert extended["appCommand"] == " ".join(command)
        assert int(extended["appPID"]) > 0
