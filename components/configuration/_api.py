"""Configuration store contract: read items, and watch them change.

A configuration store holds string items (``value`` and ``version``, plus metadata) by key.
Keys are the store's own: no app-id prefix is applied (as in Dapr).

Subscriptions: ``subscribe`` registers ``handler`` for ``keys`` (empty = every key, including
keys created later) and returns an id; from then on every change of a watched key calls
``handler`` with the changed items (a deleted key is reported with the item the store gives,
often empty). ``handler`` runs on the event loop and must not block: it queues. When the
backend connection is lost the store reconnects by itself and then reports what changed while
it was away (the current item of every watched key that differs from the last one reported;
keys deleted meanwhile as empty items).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum
from typing import Protocol

import msgspec

from components.base import Component
from components.errors import ComponentError

__all__ = [
    "ConfigurationFeature",
    "ConfigurationItem",
    "ConfigurationStore",
    "Items",
    "SubscriptionNotFound",
    "UpdateHandler",
]


class ConfigurationFeature(StrEnum):
    """Optional capabilities; every configuration store supports get and subscribe."""


class ConfigurationItem(msgspec.Struct, frozen=True):
    value: str = ""
    version: str = ""
    metadata: Mapping[str, str] = msgspec.field(default_factory=dict)


Items = Mapping[str, ConfigurationItem]
UpdateHandler = Callable[[Items], None]
"""Called with the changed items of one subscription, in the order the changes happened."""


class SubscriptionNotFound(ComponentError):
    def __init__(self, subscription_id: str) -> None:
        super().__init__(f"subscription {subscription_id!r} does not exist")
        self.subscription_id = subscription_id


class ConfigurationStore(Component, Protocol):
    def features(self) -> frozenset[ConfigurationFeature]: ...

    async def get(
        self, keys: Sequence[str], metadata: Mapping[str, str] | None = None
    ) -> dict[str, ConfigurationItem]:
        """The items of ``keys`` that exist (empty ``keys`` = every item)."""
        ...

    async def subscribe(
        self,
        keys: Sequence[str],
        handler: UpdateHandler,
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        """Start watching; returns the subscription id once changes are being watched."""
        ...

    async def unsubscribe(self, subscription_id: str) -> None:
        """Stop a subscription: ``handler`` is not called again. Raises SubscriptionNotFound."""
        ...
