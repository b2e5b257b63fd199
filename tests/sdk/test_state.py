"""The SDK's state calls against a real sidecar (in-memory store)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from tandem import (
    AsyncClient,
    Client,
    Delete,
    ETagMismatch,
    InvalidArgument,
    NotFound,
    StateEntry,
    Upsert,
)

from protos.dapr.common.v1 import common_pb2
from protos.dapr.runtime.v1 import dapr_pb2_grpc, state_pb2
from tests.integration.harness import Sidecar, component_yaml

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sidecar]:
    tmp: Path = tmp_path_factory.mktemp("sdkstate")
    comps = [component_yaml("statestore"), component_yaml("pubsub", "pubsub.in-memory")]
    with Sidecar.start(tmp, components=comps, app_id="sdkapp") as sc:
        yield sc


async def test_state_round_trip_and_etags(sidecar: Sidecar) -> None:
    async with AsyncClient(http_endpoint=sidecar.http_url, ready_timeout=10) as client:
        await client.save_state("statestore", "o1", {"item": "tea", "qty": 2})
        item = await client.get_state("statestore", "o1")
        assert item is not None
        assert item.json() == {"item": "tea", "qty": 2}
        assert item.etag
        with pytest.raises(ETagMismatch) as err:
            await client.save_state("statestore", "o1", {"qty": 3}, etag="999999")
        assert err.value.code == "ERR_STATE_SAVE"
        assert err.value.status == 409
        await client.save_state("statestore", "o1", {"qty": 3}, etag=item.etag, ttl_seconds=600)
        again = await client.get_state("statestore", "o1")
        assert again is not None
        assert again.json() == {"qty": 3}
        assert again.etag != item.etag
        await client.delete_state("statestore", "o1", etag=again.etag)
        assert await client.get_state("statestore", "o1") is None


async def test_values_come_back_byte_exact_from_get_bulk_and_query(sidecar: Sidecar) -> None:
    exact = b'{"kind": "exact",  "n": 1.0, "z": [1,2]}'
    # A non-JSON value, as a gRPC client stores it (Dapr's HTTP API only stores JSON).
    with grpc.insecure_channel(sidecar.grpc_target) as ch:
        dapr_pb2_grpc.DaprStub(ch).SaveState(
            state_pb2.SaveStateRequest(
                store_name="statestore",
                states=[common_pb2.StateItem(key="x-raw", value=b"plain text, not JSON")],
            ),
            timeout=5,
        )
    async with AsyncClient(http_endpoint=sidecar.http_url) as client:
        await client.save_state("statestore", "x-json", exact)
        await client.save_state("statestore", "x-str", '"quoted" string')
        for key, want in [
            ("x-json", exact),
            ("x-raw", b"plain text, not JSON"),
            ("x-str", b'"\\"quoted\\" string"'),
        ]:
            single = await client.get_state("statestore", key)
            assert single is not None
            assert single.data == want
            (bulk,) = await client.get_bulk_state("statestore", [key])
            assert bulk is not None
            assert bulk.data == want
            assert bulk.etag == single.etag
        result = await client.query_state("statestore", {"filter": {"EQ": {"kind": "exact"}}})
        assert [(i.key, i.data) for i in result.items] == [("x-json", exact)]


async def test_bulk_transaction_query_and_keys(sidecar: Sidecar) -> None:
    async with AsyncClient(http_endpoint=sidecar.http_url) as client:
        await client.save_bulk_state(
            "statestore",
            [StateEntry(f"k{i}", {"n": i, "kind": "odd" if i % 2 else "even"}) for i in range(5)],
        )
        bulk = await client.get_bulk_state("statestore", ["k1", "missing"])
        assert bulk[0] is not None
        assert bulk[0].json() == {"n": 1, "kind": "odd"}
        assert bulk[1] is None
        await client.execute_state_transaction(
            "statestore", [Upsert(StateEntry("k5", {"n": 5, "kind": "odd"})), Delete("k0")]
        )
        assert await client.get_state("statestore", "k0") is None
        result = await client.query_state(
            "statestore",
            {"filter": {"EQ": {"kind": "odd"}}, "sort": [{"key": "n", "order": "DESC"}]},
        )
        assert [i.json()["n"] for i in result.items] == [5, 3, 1]
        assert all(i.etag for i in result.items)
        keys = [k async for k in client.iter_state_keys("statestore", prefix="k", page_size=2)]
        assert keys == ["k1", "k2", "k3", "k4", "k5"]


async def test_errors_carry_code_and_status(sidecar: Sidecar) -> None:
    async with AsyncClient(http_endpoint=sidecar.http_url) as client:
        with pytest.raises(NotFound) as err:
            await client.get_state("nope", "k")
        assert err.value.code == "ERR_STATE_STORE_NOT_FOUND"
        assert err.value.status == 400
        meta = await client.get_metadata()
        assert meta["id"] == "sdkapp"


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.get_state("", "k"),
        lambda c: c.get_state("statestore", ""),
        lambda c: c.save_state("statestore", "k", b"not json"),
        lambda c: c.save_state("statestore", "k", object()),
        lambda c: c.save_state("statestore", "k", 1, ttl_seconds=-5),
        lambda c: c.list_state_keys("statestore", limit=0),
        lambda c: c.save_state(["statestore"], "k", 1),  # unhashable: not a cache TypeError
        lambda c: c.save_state(7, "k", 1),
        lambda c: c.save_state("statestore", "k", 1, etag=""),
        lambda c: c.save_state("statestore", "k", 1, metadata={"a": 1}),
        lambda c: c.publish("pubsub", "", {}),
        lambda c: c.publish(["pubsub"], "orders", {}),
        lambda c: c.invoke("orders", "place", data=b"x", json={}),
    ],
)
async def test_invalid_arguments_raise_before_any_call(call: object) -> None:
    # Nothing listens on port 9: a network call would raise SidecarUnavailable instead.
    async with AsyncClient(http_endpoint="http://127.0.0.1:9", ready_timeout=None) as client:
        with pytest.raises(InvalidArgument):
            await call(client)  # type: ignore[operator]


async def test_unreachable_sidecar_names_its_address() -> None:
    from tandem import SidecarUnavailable

    with pytest.raises(SidecarUnavailable, match=r"127\.0\.0\.1:9"):
        async with AsyncClient(http_endpoint="http://127.0.0.1:9", ready_timeout=0.2):
            pass


def test_blocking_client_uses_env_and_same_calls(
    sidecar: Sidecar, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DAPR_HTTP_ENDPOINT", raising=False)
    monkeypatch.setenv("DAPR_HTTP_PORT", str(sidecar.http_port))
    with Client() as client:
        assert client.address == sidecar.http_url
        client.save_state("statestore", "sync-1", {"a": 1})
        item = client.get_state("statestore", "sync-1")
        assert item is not None
        assert item.json() == {"a": 1}
        with pytest.raises(ETagMismatch):
            client.save_state("statestore", "sync-1", 2, etag="42")
        assert "sync-1" in list(client.iter_state_keys("statestore", prefix="sync-"))
