"""From manifests to component plans (runtime/resources/build.py, runtime/registry.py)."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import Field

import components
from components.base import BaseMetadata, ComponentContext, ComponentInfo
from runtime.catalog import CATALOG, CatalogEntry, block_catalog
from runtime.registry import MissingDriver, Registry, UnknownComponentType
from runtime.resources.build import (
    RUNTIME_METADATA,
    ComponentInitError,
    plan_components,
    start_components,
)
from runtime.resources.issues import ConfigError, Issue
from runtime.resources.loader import collect_resources
from runtime.resources.manifest import ComponentManifest

HERE = __name__


class FakeMetadata(BaseMetadata):
    host: str
    port: int = 6379
    timeout_ms: int = Field(default=100, alias="timeoutMs", ge=0)
    enabled: bool = True


class FakeStore:
    info: ClassVar[ComponentInfo] = ComponentInfo(type="state.fake")
    Metadata: ClassVar[type[BaseMetadata]] = FakeMetadata
    events: ClassVar[list[str]] = []

    def __init__(self, metadata: Any, *, context: ComponentContext) -> None:
        self.metadata = metadata
        self.context = context

    async def init(self) -> None:
        if self.metadata.host == "fail":
            raise RuntimeError("cannot connect")
        self.events.append(f"init {self.context.name}")

    async def close(self) -> None:
        if self.metadata.host == "hang":
            await asyncio.sleep(3600)
        self.events.append(f"close {self.context.name}")

    def features(self) -> frozenset[str]:
        return frozenset()


FAKE = CatalogEntry(type="state.fake", target=f"{HERE}:FakeStore")
NEEDS_DRIVER = CatalogEntry(
    type="state.needsdriver",
    target=f"{HERE}:FakeStore",
    extra="needsdriver",
    requires=("tandem_test_no_such_driver_module",),
)
REGISTRY = Registry([*CATALOG, FAKE, NEEDS_DRIVER])


def manifest(
    name: str = "c",
    type_: str = "state.fake",
    metadata: list[dict[str, Any]] | None = None,
    *,
    scopes: list[str] | None = None,
    version: str = "v1",
    document: int = 0,
    extra_spec: dict[str, Any] | None = None,
) -> ComponentManifest:
    return ComponentManifest.model_validate(
        {
            "apiVersion": "dapr.io/v1alpha1",
            "kind": "Component",
            "metadata": {"name": name},
            "spec": {
                "type": type_,
                "version": version,
                "metadata": metadata if metadata is not None else [{"name": "host", "value": "h"}],
                **(extra_spec or {}),
            },
            "scopes": scopes or [],
            "source": f"/res/{name}.yaml",
            "document": document,
        }
    )


def plan_errors(*manifests: ComponentManifest, env: dict[str, str] | None = None) -> list[Issue]:
    with pytest.raises(ConfigError) as info:
        plan_components(list(manifests), REGISTRY, app_id="app", env=env or {})
    return info.value.issues


def test_plan_typed_metadata() -> None:
    meta: list[dict[str, Any]] = [
        {"name": "HOST", "value": "redis.local"},
        {"name": "port", "value": 6380},
        {"name": "timeoutMs", "value": "250"},
        {"name": "enabled", "value": False},
    ]
    (plan,) = plan_components([manifest(metadata=meta)], REGISTRY, app_id="app", env={})
    assert plan.cls is FakeStore
    assert isinstance(plan.metadata, FakeMetadata)
    assert plan.metadata.host == "redis.local"
    assert plan.metadata.port == 6380
    assert plan.metadata.timeout_ms == 250
    assert plan.metadata.enabled is False


def test_unknown_type_lists_known_ones() -> None:
    (issue,) = plan_errors(manifest(type_="state.nosuch"))
    assert issue.path == "spec.type"
    assert issue.source == "/res/c.yaml"
    assert "state.nosuch" in issue.message
    for known in ("state.in-memory", "state.sqlite", "state.redis", "state.postgresql"):
        assert known in issue.message


def test_unknown_block_lists_every_type() -> None:
    (issue,) = plan_errors(manifest(type_="widgets.nosuch"))
    assert "widgets.nosuch" in issue.message
    assert "state.in-memory" in issue.message


def test_unknown_version_lists_known_versions() -> None:
    (issue,) = plan_errors(manifest(version="v9"))
    assert "v9" in issue.message
    assert "v1" in issue.message


def test_type_lookup_is_case_insensitive() -> None:
    assert REGISTRY.resolve("State.Fake") is FakeStore


def test_missing_driver_names_the_extra() -> None:
    (issue,) = plan_errors(manifest(type_="state.needsdriver"))
    assert issue.path == "spec.type"
    assert "tandem_test_no_such_driver_module" in issue.message
    assert "pip install 'tandem[needsdriver]'" in issue.message


def test_registry_raises_typed_errors() -> None:
    with pytest.raises(MissingDriver, match=r"tandem\[needsdriver\]"):
        REGISTRY.resolve("state.needsdriver")
    with pytest.raises(UnknownComponentType, match="known:"):
        REGISTRY.resolve("state.nope")


def test_registry_rejects_duplicate_entries() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        Registry([FAKE, FAKE])


def test_every_catalog_entry_names_an_extra_when_it_needs_a_driver() -> None:
    for entry in CATALOG:
        if entry.requires:
            assert entry.extra, entry


def test_bad_metadata_value_points_at_the_item() -> None:
    meta: list[dict[str, Any]] = [
        {"name": "host", "value": "h"},
        {"name": "port", "value": "not-a-port"},
    ]
    (issue,) = plan_errors(manifest(metadata=meta, document=2))
    assert issue.path == "spec.metadata[1] (port)"
    assert issue.document == 2
    assert issue.source == "/res/c.yaml"
    assert "integer" in issue.message
    assert "/res/c.yaml (document 3) spec.metadata[1] (port)" in str(issue)


def test_bad_metadata_value_through_alias_and_case() -> None:
    meta: list[dict[str, Any]] = [
        {"name": "host", "value": "h"},
        {"name": "TIMEOUTMS", "value": -5},
    ]
    (issue,) = plan_errors(manifest(metadata=meta))
    assert issue.path.startswith("spec.metadata[1]")


def test_missing_required_metadata() -> None:
    (issue,) = plan_errors(manifest(metadata=[]))
    assert issue.path == "spec.metadata (host)"


def test_all_metadata_problems_of_all_components_reported() -> None:
    bad_port: list[dict[str, Any]] = [
        {"name": "host", "value": "h"},
        {"name": "port", "value": "x"},
    ]
    issues = plan_errors(
        manifest("a", metadata=bad_port),
        manifest("b", type_="state.nosuch"),
        manifest("c", metadata=[{"name": "port", "value": "y"}]),
        manifest("d", metadata=[{"name": "host", "envRef": "UNSET_VAR"}]),
    )
    assert {stem(i.source) for i in issues} == {"a", "b", "c", "d"}
    assert len(issues) >= 5  # c has two: host missing and port bad


def stem(source: str) -> str:
    return source.rsplit("/", 1)[-1].removesuffix(".yaml")


def test_envref_resolution() -> None:
    meta: list[dict[str, Any]] = [
        {"name": "host", "envRef": "FAKE_HOST"},
        {"name": "port", "envRef": "FAKE_PORT"},
    ]
    (plan,) = plan_components(
        [manifest(metadata=meta)],
        REGISTRY,
        app_id="app",
        env={"FAKE_HOST": "from-env", "FAKE_PORT": "7000"},
    )
    assert plan.metadata.host == "from-env"  # type: ignore[attr-defined]
    assert plan.metadata.port == 7000  # type: ignore[attr-defined]


def test_envref_unset_names_variable_and_item() -> None:
    meta: list[dict[str, Any]] = [
        {"name": "port", "value": 1},
        {"name": "host", "envRef": "FAKE_UNSET"},
    ]
    issues = plan_errors(manifest(metadata=meta))
    assert issues[0].path == "spec.metadata[1].envRef"
    assert "FAKE_UNSET" in issues[0].message


def test_secret_key_ref_without_store_is_reported() -> None:
    meta: list[dict[str, Any]] = [{"name": "host", "secretKeyRef": {"name": "s", "key": "k"}}]
    issues = plan_errors(manifest(metadata=meta))
    assert issues[0].path == "spec.metadata[0].secretKeyRef"


def test_scopes_skip_other_apps() -> None:
    plans = plan_components(
        [
            manifest("mine", scopes=["app", "other"]),
            manifest("theirs", scopes=["other"]),
            manifest("everyone"),
        ],
        REGISTRY,
        app_id="app",
        env={},
    )
    assert [p.manifest.name for p in plans] == ["mine", "everyone"]


def test_scoped_out_component_is_not_loaded() -> None:
    bad = manifest("theirs", type_="state.nosuch", scopes=["other"])
    assert plan_components([bad], REGISTRY, app_id="app", env={}) == []


def test_validate_mode_checks_every_scope() -> None:
    """``tandem validate`` passes app_id=None: scoped components are validated too."""
    bad = manifest("theirs", type_="state.nosuch", scopes=["other"])
    with pytest.raises(ConfigError, match=r"state\.nosuch"):
        plan_components([bad], REGISTRY, app_id=None, env={})
    good = manifest("mine", scopes=["other"])
    assert len(plan_components([good], REGISTRY, app_id=None, env={})) == 1


def test_key_prefix_is_consumed_by_the_runtime() -> None:
    meta: list[dict[str, Any]] = [
        {"name": "host", "value": "h"},
        {"name": "keyPrefix", "value": "name"},
        {"name": "actorStateStore", "value": True},
    ]
    (plan,) = plan_components([manifest(metadata=meta)], REGISTRY, app_id="app", env={})
    assert plan.runtime_metadata == {"keyprefix": "name", "actorstatestore": "true"}
    assert "keyPrefix" not in plan.metadata.model_dump(by_alias=True)
    assert "keyprefix" in RUNTIME_METADATA


def test_key_prefix_does_not_warn_as_unknown(caplog: pytest.LogCaptureFixture) -> None:
    meta: list[dict[str, Any]] = [
        {"name": "host", "value": "h"},
        {"name": "keyPrefix", "value": "none"},
    ]
    with caplog.at_level(logging.WARNING, logger="tandem.components"):
        plan_components([manifest(metadata=meta)], REGISTRY, app_id="app", env={})
    assert "unknown metadata" not in caplog.text


def test_unknown_metadata_warns_with_the_name_only(caplog: pytest.LogCaptureFixture) -> None:
    meta: list[dict[str, Any]] = [
        {"name": "host", "value": "h"},
        {"name": "redisPassword", "value": "hunter2"},
    ]
    with caplog.at_level(logging.WARNING, logger="tandem.components"):
        plan_components([manifest(metadata=meta)], REGISTRY, app_id="app", env={})
    assert "redisPassword" in caplog.text
    assert "hunter2" not in caplog.text


def test_validation_error_does_not_echo_the_value() -> None:
    meta: list[dict[str, Any]] = [
        {"name": "host", "value": "h"},
        {"name": "port", "value": "s3cr3t-value"},
    ]
    (issue,) = plan_errors(manifest(metadata=meta))
    assert "s3cr3t-value" not in str(issue)


def test_real_catalog_in_memory_store() -> None:
    (plan,) = plan_components(
        [manifest(type_="state.in-memory", metadata=[])], Registry(), app_id="a", env={}
    )
    assert plan.cls.info.type == "state.in-memory"


def context(m: ComponentManifest) -> ComponentContext:
    from pathlib import Path

    return ComponentContext(name=m.name, app_id="app", namespace="default", home=Path("/tmp"))


async def test_start_components_in_order_and_close_in_reverse() -> None:
    FakeStore.events.clear()
    plans = plan_components([manifest("one"), manifest("two")], REGISTRY, app_id="app", env={})
    async with AsyncExitStack() as stack:
        store = await start_components(plans, stack, context)
        assert sorted(c.name for c in store) == ["one", "two"]
        assert store.get("state", "one") is not None
    assert FakeStore.events == ["init one", "init two", "close two", "close one"]


async def test_start_failure_names_component_and_file() -> None:
    plans = plan_components(
        [manifest("broken", metadata=[{"name": "host", "value": "fail"}])],
        REGISTRY,
        app_id="app",
        env={},
    )
    async with AsyncExitStack() as stack:
        with pytest.raises(
            ComponentInitError, match=r"broken \(state.fake\) from /res/broken.yaml"
        ):
            await start_components(plans, stack, context)


async def test_ignore_errors_skips_the_component() -> None:
    plans = plan_components(
        [
            manifest(
                "broken",
                metadata=[{"name": "host", "value": "fail"}],
                extra_spec={"ignoreErrors": True},
            ),
            manifest("fine"),
        ],
        REGISTRY,
        app_id="app",
        env={},
    )
    async with AsyncExitStack() as stack:
        store = await start_components(plans, stack, context)
        assert [c.name for c in store] == ["fine"]


def test_loading_problems_are_reported_with_planning_problems() -> None:
    """One ConfigError for both steps: a broken file does not hide an unknown type."""
    earlier = Issue("/res/broken.yaml", "malformed YAML: line 2")
    with pytest.raises(ConfigError) as info:
        plan_components(
            [manifest("x", type_="state.nosuch")],
            REGISTRY,
            app_id="app",
            env={},
            prior_issues=[earlier],
        )
    issues = info.value.issues
    assert issues[0] is earlier
    assert [i.path for i in issues] == ["", "spec.type"]


def test_prior_issues_alone_raise() -> None:
    with pytest.raises(ConfigError):
        plan_components([], REGISTRY, app_id="app", env={}, prior_issues=[Issue("f", "bad")])


async def test_a_stuck_close_is_abandoned_after_the_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    FakeStore.events.clear()
    plans = plan_components(
        [manifest("first"), manifest("stuck", metadata=[{"name": "host", "value": "hang"}])],
        REGISTRY,
        app_id="app",
        env={},
    )
    # the stuck close never ends on its own: getting past it at all is the outcome
    with caplog.at_level(logging.WARNING, logger="tandem.components"):
        async with asyncio.timeout(60), AsyncExitStack() as stack:
            await start_components(plans, stack, context, close_timeout=0.05)
    assert FakeStore.events == ["init first", "init stuck", "close first"]
    assert "stuck: close did not finish within 0.05s" in caplog.text


# Resource folders shaped like the official SDKs' examples -----------------------------------

SDK_RESOURCES = Path(__file__).parent / "sdk_resources"
# folder -> the (file, type) of each component whose type Dapr has and Tandem does not
UNIMPLEMENTED: dict[str, list[tuple[str, str]]] = {
    "distributed_lock": [("lockstore.yaml", "lock.redis")],
    "invoke_binding": [("kafka-binding.yaml", "bindings.kafka")],
    "crypto": [("crypto-localstorage.yaml", "crypto.dapr.localstorage")],
    "conversation": [("conversation.yaml", "conversation.echo")],
}
# folder -> the types Tandem loads from it
IMPLEMENTED: dict[str, set[str]] = {
    "state_store": {"state.redis", "pubsub.redis"},
    "pubsub_simple": {"pubsub.redis"},
    "configuration": {"configuration.redis"},
    "secret_store": {"state.in-memory", "secretstores.local.file"},
    "http_endpoint": {"state.in-memory"},
}


def plan_folder(folder: Path) -> list[Any]:
    resources, issues = collect_resources([folder])
    return plan_components(
        resources.components, Registry(), app_id="myapp", env={}, prior_issues=issues
    )


def test_every_sdk_folder_is_covered() -> None:
    folders = {p.name for p in SDK_RESOURCES.iterdir() if p.is_dir()}
    assert folders == set(UNIMPLEMENTED) | set(IMPLEMENTED)


@pytest.mark.parametrize("folder", sorted(UNIMPLEMENTED))
def test_sdk_folder_without_ignore_errors_stops_naming_file_field_and_fix(folder: str) -> None:
    with pytest.raises(ConfigError) as info:
        plan_folder(SDK_RESOURCES / folder)
    issues = info.value.issues
    assert len(issues) == len(UNIMPLEMENTED[folder])
    for issue, (file, type_) in zip(issues, UNIMPLEMENTED[folder], strict=True):
        assert issue.source == str(SDK_RESOURCES / folder / file)
        assert issue.path == "spec.type"
        assert f"'{type_}' is a Dapr component type Tandem does not implement" in issue.message
        assert "ignoreErrors: true" in issue.message


@pytest.mark.parametrize("folder", sorted(set(UNIMPLEMENTED) | set(IMPLEMENTED)))
def test_sdk_folder_with_ignore_errors_loads_with_a_warning_per_skipped_component(
    folder: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    for src in (SDK_RESOURCES / folder).iterdir():
        (tmp_path / src.name).write_text(
            src.read_text().replace("\nspec:\n", "\nspec:\n  ignoreErrors: true\n")
        )
    with caplog.at_level(logging.WARNING):
        plans = plan_folder(tmp_path)
    assert {p.manifest.spec.type for p in plans} == IMPLEMENTED.get(folder, set())
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    for file, type_ in UNIMPLEMENTED.get(folder, []):
        assert any(str(tmp_path / file) in w and type_ in w for w in warnings), warnings


def test_http_endpoint_is_skipped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        plans = plan_folder(SDK_RESOURCES / "http_endpoint")
    assert [p.manifest.name for p in plans] == ["statestore"]
    assert any("HTTPEndpoint" in r.getMessage() for r in caplog.records)


def test_type_unknown_to_dapr_too_is_a_plain_unknown_type() -> None:
    (issue,) = plan_errors(manifest(type_="state.postgres"))
    assert "unknown component type 'state.postgres'" in issue.message
    assert "Dapr component type" not in issue.message


def test_ignore_errors_skips_any_unknown_type_and_bad_metadata(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bad_type = manifest("a", type_="state.nosuch", extra_spec={"ignoreErrors": True})
    bad_meta = manifest(
        "b", metadata=[{"name": "port", "value": "x"}], extra_spec={"ignoreErrors": "true"}
    )
    bad_env = manifest(
        "c", metadata=[{"name": "host", "envRef": "NOPE"}], extra_spec={"ignoreErrors": True}
    )
    good = manifest("d")
    with caplog.at_level(logging.WARNING):
        plans = plan_components([bad_type, bad_meta, bad_env, good], REGISTRY, app_id="x", env={})
    assert [p.manifest.name for p in plans] == ["d"]
    text = caplog.text
    for name in ("component a skipped", "component b skipped", "component c skipped"):
        assert name in text


def test_ignore_errors_false_as_a_string_still_stops() -> None:
    (issue,) = plan_errors(manifest(type_="lock.redis", extra_spec={"ignoreErrors": "false"}))
    assert "Dapr component type Tandem does not implement" in issue.message


def test_catalog_collects_every_component_block_without_loading_a_target() -> None:
    code = (
        "import sys\n"
        "from runtime.catalog import CATALOG\n"
        "targets = {e.target.partition(':')[0] for e in CATALOG}\n"
        "drivers = {m for e in CATALOG for m in e.requires}\n"
        "print(sorted({e.type.partition('.')[0] for e in CATALOG}))\n"
        "print(sorted(m for m in sys.modules if m in targets or m.split('.')[0] in drivers))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.splitlines()
    blocks = sorted(
        p.parent.name
        for p in Path(components.__file__).parent.glob("*/__init__.py")
        if not p.parent.name.startswith("_")
    )
    assert out == [str(blocks), "[]"]


def test_catalog_rejects_an_entry_listed_under_another_block(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import components.state as state_block

    stray = CatalogEntry(type="pubsub.stray", target="components.pubsub.stray:Stray")
    monkeypatch.setattr(state_block, "CATALOG", (*state_block.CATALOG, stray))
    with pytest.raises(ValueError, match=r"components.state.CATALOG lists 'pubsub.stray'"):
        block_catalog("state")
