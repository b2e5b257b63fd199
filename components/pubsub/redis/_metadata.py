"""Metadata of ``pubsub.redis``: Dapr's names for its Redis Streams component.

Empty values count as unset. Durations take Go's forms or, as in Dapr, a bare number of
milliseconds (``processingTimeout: "15000"``).

- ``redisHost`` (default ``localhost:6379``), ``redisUsername``, ``redisPassword``, ``redisDB``,
  ``enableTLS``, ``dialTimeout`` (5s), ``readTimeout`` (5s: the bound on one command);
  ``writeTimeout``, ``poolSize``, ``maxRetries``, ``maxRetryBackoff`` are accepted;
- ``consumerID``: the consumer group; resolved by the runtime (default: the app id) and passed
  to ``subscribe``;
- ``processingTimeout`` (default 15s): a message pending this long on a consumer that stopped
  renewing it (a dead process, or a NACK) is claimed by another (``XAUTOCLAIM``); ``0``
  disables claiming, as in Dapr (unacknowledged messages then stay pending for good);
- ``redeliverInterval`` (default 60s): how often each subscription looks for such messages;
  ``0`` disables it;
- ``queueDepth`` (default 100): the most messages one read takes;
- ``concurrency`` (default 10): accepted; the runtime's per-subscription bound applies;
- ``maxLenApprox``: trim each stream to about this many entries on publish (``MAXLEN ~``);
- ``streamTTL``: trim entries older than this on publish (``MINID ~``);
- ``redisType``: only ``node``; ``failover``: only false (Sentinel and cluster are refused).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, SecretStr, field_validator, model_validator

from components._metadata import parse_duration
from components.base import BaseMetadata
from components.state.redis._metadata import parse_host_port

__all__ = ["RedisPubSubMetadata"]


def _millis_or_duration(value: Any) -> Any:
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip()) / 1000
    if isinstance(value, str):
        return parse_duration(value)
    return value


class RedisPubSubMetadata(BaseMetadata):
    redis_host: str = Field(default="localhost:6379", alias="redisHost")
    redis_username: str | None = Field(default=None, alias="redisUsername")
    redis_password: SecretStr | None = Field(default=None, alias="redisPassword")
    redis_db: int = Field(default=0, alias="redisDB", ge=0)
    enable_tls: bool = Field(default=False, alias="enableTLS")
    dial_timeout: float = Field(default=5.0, alias="dialTimeout", gt=0)
    read_timeout: float = Field(default=5.0, alias="readTimeout", gt=0)
    write_timeout: float = Field(default=5.0, alias="writeTimeout", gt=0)
    pool_size: int = Field(default=0, alias="poolSize", ge=0)
    max_retries: int = Field(default=3, alias="maxRetries", ge=-1)
    max_retry_backoff: float = Field(default=2.0, alias="maxRetryBackoff", ge=0)
    consumer_id: str | None = Field(default=None, alias="consumerID")
    processing_timeout: float = Field(default=15.0, alias="processingTimeout", ge=0)
    redeliver_interval: float = Field(default=60.0, alias="redeliverInterval", ge=0)
    queue_depth: int = Field(default=100, alias="queueDepth", gt=0)
    concurrency: int = Field(default=10, gt=0)
    max_len_approx: int | None = Field(default=None, alias="maxLenApprox", gt=0)
    stream_ttl: float | None = Field(default=None, alias="streamTTL", gt=0)
    redis_type: str = Field(default="node", alias="redisType")
    failover: bool = False

    @model_validator(mode="before")
    @classmethod
    def _empty_is_unset(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if not (isinstance(v, str) and not v.strip())}
        return data

    @field_validator(
        "dial_timeout",
        "read_timeout",
        "write_timeout",
        "max_retry_backoff",
        "processing_timeout",
        "redeliver_interval",
        "stream_ttl",
        mode="before",
    )
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return _millis_or_duration(value)

    @field_validator("redis_host")
    @classmethod
    def _check_host(cls, value: str) -> str:
        parse_host_port(value)
        return value.strip()

    @field_validator("redis_type")
    @classmethod
    def _node_only(cls, value: str) -> str:
        if value.strip().lower() != "node":
            raise ValueError(f"redisType {value!r} is not supported: only 'node'")
        return "node"

    @field_validator("failover")
    @classmethod
    def _no_failover(cls, value: bool) -> bool:
        if value:
            raise ValueError("failover (Redis Sentinel) is not supported")
        return value

    @property
    def address(self) -> tuple[str, int]:
        return parse_host_port(self.redis_host)
