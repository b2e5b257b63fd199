"""The component matrix of a block, and building its components through the real loader.

A block's ``components.yaml`` lists ``components:``; each entry has the generic fields

- ``name``: the test id (``pytest -k <name>``), unique within the block;
- ``manifest``: a Dapr Component manifest, relative to the block folder, whose ``spec.type``
  is one of the block's types. Metadata values may use the placeholders of ``PLACEHOLDERS``;
- ``features``: exactly what the component must declare (checked both ways);
- ``server``: null or a name of ``tests.servers.SERVERS``: the entry is skipped (failed under
  ``CI=true``) when the server is unreachable, and its tests carry the matching pytest mark;

and the block's own fields, validated by ``Block.options`` (unknown or missing fields fail
loudly, at collection).

``build_component`` turns an entry into an *uninitialised* component the way the sidecar
does (``runtime.resources``): placeholders substituted, YAML validated, type resolved from the
catalog, metadata validated by the component's own model.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Generic, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from components.base import Component, ComponentContext
from runtime.registry import Registry
from runtime.resources.build import plan_components
from runtime.resources.loader import load_resources
from tests.conformance._harness.block import ROOT, Block
from tests.servers import POSTGRES_DSN, REDIS_URL, SERVERS

__all__ = ["APP_ID", "PLACEHOLDERS", "Case", "MakeComponent", "build_component", "load_matrix"]

APP_ID = "conformance"
_GENERIC = {"name", "manifest", "features", "server"}

Opts = TypeVar("Opts", bound=BaseModel)

MakeComponent = Callable[..., Awaitable[Any]]
"""``make_component(init=True)``: another component of the test's matrix entry."""

PLACEHOLDERS: dict[str, Callable[[Path, str], str]] = {
    "${TMP}": lambda tmp, _: str(tmp),  # a fresh folder per test, also the component's home
    "${UNIQUE}": lambda _, name: name,  # a name unique to the test (tables, prefixes)
    "${REDIS_URL}": lambda *_: REDIS_URL,  # env TANDEM_TEST_REDIS
    "${POSTGRES_DSN}": lambda *_: POSTGRES_DSN,  # env TANDEM_TEST_POSTGRES
    "${CONFORMANCE}": lambda *_: str(ROOT),  # tests/conformance: fixture files of the blocks
}
"""Placeholders a manifest may use, and their values for (temp folder, unique name)."""


@dataclass(frozen=True, slots=True)
class Case(Generic[Opts]):
    """One entry of a block's matrix."""

    block: Block[Opts]
    name: str
    manifest: Path
    type: str  # the manifest's spec.type
    features: frozenset[StrEnum]
    server: str | None
    options: Opts

    @property
    def id(self) -> str:
        """The test id in the generic, all-block suites."""
        return f"{self.block.name}-{self.name}"


def _case(block: Block[Opts], raw: Any, where: str) -> Case[Opts]:
    if not isinstance(raw, dict):
        raise TypeError(f"{where}: expected a mapping")
    missing = _GENERIC - set(raw)
    if missing:
        raise ValueError(f"{where}: missing {sorted(missing)}")
    try:
        options = block.options.model_validate({k: v for k, v in raw.items() if k not in _GENERIC})
    except ValidationError as exc:
        raise ValueError(f"{where}: {exc}") from None
    server = raw["server"]
    if server is not None and server not in SERVERS:
        raise ValueError(f"{where}: unknown server {server!r}; known: {sorted(SERVERS)}")
    manifest = block.folder / str(raw["manifest"])
    if not manifest.is_file():
        raise ValueError(f"{where}: manifest {manifest} does not exist")
    type_ = str(yaml.safe_load(manifest.read_text(encoding="utf-8"))["spec"]["type"])
    if not type_.startswith(block.name + "."):
        raise ValueError(f"{where}: {manifest.name} has type {type_!r}, not a {block.name} type")
    return Case(
        block=block,
        name=str(raw["name"]),
        manifest=manifest,
        type=type_,
        features=frozenset(block.features(f) for f in raw["features"]),
        server=server,
        options=options,
    )


@functools.cache
def _load(block: Block[Any]) -> tuple[Case[Any], ...]:
    path = block.matrix_file
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(doc, dict) or set(doc) != {"components"}:
        raise ValueError(f"{path}: expected one top-level key, 'components'")
    cases = tuple(
        _case(block, raw, f"{path.name}: components[{i}]")
        for i, raw in enumerate(doc["components"])
    )
    names = [c.name for c in cases]
    if len(set(names)) != len(names):
        raise ValueError(f"{path.name}: duplicate names in {names}")
    return cases


def load_matrix(block: Block[Opts]) -> tuple[Case[Opts], ...]:
    """The block's matrix entries, in file order; raises on any malformed entry."""
    return _load(block)


def build_component(
    case: Case[Any], tmp: Path, unique_name: str, env: Mapping[str, str] | None = None
) -> Component:
    """A fresh, uninitialised component for ``case``; its home and ``${TMP}`` are ``tmp``."""
    text = case.manifest.read_text(encoding="utf-8")
    for placeholder, value in PLACEHOLDERS.items():
        text = text.replace(placeholder, value(tmp, unique_name))
    resolved = tmp / f"{case.block.name}-{case.name}.manifest.yaml"
    resolved.write_text(text, encoding="utf-8")
    (manifest,) = load_resources([resolved]).components
    (plan,) = plan_components(
        [manifest], Registry(), app_id=APP_ID, env=os.environ if env is None else env
    )
    context = ComponentContext(name=manifest.name, app_id=APP_ID, namespace="default", home=tmp)
    return plan.cls(plan.metadata, context=context)
