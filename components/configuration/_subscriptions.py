"""The subscription table every configuration store shares: ids, key filters, dispatch, resync.

A store feeds it the changes its backend reports (``publish``) and, after a reconnect, the
current items (``resync``); the table calls each subscription's handler with the items it
watches. It remembers the last item reported per watched key, so a resync reports exactly what
changed while the store was disconnected.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from components.configuration._api import (
    ConfigurationItem,
    Items,
    SubscriptionNotFound,
    UpdateHandler,
)

__all__ = ["DELETED", "Subscriptions"]

DELETED = ConfigurationItem()
"""What a deleted key is reported as when the backend gives nothing better (Dapr's Redis)."""

log = logging.getLogger("tandem.component.configuration")


@dataclass(frozen=True, slots=True)
class _Subscription:
    keys: frozenset[str] | None  # None: every key
    handler: UpdateHandler
    metadata: Mapping[str, str]

    def wants(self, key: str) -> bool:
        return self.keys is None or key in self.keys


class Subscriptions:
    def __init__(self) -> None:
        self._subs: dict[str, _Subscription] = {}
        self._known: dict[str, ConfigurationItem] = {}

    def __bool__(self) -> bool:
        return bool(self._subs)

    def __len__(self) -> int:
        return len(self._subs)

    def add(
        self,
        keys: Sequence[str],
        handler: UpdateHandler,
        current: Items,
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        """Register a subscription; ``current`` are the watched keys' items right now."""
        sub_id = str(uuid.uuid4())
        self._subs[sub_id] = _Subscription(
            keys=frozenset(keys) if keys else None, handler=handler, metadata=dict(metadata or {})
        )
        self._known.update(current)
        return sub_id

    def remove(self, sub_id: str) -> Mapping[str, str]:
        """Forget a subscription; its metadata. Raises SubscriptionNotFound."""
        sub = self._subs.pop(sub_id, None)
        if sub is None:
            raise SubscriptionNotFound(sub_id)
        if not self._subs:
            self._known.clear()
        return sub.metadata

    def metadata(self) -> list[Mapping[str, str]]:
        return [s.metadata for s in self._subs.values()]

    def watched(self) -> frozenset[str] | None:
        """Every key some subscription watches; None when one watches every key."""
        keys: set[str] = set()
        for sub in self._subs.values():
            if sub.keys is None:
                return None
            keys |= sub.keys
        return frozenset(keys)

    def publish(self, changes: Items, *, deleted: Collection[str] = ()) -> None:
        """Report changed items (``deleted``: keys among them that no longer exist)."""
        for key, item in changes.items():
            if key in deleted:
                self._known.pop(key, None)
            else:
                self._known[key] = item
        for sub in list(self._subs.values()):
            mine = {k: v for k, v in changes.items() if sub.wants(k)}
            if mine:
                try:
                    sub.handler(mine)
                except Exception:  # a handler bug must not stop the store's listener
                    log.exception("configuration subscription handler failed")

    def resync(self, current: Items, scope: frozenset[str] | None) -> None:
        """Report the difference between ``current`` and what was last reported.

        ``current`` holds the items of ``scope`` (None: every item) as the backend has them
        now; a remembered key of the scope missing from ``current`` was deleted.
        """
        changed = {k: v for k, v in current.items() if self._known.get(k) != v}
        gone = [k for k in self._known if (scope is None or k in scope) and k not in current]
        changed.update(dict.fromkeys(gone, DELETED))
        if changed:
            self.publish(changed, deleted=gone)
