"""``pubsub.jetstream``: pub/sub on NATS JetStream (nats-py), at least once.

Contract (``components.pubsub._api``); features: none of the optional ones (JetStream on
nats-server < 2.11 has no per-message TTL; bulk and wildcards are left to the runtime).

- A topic is a NATS subject (no whitespace, ``*`` or ``>``). Publishing waits for the
  stream's acknowledgement (stored as the stream's storage allows); the stream holding the
  subject is found, or created/extended (see ``_metadata``).
- Each consumer group on a topic is one **durable pull consumer** (explicit acks, filtered on
  the topic): replicas of a group, in one process or many, pull from it and so share its
  messages; groups each get every message. A group keeps receiving while no subscriber runs.
  Which messages a new group starts with follows ``deliverPolicy`` (``all`` replays the stream).
- A subscription pulls at most as many messages as it has free handler slots
  (``concurrency``), so a message waits at the broker, not in the process, until a handler is
  free. ACK acknowledges; NACK or a failed handler NAKs (redelivered at once, or per
  ``backOff``); a handler cancelled by ``aclose`` NAKs too; a crashed process's messages come
  back after ``ackWait``. While a handler runs the component tells the broker it is in progress
  (every ``ackWait``/3), so slow handlers are not redelivered meanwhile. ``maxDeliver`` bounds
  deliveries (the broker then drops the message: leave it -1 for at-least-once).
- Ordered: with ``concurrency=1`` one subscriber sees one publisher's messages in order
  (redeliveries aside).
- Outages: the client reconnects by itself; publishing fails at once while disconnected;
  subscriptions resume and bind again (recreating the stream and consumer if the server lost
  them).
"""

from components.pubsub.jetstream._metadata import JetStreamMetadata
from components.pubsub.jetstream._pubsub import JetStreamPubSub

__all__ = ["JetStreamMetadata", "JetStreamPubSub"]
