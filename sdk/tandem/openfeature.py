"""An OpenFeature provider over the sidecar's OFREP API (extra: ``tandem-sdk[openfeature]``).

Example::

    from openfeature import api
    from tandem.openfeature import TandemProvider

    api.set_provider(TandemProvider())          # DAPR_HTTP_PORT / DAPR_API_TOKEN as the client
    flags = api.get_client()
    if flags.get_boolean_value("new-pricing", False):
        ...
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import FlagResolutionDetails, FlagValueType
from openfeature.provider import AbstractProvider, Metadata

from tandem._sync import Client
from tandem.errors import TandemError

__all__ = ["TandemProvider"]

V = TypeVar("V")


def _context(ctx: EvaluationContext | None) -> dict[str, Any]:
    if ctx is None:
        return {}
    out: dict[str, Any] = dict(ctx.attributes)
    if ctx.targeting_key:
        out["targetingKey"] = ctx.targeting_key
    return out


class TandemProvider(AbstractProvider):
    """Resolves flags with ``Client.get_flag_details`` (one pooled client; its arguments)."""

    def __init__(self, client: Client | None = None, **client_args: Any) -> None:
        super().__init__()
        self._own = client is None
        self._client = client if client is not None else Client(**client_args)

    def get_metadata(self) -> Metadata:
        return Metadata(name="tandem")

    def shutdown(self) -> None:
        if self._own:
            self._client.close()

    def _resolve(
        self,
        key: str,
        default: V,
        ctx: EvaluationContext | None,
        check: Callable[[Any], bool],
    ) -> FlagResolutionDetails[V]:
        try:
            ev = self._client.get_flag_details(key, default, context=_context(ctx))
        except TandemError as err:
            code = ErrorCode(err.code) if err.code in ErrorCode.__members__ else ErrorCode.GENERAL
            return FlagResolutionDetails(
                default, error_code=code, error_message=err.message, reason="ERROR"
            )
        value: Any = ev.value
        if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not check(value):
            return FlagResolutionDetails(
                default,
                error_code=ErrorCode.TYPE_MISMATCH,
                error_message=f"flag {key!r} is {type(value).__name__}",
                reason="ERROR",
            )
        return FlagResolutionDetails(
            value, reason=ev.reason or None, variant=ev.variant, flag_metadata=dict(ev.metadata)
        )

    def resolve_boolean_details(
        self,
        flag_key: str,
        default_value: bool,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[bool]:
        return self._resolve(
            flag_key, default_value, evaluation_context, lambda v: isinstance(v, bool)
        )

    def resolve_string_details(
        self, flag_key: str, default_value: str, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[str]:
        return self._resolve(
            flag_key, default_value, evaluation_context, lambda v: isinstance(v, str)
        )

    def resolve_integer_details(
        self, flag_key: str, default_value: int, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[int]:
        return self._resolve(
            flag_key,
            default_value,
            evaluation_context,
            lambda v: isinstance(v, int) and not isinstance(v, bool),
        )

    def resolve_float_details(
        self,
        flag_key: str,
        default_value: float,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[float]:
        return self._resolve(
            flag_key, default_value, evaluation_context, lambda v: isinstance(v, float)
        )

    def resolve_object_details(
        self,
        flag_key: str,
        default_value: Sequence[FlagValueType] | Mapping[str, FlagValueType],
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[Sequence[FlagValueType] | Mapping[str, FlagValueType]]:
        return self._resolve(
            flag_key, default_value, evaluation_context, lambda v: isinstance(v, dict | list)
        )
