"""The building blocks the APIs serve: the one list both servers read.

Adding a block: write its service (``runtime/services/<block>.py``, a field on ``Services``),
its HTTP routes (``runtime/api/http/routes/<block>.py``), its gRPC mixin
(``runtime/api/grpc/rpcs/<block>.py``), then add one ``Block`` line below. ``build_app`` adds
every block's routes; ``GrpcServer`` composes every block's mixins into one servicer per gRPC
service (a mixin's generated base, e.g. ``DaprServicer``, says which service it extends).
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from runtime.api.grpc.rpcs import BlockRpcs
from runtime.api.grpc.rpcs.metadata import MetadataRpcs
from runtime.api.grpc.rpcs.runtime import RuntimeRpcs
from runtime.api.grpc.rpcs.state import StateRpcs
from runtime.api.grpc.rpcs.state_keys import StateKeysRpcs
from runtime.api.http.routes import flags as flags_routes
from runtime.api.http.routes import runtime as runtime_routes
from runtime.api.http.routes import state as state_routes

__all__ = ["BLOCKS", "Block"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Block:
    """One building block's API surface: its HTTP route tables and its gRPC mixins."""

    name: str
    http: tuple[web.RouteTableDef, ...] = ()
    grpc: tuple[type[BlockRpcs], ...] = ()


BLOCKS: tuple[Block, ...] = (
    # health, metadata and shutdown
    Block(name="runtime", http=(runtime_routes.routes,), grpc=(MetadataRpcs, RuntimeRpcs)),
    Block(name="state", http=(state_routes.routes,), grpc=(StateRpcs, StateKeysRpcs)),
    Block(name="flags", http=(flags_routes.routes,)),
)
