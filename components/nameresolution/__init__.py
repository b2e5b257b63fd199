"""Name resolution components (``nameresolution.*``): see ``_api`` for the contract."""

from components.base import CatalogEntry
from components.nameresolution._api import (
    Address,
    NameResolutionFeature,
    NameResolver,
    RegisteringResolver,
    Registration,
)

__all__ = [
    "CATALOG",
    "Address",
    "NameResolutionFeature",
    "NameResolver",
    "RegisteringResolver",
    "Registration",
]


# The block's components, by type: ``runtime.catalog`` collects every block's CATALOG.
# A target module is imported only when a component of its type is configured.
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
)
