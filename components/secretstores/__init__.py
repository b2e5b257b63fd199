"""Secret store contract (see ``_api``)."""

from components.base import CatalogEntry
from components.secretstores._api import SecretStore, SecretStoreFeature

__all__ = ["CATALOG", "SecretStore", "SecretStoreFeature"]


# The block's components, by type: ``runtime.catalog`` collects every block's CATALOG.
# A target module is imported only when a component of its type is configured.
CATALOG: tuple[CatalogEntry, ...] = (
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
)
