"""Features a store does not declare, and no state store at all, over both protocols.

Every built-in state store declares ETAG, TRANSACTIONAL, TTL and LIST_KEYS, so the "not
supported" answers cannot be reached through a real sidecar with the built-in catalog. These
tests serve Tandem's real HTTP app and gRPC server in this process (the same ``build_app`` and
``GrpcServer`` the sidecar runs) over a minimal store that declares no feature. The store even
has ``query`` / ``transact`` / ``list_keys`` methods that must never be called: an undeclared
feature must not be reachable (``components.state._api``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import grpc
import pytest
from aiohttp.test_utils import TestClient, TestServer
from grpc import aio

from components.base import BaseMetadata, ComponentInfo
from components.state import (
    DeleteRequest,
    GetRequest,
    KeysPage,
    ListKeysRequest,
    Query,
    QueryResult,
    SetRequest,
    StateFeature,
    StateItem,
    TransactionOp,
)
from components.state._base import BaseStateStore
from protos.dapr.common.v1 import common_pb2
from protos.dapr.runtime.v1 import dapr_pb2_grpc, metadata_pb2, state_pb2
from protos.tandem.v1 import tandem_pb2, tandem_pb2_grpc
from runtime.api.grpc.server import GrpcServer
from runtime.api.http.server import build_app
from runtime.compstore import ComponentStore, LiveComponent
from runtime.internal.client import InternalClient
from runtime.services import Services
from runtime.services.configuration import ConfigurationService
from runtime.services.invoke import InvokeService
from runtime.services.metadata import AppConnection, MetadataService
from runtime.services.pubsub import PubSubService
from runtime.services.secrets import SecretsService
from runtime.services.state import StateService
from runtime.status import RuntimeStatus
from tests.integration.harness import free_port
from tests.integration.state._grpc import RpcFailure, decode

NOT_SUPPORTED = "ERR_STATE_STORE_NOT_SUPPORTED"


class BareStore(BaseStateStore):
    """Get, set and delete only; declares no feature."""

    info: ClassVar[ComponentInfo] = ComponentInfo(type="state.bare")
    Metadata: ClassVar[type[BaseMetadata]] = BaseMetadata

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    async def init(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def features(self) -> frozenset[StateFeature]:
        return frozenset()

    async def get(self, req: GetRequest) -> StateItem | None:
        value = self.data.get(req.key)
        return None if value is None else StateItem(key=req.key, value=value)

    async def set(self, req: SetRequest) -> None:
        self.data[req.key] = req.value

    async def delete(self, req: DeleteRequest) -> None:
        self.data.pop(req.key, None)

    # present but undeclared: the runtime must not call them
    async def transact(self, ops: Sequence[TransactionOp]) -> None:
        raise AssertionError("transact called on a store without TRANSACTIONAL")

    @property
    def max_transaction_ops(self) -> int | None:
        return None

    async def query(self, q: Query) -> QueryResult:
        raise AssertionError("query called on a store without QUERY_API")

    async def list_keys(self, req: ListKeysRequest) -> KeysPage:
        raise AssertionError("list_keys called on a store without LIST_KEYS")


@dataclass
class Api:
    http: TestClient[Any, Any]
    dapr: dapr_pb2_grpc.DaprAsyncStub
    tandem: tandem_pb2_grpc.TandemAsyncStub
    store: BareStore


def _services(components: ComponentStore) -> Services:
    return Services(
        state=StateService(components, app_id="bare-app"),
        metadata=MetadataService(
            components,
            app_id="bare-app",
            app_connection=AppConnection(port=None, protocol="http", channel_address="127.0.0.1"),
        ),
        status=RuntimeStatus(),
        invoke=InvokeService(
            app_id="bare-app",
            namespace="",
            resolver=None,
            client=InternalClient(),
            app_channel=lambda: None,
        ),
        configuration=ConfigurationService(components),
        pubsub=PubSubService(components, app_id="bare-app"),
        secrets=SecretsService(components),
    )


async def _serve(components: ComponentStore) -> AsyncIterator[tuple[TestClient[Any, Any], str]]:
    services = _services(components)
    app = build_app(services=services, max_body_size=1 << 20)
    port = free_port()
    server = GrpcServer(
        services=services,
        addresses=["127.0.0.1"],
        port=port,
        max_message_size=1 << 20,
    )
    await server.start()
    async with TestClient(TestServer(app)) as client:
        yield client, f"127.0.0.1:{port}"
    await server.stop(0)


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    store = BareStore()
    components = ComponentStore()
    components.add(
        LiveComponent(name="bare", type="state.bare", version="v1", block="state", instance=store)
    )
    async for client, target in _serve(components):
        async with aio.insecure_channel(target) as channel:
            yield Api(
                client, dapr_pb2_grpc.DaprStub(channel), tandem_pb2_grpc.TandemStub(channel), store
            )


async def _http_error(resp: Any) -> tuple[int, str, str]:
    doc = await resp.json()
    details = [d["reason"] for d in doc.get("details") or [] if d["@type"].endswith("ErrorInfo")]
    return resp.status, doc["errorCode"], details[0] if details else doc["errorCode"]


async def _rpc_error(call: Any) -> RpcFailure:
    try:
        await call
    except grpc.RpcError as err:
        return decode(err)
    raise AssertionError("the call succeeded")


def _item(key: str, **kw: Any) -> common_pb2.StateItem:
    return common_pb2.StateItem(key=key, value=b"1", **kw)


async def test_plain_crud_still_works(api: Api) -> None:
    resp = await api.http.post("/v1.0/state/bare", json=[{"key": "k", "value": 1}])
    assert resp.status == 204
    resp = await api.http.get("/v1.0/state/bare/k")
    assert (resp.status, await resp.read()) == (200, b"1")
    assert "ETag" not in resp.headers
    assert api.store.data == {"bare-app||k": b"1"}
    got = await api.dapr.GetState(state_pb2.GetStateRequest(store_name="bare", key="k"))
    assert (got.data, got.etag) == (b"1", "")


async def test_capabilities_empty(api: Api) -> None:
    doc = await (await api.http.get("/v1.0/metadata")).json()
    assert doc["components"][0]["capabilities"] in ([], None)
    resp = await api.dapr.GetMetadata(metadata_pb2.GetMetadataRequest())
    assert list(resp.registered_components[0].capabilities) == []


async def test_list_keys_not_supported(api: Api) -> None:
    resp = await api.http.get("/v1.0-alpha1/state/bare/keys")
    assert await _http_error(resp) == (500, NOT_SUPPORTED, NOT_SUPPORTED)
    f = await _rpc_error(
        api.tandem.ListStateKeysAlpha1(tandem_pb2.ListStateKeysRequest(store_name="bare"))
    )
    assert (f.code, f.error_code, f.reason) == (
        grpc.StatusCode.UNIMPLEMENTED,
        NOT_SUPPORTED,
        NOT_SUPPORTED,
    )


async def test_query_not_supported(api: Api) -> None:
    reason = "DAPR_STATE_QUERYING_NOT_SUPPORTED"
    resp = await api.http.post("/v1.0-alpha1/state/bare/query", json={})
    assert await _http_error(resp) == (500, NOT_SUPPORTED, reason)
    f = await _rpc_error(
        api.dapr.QueryStateAlpha1(state_pb2.QueryStateRequest(store_name="bare", query="{}"))
    )
    assert (f.code, f.error_code, f.reason) == (  # Dapr pairs this one with Internal
        grpc.StatusCode.INTERNAL,
        NOT_SUPPORTED,
        reason,
    )


async def test_transaction_not_supported(api: Api) -> None:
    reason = "DAPR_STATE_TRANSACTIONS_NOT_SUPPORTED"
    body = {"operations": [{"operation": "upsert", "request": {"key": "t", "value": 1}}]}
    resp = await api.http.post("/v1.0/state/bare/transaction", json=body)
    assert await _http_error(resp) == (500, NOT_SUPPORTED, reason)
    f = await _rpc_error(
        api.dapr.ExecuteStateTransaction(
            state_pb2.ExecuteStateTransactionRequest(
                storeName="bare",
                operations=[
                    state_pb2.TransactionalStateOperation(
                        operationType="upsert", request=_item("t")
                    )
                ],
            )
        )
    )
    assert (f.code, f.error_code, f.reason) == (
        grpc.StatusCode.UNIMPLEMENTED,
        NOT_SUPPORTED,
        reason,
    )
    assert api.store.data == {}


@pytest.mark.parametrize(
    ("fields", "grpc_kwargs"),
    [
        ({"etag": "1"}, {"etag": common_pb2.Etag(value="1")}),
        ({"metadata": {"ttlInSeconds": "5"}}, {"metadata": {"ttlInSeconds": "5"}}),
    ],
    ids=["etag", "ttl"],
)
async def test_etag_and_ttl_not_supported(
    api: Api, fields: dict[str, Any], grpc_kwargs: dict[str, Any]
) -> None:
    resp = await api.http.post("/v1.0/state/bare", json=[{"key": "e", "value": 1, **fields}])
    status, code, _ = await _http_error(resp)
    assert (status, code) == (500, NOT_SUPPORTED)
    f = await _rpc_error(
        api.dapr.SaveState(
            state_pb2.SaveStateRequest(store_name="bare", states=[_item("e", **grpc_kwargs)])
        )
    )
    assert (f.code, f.error_code) == (grpc.StatusCode.UNIMPLEMENTED, NOT_SUPPORTED)
    assert api.store.data == {}
    # -1 asks for no TTL: fine without the TTL feature
    body = [{"key": "e", "value": 1, "metadata": {"ttlInSeconds": "-1"}}]
    assert (await api.http.post("/v1.0/state/bare", json=body)).status == 204


async def test_no_state_store_configured() -> None:
    reason = "DAPR_STATE_NOT_CONFIGURED"
    async for client, target in _serve(ComponentStore()):
        resp = await client.get("/v1.0/state/any/k")
        assert await _http_error(resp) == (500, "ERR_STATE_STORE_NOT_CONFIGURED", reason)
        async with aio.insecure_channel(target) as channel:
            stub = dapr_pb2_grpc.DaprStub(channel)
            f = await _rpc_error(
                stub.GetState(state_pb2.GetStateRequest(store_name="any", key="k"))
            )
        assert (f.code, f.error_code, f.reason) == (
            grpc.StatusCode.FAILED_PRECONDITION,
            "ERR_STATE_STORE_NOT_CONFIGURED",
            reason,
        )
