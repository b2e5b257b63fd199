"""What a building block tells the shared harness about itself."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel

if TYPE_CHECKING:
    from tests.conformance._harness.matrix import Case

__all__ = ["ROOT", "Block", "FeatureCheck", "Probe"]

ROOT = Path(__file__).resolve().parents[1]
"""``tests/conformance``: each block's folder is ``ROOT / name``."""

Opts = TypeVar("Opts", bound=BaseModel)

Probe = Callable[[Any, "Case[Any]", str], Awaitable[object]]
"""``probe(component, case, key)``: one call that uses a feature (keys start with ``key``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FeatureCheck:
    """How to tell whether a component really lacks a feature it does not declare.

    ``protocol``: the runtime-checkable capability Protocol that carries the feature, if any;
    a component declaring the feature must implement it. An undeclared feature must be
    unreachable: the component does not implement ``protocol``, or ``probe`` raises
    ``components.errors.NotSupported``.
    """

    protocol: type[Any] | None
    probe: Probe


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)  # hashed by identity
class Block(Generic[Opts]):
    """One building block under conformance test.

    ``name`` is the catalog prefix (``state`` for ``state.*``) and the name of the folder under
    ``root`` (``tests/conformance``) holding the block's cases and its ``components.yaml``.
    ``options`` validates the block's own matrix fields (pydantic; unknown fields must fail).
    ``declared`` reads a component's declared features. ``checks`` has one ``FeatureCheck``
    per member of ``features`` (the generic suite fails when one is missing).
    """

    name: str
    features: type[StrEnum]
    declared: Callable[[Any], Collection[StrEnum]]
    options: type[Opts]
    checks: Mapping[StrEnum, FeatureCheck]
    root: Path = ROOT

    @property
    def folder(self) -> Path:
        return self.root / self.name

    @property
    def matrix_file(self) -> Path:
        return self.folder / "components.yaml"
