"""Configuration store contract (see ``_api``); components: ``file``, ``redis``, ``postgresql``."""

from components.configuration._api import (
    ConfigurationFeature,
    ConfigurationItem,
    ConfigurationStore,
    Items,
    SubscriptionNotFound,
    UpdateHandler,
)

__all__ = [
    "ConfigurationFeature",
    "ConfigurationItem",
    "ConfigurationStore",
    "Items",
    "SubscriptionNotFound",
    "UpdateHandler",
]
