"""gRPC side of the fuzz suite: the RPCs the sidecar serves and messages for them.

``rpcs()`` reads every method of the services the sidecar registers from their descriptors, so
a new RPC is fuzzed without touching this file; ``message()`` fills any request type from its
descriptor, field by field (names the state API uses, such as ``store_name``, ``key`` and
``query``, get values that reach deep into the sidecar; every other field gets hostile values of
its type). ``payload()`` turns a message into the bytes sent: as is, or mutated byte by byte,
or random bytes; ``decodable()`` says whether the server can parse them at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from google.protobuf import message_factory
from google.protobuf.descriptor import FieldDescriptor, MethodDescriptor
from google.protobuf.message import DecodeError, EncodeError, Message

from tests.fuzz._values import Values, mutate

__all__ = ["Rpc", "decodable", "message", "payload", "rpcs"]

SHUTDOWN = "/dapr.proto.runtime.v1.Dapr/Shutdown"


@dataclass(frozen=True)
class Rpc:
    path: str  # "/dapr.proto.runtime.v1.Dapr/GetState"
    method: MethodDescriptor

    @property
    def request_class(self) -> type[Message]:
        return message_factory.GetMessageClass(self.method.input_type)


class _Recorder:
    """Stands in for a grpc server: records the services an ``add_*_to_server`` registers."""

    def __init__(self) -> None:
        self.services: list[str] = []

    def add_generic_rpc_handlers(self, handlers: Any) -> None:
        pass

    def add_registered_method_handlers(self, service: str, handlers: Any) -> None:
        self.services.append(service)


def rpcs() -> list[Rpc]:
    """Every unary RPC of every gRPC service the sidecar registers: ``GRPC_SERVICES``, the
    blocks' own (flagd's), and those a block imports at their first call."""
    import importlib

    from google.protobuf import descriptor_pool

    from runtime.api.blocks import BLOCKS
    from runtime.api.grpc.servicer import GRPC_SERVICES

    services = [*GRPC_SERVICES, *(s for block in BLOCKS for s in block.grpc_services)]
    for block in BLOCKS:
        if block.grpc_deferred is not None:
            services += importlib.import_module(block.grpc_deferred.module).SERVICES
    recorder = _Recorder()
    for base, add in services:
        add(base(), cast(Any, recorder))
    pool = descriptor_pool.Default()
    out: list[Rpc] = []
    for name in recorder.services:
        service = pool.FindServiceByName(name)
        for m in service.methods:
            if not (m.client_streaming or m.server_streaming):
                out.append(Rpc(f"/{service.full_name}/{m.name}", m))
    assert out, "no gRPC service found"
    return out


_T = FieldDescriptor


def _scalar(v: Values, field: Any) -> Any:
    name = field.name.lower()
    t = field.type
    if t == _T.TYPE_STRING:
        if name in ("store_name", "storename"):
            return v.store()
        if name in ("key", "prefix"):
            return v.key()
        if name == "query":
            return v.query().decode("utf-8", "replace")
        if name == "operationtype":
            return v.rng.choice(["upsert", "delete", "UPSERT", v.string()])
        if name == "token":
            return v.rng.choice(["", "3", "zz", "9" * 25, v.string()])
        return v.string()
    if t == _T.TYPE_BYTES:
        return v.json_text() if v.chance(0.8) else bytes(v.rng.randrange(256) for _ in range(9))
    if t == _T.TYPE_BOOL:
        return v.chance(0.5)
    if t == _T.TYPE_ENUM:
        assert field.enum_type is not None
        values = [e.number for e in field.enum_type.values]
        return v.rng.choice([*values, 99, -1, 2**31 - 1])
    if t in (_T.TYPE_FLOAT, _T.TYPE_DOUBLE):
        return v.rng.choice([0.0, -1.0, 1e308, float("inf"), float("nan")])
    bits = (
        64
        if t in (_T.TYPE_INT64, _T.TYPE_UINT64, _T.TYPE_SINT64, _T.TYPE_FIXED64, _T.TYPE_SFIXED64)
        else 32
    )
    unsigned = t in (_T.TYPE_UINT32, _T.TYPE_UINT64, _T.TYPE_FIXED32, _T.TYPE_FIXED64)
    lo, hi = (0, 2**bits - 1) if unsigned else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    return v.rng.choice([lo, hi, 0, 1, -1 if not unsigned else 2, 100, 1000, 1001])


def _fill(v: Values, msg: Message, depth: int) -> None:
    desc = msg.DESCRIPTOR
    for field in desc.fields:
        if not v.chance(0.85):
            continue
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            target = getattr(msg, field.name)
            value_field = field.message_type.fields_by_name["value"]
            for _ in range(v.rng.choice([0, 1, 2, 3])):
                k = v.rng.choice(["ttlInSeconds", "contentType", v.string(long=False)])
                if value_field.message_type is None:
                    target[k] = (
                        _scalar(v, value_field)
                        if value_field.type != _T.TYPE_STRING
                        else (v.rng.choice([str(v.integer()), v.string(), "-1", "0"]))
                    )
            continue
        if field.is_repeated:
            n = v.rng.choice([0, 1, 2, 3, 100]) if depth < 2 else v.rng.choice([0, 1])
            target = getattr(msg, field.name)
            for _ in range(n):
                if field.message_type is not None:
                    _fill(v, target.add(), depth + 1)
                else:
                    target.append(_scalar(v, field))
            continue
        if field.message_type is not None:
            if depth < 4:
                _fill(v, getattr(msg, field.name), depth + 1)
                getattr(msg, field.name).SetInParent()
            continue
        setattr(msg, field.name, _scalar(v, field))


def message(v: Values, rpc: Rpc) -> Message:
    msg = rpc.request_class()
    try:
        _fill(v, msg, 0)
    except (ValueError, TypeError):
        msg = rpc.request_class()  # a value protobuf refuses (e.g. a lone surrogate): start over
    return msg


def payload(v: Values, msg: Message) -> bytes:
    """The bytes to send: the message (70 %), a byte-level mutation of it, or random bytes."""
    try:
        data = msg.SerializeToString()
    except EncodeError:
        data = b""
    r = v.rng.random()
    if r < 0.7:
        return data
    if r < 0.9:
        return mutate(v, data)
    return bytes(v.rng.randrange(256) for _ in range(v.rng.choice([1, 2, 7, 64])))


def decodable(rpc: Rpc, data: bytes) -> bool:
    """Whether ``data`` parses as the RPC's request (the server then must not fail on it)."""
    try:
        rpc.request_class.FromString(data)
    except (DecodeError, RuntimeError, ValueError):
        return False
    return True
