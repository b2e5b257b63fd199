"""The built-in components: an auditable list with no import-time side effects.

``target`` is imported only when a component of that type is configured, so a backend's
driver never loads unless it is used. ``requires`` names the driver modules the target needs and
``extra`` the pip extra that installs them.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CATALOG", "CatalogEntry"]


@dataclass(frozen=True, slots=True, kw_only=True)
class CatalogEntry:
    type: str  # "state.redis"
    target: str  # "components.state.redis:RedisStateStore"
    version: str = "v1"
    extra: str | None = None  # pip extra: tandem[redis]
    requires: tuple[str, ...] = ()  # importable driver modules


CATALOG: tuple[CatalogEntry, ...] = (
    CatalogEntry(
        type="nameresolution.sqlite", target="components.nameresolution.sqlite:SqliteResolver"
    ),
    CatalogEntry(
        type="nameresolution.static", target="components.nameresolution.static:StaticResolver"
    ),
    CatalogEntry(type="nameresolution.dns", target="components.nameresolution.dns:DnsResolver"),
    CatalogEntry(
        type="nameresolution.mdns",
        target="components.nameresolution.mdns:MdnsResolver",
        extra="mdns",
        requires=("zeroconf", "ifaddr"),
    ),
    CatalogEntry(
        type="nameresolution.redis",
        target="components.nameresolution.redis:RedisResolver",
        extra="redis",
        requires=("redis",),
    ),
    CatalogEntry(type="flags.file", target="components.flags.file:FileFlagSource"),
    CatalogEntry(type="flags.http", target="components.flags.http:HttpFlagSource"),
    CatalogEntry(
        type="flags.configuration", target="components.flags.configuration:ConfigurationFlagSource"
    ),
    CatalogEntry(type="state.in-memory", target="components.state.in_memory:InMemoryStateStore"),
    CatalogEntry(type="pubsub.in-memory", target="components.pubsub.in_memory:InMemoryPubSub"),
    CatalogEntry(type="state.sqlite", target="components.state.sqlite:SqliteStateStore"),
    CatalogEntry(type="pubsub.sqlite", target="components.pubsub.sqlite:SqlitePubSub"),
    CatalogEntry(
        type="state.redis",
        target="components.state.redis:RedisStateStore",
        extra="redis",
        requires=("redis",),
    ),
    CatalogEntry(
        type="pubsub.redis",
        target="components.pubsub.redis:RedisPubSub",
        extra="redis",
        requires=("redis",),
    ),
    CatalogEntry(
        type="pubsub.jetstream",
        target="components.pubsub.jetstream:JetStreamPubSub",
        extra="nats",
        requires=("nats",),
    ),
    CatalogEntry(
        type="pubsub.rabbitmq",
        target="components.pubsub.rabbitmq:RabbitMQPubSub",
        extra="rabbitmq",
        requires=("aio_pika",),
    ),
    CatalogEntry(
        type="pubsub.mqtt3",
        target="components.pubsub.mqtt:MqttPubSub",
        extra="mqtt",
        requires=("aiomqtt",),
    ),
    CatalogEntry(
        type="secretstores.local.file",
        target="components.secretstores.local.file:LocalFileSecretStore",
    ),
    CatalogEntry(
        type="secretstores.local.env", target="components.secretstores.local.env:EnvSecretStore"
    ),
    CatalogEntry(
        type="secretstores.redis",
        target="components.secretstores.redis:RedisSecretStore",
        extra="redis",
        requires=("redis",),
    ),
    CatalogEntry(
        type="state.postgresql",
        target="components.state.postgresql:PostgresStateStore",
        extra="postgresql",
        requires=("asyncpg",),
    ),
    CatalogEntry(
        type="configuration.file", target="components.configuration.file:FileConfigurationStore"
    ),
    CatalogEntry(
        type="configuration.redis",
        target="components.configuration.redis:RedisConfigurationStore",
        extra="redis",
        requires=("redis",),
    ),
    CatalogEntry(
        type="configuration.postgresql",
        target="components.configuration.postgresql:PostgresConfigurationStore",
        extra="postgresql",
        requires=("asyncpg",),
    ),
)
