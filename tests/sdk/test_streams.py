"""gRPC streams through the SDK (extra ``grpc``): configuration watch, streaming subscriptions."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from tandem import AsyncClient
from tandem.app import Status

from tests.integration.harness import Sidecar, component_yaml

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sidecar]:
    tmp: Path = tmp_path_factory.mktemp("sdkstreams")
    config = tmp / "config.yaml"
    config.write_text('limit: {value: "1", version: "1"}\n')
    comps = [
        component_yaml("pubsub", "pubsub.in-memory"),
        component_yaml("configstore", "configuration.file", {"path": str(config)}),
    ]
    with Sidecar.start(tmp, components=comps, app_id="sdkstreams") as sc:
        yield sc


async def test_configuration_subscription_yields_changes(sidecar: Sidecar) -> None:
    config = sidecar.home.parent / "config.yaml"
    async with AsyncClient(
        http_endpoint=sidecar.http_url, grpc_address=sidecar.grpc_target
    ) as client:

        async def first_change() -> str:
            async for items in client.subscribe_configuration("configstore", ["limit"]):
                return items["limit"].value
            return ""

        task = asyncio.create_task(first_change())
        # Whether or not the stream is open yet, a later write is seen: write until one is.
        async with asyncio.timeout(15):
            version = 1
            while not task.done():
                version += 1
                config.write_text(f'limit: {{value: "{version}", version: "{version}"}}\n')
                await asyncio.wait([task], timeout=0.3)
        assert int(task.result()) >= 2


async def test_streaming_subscription_without_app_port(sidecar: Sidecar) -> None:
    async with (
        AsyncClient(http_endpoint=sidecar.http_url, grpc_address=sidecar.grpc_target) as client,
        client.subscribe("pubsub", "stream-orders") as sub,
    ):
        await client.publish("pubsub", "stream-orders", {"id": 1})
        await client.publish("pubsub", "stream-orders", "text event")
        seen: list[object] = []
        async with asyncio.timeout(15):
            async for event in sub:
                seen.append(event.data)
                if event.data == {"id": 1} and seen.count({"id": 1}) == 1:
                    await sub.respond(event, Status.RETRY)  # delivered again
                else:
                    await sub.respond(event, Status.SUCCESS)
                if seen.count({"id": 1}) == 2 and "text event" in seen:
                    break
        assert seen.count({"id": 1}) == 2
        assert event.topic == "stream-orders"
