"""Configuration stores, checked statically against ``ConfigurationStore``."""

from __future__ import annotations

from components.configuration import ConfigurationStore
from components.configuration.file import FileConfigurationStore
from components.configuration.postgresql import PostgresConfigurationStore
from components.configuration.redis import RedisConfigurationStore

__all__ = ["CHECKED"]


# One function per Protocol: mypy then names the offending class ("Argument 2 to ...").
def _configuration(*classes: type[ConfigurationStore]) -> tuple[type[ConfigurationStore], ...]:
    return classes


CHECKED = _configuration(
    FileConfigurationStore, RedisConfigurationStore, PostgresConfigurationStore
)
