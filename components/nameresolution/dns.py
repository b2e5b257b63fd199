"""``nameresolution.dns``: an address template, for docker-compose and Kubernetes service names.

Metadata::

    template: "{appid}:50002"                          # docker-compose: service = app id
    template: "{appid}-dapr.{namespace}.svc.cluster.local:50002"   # Kubernetes
    defaultNamespace: default                          # {namespace} when the caller gave none
    resolve: false                                     # true: look the name up (A/AAAA) and
                                                       # return every address (replicas)

The app id must be a DNS label (letters, digits, ``-``), so a template cannot be steered to an
arbitrary host. Without ``resolve`` the name is handed to the connection as is (the OS resolves
it then, as a docker-compose service name).
"""

from __future__ import annotations

import asyncio
import re
import socket
from typing import ClassVar

from pydantic import Field, field_validator

from components.base import BaseMetadata, ComponentContext, ComponentInfo
from components.nameresolution._api import Address, NameResolutionFeature
from components.nameresolution.static import parse_address

__all__ = ["DnsMetadata", "DnsResolver"]

_LABEL = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")


class DnsMetadata(BaseMetadata):
    template: str = "{appid}:50002"
    default_namespace: str = Field(default="default", alias="defaultNamespace")
    resolve: bool = False

    @field_validator("template")
    @classmethod
    def _template(cls, value: str) -> str:
        try:
            parse_address(value.format(appid="a", namespace="n"))
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(
                f"template {value!r} must give host:port from {{appid}} and {{namespace}}"
            ) from exc
        return value


class DnsResolver:
    info: ClassVar[ComponentInfo] = ComponentInfo(type="nameresolution.dns")
    Metadata: ClassVar[type[BaseMetadata]] = DnsMetadata

    def __init__(self, metadata: DnsMetadata, *, context: ComponentContext) -> None:
        self._md = metadata

    def features(self) -> frozenset[NameResolutionFeature]:
        return frozenset()

    async def init(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def resolve(self, app_id: str, namespace: str) -> list[Address]:
        if not _LABEL.match(app_id) or (namespace and not _LABEL.match(namespace)):
            return []
        address = parse_address(
            self._md.template.format(
                appid=app_id, namespace=namespace or self._md.default_namespace
            )
        )
        if not self._md.resolve:
            return [address]
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(address.host, address.port, type=socket.SOCK_STREAM)
        except OSError:
            return []
        return sorted({Address(str(info[4][0]), address.port) for info in infos})
