"""Metadata of ``pubsub.jetstream``: Dapr's names, matched case-insensitively.

Connection: ``natsURL`` (default ``nats://localhost:4222``; several as a comma-separated
list), ``name`` (connection name), ``token``, ``jwt`` + ``seedKey`` (decentralized auth),
``tls_client_cert`` + ``tls_client_key``.

Stream: ``streamName``. A topic is a subject of its own. The stream already holding a subject
is used; else the subject is added to ``streamName`` (created when missing), or, without
``streamName``, a stream of its own is created for the topic (``TANDEM_<topic>``). Created
streams use ``streamStorage`` (``file`` or ``memory``, default file) and keep messages for
``streamMaxAge`` (default 0: no age limit). Those two are Tandem's (Dapr never creates streams).

Consumers (one durable pull consumer per consumer group and topic): ``durableName`` (a prefix
for the consumer names instead of the consumer group), ``queueGroupName`` (the consumer group,
overriding the runtime's consumerID), ``deliverPolicy`` (``all`` default, ``new``, ``last``,
``sequence`` with ``startSequence``, ``time`` with ``startTime`` in Unix seconds), ``ackWait``
(default 30s: an unacknowledged message comes back after it), ``maxDeliver`` (default -1,
unlimited), ``backOff`` (comma-separated durations for successive redeliveries),
``maxAckPending``, ``replicas`` and ``memoryStorage`` (of the consumer). Only ``ackPolicy:
explicit`` is accepted (at-least-once needs it). A consumer that exists keeps its configuration.

Accepted and unused (Dapr names for push consumers and flow tuning): ``flowControl``,
``heartbeat``, ``rateLimit``, ``concurrencyMode``, ``consumerID``, ``domain`` and
``apiPrefix`` (used: the JetStream API prefix, ``domain`` wins).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from components._metadata import Duration, parse_duration
from components.base import BaseMetadata

__all__ = ["JetStreamMetadata"]


class JetStreamMetadata(BaseMetadata):
    nats_url: str = Field(default="nats://localhost:4222", alias="natsURL")
    name: str = Field(default="tandem - pubsub.jetstream", alias="name")
    token: SecretStr | None = Field(default=None, alias="token")
    jwt: SecretStr | None = Field(default=None, alias="jwt")
    seed_key: SecretStr | None = Field(default=None, alias="seedKey")
    tls_client_cert: str | None = Field(default=None, alias="tls_client_cert")
    tls_client_key: str | None = Field(default=None, alias="tls_client_key")

    stream_name: str | None = Field(default=None, alias="streamName")
    stream_storage: Literal["file", "memory"] = Field(default="file", alias="streamStorage")
    stream_max_age: Duration = Field(default=0.0, alias="streamMaxAge", ge=0)

    durable_name: str | None = Field(default=None, alias="durableName")
    queue_group_name: str | None = Field(default=None, alias="queueGroupName")
    deliver_policy: Literal["all", "new", "last", "sequence", "time"] = Field(
        default="all", alias="deliverPolicy"
    )
    start_sequence: int | None = Field(default=None, alias="startSequence", ge=1)
    start_time: int | None = Field(default=None, alias="startTime", ge=0)
    ack_policy: Literal["explicit"] = Field(default="explicit", alias="ackPolicy")
    ack_wait: Duration = Field(default=30.0, alias="ackWait", gt=0)
    max_deliver: int = Field(default=-1, alias="maxDeliver", ge=-1)
    back_off: tuple[float, ...] = Field(default=(), alias="backOff")
    max_ack_pending: int | None = Field(default=None, alias="maxAckPending", ge=-1)
    replicas: int | None = Field(default=None, alias="replicas", ge=0)
    memory_storage: bool = Field(default=False, alias="memoryStorage")
    domain: str | None = Field(default=None, alias="domain")
    api_prefix: str | None = Field(default=None, alias="apiPrefix")

    # Dapr names accepted so Dapr manifests load without warnings; not used.
    flow_control: Any = Field(default=None, alias="flowControl")
    heartbeat: Any = Field(default=None, alias="heartbeat")
    rate_limit: Any = Field(default=None, alias="rateLimit")
    concurrency_mode: Any = Field(default=None, alias="concurrencyMode")
    consumer_id: str | None = Field(default=None, alias="consumerID")

    @model_validator(mode="before")
    @classmethod
    def _empty_is_unset(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if not (isinstance(v, str) and not v.strip())}
        return data

    @field_validator("ack_policy", "deliver_policy", "stream_storage", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("back_off", mode="before")
    @classmethod
    def _durations(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(parse_duration(p.strip()) for p in value.split(",") if p.strip())
        return value

    @field_validator("nats_url")
    @classmethod
    def _urls(cls, value: str) -> str:
        for url in value.split(","):
            if not url.strip().startswith(("nats://", "tls://", "ws://", "wss://")):
                raise ValueError(f"natsURL {url.strip()!r}: expected nats://host:port")
        return value

    @model_validator(mode="after")
    def _policy_needs_start(self) -> JetStreamMetadata:
        if self.deliver_policy == "sequence" and self.start_sequence is None:
            raise ValueError("deliverPolicy sequence needs startSequence")
        if self.deliver_policy == "time" and self.start_time is None:
            raise ValueError("deliverPolicy time needs startTime")
        if (self.tls_client_cert is None) != (self.tls_client_key is None):
            raise ValueError("tls_client_cert and tls_client_key go together")
        return self

    @property
    def servers(self) -> list[str]:
        return [u.strip() for u in self.nats_url.split(",") if u.strip()]
