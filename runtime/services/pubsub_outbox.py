"""The state transactional outbox, as Dapr has it: a transaction's changes are published when,
and only when, the transaction commits.

A state store opts in with component metadata (read by the runtime, never by the store):
``outboxPublishPubsub`` and ``outboxPublishTopic`` (where the changes go), ``outboxPubsub`` (the
pub/sub carrying the internal messages; default ``outboxPublishPubsub``) and
``outboxDiscardWhenMissingState`` (drop, at once, an internal message whose transaction never
committed; default: drop it after ``MISSING_WINDOW``).

Two phases, so that neither a failed transaction nor a crash loses or invents a message:

1. before the commit, one internal message naming a fresh transaction id and carrying the
   events (each upsert's value, or its ``outbox.projection`` replacement) goes to
   ``<appID><store>outbox`` on the outbox pub/sub; the transaction then also writes the marker
   key ``outbox-<tid>``. A failed internal publish fails the transaction
   (``ERR_PUBLISH_OUTBOX``) before anything is written;
2. the sidecar's own subscription to that topic publishes the events (Dapr's CloudEvent
   envelope, source = the app id) once the marker exists, then deletes the marker and
   acknowledges. A marker that is missing means the transaction has not committed (yet): the
   message is retried later, and dropped when the transaction evidently failed.

Operations marked ``outbox.projection: "true"`` are never stored: their value is published in
place of the stored value of the upsert with the same key.
"""

from __future__ import annotations

import base64
import json
import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from components.pubsub import Ack, Message, Subscription
from runtime.compstore import STATE, ComponentStore
from runtime.services.pubsub import PubSubService, parse_bool
from runtime.services.pubsub_errors import PubSubErrors
from runtime.services.state import DeleteItem, SaveItem, TxOperation

if TYPE_CHECKING:
    from runtime.services.state import StateService

__all__ = ["MISSING_WINDOW", "Outbox", "OutboxConfig"]

log = logging.getLogger("tandem.pubsub.outbox")

MISSING_WINDOW = 30.0  # seconds a transaction may take to commit after its internal message
PROJECTION = "outbox.projection"
MARKER_PREFIX = "outbox-"


@dataclass(frozen=True, slots=True)
class OutboxConfig:
    store: str
    publish_pubsub: str
    publish_topic: str
    pubsub: str
    discard_when_missing: bool

    @classmethod
    def of(cls, store: str, metadata: Mapping[str, str]) -> OutboxConfig | None:
        pubsub, topic = (
            metadata.get("outboxpublishpubsub", ""),
            metadata.get("outboxpublishtopic", ""),
        )
        if not pubsub or not topic:
            return None
        try:
            discard = parse_bool(metadata.get("outboxdiscardwhenmissingstate", "false") or "false")
        except ValueError:
            discard = False
        return cls(store, pubsub, topic, metadata.get("outboxpubsub") or pubsub, discard)


def _content_type(value: bytes, metadata: Mapping[str, str]) -> str:
    given = metadata.get("contentType") or metadata.get("datacontenttype")
    if given:
        return given
    try:
        json.loads(value)
    except ValueError:
        return "text/plain"
    return "application/json"


