"""A keyPrefix containing '||' is refused when the component loads, as Dapr does."""

from __future__ import annotations

import pytest

from runtime.registry import Registry
from runtime.resources.build import plan_components
from runtime.resources.issues import ConfigError
from runtime.resources.manifest import ComponentManifest


def _manifest(prefix: str) -> ComponentManifest:
    return ComponentManifest.model_validate(
        {
            "apiVersion": "dapr.io/v1alpha1",
            "kind": "Component",
            "source": "s.yaml",
            "metadata": {"name": "store"},
            "spec": {
                "type": "state.in-memory",
                "metadata": [{"name": "keyPrefix", "value": prefix}],
            },
        }
    )


def test_keyprefix_with_separator_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as err:
        plan_components([_manifest("bad||prefix")], Registry(), app_id="a", env={})
    (issue,) = err.value.issues
    assert issue.path == "spec.metadata[0].value"
    assert "||" in issue.message


def test_keyprefix_is_consumed_by_the_runtime() -> None:
    (plan,) = plan_components([_manifest("Custom")], Registry(), app_id="a", env={})
    assert plan.runtime_metadata == {"keyprefix": "Custom"}
