"""``nameresolution.static``: a fixed map of app ids to sidecar addresses.

Metadata (the Configuration's ``nameResolution.configuration``)::

    apps:                       # app id -> one address or a list ("host:port")
      orders: 127.0.0.1:50002
      payments: ["10.0.0.7:50002", "10.0.0.8:50002"]

``apps`` may also be given as a YAML/JSON string (Component manifests carry strings). Keys may
be ``appid`` (any namespace) or ``appid.namespace``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import yaml
from pydantic import Field, field_validator

from components.base import BaseMetadata, ComponentContext, ComponentInfo
from components.nameresolution._api import Address, NameResolutionFeature

__all__ = ["StaticMetadata", "StaticResolver", "parse_address"]


def parse_address(text: str) -> Address:
    """``host:port`` or ``[v6]:port``; raises ValueError."""
    text = text.strip()
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r} is not host:port")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"{text!r}: an IPv6 host must be bracketed")
    return Address(host, int(port))


class StaticMetadata(BaseMetadata):
    apps: dict[str, tuple[Address, ...]] = Field(default_factory=dict)

    @field_validator("apps", mode="before")
    @classmethod
    def _apps(cls, value: Any) -> dict[str, tuple[Address, ...]]:
        if isinstance(value, str):
            value = yaml.safe_load(value) or {}
        if not isinstance(value, dict):
            raise ValueError("apps must map app ids to addresses")  # noqa: TRY004 (pydantic)
        out: dict[str, tuple[Address, ...]] = {}
        for app_id, addresses in value.items():
            items = [addresses] if isinstance(addresses, str) else addresses
            if not isinstance(items, list) or not all(isinstance(a, str) for a in items):
                raise ValueError(f"apps.{app_id}: expected 'host:port' or a list of them")
            out[str(app_id)] = tuple(parse_address(a) for a in items)
        return out


class StaticResolver:
    info: ClassVar[ComponentInfo] = ComponentInfo(type="nameresolution.static")
    Metadata: ClassVar[type[BaseMetadata]] = StaticMetadata

    def __init__(self, metadata: StaticMetadata, *, context: ComponentContext) -> None:
        self._apps = metadata.apps

    def features(self) -> frozenset[NameResolutionFeature]:
        return frozenset()

    async def init(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def resolve(self, app_id: str, namespace: str) -> list[Address]:
        found = self._apps.get(f"{app_id}.{namespace}") if namespace else None
        return list(found if found is not None else self._apps.get(app_id, ()))
