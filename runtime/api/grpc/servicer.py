"""Compose the blocks' RPC mixins into one servicer per gRPC service, and register them.

Each generated servicer (``DaprServicer``, ``TandemServicer``, and those a block adds in its
``grpc_services``, such as flagd's) is served by one class whose
bases are the mixins that extend it, in ``BLOCKS`` order; an RPC no mixin implements keeps the
generated default (UNIMPLEMENTED). Two mixins implementing the same RPC, or a mixin extending
no known service, is a programming error and fails at start-up.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from grpc import aio

from protos.dapr.runtime.v1 import dapr_pb2_grpc
from protos.tandem.v1 import tandem_pb2_grpc
from runtime.api.blocks import Block
from runtime.api.grpc.rpcs import BlockRpcs
from runtime.services import Services

__all__ = ["GRPC_SERVICES", "add_servicers", "compose"]

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
