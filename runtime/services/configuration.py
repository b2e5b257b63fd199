"""ConfigurationService: the configuration store API (get, subscribe, unsubscribe) for both APIs.

(Not to be confused with the ``Configuration`` resource kind, ``runtime.resources.configuration``.)

A subscription is a ``ConfigSubscription``: an async iterator of changed items that the gRPC
API streams to its caller, and that ``subscribe_app`` (the HTTP API) drains into app callbacks,
``POST /configuration/{store}/{key}`` with ``{"id", "items": {key: item}}``, once per changed
key, in order. Changes a subscriber has not consumed yet coalesce per key (the latest item wins,
at its latest position), so a slow subscriber costs memory bounded by the number of keys and
always ends on the current value. After ``unsubscribe`` (or the stream's end) nothing more is
delivered, pending changes included.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import urllib.parse
from collections.abc import AsyncIterator, Callable, Mapping, Sequence

from components.configuration import (
    ConfigurationItem,
    ConfigurationStore,
    Items,
    SubscriptionNotFound,
)
from components.errors import InvalidRequest
from runtime.appchannel.base import AppChannel, AppChannelError, InvokeRequest
from runtime.compstore import CONFIGURATION, ComponentStore
from runtime.errors import APIError
from runtime.observability import NOOP_OBSERVER, Observer
from runtime.services.configuration_errors import ConfigurationErrors

__all__ = ["ConfigSubscription", "ConfigurationItem", "ConfigurationService"]

log = logging.getLogger("tandem.configuration")


def _cut(text: str, limit: int = 64) -> str:
    """An echo of caller input, cut short: a message never repeats a huge input."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _keys_text(keys: Sequence[str]) -> str:
    return _cut("[" + " ".join(keys) + "]", 200)


class ConfigSubscription:
    """One subscription: iterate it for batches of changed items; ends once closed."""

    def __init__(self, store: str, keys: Sequence[str]) -> None:
        self.store = store
        self.keys = tuple(keys)
        self.id = ""  # the component's subscription id, set once subscribed
        self._pending: dict[str, ConfigurationItem] = {}
        self._wake = asyncio.Event()
        self._closed = False

    def _push(self, items: Items) -> None:
        if self._closed:
            return
        for key, item in items.items():
            self._pending.pop(key, None)  # re-insert: the latest change goes last
            self._pending[key] = item
        self._wake.set()

    def _close(self) -> None:
        self._closed = True
        self._pending.clear()
        self._wake.set()

    @property
    def closed(self) -> bool:
        return self._closed

    def __aiter__(self) -> AsyncIterator[dict[str, ConfigurationItem]]:
        return self._batches()

    async def _batches(self) -> AsyncIterator[dict[str, ConfigurationItem]]:
        while True:
            while not self._pending and not self._closed:
                self._wake.clear()
                await self._wake.wait()
            if self._closed:
                return
            batch, self._pending = self._pending, {}
            yield batch


