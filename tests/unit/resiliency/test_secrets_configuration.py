"""Secrets and configuration stores run under ``components.<name>.outbound`` policies, and
configuration callbacks into the app under ``apps.<app-id>``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from components.base import ComponentContext
from components.configuration import ConfigurationItem
from components.configuration.file import FileConfigurationMetadata, FileConfigurationStore
from runtime.appchannel.base import InvokeRequest, InvokeResponse
from runtime.compstore import ComponentStore, LiveComponent
from runtime.errors import APIError
from runtime.resiliency import Resiliency, ResiliencyConfig
from runtime.resiliency.model import ComponentTarget, PolicyNames, RetrySpec
from runtime.services.configuration import ConfigurationService
from runtime.services.secrets import SecretsService
from tests.unit.resiliency._support import Recorder

RETRY = {"r": RetrySpec(duration=0.001, maxRetries=2)}


def _target(name: str) -> ResiliencyConfig:
    return ResiliencyConfig(
        retries=RETRY, components={name: ComponentTarget(outbound=PolicyNames(retry="r"))}
    )


def _components(name: str, block: str, instance: Any) -> ComponentStore:
    components = ComponentStore()
    components.add(
        LiveComponent(name=name, type=f"{block}.x", version="v1", block=block, instance=instance)
    )
    return components


class FlakySecrets:
    """A secret store failing with the queued errors first, one per call."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    def features(self) -> frozenset[Any]:
        return frozenset()

    async def get(self, name: str, metadata: Mapping[str, str]) -> dict[str, str] | None:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return {name: "v"}

    async def bulk_get(self, metadata: Mapping[str, str]) -> dict[str, dict[str, str]]:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return {"a": {"a": "v"}}


async def test_secret_reads_are_retried() -> None:
    store, rec = FlakySecrets(ConnectionError("reset"), ConnectionError("reset")), Recorder()
    secrets = SecretsService(
        _components("vault", "secretstores", store),
        resiliency=Resiliency(_target("vault"), events=rec),
    )
    assert await secrets.get("vault", "k", {}) == {"k": "v"}
    assert store.calls == 3
    assert [(k, t) for k, t, _ in rec.log] == [("retry", "components.vault.outbound")] * 2
    store.errors = [ConnectionError("reset")]
    assert await secrets.bulk("vault", {}) == {"a": {"a": "v"}}


async def test_secret_retries_exhausted_keep_the_api_error() -> None:
    store = FlakySecrets(*[ConnectionError("reset")] * 3)
    secrets = SecretsService(
        _components("vault", "secretstores", store), resiliency=Resiliency(_target("vault"))
    )
    with pytest.raises(APIError) as info:
        await secrets.get("vault", "k", {})
    assert (info.value.code, info.value.http_status) == ("ERR_SECRET_GET", 500)
    assert store.calls == 3


async def test_secrets_without_a_policy_call_once() -> None:
    store = FlakySecrets(ConnectionError("reset"))
    secrets = SecretsService(
        _components("vault", "secretstores", store), resiliency=Resiliency(_target("other"))
    )
    with pytest.raises(APIError):
        await secrets.get("vault", "k", {})
    assert store.calls == 1


class FlakyConfig(FileConfigurationStore):
    def __init__(self, path: Path, *errors: Exception) -> None:
        super().__init__(
            FileConfigurationMetadata(path=str(path)),
            context=ComponentContext(name="cfg", app_id="app", namespace="d", home=path.parent),
        )
        self.errors = list(errors)
        self.calls = 0

    async def get(
        self, keys: Sequence[str], metadata: Mapping[str, str] | None = None
    ) -> dict[str, ConfigurationItem]:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return await super().get(keys, metadata)


@pytest.fixture
async def config_store(tmp_path: Path) -> AsyncIterator[FlakyConfig]:
    (tmp_path / "c.yaml").write_text("a: a1\n")
    store = FlakyConfig(tmp_path / "c.yaml")
    await store.init()
    yield store
    await store.close()


async def test_configuration_reads_are_retried(config_store: FlakyConfig) -> None:
    config_store.errors = [ConnectionError("reset"), ConnectionError("reset")]
    svc = ConfigurationService(
        _components("cfg", "configuration", config_store), resiliency=Resiliency(_target("cfg"))
    )
    assert await svc.get("cfg", ["a"]) == {"a": ConfigurationItem("a1")}
    assert config_store.calls == 3


class App:
    """An app channel answering configuration callbacks with the queued statuses (then 200)."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)
        self.calls: list[str] = []
        self.done = asyncio.Event()

    async def invoke(self, request: InvokeRequest) -> InvokeResponse:
        self.calls.append(request.method)
        status = self.statuses.pop(0) if self.statuses else 200
        if status == 200:
            self.done.set()
        return InvokeResponse(status=status)


async def _deliver(store: FlakyConfig, app: App, config: ResiliencyConfig) -> None:
    svc = ConfigurationService(
        _components("cfg", "configuration", store),
        app_channel=lambda: app,  # type: ignore[arg-type,return-value]
        resiliency=Resiliency(config),
        app_id="myapp",
    )
    try:
        await svc.subscribe_app("cfg", ["a"])
        store._path.write_text("a: a2 changed\n")
        await asyncio.wait_for(app.done.wait(), 10)
    finally:
        await svc.aclose()


async def test_app_callbacks_run_under_the_app_policies(config_store: FlakyConfig) -> None:
    app = App(503, 500)
    config = ResiliencyConfig(retries=RETRY, apps={"myapp": PolicyNames(retry="r")})
    await _deliver(config_store, app, config)
    assert app.calls == ["configuration/cfg/a"] * 3