class Outbox:
    def __init__(self, components: ComponentStore, pubsub: PubSubService, *, app_id: str) -> None:
        self._pubsub = pubsub
        self._app_id = app_id
        self._state: StateService | None = None
        self._configs: dict[str, OutboxConfig] = {}
        for live in components:
            if live.block == STATE:
                config = OutboxConfig.of(live.name, live.runtime_metadata)
                if config is not None:
                    self._configs[live.name] = config
        self._subscriptions: list[Subscription] = []

    def config(self, store: str) -> OutboxConfig | None:
        return self._configs.get(store)

    def _topic(self, store: str) -> str:
        return f"{self._app_id}{store}outbox"

    # ---- phase 1: inside the state service's transaction -------------------------------------

    async def before_commit(
        self, store: str, operations: Sequence[TxOperation]
    ) -> list[TxOperation]:
        """The operations to commit: projections removed, the marker added (the internal
        message is published first). Raises ERR_PUBLISH_OUTBOX."""
        config = self._configs[store]
        projections: dict[str, SaveItem] = {}
        kept: list[TxOperation] = []
        for op in operations:
            item = op.item
            projected = item.metadata.get(PROJECTION, "").lower() == "true"
            if op.operation.lower() == "upsert" and isinstance(item, SaveItem) and projected:
                projections[item.key] = item
            else:
                kept.append(op)
        events = []
        for op in kept:
            item = op.item
            if op.operation.lower() != "upsert" or not isinstance(item, SaveItem):
                continue
            shown = projections.pop(item.key, item)
            events.append(self._event(shown))
        events += [self._event(item) for item in projections.values()]  # without a stored twin
        if not events:
            return kept
        tid = str(uuid.uuid4())
        internal = json.dumps(
            {"tid": tid, "store": store, "created": time.time(), "events": events}
        ).encode()
        try:
            live = self._pubsub.live(config.pubsub)
            await self._pubsub.call(
                config.pubsub,
                "publish",
                lambda: live.instance.publish(
                    self._topic(store), internal, metadata={}, content_type="application/json"
                ),
            )
        except Exception as exc:
            raise PubSubErrors.OUTBOX_PUBLISH(detail=exc, resource=config.pubsub) from exc
        marker = SaveItem(key=MARKER_PREFIX + tid, value=b"0")
        return [*kept, TxOperation(operation="upsert", item=marker)]

    @staticmethod
    def _event(item: SaveItem) -> dict[str, Any]:
        cloudevent = {k: v for k, v in item.metadata.items() if k.startswith("cloudevent.")}
        return {
            "data": base64.b64encode(item.value).decode("ascii"),
            "contentType": _content_type(item.value, item.metadata),
            "metadata": cloudevent,
        }

    # ---- phase 2: the sidecar's own subscription ---------------------------------------------

    async def start(self, state: StateService) -> None:
        """Subscribe to every outbox topic; a store whose pub/sub is missing is logged."""
        self._state = state
        for store, config in self._configs.items():
            try:
                live = self._pubsub.live(config.pubsub)
                self._pubsub.live(config.publish_pubsub, config.publish_topic)
                subscription = await live.instance.subscribe(
                    self._topic(store),
                    self._handle,
                    consumer_group=self._app_id,
                    metadata={},
                    concurrency=4,
                )
            except Exception as exc:
                log.warning("outbox of state store %r disabled: %s", store, exc)
                continue
            self._subscriptions.append(subscription)
            log.info(
                "outbox of state store %r publishes to %s/%s",
                store,
                config.publish_pubsub,
                config.publish_topic,
            )

    async def _handle(self, message: Message) -> Ack:
        state = self._state
        if state is None:
            return Ack.NACK
        try:
            doc = json.loads(message.data)
            tid, store, created = str(doc["tid"]), str(doc["store"]), float(doc["created"])
            events = list(doc["events"])
            config = self._configs[store]
        except (ValueError, KeyError, TypeError):
            log.warning("dropping a malformed outbox message on %r", message.topic)
            return Ack.ACK
        marker = MARKER_PREFIX + tid
        found = await state.get(store, marker)
        if found.value is None:
            if config.discard_when_missing or time.time() - created > MISSING_WINDOW:
                log.info("outbox transaction %s of %r never committed: dropped", tid, store)
                return Ack.ACK
            return Ack.NACK  # not committed yet: try again later
        for event in events:
            await self._pubsub.publish(
                config.publish_pubsub,
                config.publish_topic,
                base64.b64decode(event["data"]),
                content_type=event.get("contentType", ""),
                metadata=event.get("metadata") or {},
            )
        await state.delete(store, DeleteItem(key=marker))
        return Ack.ACK

    async def aclose(self) -> None:
        subscriptions, self._subscriptions = self._subscriptions, []
        for subscription in subscriptions:
            await subscription.aclose()
