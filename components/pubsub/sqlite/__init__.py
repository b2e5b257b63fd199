"""``pubsub.sqlite``: the embedded, durable default pub/sub, shared by every sidecar on the
machine that opens the same file (two apps on one laptop talk with no broker installed).

Features MESSAGE_TTL, BULK_PUBSUB. Contract beyond ``components.pubsub._api``:

- durable: ``publish`` returns once the message is committed (WAL, ``synchronous=NORMAL``: it
  survives a crash of any process; an OS crash or power cut may lose the last commits);
- consumer groups work across processes: a group is a row with a cursor, and each message it
  takes is a lease row owned by one subscription (see ``_sql``). A group is created by its first
  ``subscribe`` and starts at the end of the topic; it then keeps its messages while it has no
  subscriber, across restarts;
- at-least-once: a lease is renewed while its subscription lives; a NACKed or failed message is
  due again after ``redeliveryDelay``; one in flight when its subscription closes is due at
  once; one whose process died is due once ``processingTimeout`` passed since the last renewal;
- ordered: with ``concurrency=1`` and one subscriber, messages arrive in publish order
  (redeliveries come first);
- wake-ups without polling: publishers poke the subscribers' UDP ports on 127.0.0.1 after each
  commit (``_poke``); a slow safety poll (``pollInterval``) covers a lost datagram, and a quick
  read-only check makes an idle poll cheap;
- retention: messages every group of their topic has acknowledged are deleted, and expired ones;
  ``maxAge`` / ``maxMessages`` bound the file (see ``_metadata``);
- publishes and acknowledgements issued together are grouped into one transaction each
  (``_db.Batcher``); every transaction is one hop to the database thread.
"""

from components.pubsub.sqlite._metadata import SqlitePubSubMetadata
from components.pubsub.sqlite._pubsub import SqlitePubSub
from components.pubsub.sqlite._sql import SCHEMA_VERSION

__all__ = ["SCHEMA_VERSION", "SqlitePubSub", "SqlitePubSubMetadata"]
