"""flagd's evaluation services (``flagd.evaluation.v1`` and ``v2``) over the flags service.

What the OpenFeature flagd providers in RPC mode call. Evaluation errors become flagd's gRPC
statuses (FLAG_NOT_FOUND → NOT_FOUND, TYPE_MISMATCH and INVALID_CONTEXT → INVALID_ARGUMENT,
PARSE_ERROR → DATA_LOSS, GENERAL → UNKNOWN), which the providers map back. v2 omits ``value``
and ``variant`` for a code default or a DISABLED flag; v1, which cannot, answers DISABLED with
the type's zero value and a code default as NOT_FOUND (as flagd does). ``EventStream`` sends
``provider_ready`` first, ``configuration_change`` after every change and ``keep_alive`` every
20 s. The ``Flagd-Selector`` metadata chooses a flag set.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from google.protobuf import json_format, struct_pb2

from components.flags import ErrorCode, FlagType, Reason, Resolution
from protos.flagd.evaluation.v1 import evaluation_pb2 as v1
from protos.flagd.evaluation.v1 import evaluation_pb2_grpc as v1_grpc
from protos.flagd.evaluation.v2 import evaluation_pb2 as v2
from protos.flagd.evaluation.v2 import evaluation_pb2_grpc as v2_grpc
from runtime.api.grpc.rpcs import BlockRpcs, Ctx
from runtime.services.flags import check_context
from runtime.services.flags_errors import FlagsRequestError

__all__ = ["FlagdEvaluationV1Rpcs", "FlagdEvaluationV2Rpcs", "selector", "struct", "to_dict"]

KEEPALIVE_SECONDS = 20.0
_STATUS = {
    ErrorCode.FLAG_NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    ErrorCode.TYPE_MISMATCH: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorCode.INVALID_CONTEXT: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorCode.PARSE_ERROR: grpc.StatusCode.DATA_LOSS,
}
_INT64 = (-(2**63), 2**63 - 1)


def selector(context: Ctx) -> str | None:
    for key, value in context.invocation_metadata() or ():
        if key == "flagd-selector":
            return value if isinstance(value, str) else value.decode(errors="replace")
    return None


def to_dict(message: struct_pb2.Struct) -> dict[str, Any]:
    return json_format.MessageToDict(message)


def struct(value: Any) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    if value:
        out.update(value)
    return out


async def _fail(context: Ctx, code: ErrorCode, message: str) -> None:
    await context.abort(_STATUS.get(code, grpc.StatusCode.UNKNOWN), f"{code}: {message}")


class _Evaluate(BlockRpcs):
    """Shared by v1 and v2: evaluate, or abort with flagd's status."""

    async def _resolve(self, request: Any, context: Ctx, kind: FlagType) -> Resolution:
        flags = self._services.flags
        if flags is None:
            await _fail(context, ErrorCode.FLAG_NOT_FOUND, "no flag source is configured")
            raise AssertionError("unreachable")
        try:
            ctx = check_context(to_dict(request.context))
            res = flags.evaluate(request.flag_key, ctx, kind=kind, selector=selector(context))
        except FlagsRequestError as exc:
            await _fail(context, exc.code, exc.message)
            raise AssertionError("unreachable") from exc
        if res.error_code is not None:
            await _fail(context, res.error_code, res.error_message or "")
        if kind is FlagType.INTEGER and res.has_value and not _INT64[0] <= res.value <= _INT64[1]:
            await _fail(context, ErrorCode.TYPE_MISMATCH, "integer out of int64 range")
        if kind is FlagType.OBJECT and res.has_value and not isinstance(res.value, dict):
            await _fail(context, ErrorCode.TYPE_MISMATCH, "object flags must be JSON objects")
        return res

    async def _events(self, context: Ctx, make: Callable[..., Any]) -> AsyncIterator[Any]:
        flags = self._services.flags
        yield make(type="provider_ready", data=struct({}))
        if flags is None:
            await self._services.status.shutdown_requested.wait()
            return
        sel = selector(context)
        seen = flags.revision
        async for revision in flags.changes(
            stop=self._services.status.shutdown_requested, keepalive=KEEPALIVE_SECONDS
        ):
            if revision is None:
                yield make(type="keep_alive", data=struct({}))
                continue
            changed = flags.changed_keys_since(seen, sel)
            seen = revision
            data = {"flags": {key: {"type": t} for key, t in changed.items()}}
            yield make(type="configuration_change", data=struct(data))


def _v2(res: Resolution, cls: Callable[..., Any]) -> Any:
    """v2's ``value`` and ``variant`` are optional: unset for a code default or DISABLED."""
    return _v1(res, cls)


