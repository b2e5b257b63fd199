"""``pubsub.mqtt3``: pub/sub on an MQTT 3.1.1 broker (aiomqtt; tested on Mosquitto 2.0).

Contract (``components.pubsub._api``); features: SUBSCRIBE_WILDCARDS (``+`` and ``#`` are
MQTT's own). Not MESSAGE_TTL (MQTT 3 has no expiry), no bulk.

- Publishing uses one connection (clean session) and, with ``qos`` 1 (default) or 2, returns
  once the broker acknowledged the message. MQTT 3 messages carry no properties: the content
  type and metadata are not transported (the runtime's CloudEvent carries its own).
- Each subscription is its own MQTT session subscribed to ``$share/<consumer group>/<topic>``:
  subscribers of one group share the messages (Mosquitto hands each to one of them, round
  robin), groups each get every message, and wildcards work inside the share.
- Persistent sessions (``cleanSession: false``, default): a subscription's client id is stable,
  ``<group>-<topic hash>-<slot>``, the slot being the first one free among the subscribers of
  that group and topic sharing ``$TANDEM_HOME`` (see ``_sessions``). While a subscriber is away
  the broker keeps its session: the messages it had not acknowledged and those it is sent
  meanwhile come back when a subscriber takes that slot again (a restarted sidecar does).
- Acknowledgement: a message's PUBACK is sent only once the handler returned ACK (manual
  acks). At most ``concurrency`` handlers run.

What MQTT (and Mosquitto) cannot guarantee, so Tandem does not promise it here:
- **No negative acknowledgement.** MQTT can only acknowledge, and Mosquitto resends an
  unacknowledged message only when the session reconnects, never within a live one. A NACKed
  (or failed) message is therefore handed to the handler again by the component after
  ``redeliveryDelay``, on the same subscriber, still unacknowledged at the broker; meanwhile it
  holds one of the broker's in-flight slots for that session (Mosquitto's
  ``max_inflight_messages``, 20 by default).
- **Acknowledgement order.** MQTT 3.1.1 asks clients to acknowledge in the order received;
  with ``concurrency`` > 1 handlers finish out of order and so do the PUBACKs. Mosquitto
  accepts that; a strict broker may not (use ``concurrency`` 1 there).
- **Bounded queues.** A broker keeps a bounded number of queued messages per session
  (Mosquitto's ``max_queued_messages``, 1000 by default) and **drops the rest** when a
  subscriber is slow or away; raise it (0 = no limit) for at-least-once under load.
- **Shared subscriptions.** Mosquitto assigns a message to one member of the share when it
  arrives, including a member whose persistent session is offline: that message waits for that
  member (its slot) to come back, it is not handed to the others.
- **Replicas on several hosts** each start at slot 0 of their own ``$TANDEM_HOME``: two live
  sessions with one client id disconnect each other. Give such replicas their own resources
  folder/home, or use ``cleanSession: true`` (random ids, nothing kept while away).
- **QoS 0** (``qos: 0``) is at most once: nothing is acknowledged or redelivered.
- Outages: the connections reconnect by themselves; publishing fails at once while the
  publisher is disconnected; subscriptions resume their sessions.
- **A broker restarted without its state** (no ``persistence``, or killed before it saved)
  has forgotten the persistent sessions: what it had queued for them is gone, and a message
  published after the publisher reconnected but before a subscription subscribed again has no
  subscriber yet and is dropped (each connection reconnects on its own backoff). Redis keeps
  such messages in the stream; MQTT has nowhere to keep them
  (``tests/integration/pubsub/test_broker_outage.py``).
"""

from components.pubsub.mqtt._metadata import MqttMetadata
from components.pubsub.mqtt._pubsub import MqttPubSub

__all__ = ["MqttMetadata", "MqttPubSub"]
