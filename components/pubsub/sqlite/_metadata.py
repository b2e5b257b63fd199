"""The metadata of ``pubsub.sqlite`` (names match case-insensitively).

- ``connectionString``: a file path or a ``file:`` URI; unset or blank means the machine's
  shared file ``<home>/data/pubsub.db`` (parent folders are created);
- ``timeout``: how long a write waits for another process's lock (busy timeout), default 20s;
- ``processingTimeout``: how long a subscription that stops renewing its leases (a crashed or
  frozen process) keeps its messages before the group gets them again, default 15s; a live
  subscription renews its leases every third of it, so a slow handler is not redelivered;
- ``redeliveryDelay``: when a NACKed or failed message is delivered again, default 1s;
- ``pollInterval``: the safety poll, in case a wake-up datagram is lost, default 1s;
- ``cleanupInterval``: how often retention runs, default 10s;
- ``maxAge``: messages older than this are deleted even if unacknowledged (a warning says how
  many), default 168h (7 days), 0 = no bound;
- ``maxMessages``: beyond this many stored messages the oldest are deleted likewise, default
  1,000,000, 0 = no bound;
- ``consumerID``: the consumer group; resolved by the runtime (default: the app id) and passed
  to ``subscribe``, so the component only accepts it.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from components._metadata import Duration
from components.base import BaseMetadata

__all__ = ["SqlitePubSubMetadata"]


class SqlitePubSubMetadata(BaseMetadata):
    connection_string: str | None = Field(default=None, alias="connectionString")
    timeout: Duration = Field(default=20.0, gt=0)
    processing_timeout: Duration = Field(default=15.0, alias="processingTimeout", gt=0)
    redelivery_delay: Duration = Field(default=1.0, alias="redeliveryDelay", ge=0)
    poll_interval: Duration = Field(default=1.0, alias="pollInterval", gt=0)
    cleanup_interval: Duration = Field(default=10.0, alias="cleanupInterval", gt=0)
    max_age: Duration = Field(default=7 * 24 * 3600.0, alias="maxAge", ge=0)
    max_messages: int = Field(default=1_000_000, alias="maxMessages", ge=0)
    consumer_id: str | None = Field(default=None, alias="consumerID")

    @field_validator("connection_string")
    @classmethod
    def _blank_is_unset(cls, v: str | None) -> str | None:
        return v if v is not None and v.strip() else None
