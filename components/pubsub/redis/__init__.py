"""``pubsub.redis``: Redis Streams with consumer groups, Dapr-compatible.

Features MESSAGE_TTL, BULK_PUBSUB. Layout as Dapr's: a topic is the stream of the same name; an
entry holds ``data`` (the bytes, unchanged) and, when set, ``metadata`` (JSON), ``contentType``
and ``expires`` (TTL deadline, unix ms; an expired entry is acknowledged and never delivered).
A consumer group (``consumerID``) is created at the stream's start (``XGROUP CREATE ... 0
MKSTREAM``), so it also gets the entries still in the stream; each subscription is one consumer
of it (``<group>-<random>``).

At-least-once: an entry is ``XACK``-ed only after an ACK; acks share one command, sent with
the next read (one pipeline) or after at most 10 ms. Reads: under a backlog one ``XREADGROUP``
takes a batch (half the local window) rather than one entry per freed slot; after a read that
found a few entries the next one waits 2 ms, so a steady flow costs fewer round trips.

A live subscription renews the entries it holds (``XCLAIM ... JUSTID`` every third of
``processingTimeout``), so a slow handler's messages are not taken from it; entries it NACKed,
and those of a consumer that died, stay pending and idle, and every ``redeliverInterval`` each
subscription takes those idle longer than ``processingTimeout`` (``XAUTOCLAIM``). A subscription
closed with messages in flight hands them back at once (``XCLAIM ... IDLE``).

Ordered: with ``concurrency=1`` and one consumer, entries arrive in stream order (claimed
redeliveries aside). Retention: ``maxLenApprox`` (``MAXLEN ~``) or ``streamTTL`` (``MINID ~``)
trim on publish; nothing is trimmed otherwise, as in Dapr.

Outages: publishing fails within ``readTimeout`` (connection errors retried ``maxRetries``
times); subscriptions back off (50ms to 2s), log once per outage, and resume by themselves, and
recreate their group when the server lost it.
"""

from components.pubsub.redis._metadata import RedisPubSubMetadata
from components.pubsub.redis._pubsub import RedisPubSub

__all__ = ["RedisPubSub", "RedisPubSubMetadata"]
