"""Live, initialised components by building block and name, handed out typed per block.

``add`` takes any component; the per-block getters (one ``BlockGetter`` line per block in
``ComponentStore``) return it typed as its block's contract. That is sound because a component
lands in block ``<block>`` only when its type is ``<block>.*`` in ``runtime.catalog``, and every
catalog class is checked statically against its block's Protocol (``tests/typing/<block>.py``,
which the conformance suite holds to the catalog).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar, cast, overload

from components.base import Component
from components.configuration import ConfigurationStore
from components.flags import FlagSource
from components.pubsub import PubSub
from components.secretstores import SecretStore
from components.state import StateStore

__all__ = [
    "CONFIGURATION",
    "FLAGS",
    "PUBSUB",
    "SECRET_STORES",
    "STATE",
    "BlockGetter",
    "ComponentStore",
    "LiveComponent",
]

STATE = "state"
CONFIGURATION = "configuration"
PUBSUB = "pubsub"
SECRET_STORES = "secretstores"  # noqa: S105 (a block name)
FLAGS = "flags"

C_co = TypeVar("C_co", bound=Component, covariant=True)
C = TypeVar("C", bound=Component)


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveComponent(Generic[C_co]):
    name: str
    type: str
    version: str
    block: str
    instance: C_co
    # Built-in metadata the runtime consumes itself (e.g. keyPrefix), lower-cased names.
    runtime_metadata: Mapping[str, str] = field(default_factory=dict)


class _Bound(Generic[C]):
    __slots__ = ("_block", "_store")

    def __init__(self, store: ComponentStore, block: str) -> None:
        self._store = store
        self._block = block

    def __call__(self, name: str) -> LiveComponent[C] | None:
        return cast("LiveComponent[C] | None", self._store.get(self._block, name))


class BlockGetter(Generic[C]):
    """A ``ComponentStore`` getter typed as block ``block``'s contract ``C``: sound because only
    ``<block>.*`` catalog types land in ``block`` (see the module docstring)."""

    __slots__ = ("block",)

    def __init__(self, block: str) -> None:
        self.block = block

    @overload
    def __get__(self, store: None, owner: type[ComponentStore]) -> BlockGetter[C]: ...
    @overload
    def __get__(self, store: ComponentStore, owner: type[ComponentStore]) -> _Bound[C]: ...
    def __get__(
        self, store: ComponentStore | None, owner: type[ComponentStore]
    ) -> BlockGetter[C] | _Bound[C]:
        return self if store is None else _Bound(store, self.block)


class ComponentStore:
    def __init__(self) -> None:
        self._by_block: dict[str, dict[str, LiveComponent[Component]]] = {}
        # served by another block's getters too, but listed once (see ``add_view``)
        self._views: dict[str, dict[str, LiveComponent[Component]]] = {}

    def add(self, component: LiveComponent[Component]) -> None:
        self._by_block.setdefault(component.block, {})[component.name] = component

    def add_view(self, component: LiveComponent[Component]) -> None:
        """Serve ``component`` through ``block``'s getters without listing it (iteration,
        ``names``): another block's component seen through this block's API (a flag source
        read through the configuration API). A real component of that name wins."""
        self._views.setdefault(component.block, {})[component.name] = component

    def get(self, block: str, name: str) -> LiveComponent[Component] | None:
        """The component, typed only as a Component: prefer the block's own getter."""
        found = self._by_block.get(block, {}).get(name)
        return found if found is not None else self._views.get(block, {}).get(name)

    # The typed getters, one line per block: ``store.state(name)`` is the state store ``name``
    # typed as a ``StateStore``, or None when no component of that block has that name.
    state = BlockGetter[StateStore](STATE)
    configuration = BlockGetter[ConfigurationStore](CONFIGURATION)
    pubsub = BlockGetter[PubSub](PUBSUB)
    secret_store = BlockGetter[SecretStore](SECRET_STORES)

    def flags(self) -> list[LiveComponent[FlagSource]]:
        """Every flag source, in the order the resources declared them."""
        return cast("list[LiveComponent[FlagSource]]", list(self._by_block.get(FLAGS, {}).values()))

    def has_block(self, block: str) -> bool:
        return bool(self._by_block.get(block) or self._views.get(block))

    def names(self, block: str) -> list[str]:
        return sorted(self._by_block.get(block, {}))

    def __iter__(self) -> Iterator[LiveComponent[Component]]:
        for block in self._by_block.values():
            yield from block.values()
