"""Planning components with ``secretKeyRef`` metadata (no I/O): a referenced field is checked
once its secret is read, every other field at once; the store must be one this app plans."""

from __future__ import annotations

from typing import Any

import pytest

from runtime.registry import Registry
from runtime.resources.build import plan_components
from runtime.resources.issues import ConfigError
from runtime.resources.manifest import ComponentManifest


def _manifest(name: str, type_: str, metadata: list[dict[str, Any]], **extra: Any) -> Any:
    return ComponentManifest.model_validate(
        {
            "apiVersion": "dapr.io/v1alpha1",
            "kind": "Component",
            "metadata": {"name": name},
            "spec": {"type": type_, "metadata": metadata},
            "source": f"{name}.yaml",
            **extra,
        }
    )


STORE = _manifest("vault", "secretstores.local.file", [{"name": "secretsFile", "value": "x"}])
REF = {"name": "connectionString", "secretKeyRef": {"name": "pg"}}


def test_a_required_field_may_wait_for_its_secret() -> None:
    pg = _manifest("pg", "state.postgresql", [REF], auth={"secretStore": "vault"})
    plans = plan_components([STORE, pg], Registry(), app_id="a", env={})
    (ref,) = plans[1].secret_refs
    assert (ref.store, ref.secret, ref.key, ref.field) == ("vault", "pg", "pg", "connectionString")


def test_other_fields_are_still_checked_when_planning() -> None:
    pg = _manifest(
        "pg",
        "state.postgresql",
        [REF, {"name": "timeout", "value": "soon"}],
        auth={"secretStore": "vault"},
    )
    with pytest.raises(ConfigError) as info:
        plan_components([STORE, pg], Registry(), app_id="a", env={})
    (issue,) = info.value.issues
    assert issue.path == "spec.metadata[1] (timeout)"


def test_the_store_must_be_planned_for_this_app() -> None:
    scoped = _manifest(
        "vault",
        "secretstores.local.file",
        [{"name": "secretsFile", "value": "x"}],
        scopes=["another-app"],
    )
    pg = _manifest("pg", "state.postgresql", [REF], auth={"secretStore": "vault"})
    with pytest.raises(ConfigError, match=r"'vault' .* is not configured"):
        plan_components([scoped, pg], Registry(), app_id="a", env={})
