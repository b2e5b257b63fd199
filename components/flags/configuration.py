"""``flags.configuration``: a flagd flag-set document kept as one item of a configuration store
(``configuration.redis``, ``configuration.postgresql``, ``configuration.file``), pushed on change.

Metadata: ``store`` (the configuration component's name, declared with the other resources) and
``key`` (the item holding the document, JSON or YAML; default ``flags``), plus ``flagSetId`` and
``fractional``. The runtime binds the store once every component is up (``bind``); a missing
store or item, or a document that does not parse, is then a start-up error naming them. Later a
broken or deleted item keeps the last good flags (logged).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import ClassVar

from pydantic import Field

from components.base import BaseMetadata, ComponentContext, ComponentInfo
from components.configuration import ConfigurationItem, ConfigurationStore
from components.flags._document import load_snapshot
from components.flags._source import SourceBase, SourceMetadata
from components.flags.engine import FlagSetError

__all__ = ["ConfigurationFlagSource"]


class ConfigurationSourceMetadata(SourceMetadata):
    store: str = Field(min_length=1)
    key: str = Field(default="flags", min_length=1)


class ConfigurationFlagSource(SourceBase):
    info: ClassVar[ComponentInfo] = ComponentInfo(type="flags.configuration")
    Metadata: ClassVar[type[BaseMetadata]] = ConfigurationSourceMetadata

    def __init__(self, metadata: ConfigurationSourceMetadata, *, context: ComponentContext) -> None:
        super().__init__(metadata, context=context)
        self._store_name = metadata.store
        self._key = metadata.key
        self._origin = f"configuration store {metadata.store!r}, item {metadata.key!r}"
        self._store: ConfigurationStore | None = None
        self._subscription: str | None = None

    @property
    def store_name(self) -> str:
        return self._store_name

    async def init(self) -> None:
        """Nothing to do until the runtime binds the store."""

    def _load(self, item: ConfigurationItem) -> None:
        self._publish(
            load_snapshot(
                item.value.encode(),
                self._origin,
                fractional=self.fractional,
                flag_set_id=self.flag_set_id,
            )
        )

    async def bind(self, store: ConfigurationStore) -> None:
        self._store = store
        item = (await store.get([self._key])).get(self._key)
        if item is None or not item.value:
            raise FlagSetError(f"{self._origin}: no such item")
        self._load(item)
        self._subscription = await store.subscribe([self._key], self._on_update)

    def _on_update(self, items: Mapping[str, ConfigurationItem]) -> None:
        item = items.get(self._key)
        if item is None or not item.value:
            self._log.error("%s was deleted; keeping the last good flags", self._origin)
            return
        try:
            self._load(item)
        except FlagSetError as exc:
            self._log.error("flags not reloaded, keeping the last good ones: %s", exc)

    async def close(self) -> None:
        if self._store is not None and self._subscription is not None:
            with contextlib.suppress(Exception):
                await self._store.unsubscribe(self._subscription)
        self._store, self._subscription = None, None
