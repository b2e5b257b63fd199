"""The pub/sub contract: one base protocol and optional capabilities.

Delivery is **at-least-once**, and every component keeps these promises:

- ``publish`` returns only once the broker has accepted the message, as durably as the component
  can (a durable one keeps it across restarts of the process and the broker); on failure it
  raises, and the message may or may not exist.
- A message is acknowledged to the broker only after the handler returned ``Ack.ACK``. A
  ``NACK``, a handler exception, a cancelled handler (``aclose``) or a crash of the process
  leaves it unacknowledged: the broker redelivers it later (within the component's documented
  redelivery delay) to the same consumer group. Duplicates are therefore possible.
- Consumer groups: subscriptions with the same ``consumer_group`` on a topic share its messages
  (each message goes to one of them); different groups each get every message. Messages
  published after ``subscribe`` returned reach the group; earlier ones may or may not.
- Concurrency: the handler may be called concurrently, at most ``concurrency`` calls at a time
  per subscription. A component documented as ordered delivers, with ``concurrency=1``, the
  messages of one publisher to one subscriber of a group in publish order (redeliveries aside).
- Topics: any non-empty string the broker can name; else ``InvalidRequest``. A topic holding
  ``+`` or ``#`` is an MQTT-style pattern when subscribing (``+`` one level, ``#`` the rest;
  levels split on ``/``): without ``SUBSCRIBE_WILDCARDS`` that raises ``NotSupported``.
- TTL: publish metadata ``ttlInSeconds`` (whole seconds): a ``MESSAGE_TTL`` component never
  delivers the message once expired; others raise ``NotSupported`` (the runtime does not pass
  it to them: it filters on the CloudEvent ``expiration`` instead).
- Broker outages: publishing fails fast; subscriptions reconnect and resume by themselves.

Lifecycle as ``components.base``: ``close()`` is idempotent, closes every open subscription,
and ``Subscription.aclose()`` is idempotent too. A feature not declared in ``features()`` is not
reachable (its capability protocol is not implemented); the conformance suite checks both ways.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Protocol, runtime_checkable

from components.base import Component
from components.pubsub._types import BulkHandler, BulkMessage, Handler

__all__ = [
    "BulkPublisher",
    "BulkSubscriber",
    "PubSub",
    "PubSubFeature",
    "Subscription",
]


class PubSubFeature(StrEnum):
    """Capability strings as Dapr reports them in metadata (BULK_SUBSCRIBE is Tandem's)."""

    MESSAGE_TTL = "MESSAGE_TTL"
    BULK_PUBLISH = "BULK_PUBSUB"  # Dapr's name for native bulk publish
    SUBSCRIBE_WILDCARDS = "SUBSCRIBE_WILDCARDS"
    BULK_SUBSCRIBE = "BULK_SUBSCRIBE"


class Subscription(Protocol):
    async def aclose(self) -> None:
        """Stop receiving; cancel handler calls in flight (their messages stay unacknowledged)
        and return once none runs. Idempotent; other subscriptions are not disturbed."""


class PubSub(Component, Protocol):
    def features(self) -> frozenset[PubSubFeature]: ...

    async def publish(
        self,
        topic: str,
        data: bytes,
        *,
        metadata: Mapping[str, str],
        content_type: str = "",
    ) -> None:
        """Returns once the broker accepted the message; raises on failure."""

    async def subscribe(
        self,
        topic: str,
        handler: Handler,
        *,
        consumer_group: str,
        metadata: Mapping[str, str],
        concurrency: int = 1,
    ) -> Subscription:
        """Returns once the subscription is established at the broker (group created, queue
        bound), so that every later publish reaches it. ``consumer_group`` is the resolved
        consumerID (the runtime defaults it to the app id)."""


@runtime_checkable
class BulkPublisher(PubSub, Protocol):
    async def bulk_publish(
        self, topic: str, entries: Sequence[BulkMessage], *, metadata: Mapping[str, str]
    ) -> Mapping[str, Exception]:
        """Not atomic: every entry is tried; returns the failed entry ids with their error
        (empty: all accepted, with the same durability as ``publish``)."""


@runtime_checkable
class BulkSubscriber(PubSub, Protocol):
    async def bulk_subscribe(
        self,
        topic: str,
        handler: BulkHandler,
        *,
        consumer_group: str,
        metadata: Mapping[str, str],
        max_messages: int,
        max_await_ms: int,
    ) -> Subscription:
        """As ``subscribe``, but the handler gets batches of at most ``max_messages``, waiting at
        most ``max_await_ms`` to fill one; one batch in flight at a time. Each message is
        acknowledged per its own entry of the handler's answer (missing or exception: NACK)."""
