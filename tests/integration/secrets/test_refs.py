"""``secretKeyRef`` at start-up: a reference that cannot be resolved stops the sidecar with an
error naming the component, the field, the secret and the store (never a value); with
``ignoreErrors: true`` the component is skipped with that message as a warning. References
are checked before anything starts: a missing ``auth.secretStore`` or an unknown store is a
configuration error.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.harness import Sidecar, run_tandem
from tests.integration.secrets._support import (
    CANARY,
    component_with_refs,
    secret_store_components,
)

pytestmark = pytest.mark.integration

EXIT_STARTUP = 1


def _fails(tmp: Path, *components: str) -> str:
    sc = Sidecar.spawn(tmp, components=[*secret_store_components(tmp, "UNUSED"), *components])
    code = sc.wait_exit()
    logs = sc.logs()
    assert code != 0, logs
    assert CANARY not in logs
    return logs


def test_missing_secret_stops_start_naming_component_field_and_store(tmp_path: Path) -> None:
    comp = component_with_refs(
        "orders",
        "state.sqlite",
        {},
        {"connectionString": {"name": "nope"}},
        store="localsecretstore",
    )
    logs = _fails(tmp_path, comp)
    line = next(line for line in logs.splitlines() if "orders" in line and "nope" in line)
    for part in ("state.sqlite", "connectionString", "'localsecretstore'", "not found"):
        assert part in line, line


def test_missing_key_of_a_multi_valued_secret(tmp_path: Path) -> None:
    comp = component_with_refs(
        "orders",
        "state.sqlite",
        {},
        {"connectionString": {"name": "nested", "key": "nokey"}},
        store="multistore",
    )
    logs = _fails(tmp_path, comp)
    assert "'nested' key 'nokey' of secret store 'multistore'" in logs


def test_invalid_resolved_value_is_reported_without_the_value(tmp_path: Path) -> None:
    comp = component_with_refs(
        "orders",
        "state.sqlite",
        {},
        {"cleanupInterval": {"name": "plain"}},
        store="localsecretstore",
    )
    logs = _fails(tmp_path, comp)
    assert "spec.metadata[0] (cleanupInterval)" in logs
    assert "value not shown" in logs


def test_ignore_errors_skips_the_component_with_a_warning(tmp_path: Path) -> None:
    comp = component_with_refs(
        "orders",
        "state.sqlite",
        {},
        {"connectionString": {"name": "nope"}},
        store="localsecretstore",
        spec={"ignoreErrors": True},
    )
    components = [*secret_store_components(tmp_path, "UNUSED"), comp]
    with Sidecar.start(tmp_path, components=components) as sc:
        names = [c["name"] for c in sc.request("GET", "/v1.0/metadata").json()["components"]]
        assert "orders" not in names
        assert "localsecretstore" in names
        logs = sc.logs()
    assert "component orders (state.sqlite)" in logs
    assert "skipped (ignoreErrors)" in logs
    assert CANARY not in logs


def test_a_failed_secret_store_fails_the_components_that_need_it(tmp_path: Path) -> None:
    broken = json.loads(
        secret_store_components(tmp_path, "UNUSED")[0]
        .replace("secrets.json", "absent.json")
        .replace('"localsecretstore"', '"brokenstore"')
    )
    broken["spec"]["ignoreErrors"] = True
    comp = component_with_refs(
        "orders", "state.sqlite", {}, {"connectionString": {"name": "dbfile"}}, store="brokenstore"
    )
    logs = _fails(tmp_path, json.dumps(broken), comp)
    assert "secret store 'brokenstore' is not loaded" in logs
    assert "absent.json" in logs  # why the store itself failed


@pytest.mark.parametrize(
    ("store", "expected"),
    [
        (None, "needs auth.secretStore"),
        ("nostore", "secret store 'nostore' (auth.secretStore) is not configured"),
    ],
)
def test_reference_to_no_store_is_a_configuration_error(
    tmp_path: Path, store: str | None, expected: str
) -> None:
    res = tmp_path / "resources"
    res.mkdir()
    for i, text in enumerate(secret_store_components(tmp_path, "UNUSED")):
        (res / f"store{i}.yaml").write_text(text)
    (res / "orders.yaml").write_text(
        component_with_refs(
            "orders", "state.sqlite", {}, {"connectionString": {"name": "dbfile"}}, store=store
        )
    )
    out = run_tandem(["validate", "--resources-path", str(res)], home=tmp_path / "home")
    assert out.returncode != 0
    text = out.stdout + out.stderr
    assert expected in text, text
    assert "spec.metadata[0].secretKeyRef" in text


def test_a_secret_store_cannot_use_secret_key_ref(tmp_path: Path) -> None:
    res = tmp_path / "resources"
    res.mkdir()
    (res / "s.yaml").write_text(
        component_with_refs(
            "s2", "secretstores.local.env", {}, {"prefix": {"name": "x"}}, store="s2"
        )
    )
    out = run_tandem(["validate", "--resources-path", str(res)], home=tmp_path / "home")
    assert out.returncode != 0
    assert "a secret store cannot take metadata from a secretKeyRef" in out.stdout + out.stderr