class FlagdEvaluationV2Rpcs(_Evaluate, v2_grpc.ServiceServicer):
    async def ResolveBoolean(
        self, request: v2.ResolveBooleanRequest, context: Ctx
    ) -> v2.ResolveBooleanResponse:
        res = await self._resolve(request, context, FlagType.BOOLEAN)
        return _v2(res, v2.ResolveBooleanResponse)  # type: ignore[no-any-return]

    async def ResolveString(
        self, request: v2.ResolveStringRequest, context: Ctx
    ) -> v2.ResolveStringResponse:
        res = await self._resolve(request, context, FlagType.STRING)
        return _v2(res, v2.ResolveStringResponse)  # type: ignore[no-any-return]

    async def ResolveFloat(
        self, request: v2.ResolveFloatRequest, context: Ctx
    ) -> v2.ResolveFloatResponse:
        res = await self._resolve(request, context, FlagType.FLOAT)
        return _v2(res, v2.ResolveFloatResponse)  # type: ignore[no-any-return]

    async def ResolveInt(
        self, request: v2.ResolveIntRequest, context: Ctx
    ) -> v2.ResolveIntResponse:
        res = await self._resolve(request, context, FlagType.INTEGER)
        return _v2(res, v2.ResolveIntResponse)  # type: ignore[no-any-return]

    async def ResolveObject(
        self, request: v2.ResolveObjectRequest, context: Ctx
    ) -> v2.ResolveObjectResponse:
        res = await self._resolve(request, context, FlagType.OBJECT)
        return _v2(res, v2.ResolveObjectResponse)  # type: ignore[no-any-return]

    async def EventStream(
        self, request: v2.EventStreamRequest, context: Ctx
    ) -> AsyncIterator[v2.EventStreamResponse]:
        async for event in self._events(context, v2.EventStreamResponse):
            yield event


def _v1(res: Resolution, cls: Callable[..., Any]) -> Any:
    out = cls(reason=res.reason.value, metadata=struct(res.metadata))
    if res.has_value:
        out.variant = res.variant or ""
        if isinstance(res.value, dict):
            out.value.CopyFrom(struct(res.value))
        else:
            out.value = res.value
    return out


class FlagdEvaluationV1Rpcs(_Evaluate, v1_grpc.ServiceServicer):
    """v1 cannot omit a value: a code default (no defaultVariant) is NOT_FOUND, as in flagd."""

    async def _resolve_v1(self, request: Any, context: Ctx, kind: FlagType) -> Resolution:
        res = await self._resolve(request, context, kind)
        if not res.has_value and res.reason is Reason.DEFAULT:
            await _fail(context, ErrorCode.FLAG_NOT_FOUND, "the flag has no default variant")
        return res

    async def ResolveBoolean(
        self, request: v1.ResolveBooleanRequest, context: Ctx
    ) -> v1.ResolveBooleanResponse:
        res = await self._resolve_v1(request, context, FlagType.BOOLEAN)
        return _v1(res, v1.ResolveBooleanResponse)  # type: ignore[no-any-return]

    async def ResolveString(
        self, request: v1.ResolveStringRequest, context: Ctx
    ) -> v1.ResolveStringResponse:
        res = await self._resolve_v1(request, context, FlagType.STRING)
        return _v1(res, v1.ResolveStringResponse)  # type: ignore[no-any-return]

    async def ResolveFloat(
        self, request: v1.ResolveFloatRequest, context: Ctx
    ) -> v1.ResolveFloatResponse:
        res = await self._resolve_v1(request, context, FlagType.FLOAT)
        return _v1(res, v1.ResolveFloatResponse)  # type: ignore[no-any-return]

    async def ResolveInt(
        self, request: v1.ResolveIntRequest, context: Ctx
    ) -> v1.ResolveIntResponse:
        res = await self._resolve_v1(request, context, FlagType.INTEGER)
        return _v1(res, v1.ResolveIntResponse)  # type: ignore[no-any-return]

    async def ResolveObject(
        self, request: v1.ResolveObjectRequest, context: Ctx
    ) -> v1.ResolveObjectResponse:
        res = await self._resolve_v1(request, context, FlagType.OBJECT)
        return _v1(res, v1.ResolveObjectResponse)  # type: ignore[no-any-return]

    async def ResolveAll(
        self, request: v1.ResolveAllRequest, context: Ctx
    ) -> v1.ResolveAllResponse:
        flags = self._services.flags
        out = v1.ResolveAllResponse()
        if flags is None:
            return out
        try:
            ctx = check_context(to_dict(request.context))
            results, metadata = flags.evaluate_all(ctx, selector=selector(context))
        except FlagsRequestError as exc:
            await _fail(context, exc.code, exc.message)
            raise AssertionError("unreachable") from exc
        out.metadata.CopyFrom(struct(metadata))
        for res in results:
            if res.error_code is not None or not res.has_value:
                continue  # flagd leaves out what it cannot type
            item = out.flags[res.key]
            item.reason = res.reason.value
            item.variant = res.variant or ""
            item.metadata.CopyFrom(struct(res.metadata))
            value = res.value
            if isinstance(value, bool):
                item.bool_value = value
            elif isinstance(value, str):
                item.string_value = value
            elif isinstance(value, (int, float)):
                item.double_value = float(value)
            elif isinstance(value, dict):
                item.object_value.CopyFrom(struct(value))
            else:
                del out.flags[res.key]
        return out

    async def EventStream(
        self, request: v1.EventStreamRequest, context: Ctx
    ) -> AsyncIterator[v1.EventStreamResponse]:
        async for event in self._events(context, v1.EventStreamResponse):
            yield event
