"""Name resolution contract: an app id (and namespace) to the addresses of its sidecars.

A resolver answers ``resolve(app_id, namespace)`` with the internal (sidecar-to-sidecar)
addresses of every live replica, in no particular order; an empty list means the app id is
unknown. Resolvers that keep a registry (``nameresolution.sqlite``) also implement
``RegisteringResolver``: the runtime registers its own sidecar once its internal port listens
and unregisters it on shutdown; such a resolver keeps the entry alive (heartbeats) meanwhile.
Resolvers must be cheap to call per request: the runtime does not cache their answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable

from components.base import Component

__all__ = [
    "Address",
    "NameResolutionFeature",
    "NameResolver",
    "RegisteringResolver",
    "Registration",
]


class NameResolutionFeature(StrEnum):
    REGISTER = "REGISTER"  # sidecars register themselves (RegisteringResolver)


@dataclass(frozen=True, slots=True, order=True)
class Address:
    """A sidecar's internal endpoint. ``host`` is a name or an IP literal (IPv6 unbracketed)."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Registration:
    """What a sidecar publishes about itself."""

    app_id: str
    namespace: str
    address: Address
    pid: int
    hostname: str  # the machine's name: a pid is only meaningful on the same machine


class NameResolver(Component, Protocol):
    def features(self) -> frozenset[NameResolutionFeature]: ...

    async def resolve(self, app_id: str, namespace: str) -> list[Address]:
        """The live addresses of ``app_id`` in ``namespace`` (empty when unknown)."""
        ...


@runtime_checkable
class RegisteringResolver(Protocol):
    async def register(self, registration: Registration) -> None:
        """Publish this sidecar; kept alive until ``unregister`` or ``close``."""
        ...

    async def unregister(self) -> None:
        """Withdraw this sidecar's entry (idempotent)."""
        ...
