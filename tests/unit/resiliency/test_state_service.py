"""StateService runs every component call through the store's outbound policies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from components.base import ComponentContext
from components.errors import ETagMismatch
from components.state import GetRequest, StateItem
from components.state.in_memory import InMemoryMetadata, InMemoryStateStore
from runtime.compstore import ComponentStore, LiveComponent
from runtime.errors import APIError
from runtime.resiliency import Resiliency, ResiliencyConfig
from runtime.resiliency.model import BreakerSpec, ComponentTarget, PolicyNames, RetrySpec
from runtime.services.state import SaveItem, StateService
from tests.unit.resiliency._support import Recorder


class FlakyStore(InMemoryStateStore):
    """Raises the queued errors first, one per call."""

    def __init__(self) -> None:
        super().__init__(
            InMemoryMetadata(),
            context=ComponentContext(name="s", app_id="app", namespace="d", home=Path("/tmp")),
        )
        self.errors: list[Exception] = []
        self.gets = 0

    async def get(self, req: GetRequest) -> StateItem | None:
        self.gets += 1
        if self.errors:
            raise self.errors.pop(0)
        return await super().get(req)


def service(store: Any, config: ResiliencyConfig | None, rec: Recorder) -> StateService:
    components = ComponentStore()
    components.add(
        LiveComponent(name="s", type="state.in-memory", version="v1", block="state", instance=store)
    )
    return StateService(components, app_id="app", resiliency=Resiliency(config, events=rec))


POLICY = ResiliencyConfig(
    retries={"r": RetrySpec(duration=0.001, maxRetries=2)},
    breakers={"cb": BreakerSpec(trip="consecutiveFailures >= 5")},
    components={"s": ComponentTarget(outbound=PolicyNames(retry="r", circuitBreaker="cb"))},
)


async def test_transient_errors_are_retried() -> None:
    store, rec = FlakyStore(), Recorder()
    state = service(store, POLICY, rec)
    await state.save("s", [SaveItem(key="k", value=b"v")])
    store.errors = [ConnectionError("reset"), ConnectionError("reset")]
    result = await state.get("s", "k")
    assert result.value == b"v"
    assert store.gets == 3
    assert [k for k, *_ in rec.log if k == "retry"] == ["retry", "retry"]


async def test_client_mistakes_are_not_retried() -> None:
    store, rec = FlakyStore(), Recorder()
    state = service(store, POLICY, rec)
    store.errors = [ETagMismatch("k")]
    with pytest.raises(APIError, match="etag mismatch"):
        await state.get("s", "k")
    assert store.gets == 1


async def test_exhausted_retries_keep_the_api_error_code() -> None:
    store, rec = FlakyStore(), Recorder()
    state = service(store, POLICY, rec)
    store.errors = [ConnectionError("reset")] * 3
    with pytest.raises(APIError) as info:
        await state.get("s", "k")
    assert (info.value.code, info.value.http_status) == ("ERR_STATE_GET", 500)
    assert store.gets == 3


async def test_no_policy_runs_the_bare_call() -> None:
    store, rec = FlakyStore(), Recorder()
    state = service(store, None, rec)
    store.errors = [ConnectionError("reset")]
    with pytest.raises(APIError) as info:
        await state.get("s", "k")
    assert info.value.http_status == 500
    assert store.gets == 1
    assert state._runner("s") is None
