"""``pubsub.rabbitmq``: pub/sub on RabbitMQ (aio-pika), at least once.

Contract (``components.pubsub._api``); features: MESSAGE_TTL (``ttlInSeconds`` becomes the
message's ``expiration``: RabbitMQ never delivers an expired message).

- Each topic is an exchange named after it (``exchangeKind``, fanout by default, durable).
  Publishing declares it if needed and returns once the broker **confirmed** the message
  (publisher confirms), persistent with the default ``deliveryMode`` 2. A message published
  while no queue is bound to the exchange is dropped by RabbitMQ.
- Each consumer group on a topic is one queue, ``<consumerID>-<topic>`` as Dapr names it (or
  the subscription's ``queueName``), bound to the exchange, durable and kept while unused by
  default: replicas of a group consume from it and share its messages (competing consumers),
  groups each get every message, and a group keeps receiving while no subscriber runs.
- Each subscription has its own channel with ``prefetchCount`` unacknowledged deliveries at
  most (default: its ``concurrency``, so replicas share fairly) and runs at most
  ``concurrency`` handler calls. ACK acks; NACK or a failed handler nacks with requeue (per
  ``requeueInFailure``); a handler cancelled by ``aclose`` and every message of a crashed
  process are requeued by the broker when the channel/connection closes.
- Ordered: with ``concurrency=1`` (prefetch 1) one subscriber sees one publisher's messages in
  order, redeliveries aside.
- Outages: the robust connection reconnects by itself every ``reconnectWait`` and restores the
  channels, exchanges, queues and consumers; publishing fails at once while disconnected.
  Handlers that were running when the connection dropped cannot settle their message (it was
  requeued by the broker): it is delivered again.
"""

from components.pubsub.rabbitmq._metadata import RabbitMQMetadata
from components.pubsub.rabbitmq._pubsub import RabbitMQPubSub

__all__ = ["RabbitMQMetadata", "RabbitMQPubSub"]
