"""The feature-flags block: flag sources (components) and flagd's evaluation semantics."""

from components.base import CatalogEntry
from components.flags._api import FlagSource, FlagSourceFeature, Fractional, StoreBoundSource
from components.flags._types import (
    ErrorCode,
    FlagSetSnapshot,
    FlagType,
    Reason,
    Resolution,
    Scalar,
)

__all__ = [
    "CATALOG",
    "ErrorCode",
    "FlagSetSnapshot",
    "FlagSource",
    "FlagSourceFeature",
    "FlagType",
    "Fractional",
    "Reason",
    "Resolution",
    "Scalar",
    "StoreBoundSource",
]


# The block's components, by type: ``runtime.catalog`` collects every block's CATALOG.
# A target module is imported only when a component of its type is configured.
CATALOG: tuple[CatalogEntry, ...] = (
    CatalogEntry(type="flags.file", target="components.flags.file:FileFlagSource"),
    CatalogEntry(type="flags.http", target="components.flags.http:HttpFlagSource"),
    CatalogEntry(
        type="flags.configuration", target="components.flags.configuration:ConfigurationFlagSource"
    ),
)
