"""The contract every component implements, whatever its building block.

Lifecycle (the runtime relies on it):
- construction is cheap and does no I/O; it receives an already validated metadata model;
- ``init()`` does the I/O (connect, migrate) and raises on failure;
- ``close()`` is idempotent and safe when ``init()`` never ran or failed.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar, Protocol

import msgspec
from pydantic import BaseModel, ConfigDict, model_validator

__all__ = [
    "BaseMetadata",
    "CatalogEntry",
    "Component",
    "ComponentContext",
    "ComponentInfo",
    "Stability",
]


class Stability(StrEnum):
    ALPHA = "alpha"
    BETA = "beta"
    STABLE = "stable"


class ComponentInfo(msgspec.Struct, frozen=True, kw_only=True):
    type: str  # "state.redis"
    version: str = "v1"
    stability: Stability = Stability.STABLE


class CatalogEntry(msgspec.Struct, frozen=True, kw_only=True):
    """How the runtime finds a built-in component without importing it.

    ``target`` is imported only when a component of that type is configured, so a backend's
    driver never loads unless it is used; ``requires`` names the driver modules it needs and
    ``extra`` the pip extra that installs them. Each block lists its entries as ``CATALOG`` in
    ``components/<block>/__init__.py``.
    """

    type: str  # "state.redis"
    target: str  # "components.state.redis:RedisStateStore"
    version: str = "v1"
    extra: str | None = None  # pip extra: tandem[redis]
    requires: tuple[str, ...] = ()  # importable driver modules


class ComponentContext(msgspec.Struct, frozen=True, kw_only=True):
    """What the runtime tells a component about where it lives."""

    name: str
    app_id: str
    namespace: str
    home: Path  # $TANDEM_HOME: where embedded data (SQLite files) lives
    logger: logging.Logger = msgspec.field(
        default_factory=lambda: logging.getLogger("tandem.component")
    )


class BaseMetadata(BaseModel):
    """Base of every component's typed metadata.

    Field names match case-insensitively (Dapr metadata names are case-insensitive) and through
    declared aliases. Unknown names are kept in ``unknown_fields`` so the loader can warn about
    typos instead of silently ignoring them.
    """

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _case_insensitive(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        names: dict[str, str] = {}
        for fname, finfo in cls.model_fields.items():
            names[fname.lower()] = fname
            if finfo.alias:
                names[finfo.alias.lower()] = finfo.alias
            if finfo.validation_alias and isinstance(finfo.validation_alias, str):
                names[finfo.validation_alias.lower()] = finfo.validation_alias
        return {names.get(k.lower(), k): v for k, v in data.items()}

    @classmethod
    def unknown_fields(cls, data: dict[str, Any]) -> list[str]:
        known = {n.lower() for n in cls.model_fields}
        known |= {f.alias.lower() for f in cls.model_fields.values() if f.alias}
        return sorted(k for k in data if k.lower() not in known)


class Component(Protocol):
    info: ClassVar[ComponentInfo]
    Metadata: ClassVar[type[BaseMetadata]]

    def __init__(self, metadata: Any, *, context: ComponentContext) -> None: ...

    async def init(self) -> None: ...

    async def close(self) -> None: ...
