"""Every catalog component, checked statically against its building block's Protocol.

mypy (strict) checks this module; nothing runs it but an import. Assigning a class to
``type[<Protocol>]`` fails type checking as soon as the class drifts from the contract (a
missing method, a changed signature or return type), so ``ComponentStore``'s typed getters
(``runtime.compstore``) stay sound. ``tests/conformance/test_catalog.py`` checks that every
catalog class is listed in ``CHECKED`` under its block, so a new component must be added here.

Capability Protocols are listed for the classes that implement them, so optional methods
cannot drift either (the conformance suite checks that they follow the declared features).
"""

from __future__ import annotations

from collections.abc import Mapping

from components.base import Component
from components.configuration import ConfigurationStore
from components.configuration.file import FileConfigurationStore
from components.configuration.postgresql import PostgresConfigurationStore
from components.configuration.redis import RedisConfigurationStore
from components.flags import FlagSource
from components.flags.configuration import ConfigurationFlagSource
from components.flags.file import FileFlagSource
from components.flags.http import HttpFlagSource
from components.nameresolution import NameResolver, RegisteringResolver
from components.nameresolution.dns import DnsResolver
from components.nameresolution.mdns import MdnsResolver
from components.nameresolution.redis import RedisResolver
from components.nameresolution.sqlite import SqliteResolver
from components.nameresolution.static import StaticResolver
from components.pubsub import BulkPublisher, BulkSubscriber, PubSub
from components.pubsub.in_memory import InMemoryPubSub
from components.pubsub.jetstream import JetStreamPubSub
from components.pubsub.mqtt import MqttPubSub
from components.pubsub.rabbitmq import RabbitMQPubSub
from components.pubsub.redis import RedisPubSub
from components.pubsub.sqlite import SqlitePubSub
from components.secretstores import SecretStore
from components.secretstores.local.env import EnvSecretStore
from components.secretstores.local.file import LocalFileSecretStore
from components.secretstores.redis import RedisSecretStore
from components.state import (
    KeyLister,
    QueryableStateStore,
    StateStore,
    TransactionalStateStore,
)
from components.state.in_memory import InMemoryStateStore
from components.state.postgresql import PostgresStateStore
from components.state.redis import RedisStateStore
from components.state.sqlite import SqliteStateStore

__all__ = ["CHECKED"]


# One function per Protocol: mypy then names the offending class ("Argument 2 to ...").
def _state(*classes: type[StateStore]) -> tuple[type[StateStore], ...]:
    return classes


def _transactional(*classes: type[TransactionalStateStore]) -> object:
    return classes


def _queryable(*classes: type[QueryableStateStore]) -> object:
    return classes


def _key_listers(*classes: type[KeyLister]) -> object:
    return classes


STATE_STORES = _state(InMemoryStateStore, SqliteStateStore, RedisStateStore, PostgresStateStore)
_transactional(InMemoryStateStore, SqliteStateStore, RedisStateStore, PostgresStateStore)
_queryable(InMemoryStateStore, SqliteStateStore, PostgresStateStore)
_key_listers(InMemoryStateStore, SqliteStateStore, RedisStateStore, PostgresStateStore)


def _resolvers(*classes: type[NameResolver]) -> tuple[type[NameResolver], ...]:
    return classes


def _registering(*classes: type[RegisteringResolver]) -> object:
    return classes


RESOLVERS = _resolvers(SqliteResolver, StaticResolver, DnsResolver, MdnsResolver, RedisResolver)
_registering(SqliteResolver)
_registering(MdnsResolver)
_registering(RedisResolver)


def _configuration(*classes: type[ConfigurationStore]) -> tuple[type[ConfigurationStore], ...]:
    return classes


CONFIGURATION_STORES = _configuration(
    FileConfigurationStore, RedisConfigurationStore, PostgresConfigurationStore
)


def _pubsub(*classes: type[PubSub]) -> tuple[type[PubSub], ...]:
    return classes


def _bulk_publishers(*classes: type[BulkPublisher]) -> object:
    return classes


def _bulk_subscribers(*classes: type[BulkSubscriber]) -> object:
    return classes


PUBSUBS = _pubsub(
    InMemoryPubSub, SqlitePubSub, RedisPubSub, JetStreamPubSub, RabbitMQPubSub, MqttPubSub
)
_bulk_publishers(InMemoryPubSub, SqlitePubSub, RedisPubSub)
_bulk_subscribers(InMemoryPubSub)


def _secret_stores(*classes: type[SecretStore]) -> tuple[type[SecretStore], ...]:
    return classes


SECRET_STORES = _secret_stores(LocalFileSecretStore, EnvSecretStore, RedisSecretStore)


def _flag_sources(*classes: type[FlagSource]) -> tuple[type[FlagSource], ...]:
    return classes


FLAG_SOURCES = _flag_sources(FileFlagSource, HttpFlagSource, ConfigurationFlagSource)

CHECKED: Mapping[str, tuple[type[Component], ...]] = {
    "state": STATE_STORES,
    "configuration": CONFIGURATION_STORES,
    "pubsub": PUBSUBS,
    "nameresolution": RESOLVERS,
    "secretstores": SECRET_STORES,
    "flags": FLAG_SOURCES,
}
"""Block -> the classes checked above against the block's Protocol."""
