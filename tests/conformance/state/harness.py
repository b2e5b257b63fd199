"""The state conformance harness: the matrix, building stores, and shared test helpers.

- ``load_matrix`` reads ``components.yaml`` strictly (unknown or missing fields fail loudly);
- ``build_store`` turns an entry's manifest into an *uninitialised* store through the runtime's
  real loader (``runtime.resources``): placeholders substituted, YAML validated, type resolved
  from the catalog, metadata validated by the component's own model;
- ``requires_feature`` marks a test that runs only when the store declares the features (the
  ``store`` fixture skips it otherwise; ``test_features.py`` checks the undeclared side);
- ``eventually`` polls with a deadline: the only kind of waiting the suite does.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
import yaml

from components.base import ComponentContext
from components.state import StateFeature, StateStore
from runtime.registry import Registry
from runtime.resources.build import plan_components
from runtime.resources.loader import load_resources
from tests.servers import POSTGRES_DSN, REDIS_URL, SERVERS

__all__ = [
    "APP_ID",
    "FEATURE_MARK",
    "MATRIX_FILE",
    "MakeStore",
    "StoreCase",
    "build_store",
    "enc",
    "eventually",
    "load_matrix",
    "requires_feature",
]

HERE = Path(__file__).parent
MATRIX_FILE = HERE / "components.yaml"
APP_ID = "conformance"
FEATURE_MARK = "state_feature"

MakeStore = Callable[..., Awaitable[StateStore]]
"""``make_store(init=True)``: another store of the test's matrix entry (see conftest)."""

_FIELDS = {
    "name",
    "manifest",
    "features",
    "server",
    "badEtag",
    "malformedEtag",
    "durable",
    "orderedKeys",
}
_REQUIRED = {"name", "manifest", "features", "badEtag"}


@dataclass(frozen=True, slots=True)
class StoreCase:
    """One entry of the matrix."""

    name: str
    manifest: Path
    features: frozenset[StateFeature]
    server: str | None
    bad_etag: str
    malformed_etag: str | None
    durable: bool
    ordered_keys: bool = True

    def placeholders(self, tmp: Path, unique_name: str) -> dict[str, str]:
        return {
            "${TMP}": str(tmp),
            "${UNIQUE}": unique_name,
            "${REDIS_URL}": REDIS_URL,
            "${POSTGRES_DSN}": POSTGRES_DSN,
        }


def _case(raw: Any, where: str) -> StoreCase:
    if not isinstance(raw, dict):
        raise TypeError(f"{where}: expected a mapping")
    unknown = set(raw) - _FIELDS
    missing = _REQUIRED - set(raw)
    if unknown or missing:
        raise ValueError(f"{where}: unknown fields {sorted(unknown)}, missing {sorted(missing)}")
    server = raw.get("server")
    if server is not None and server not in SERVERS:
        raise ValueError(f"{where}: unknown server {server!r}; known: {sorted(SERVERS)}")
    manifest = HERE / str(raw["manifest"])
    if not manifest.is_file():
        raise ValueError(f"{where}: manifest {manifest} does not exist")
    return StoreCase(
        name=str(raw["name"]),
        manifest=manifest,
        features=frozenset(StateFeature(f) for f in raw["features"]),
        server=server,
        bad_etag=str(raw["badEtag"]),
        malformed_etag=None if raw.get("malformedEtag") is None else str(raw["malformedEtag"]),
        durable=bool(raw.get("durable", False)),
        ordered_keys=bool(raw.get("orderedKeys", True)),
    )


def load_matrix(path: Path = MATRIX_FILE) -> list[StoreCase]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    cases = [_case(raw, f"{path.name}: stores[{i}]") for i, raw in enumerate(doc["stores"])]
    names = [c.name for c in cases]
    if len(set(names)) != len(names):
        raise ValueError(f"{path.name}: duplicate store names in {names}")
    return cases


def build_store(
    case: StoreCase, tmp: Path, unique_name: str, env: Mapping[str, str] | None = None
) -> StateStore:
    """A fresh, uninitialised store for ``case``; its home and ``${TMP}`` are ``tmp``."""
    text = case.manifest.read_text(encoding="utf-8")
    for placeholder, value in case.placeholders(tmp, unique_name).items():
        text = text.replace(placeholder, value)
    resolved = tmp / f"{case.name}.manifest.yaml"
    resolved.write_text(text, encoding="utf-8")
    (manifest,) = load_resources([resolved]).components
    (plan,) = plan_components(
        [manifest], Registry(), app_id=APP_ID, env=os.environ if env is None else env
    )
    context = ComponentContext(name=manifest.name, app_id=APP_ID, namespace="default", home=tmp)
    return cast(StateStore, plan.cls(plan.metadata, context=context))


def requires_feature(*features: StateFeature) -> pytest.MarkDecorator:
    """Run the test only for stores that declare all ``features``."""
    mark: pytest.MarkDecorator = getattr(pytest.mark, FEATURE_MARK)
    return mark(*features)


def enc(value: Any) -> bytes:
    """The bytes a value is stored as (Dapr's rule): bytes verbatim, anything else as JSON."""
    if isinstance(value, bytes):
        return value
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


async def eventually(
    check: Callable[[], Awaitable[bool]], *, within: float, interval: float = 0.1
) -> float:
    """Poll ``check`` every ``interval`` until it is true; the seconds it took.

    Fails the test when ``within`` seconds pass first.
    """
    start = time.monotonic()
    deadline = start + within
    while True:
        if await check():
            return time.monotonic() - start
        if time.monotonic() >= deadline:
            pytest.fail(f"condition not met within {within}s")
        await asyncio.sleep(interval)
