"""Metadata of ``pubsub.rabbitmq``: Dapr's names, matched case-insensitively.

Connection: ``connectionString`` (``amqp://user:pass@host:5672/vhost`` or ``amqps://``;
``host`` is its older name), or ``protocol`` + ``hostname`` + ``username`` + ``password``;
``clientName`` names the connection (as the management UI and ``rabbitmqctl`` show it);
``reconnectWait`` (Duration, default 1s) is the pause between reconnect attempts;
``heartBeat`` (Duration, default 10s).

Queues and exchanges: ``exchangeKind`` (``fanout`` default, ``topic``, ``direct``,
``headers``), ``durable`` (default **true**), ``deletedWhenUnused`` (default **false**),
``maxLen``, ``maxLenBytes``, ``ttlInSeconds`` (queue-level message TTL),
``enableDeadLetter`` (rejected messages go to ``dlx-<queue>`` / ``dlq-<queue>``).

Delivery: ``prefetchCount`` (default 0: the subscription's concurrency), ``requeueInFailure``
(default **true**: a NACKed message goes back to its queue), ``deliveryMode`` (default **2**,
persistent; 0 or 1 keep messages in memory only), ``publisherConfirm`` (accepted; publishing
always waits for the broker's confirm).

Tandem's defaults differ from Dapr's (durable false, deletedWhenUnused true, requeueInFailure
false, deliveryMode 0) where Dapr's would lose messages: an auto-deleted or non-durable queue
drops what it holds when its consumer or the broker goes away, and a NACK without requeue
discards the message. A Dapr manifest that sets them explicitly is honoured. ``autoAck: true``
is refused (it acknowledges before the app has the message).

Accepted and unused: ``consumerID`` (the runtime passes it as the consumer group),
``concurrencyMode``, ``saslExternal``, ``caCert``/``clientCert``/``clientKey``.
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import quote

from pydantic import Field, SecretStr, field_validator, model_validator

from components._metadata import Duration
from components.base import BaseMetadata

__all__ = ["RabbitMQMetadata"]


class RabbitMQMetadata(BaseMetadata):
    connection_string: SecretStr | None = Field(default=None, alias="connectionString")
    host: SecretStr | None = Field(default=None, alias="host")
    protocol: Literal["amqp", "amqps"] = Field(default="amqp", alias="protocol")
    hostname: str = Field(default="localhost", alias="hostname")
    username: str = Field(default="guest", alias="username")
    password: SecretStr = Field(default=SecretStr("guest"), alias="password")
    client_name: str = Field(default="tandem - pubsub.rabbitmq", alias="clientName")
    reconnect_wait: Duration = Field(default=1.0, alias="reconnectWait", ge=0)
    heartbeat: Duration = Field(default=10.0, alias="heartBeat", ge=0)

    exchange_kind: Literal["fanout", "topic", "direct", "headers"] = Field(
        default="fanout", alias="exchangeKind"
    )
    durable: bool = Field(default=True, alias="durable")
    deleted_when_unused: bool = Field(default=False, alias="deletedWhenUnused")
    max_len: int | None = Field(default=None, alias="maxLen", ge=0)
    max_len_bytes: int | None = Field(default=None, alias="maxLenBytes", ge=0)
    ttl_in_seconds: int | None = Field(default=None, alias="ttlInSeconds", ge=0)
    enable_dead_letter: bool = Field(default=False, alias="enableDeadLetter")

    prefetch_count: int = Field(default=0, alias="prefetchCount", ge=0, le=65535)
    requeue_in_failure: bool = Field(default=True, alias="requeueInFailure")
    delivery_mode: Literal[0, 1, 2] = Field(default=2, alias="deliveryMode")
    publisher_confirm: bool = Field(default=True, alias="publisherConfirm")
    auto_ack: Literal[False] = Field(default=False, alias="autoAck")

    consumer_id: str | None = Field(default=None, alias="consumerID")
    concurrency_mode: Any = Field(default=None, alias="concurrencyMode")
    sasl_external: Any = Field(default=None, alias="saslExternal")
    ca_cert: Any = Field(default=None, alias="caCert")
    client_cert: Any = Field(default=None, alias="clientCert")
    client_key: Any = Field(default=None, alias="clientKey")

    @model_validator(mode="before")
    @classmethod
    def _empty_is_unset(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if not (isinstance(v, str) and not v.strip())}
        return data

    @field_validator("delivery_mode", mode="before")
    @classmethod
    def _int(cls, value: Any) -> Any:
        return int(value) if isinstance(value, str) and value.strip().isdigit() else value

    @field_validator("auto_ack", mode="before")
    @classmethod
    def _no_auto_ack(cls, value: Any) -> Any:
        if str(value).strip().lower() in {"true", "1", "t"}:
            raise ValueError("autoAck true is not supported: it acknowledges before delivery")
        return False

    @field_validator("connection_string", "host")
    @classmethod
    def _amqp(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(("amqp://", "amqps://")):
            raise ValueError("expected amqp://user:pass@host:port or amqps://...")
        return value

    @property
    def url(self) -> str:
        for given in (self.connection_string, self.host):
            if given is not None:
                return given.get_secret_value()
        user = quote(self.username, safe="")
        password = quote(self.password.get_secret_value(), safe="")
        return f"{self.protocol}://{user}:{password}@{self.hostname}"