class ConfigurationService:
    def __init__(
        self,
        components: ComponentStore,
        *,
        app_channel: Callable[[], AppChannel | None] = lambda: None,
        observer: Observer = NOOP_OBSERVER,
    ) -> None:
        self._components = components
        self._app_channel = app_channel
        self._observer = observer
        self._subs: dict[str, ConfigSubscription] = {}
        self._deliveries: dict[str, asyncio.Task[None]] = {}

    def _store(self, name: str) -> ConfigurationStore:
        if not self._components.has_block(CONFIGURATION):
            raise ConfigurationErrors.STORE_NOT_CONFIGURED()
        live = self._components.configuration(name)
        if live is None:
            raise ConfigurationErrors.STORE_NOT_FOUND(name=_cut(name))
        return live.instance

    @staticmethod
    def _check_keys(keys: Sequence[str]) -> list[str]:
        if any(not k for k in keys):
            raise ConfigurationErrors.KEY_EMPTY()
        return list(dict.fromkeys(keys))  # without repeats, in order

    async def get(
        self, store: str, keys: Sequence[str], metadata: Mapping[str, str] | None = None
    ) -> dict[str, ConfigurationItem]:
        """The items of ``keys`` that exist (empty = all)."""
        component, wanted = self._store(store), self._check_keys(keys)
        try:
            async with self._observer.component_call(CONFIGURATION, store, "get"):
                return await component.get(wanted, dict(metadata or {}))
        except InvalidRequest as exc:
            raise ConfigurationErrors.GET_INVALID(
                keys=_keys_text(wanted), store=store, detail=exc
            ) from exc
        except Exception as exc:
            raise ConfigurationErrors.GET(keys=_keys_text(wanted), store=store, detail=exc) from exc

    async def subscribe(
        self, store: str, keys: Sequence[str], metadata: Mapping[str, str] | None = None
    ) -> ConfigSubscription:
        """Watch ``keys`` (empty = all); close with ``unsubscribe`` or ``close``."""
        component, wanted = self._store(store), self._check_keys(keys)
        sub = ConfigSubscription(store, wanted)
        try:
            async with self._observer.component_call(CONFIGURATION, store, "subscribe"):
                sub.id = await component.subscribe(wanted, sub._push, dict(metadata or {}))
        except InvalidRequest as exc:
            raise ConfigurationErrors.SUBSCRIBE_INVALID(
                keys=_keys_text(wanted), store=store, detail=exc
            ) from exc
        except Exception as exc:
            raise ConfigurationErrors.SUBSCRIBE(
                keys=_keys_text(wanted), store=store, detail=exc
            ) from exc
        self._subs[sub.id] = sub
        return sub

    async def subscribe_app(
        self, store: str, keys: Sequence[str], metadata: Mapping[str, str] | None = None
    ) -> str:
        """Watch ``keys`` and call the app back on every change; the subscription id."""
        if self._app_channel() is None:
            raise ConfigurationErrors.APP_CHANNEL_NIL()
        sub = await self.subscribe(store, keys, metadata)
        task = asyncio.create_task(self._deliver(sub), name=f"configuration {sub.id}")
        self._deliveries[sub.id] = task
        task.add_done_callback(lambda _t: self._deliveries.pop(sub.id, None))
        return sub.id

    async def unsubscribe(self, store: str, subscription_id: str) -> None:
        self._store(store)  # an unknown store is reported as such, as in Dapr
        sub = self._subs.get(subscription_id)
        if sub is None or sub.store != store:
            raise ConfigurationErrors.UNSUBSCRIBE(
                id=_cut(subscription_id),
                detail=f"no such subscription on configuration store {_cut(store)}",
            )
        await self.close(sub)

    async def close(self, sub: ConfigSubscription) -> None:
        """End ``sub`` (idempotent): the component stops watching and nothing more arrives."""
        if self._subs.pop(sub.id, None) is None:
            return
        sub._close()
        try:
            await self._store(sub.store).unsubscribe(sub.id)
        except (SubscriptionNotFound, APIError):
            pass
        except Exception:
            log.exception("configuration store %s: unsubscribe %s failed", sub.store, sub.id)

    async def aclose(self) -> None:
        """Close every subscription (shutdown)."""
        for sub in list(self._subs.values()):
            await self.close(sub)
        for task in list(self._deliveries.values()):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # ---- app callbacks --------------------------------------------------------------------

    async def _deliver(self, sub: ConfigSubscription) -> None:
        async for items in sub:
            for key, item in items.items():
                if sub.closed:
                    return
                await self._call_app(sub, key, item)

    async def _call_app(self, sub: ConfigSubscription, key: str, item: ConfigurationItem) -> None:
        channel = self._app_channel()
        if channel is None:
            return
        body = json.dumps(
            {
                "id": sub.id,
                "items": {
                    key: {"value": item.value, "version": item.version, "metadata": item.metadata}
                },
            },
            default=dict,
        ).encode()
        quote = urllib.parse.quote
        request = InvokeRequest(
            method=f"configuration/{quote(sub.store, safe='')}/{quote(key, safe='')}",
            verb="POST",
            body=body,
            content_type="application/json",
        )
        try:
            async with await channel.invoke(request) as response:
                await response.read()
                status = response.status
        except AppChannelError as exc:
            log.warning("configuration update of %r not delivered to the app: %s", key, exc)
            return
        except Exception:  # the delivery loop must outlive any one failed call
            log.exception("configuration update of %r not delivered to the app", key)
            return
        if status != 200:
            log.warning("the app answered %d to the configuration update of %r", status, key)
