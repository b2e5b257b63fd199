"""Configuration store contract (see ``_api``); components: ``file``, ``redis``, ``postgresql``."""

from components.base import CatalogEntry
from components.configuration._api import (
    ConfigurationFeature,
    ConfigurationItem,
    ConfigurationStore,
    Items,
    SubscriptionNotFound,
    UpdateHandler,
)

__all__ = [
    "CATALOG",
    "ConfigurationFeature",
    "ConfigurationItem",
    "ConfigurationStore",
    "Items",
    "SubscriptionNotFound",
    "UpdateHandler",
]


# The block's components, by type: ``runtime.catalog`` collects every block's CATALOG.
# A target module is imported only when a component of its type is configured.
CATALOG: tuple[CatalogEntry, ...] = (
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
