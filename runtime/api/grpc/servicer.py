"""Compose the blocks' RPC mixins into one servicer per gRPC service, and register them.

Each generated servicer (``DaprServicer``, ``TandemServicer``, and those a block adds in its
``grpc_services``, such as flagd's) is served by one class whose
bases are the mixins that extend it, in ``BLOCKS`` order; an RPC no mixin implements keeps the
generated default (UNIMPLEMENTED). Two mixins implementing the same RPC, or a mixin extending
no known service, is a programming error and fails at start-up.

A block's ``grpc_deferred`` services are composed the same way at their first call: until then
a ``DeferredServices`` handler, registered where they would be, only knows their names.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import grpc
from grpc import aio

from protos.dapr.runtime.v1 import dapr_pb2_grpc
from protos.tandem.v1 import tandem_pb2_grpc
from runtime.api.blocks import Block, DeferredGrpc
from runtime.api.grpc.rpcs import BlockRpcs
from runtime.services import Services

__all__ = ["GRPC_SERVICES", "DeferredServices", "add_servicers", "compose"]

# (generated servicer base, its ``add_*_to_server``), one per gRPC service we serve
GRPC_SERVICES: tuple[tuple[type[Any], Callable[[Any, aio.Server], None]], ...] = (
    (dapr_pb2_grpc.DaprServicer, dapr_pb2_grpc.add_DaprServicer_to_server),
    (tandem_pb2_grpc.TandemServicer, tandem_pb2_grpc.add_TandemServicer_to_server),
)


def compose(base: type[Any], mixins: Sequence[type[BlockRpcs]]) -> type[BlockRpcs]:
    """One class serving ``base`` with every RPC of ``mixins``; raises on a duplicate RPC."""
    owner: dict[str, str] = {}
    for mixin in mixins:
        for name in vars(mixin):
            if callable(getattr(base, name, None)) and not name.startswith("_"):
                if name in owner:
                    raise TypeError(
                        f"{base.__name__}.{name} is implemented by both "
                        f"{owner[name]} and {mixin.__name__}"
                    )
                owner[name] = mixin.__name__
    name = base.__name__.removesuffix("Servicer") + "Service"
    return type(name, (*mixins, base), {"__module__": __name__})


def add_servicers(server: aio.Server, services: Services, blocks: Iterable[Block]) -> None:
    blocks = list(blocks)
    mixins = [m for block in blocks for m in block.grpc]
    known = [*GRPC_SERVICES, *(s for block in blocks for s in block.grpc_services)]
    for mixin in mixins:
        if not any(issubclass(mixin, base) for base, _ in known):
            raise TypeError(f"{mixin.__name__} extends no gRPC service in GRPC_SERVICES")
    for base, add in known:
        mine = [m for m in mixins if issubclass(m, base)]
        if mine:
            add(compose(base, mine)(services), server)
    for block in blocks:
        if block.grpc_deferred is not None:
            server.add_generic_rpc_handlers((DeferredServices(block.grpc_deferred, services),))


class _Collect:
    """Stands for the server while a deferred module's servicers are added."""

    def __init__(self) -> None:
        self.handlers: list[Any] = []

    def add_generic_rpc_handlers(self, handlers: Iterable[Any]) -> None:
        self.handlers.extend(handlers)

    def add_registered_method_handlers(self, name: str, handlers: Any) -> None:
        """The generic handlers above serve the same methods."""


def load_deferred(deferred: DeferredGrpc, services: Services) -> list[Any]:
    """Import ``deferred.module`` and compose its servicers: their generic handlers. Raises
    TypeError when the services it serves are not exactly ``deferred.names``."""
    module = importlib.import_module(deferred.module)
    block = Block(name=deferred.module, grpc=module.MIXINS, grpc_services=module.SERVICES)
    collect = _Collect()
    add_servicers(collect, services, [block])  # type: ignore[arg-type]
    served = sorted(h.service_name() for h in collect.handlers)
    if served != sorted(deferred.names):
        raise TypeError(f"{deferred.module} serves {served}, not {sorted(deferred.names)}")
    return collect.handlers


class DeferredServices(grpc.GenericRpcHandler):  # type: ignore[type-arg]
    """Serves ``deferred``'s services, imported at the first call to one of them."""

    def __init__(self, deferred: DeferredGrpc, services: Services) -> None:
        self._deferred = deferred
        self._services = services
        self._prefixes = tuple(f"/{name}/" for name in deferred.names)
        self._handlers: list[Any] | None = None
        self._lock = threading.Lock()  # grpc may look handlers up from more than one thread

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> Any:
        details: Any = handler_call_details
        method = details.method
        if not isinstance(method, str) or not method.startswith(self._prefixes):
            return None
        if self._handlers is None:
            with self._lock:
                if self._handlers is None:
                    self._handlers = load_deferred(self._deferred, self._services)
        for handler in self._handlers:
            found = handler.service(handler_call_details)
            if found is not None:
                return found
        return None
