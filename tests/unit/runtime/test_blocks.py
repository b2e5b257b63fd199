"""The block registry: every RPC the protos declare is served, each by exactly one block."""

from __future__ import annotations

import pytest
from google.protobuf import empty_pb2

from protos.dapr.runtime.v1 import dapr_pb2, dapr_pb2_grpc
from protos.tandem.v1 import tandem_pb2
from runtime.api.blocks import BLOCKS, Block
from runtime.api.grpc.rpcs import BlockRpcs, Ctx
from runtime.api.grpc.rpcs.state import StateRpcs
from runtime.api.grpc.servicer import GRPC_SERVICES, add_servicers, compose, load_deferred

DECLARED = {
    "DaprServicer": dapr_pb2.DESCRIPTOR.services_by_name["Dapr"],
    "TandemServicer": tandem_pb2.DESCRIPTOR.services_by_name["Tandem"],
}


@pytest.mark.parametrize(
    ("base", "descriptor"), [(b, DECLARED[b.__name__]) for b, _ in GRPC_SERVICES]
)
def test_every_declared_rpc_is_implemented(base: type, descriptor: object) -> None:
    mixins = [m for block in BLOCKS for m in block.grpc if issubclass(m, base)]
    served = compose(base, mixins)
    methods = [m.name for m in descriptor.methods]  # type: ignore[attr-defined]
    assert methods
    missing = [m for m in methods if getattr(served, m) is getattr(base, m)]
    assert missing == []


def test_block_names_are_unique() -> None:
    names = [b.name for b in BLOCKS]
    assert len(names) == len(set(names))


class _SecondGetState(BlockRpcs, dapr_pb2_grpc.DaprServicer):
    async def GetState(self, request: object, context: Ctx) -> empty_pb2.Empty:  # type: ignore[override]
        return empty_pb2.Empty()


def test_two_blocks_serving_one_rpc_fail_at_start() -> None:
    with pytest.raises(TypeError, match=r"DaprServicer\.GetState .*StateRpcs.*_SecondGetState"):
        compose(dapr_pb2_grpc.DaprServicer, [StateRpcs, _SecondGetState])


class _Orphan(BlockRpcs):
    pass


def test_a_mixin_extending_no_service_fails_at_start() -> None:
    with pytest.raises(TypeError, match="_Orphan extends no gRPC service"):
        add_servicers(None, None, [Block(name="orphan", grpc=(_Orphan,))])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "block", [b for b in BLOCKS if b.grpc_deferred is not None], ids=lambda b: b.name
)
def test_deferred_services_serve_their_names_with_every_rpc(block: Block) -> None:
    """A deferred module serves exactly the names calls are routed by (else TypeError at the
    first call), and implements every RPC of each service."""
    import importlib

    assert block.grpc_deferred is not None
    handlers = load_deferred(block.grpc_deferred, None)  # type: ignore[arg-type]
    assert sorted(h.service_name() for h in handlers) == sorted(block.grpc_deferred.names)
    module = importlib.import_module(block.grpc_deferred.module)
    for base, _ in module.SERVICES:
        served = compose(base, [m for m in module.MIXINS if issubclass(m, base)])
        rpcs = [n for n in vars(base) if not n.startswith("_") and callable(getattr(base, n))]
        assert rpcs
        assert [n for n in rpcs if getattr(served, n) is getattr(base, n)] == []
