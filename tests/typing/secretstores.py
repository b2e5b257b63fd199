"""Secret stores, checked statically against ``SecretStore``."""

from __future__ import annotations

from components.secretstores import SecretStore
from components.secretstores.local.env import EnvSecretStore
from components.secretstores.local.file import LocalFileSecretStore
from components.secretstores.redis import RedisSecretStore

__all__ = ["CHECKED"]


# One function per Protocol: mypy then names the offending class ("Argument 2 to ...").
def _secret_stores(*classes: type[SecretStore]) -> tuple[type[SecretStore], ...]:
    return classes


CHECKED = _secret_stores(LocalFileSecretStore, EnvSecretStore, RedisSecretStore)
