"""Name resolution components (``nameresolution.*``): see ``_api`` for the contract."""

from components.nameresolution._api import (
    Address,
    NameResolutionFeature,
    NameResolver,
    RegisteringResolver,
    Registration,
)

__all__ = [
    "Address",
    "NameResolutionFeature",
    "NameResolver",
    "RegisteringResolver",
    "Registration",
]
