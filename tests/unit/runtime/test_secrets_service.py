"""SecretsService: Dapr's scoping rules, the order of checks, and errors from the table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from components.base import ComponentContext
from components.secretstores.local.file import (
    LocalFileSecretStore,
    LocalFileSecretStoreMetadata,
)
from runtime.compstore import ComponentStore, LiveComponent
from runtime.errors import APIError
from runtime.services.secrets import SecretScope, SecretsService
from runtime.services.secrets_errors import SecretsErrors


@pytest.mark.parametrize(
    ("scope", "allowed", "denied"),
    [
        (SecretScope(), ["a", "b"], []),
        (SecretScope(default_access="deny"), [], ["a", "b"]),
        (SecretScope(default_access="DENY"), [], ["a"]),
        (SecretScope(denied=frozenset({"a"})), ["b"], ["a"]),
        # a non-empty allow list decides alone: default access and deny list do not matter
        (SecretScope(default_access="deny", allowed=frozenset({"a"})), ["a"], ["b"]),
        (SecretScope(allowed=frozenset({"a"}), denied=frozenset({"a"})), ["a"], ["b"]),
        # exact names: no case folding, no patterns
        (SecretScope(allowed=frozenset({"A*"})), ["A*"], ["A", "Ab", "a*"]),
    ],
)
def test_scope_follows_dapr(scope: SecretScope, allowed: list[str], denied: list[str]) -> None:
    assert all(scope.allows(k) for k in allowed)
    assert not any(scope.allows(k) for k in denied)


def test_a_later_scope_entry_for_the_same_store_wins() -> None:
    scopes = SecretsService.scopes_from([("s", "deny", [], []), ("s", "allow", [], ["x"])])
    assert scopes["s"].allows("y")
    assert not scopes["s"].allows("x")


@pytest.fixture
async def service(tmp_path: Path) -> SecretsService:
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"a": "1", "hidden": "2"}))
    meta = LocalFileSecretStoreMetadata.model_validate({"secretsFile": str(path)})
    ctx = ComponentContext(name="files", app_id="x", namespace="default", home=tmp_path)
    store = LocalFileSecretStore(meta, context=ctx)
    await store.init()
    components = ComponentStore()
    components.add(
        LiveComponent(
            name="files",
            type="secretstores.local.file",
            version="v1",
            block="secretstores",
            instance=store,
        )
    )
    scopes = {"files": SecretScope(denied=frozenset({"hidden", "ghost"}))}
    return SecretsService(components, scopes=scopes)


async def _error(coro: object) -> APIError:
    with pytest.raises(APIError) as info:
        await coro  # type: ignore[misc]
    return info.value


async def test_checks_and_their_errors(service: SecretsService) -> None:
    assert await service.get("files", "a", {}) == {"a": "1"}
    assert (await _error(service.get("nope", "a", {}))).kind is SecretsErrors.STORE_NOT_FOUND
    assert (await _error(service.get("files", "", {}))).kind is SecretsErrors.KEY_INVALID
    assert (await _error(service.get("files", "x" * 1025, {}))).kind is SecretsErrors.KEY_INVALID
    denied = await _error(service.get("files", "hidden", {}))
    ghost = await _error(service.get("files", "ghost", {}))  # denied and absent: same answer
    assert denied.kind is ghost.kind is SecretsErrors.PERMISSION_DENIED
    missing = await _error(service.get("files", "b", {}))
    assert missing.kind is SecretsErrors.SECRET_NOT_FOUND
    assert await service.bulk("files", {}) == {"a": {"a": "1"}}


async def test_no_secret_store_at_all() -> None:
    service = SecretsService(ComponentStore())
    err = await _error(service.get("files", "a", {}))
    assert err.kind is SecretsErrors.STORES_NOT_CONFIGURED
    assert (await _error(service.bulk("files", {}))).kind is SecretsErrors.STORES_NOT_CONFIGURED
