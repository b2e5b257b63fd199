"""Flag sources, checked statically against ``FlagSource``."""

from __future__ import annotations

from components.flags import FlagSource
from components.flags.configuration import ConfigurationFlagSource
from components.flags.file import FileFlagSource
from components.flags.http import HttpFlagSource

__all__ = ["CHECKED"]


# One function per Protocol: mypy then names the offending class ("Argument 2 to ...").
def _flag_sources(*classes: type[FlagSource]) -> tuple[type[FlagSource], ...]:
    return classes


CHECKED = _flag_sources(FileFlagSource, HttpFlagSource, ConfigurationFlagSource)
