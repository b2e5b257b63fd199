"""The pub/sub block as the shared conformance harness sees it.

Matrix fields of its own (``components.yaml``):
  redeliverySeconds: optional, default 15; the longest a NACKed or failed message may take to
                     come back (the redelivery delay configured in the manifest)
  ordered:           optional, default false; true when, with concurrency 1, one subscriber
                     gets one publisher's messages in publish order (enables the order case)
  shared:            optional, default false; true when two instances built from the manifest
                     reach the same broker (the consumer-group cases then use two instances,
                     as two replicas would; otherwise two subscriptions on one instance)

Feature coherence: BULK_PUBSUB and BULK_SUBSCRIBE are capability Protocols (declared =>
implemented; undeclared => not implemented, or calling it raises NotSupported); MESSAGE_TTL and
SUBSCRIBE_WILDCARDS undeclared => publishing with ``ttlInSeconds`` / subscribing to a pattern
raises NotSupported.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from components.pubsub import (
    Ack,
    BulkMessage,
    BulkPublisher,
    BulkSubscriber,
    Message,
    PubSubFeature,
)
from tests.conformance._harness import Block, Case, FeatureCheck

__all__ = ["PUBSUB", "PubSubOptions"]


class PubSubOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    redelivery_seconds: float = Field(default=15.0, alias="redeliverySeconds", gt=0)
    ordered: bool = False
    shared: bool = False


async def _ack(_: Message) -> Ack:
    return Ack.ACK


async def _ttl(pubsub: Any, _: Case[Any], key: str) -> None:
    await pubsub.publish(key, b"x", metadata={"ttlInSeconds": "60"})


async def _wildcards(pubsub: Any, _: Case[Any], key: str) -> None:
    subscription = await pubsub.subscribe(f"{key}/+", _ack, consumer_group=key, metadata={})
    await subscription.aclose()


async def _bulk_publish(pubsub: Any, _: Case[Any], key: str) -> None:
    await pubsub.bulk_publish(key, [BulkMessage(entry_id="1", data=b"x")], metadata={})


async def _bulk_subscribe(pubsub: Any, _: Case[Any], key: str) -> None:
    async def handler(batch: Any) -> dict[str, Ack]:
        return {m.id: Ack.ACK for m in batch}

    subscription = await pubsub.bulk_subscribe(
        key, handler, consumer_group=key, metadata={}, max_messages=5, max_await_ms=100
    )
    await subscription.aclose()


PUBSUB: Block[PubSubOptions] = Block(
    name="pubsub",
    features=PubSubFeature,
    declared=lambda pubsub: pubsub.features(),
    options=PubSubOptions,
    checks={
        PubSubFeature.MESSAGE_TTL: FeatureCheck(protocol=None, probe=_ttl),
        PubSubFeature.SUBSCRIBE_WILDCARDS: FeatureCheck(protocol=None, probe=_wildcards),
        PubSubFeature.BULK_PUBLISH: FeatureCheck(protocol=BulkPublisher, probe=_bulk_publish),
        PubSubFeature.BULK_SUBSCRIBE: FeatureCheck(protocol=BulkSubscriber, probe=_bulk_subscribe),
    },
)
