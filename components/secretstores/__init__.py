"""Secret store contract (see ``_api``)."""

from components.secretstores._api import SecretStore, SecretStoreFeature

__all__ = ["SecretStore", "SecretStoreFeature"]
