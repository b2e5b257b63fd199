"""Dapr's configuration API over feature flags: each flag source is also readable as a
configuration store of the same name, so Dapr SDK users can read flags too.

``GET /v1.0/configuration/{flagSource}?key=flagKey`` answers the flag's default variant value:
a string as is, anything else as JSON (``true``, ``10``, ``1.5``, ``{"a":1}``), with the
variant name and the flag's metadata in the item's ``metadata`` and the flags revision as its
``version``. A flag without a default variant, or DISABLED, has no item. Subscriptions get the
changed flags' items after every change (a deleted flag as an empty item).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from components.base import BaseMetadata, ComponentInfo
from components.configuration import (
    ConfigurationFeature,
    ConfigurationItem,
    SubscriptionNotFound,
    UpdateHandler,
)
from runtime.services.flags import Change, FlagsService

__all__ = ["FlagsConfigurationView"]

_ids = itertools.count(1)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


class FlagsConfigurationView:
    """The flags of source ``name`` as a read-only configuration store."""

    info: ClassVar[ComponentInfo] = ComponentInfo(type="flags.configuration-view")
    Metadata: ClassVar[type[BaseMetadata]] = BaseMetadata

    def __init__(self, flags: FlagsService, name: str) -> None:
        self._flags = flags
        self._selector = f"source={name}"
        self._subs: dict[str, tuple[frozenset[str], UpdateHandler]] = {}
        flags.on_change(self._changed)

    def features(self) -> frozenset[ConfigurationFeature]:
        return frozenset()

    async def init(self) -> None:
        """Nothing: the flag source is already up."""

    async def close(self) -> None:
        self._subs.clear()

    def _items(self, keys: Sequence[str] | frozenset[str]) -> dict[str, ConfigurationItem]:
        version = str(self._flags.revision)
        out: dict[str, ConfigurationItem] = {}
        for key, (variant, value, metadata) in self._flags.defaults(self._selector).items():
            if keys and key not in keys:
                continue
            meta = {k: _text(v) for k, v in metadata.items()}
            meta["variant"] = variant
            out[key] = ConfigurationItem(value=_text(value), version=version, metadata=meta)
        return out

    async def get(
        self, keys: Sequence[str], metadata: Mapping[str, str] | None = None
    ) -> dict[str, ConfigurationItem]:
        return self._items(keys)

    async def subscribe(
        self, keys: Sequence[str], handler: UpdateHandler, metadata: Mapping[str, str] | None = None
    ) -> str:
        subscription_id = f"flags-{next(_ids)}"
        self._subs[subscription_id] = (frozenset(keys), handler)
        return subscription_id

    async def unsubscribe(self, subscription_id: str) -> None:
        if self._subs.pop(subscription_id, None) is None:
            raise SubscriptionNotFound(subscription_id)

    def _changed(self, change: Change) -> None:
        for keys, handler in list(self._subs.values()):
            wanted = [k for k in change.flags if not keys or k in keys]
            if not wanted:
                continue
            items = self._items(wanted)
            handler({k: items.get(k, ConfigurationItem()) for k in wanted})
