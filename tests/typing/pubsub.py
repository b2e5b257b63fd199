"""Pub/sub components, checked statically against ``PubSub`` and its capability Protocols."""

from __future__ import annotations

from components.pubsub import BulkPublisher, BulkSubscriber, PubSub
from components.pubsub.in_memory import InMemoryPubSub
from components.pubsub.jetstream import JetStreamPubSub
from components.pubsub.mqtt import MqttPubSub
from components.pubsub.rabbitmq import RabbitMQPubSub
from components.pubsub.redis import RedisPubSub
from components.pubsub.sqlite import SqlitePubSub

__all__ = ["CHECKED"]


# One function per Protocol: mypy then names the offending class ("Argument 2 to ...").
def _pubsub(*classes: type[PubSub]) -> tuple[type[PubSub], ...]:
    return classes


def _bulk_publishers(*classes: type[BulkPublisher]) -> object:
    return classes


def _bulk_subscribers(*classes: type[BulkSubscriber]) -> object:
    return classes


CHECKED = _pubsub(
    InMemoryPubSub, SqlitePubSub, RedisPubSub, JetStreamPubSub, RabbitMQPubSub, MqttPubSub
)
_bulk_publishers(InMemoryPubSub, SqlitePubSub, RedisPubSub)
_bulk_subscribers(InMemoryPubSub)
