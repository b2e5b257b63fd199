"""Pub/sub contract (see ``_api``) and message types (see ``_types``)."""

from components.pubsub._api import (
    BulkPublisher,
    BulkSubscriber,
    PubSub,
    PubSubFeature,
    Subscription,
)
from components.pubsub._types import Ack, BulkHandler, BulkMessage, Handler, Message

__all__ = [
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
