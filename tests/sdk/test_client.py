"""The SDK against a real sidecar process (in-memory state store)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.harness import Sidecar

pytestmark = pytest.mark.integration

MEMORY = """
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: statestore
spec:
  type: state.in-memory
  version: v1
"""


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sidecar]:
    tmp: Path = tmp_path_factory.mktemp("sdk")
    with Sidecar.start(tmp, components=[MEMORY], app_id="sdkapp") as sc:
        yield sc


async def test_state_round_trip_and_etags(sidecar: Sidecar) -> None:
    from tandem import Client, ETagMismatch

    async with Client(http_endpoint=sidecar.http_url) as client:
        await client.wait_for_sidecar(timeout=5)
        await client.save_state("statestore", "o1", {"item": "tea", "qty": 2})
        item = await client.get_state("statestore", "o1")
        assert item is not None
        assert item.json() == {"item": "tea", "qty": 2}
        assert item.etag
        with pytest.raises(ETagMismatch) as err:
            await client.save_state("statestore", "o1", {"qty": 3}, etag="999999")
        assert err.value.code == "ERR_STATE_SAVE"
        await client.save_state("statestore", "o1", {"qty": 3}, etag=item.etag)
        again = await client.get_state("statestore", "o1")
        assert again is not None
        assert again.json() == {"qty": 3}
        assert again.etag != item.etag
        await client.delete_state("statestore", "o1", etag=again.etag)
        assert await client.get_state("statestore", "o1") is None


async def test_raw_json_bytes_are_stored_unchanged(sidecar: Sidecar) -> None:
    from tandem import Client

    async with Client(http_endpoint=sidecar.http_url) as client:
        await client.save_state("statestore", "raw", b'{"b": 1,  "a": [1.0]}')
        item = await client.get_state("statestore", "raw")
        assert item is not None
        assert item.data == b'{"b": 1,  "a": [1.0]}'


async def test_bulk_transaction_query_and_keys(sidecar: Sidecar) -> None:
    from tandem import Client

    async with Client(http_endpoint=sidecar.http_url) as client:
        await client.save_bulk_state(
            "statestore",
            [Client.entry(f"k{i}", {"n": i, "kind": "odd" if i % 2 else "even"}) for i in range(5)],
        )
        bulk = await client.get_bulk_state("statestore", ["k1", "missing"])
        assert bulk[0] is not None
        assert bulk[0].json() == {"n": 1, "kind": "odd"}
        assert bulk[1] is None
        await client.execute_state_transaction(
            "statestore",
            [
                ("upsert", Client.entry("k5", {"n": 5, "kind": "odd"})),
                ("delete", {"key": "k0"}),
            ],
        )
        assert await client.get_state("statestore", "k0") is None
        result = await client.query_state(
            "statestore",
            {"filter": {"EQ": {"kind": "odd"}}, "sort": [{"key": "n", "order": "DESC"}]},
        )
        assert [i.json()["n"] for i in result.items] == [5, 3, 1]
        keys = [k async for k in client.iter_state_keys("statestore", prefix="k", page_size=2)]
        assert keys == ["k1", "k2", "k3", "k4", "k5"]


async def test_unknown_store_raises_not_found(sidecar: Sidecar) -> None:
    from tandem import Client, NotFoundError

    async with Client(http_endpoint=sidecar.http_url) as client:
        with pytest.raises(NotFoundError) as err:
            await client.get_state("nope", "k")
        assert err.value.code == "ERR_STATE_STORE_NOT_FOUND"
        assert err.value.status == 400
        meta = await client.get_metadata()
        assert meta["id"] == "sdkapp"
