"""Pub/sub contract (see ``_api``) and message types (see ``_types``)."""

from components.base import CatalogEntry
from components.pubsub._api import (
    BulkPublisher,
    BulkSubscriber,
    PubSub,
    PubSubFeature,
    Subscription,
)
from components.pubsub._types import Ack, BulkHandler, BulkMessage, Handler, Message

__all__ = [
    "CATALOG",
    "Ack",
    "BulkHandler",
    "BulkMessage",
    "BulkPublisher",
    "BulkSubscriber",
    "Handler",
    "Message",
    "PubSub",
    "PubSubFeature",
    "Subscription",
]


# The block's components, by type: ``runtime.catalog`` collects every block's CATALOG.
# A target module is imported only when a component of its type is configured.
CATALOG: tuple[CatalogEntry, ...] = (
    CatalogEntry(type="pubsub.in-memory", target="components.pubsub.in_memory:InMemoryPubSub"),
    CatalogEntry(type="pubsub.sqlite", target="components.pubsub.sqlite:SqlitePubSub"),
    CatalogEntry(
        type="pubsub.redis",
        target="components.pubsub.redis:RedisPubSub",
        extra="redis",
        requires=("redis",),
    ),
    CatalogEntry(
        type="pubsub.jetstream",
        target="components.pubsub.jetstream:JetStreamPubSub",
        extra="nats",
        requires=("nats",),
    ),
    CatalogEntry(
        type="pubsub.rabbitmq",
        target="components.pubsub.rabbitmq:RabbitMQPubSub",
        extra="rabbitmq",
        requires=("aio_pika",),
    ),
    CatalogEntry(
        type="pubsub.mqtt3",
        target="components.pubsub.mqtt:MqttPubSub",
        extra="mqtt",
        requires=("aiomqtt",),
    ),
)
