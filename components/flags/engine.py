"""flagd's evaluation semantics over one parsed flag set (reference: flagd 0.16, flagd-core 2).

``parse_flag_set`` validates a flagd document (``flags`` as a map or flagd's array form,
``$evaluators`` inlined by textual ``$ref`` substitution, flag-set ``metadata`` merged under each
flag's, a ``defaultVariant`` naming no variant rejected) and compiles it; ``evaluate`` applies
the rules: DISABLED (no value), STATIC / code DEFAULT without targeting, JsonLogic targeting
with ``$flagd.flagKey``, ``$flagd.timestamp`` and ``targetingKey`` injected (null → DEFAULT, a
variant name → TARGETING_MATCH, bool → "true"/"false", an exception → PARSE_ERROR, an unknown
variant → GENERAL), then the typed accessor's check (TYPE_MISMATCH).

JsonLogic and the ``sem_ver``, ``starts_with``, ``ends_with`` and v3 ``fractional`` operators
are the OpenFeature project's own (panzi-json-logic and openfeature-flagd-core).
"""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from components.flags._api import Fractional
from components.flags._types import ErrorCode, FlagType, Reason, Resolution, Scalar

__all__ = ["Flag", "FlagSetError", "error", "evaluate", "parse_flag_set", "typed"]


@functools.cache
def operators(fractional: Fractional) -> Mapping[str, Any]:
    """The JsonLogic operators of a flag set. json_logic and flagd's targeting operators are
    imported here, at the first flag set, not with the module (the sidecar imports it at
    start-up; they cost ~0.8 MB of RSS and 20-30 ms of CPU there)."""
    from json_logic import builtins
    from openfeature.contrib.tools.flagd.core.targeting import custom_ops

    from components.flags._fractional import fractional_v2, fractional_v3

    return {
        **builtins.BUILTINS,
        "starts_with": custom_ops.starts_with,
        "ends_with": custom_ops.ends_with,
        "sem_ver": custom_ops.sem_ver,
        "fractional": fractional_v2 if fractional == "v2" else fractional_v3,
    }


class FlagSetError(ValueError):
    """The document is not a valid flagd flag set; the message says where."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Flag:
    key: str
    enabled: bool
    variants: Mapping[str, Any]
    default_variant: str | None
    targeting: Any  # JsonLogic; None when absent or {}
    metadata: Mapping[str, Scalar]  # flag-set metadata, then the flag's
    flag_set_id: str | None
    operators: Mapping[str, Any]
    definition: Mapping[str, Any]  # the flag as served to in-process providers ($ref inlined)


def _metadata(value: Any, where: str) -> dict[str, Scalar]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise FlagSetError(f"{where}: metadata must be an object")
    for k, v in value.items():
        if not isinstance(v, (str, int, float, bool)):
            raise FlagSetError(f"{where}: metadata value of {k!r} must be a string, number or bool")
    return dict(value)


def _inline_refs(flags: Any, evaluators: Any) -> Any:
    if not evaluators:
        return flags
    if not isinstance(evaluators, dict):
        raise FlagSetError("$evaluators must be an object")
    text = json.dumps(flags)
    for name, rule in evaluators.items():
        pattern = r'\{\s*"\$ref"\s*:\s*"' + re.escape(json.dumps(name)[1:-1]) + r'"\s*\}'
        replacement = json.dumps(rule).replace("\\", "\\\\")
        text = re.sub(pattern, replacement, text)
    return json.loads(text)


def parse_flag_set(
    document: Any, *, fractional: Fractional = "v3", flag_set_id: str | None = None
) -> dict[str, Flag]:
    """Compile a flagd document; raises FlagSetError naming the flag and field."""
    if not isinstance(document, dict):
        raise FlagSetError("a flag set must be an object with a 'flags' key")
    raw = document.get("flags")
    if isinstance(raw, list):  # the daemon's array form: [{"key": ..., ...}]
        as_map: dict[str, Any] = {}
        for i, item in enumerate(raw):
            if (
                not isinstance(item, dict)
                or not isinstance(item.get("key"), str)
                or not item["key"]
            ):
                raise FlagSetError(f"flags[{i}]: needs a non-empty 'key'")
            as_map[item["key"]] = {k: v for k, v in item.items() if k != "key"}
        raw = as_map
    if not isinstance(raw, dict):
        raise FlagSetError("'flags' must be an object mapping flag keys to flags")
    raw = _inline_refs(raw, document.get("$evaluators"))
    set_meta = _metadata(document.get("metadata"), "metadata")
    if flag_set_id is not None:
        set_meta["flagSetId"] = flag_set_id
    ops = operators(fractional)
    return {key: _flag(key, spec, set_meta, ops) for key, spec in raw.items()}


def _flag(key: str, spec: Any, set_meta: dict[str, Scalar], ops: Mapping[str, Any]) -> Flag:
    where = f"flags.{key}"
    if not isinstance(spec, dict):
        raise FlagSetError(f"{where}: must be an object")
    state = spec.get("state")
    if state not in ("ENABLED", "DISABLED"):
        raise FlagSetError(f"{where}.state: must be ENABLED or DISABLED, not {state!r}")
    variants = spec.get("variants")
    if not isinstance(variants, dict) or not variants:
        raise FlagSetError(f"{where}.variants: must be a non-empty object")
    default = spec.get("defaultVariant")
    if default == "":
        default = None
    if default is not None and (not isinstance(default, str) or default not in variants):
        raise FlagSetError(f"{where}.defaultVariant: {default!r} names no variant")
    targeting = spec.get("targeting")
    if targeting is not None and not isinstance(targeting, dict):
        raise FlagSetError(f"{where}.targeting: must be a JsonLogic object")
    metadata = {**set_meta, **_metadata(spec.get("metadata"), f"{where}.metadata")}
    set_id = metadata.get("flagSetId")
    return Flag(
        key=key,
        enabled=state == "ENABLED",
        variants=variants,
        default_variant=default,
        targeting=targeting or None,
        metadata=metadata,
        flag_set_id=str(set_id) if set_id is not None else None,
        operators=ops,
        definition=spec,
    )


def _default(flag: Flag, reason: Reason) -> Resolution:
    if flag.default_variant is None:
        return Resolution(key=flag.key, reason=Reason.DEFAULT, metadata=flag.metadata)
    return Resolution(
        key=flag.key,
        reason=reason,
        value=flag.variants[flag.default_variant],
        has_value=True,
        variant=flag.default_variant,
        metadata=flag.metadata,
    )


def error(key: str, code: ErrorCode, message: str, metadata: Mapping[str, Scalar]) -> Resolution:
    return Resolution(
        key=key, reason=Reason.ERROR, error_code=code, error_message=message, metadata=metadata
    )


def evaluate(flag: Flag, context: Mapping[str, Any], now: int | None = None) -> Resolution:
    """The flag's resolution for ``context`` (which is not modified)."""
    if not flag.enabled:
        return Resolution(key=flag.key, reason=Reason.DISABLED, metadata=flag.metadata)
    if flag.targeting is None:
        return _default(flag, Reason.STATIC)
    data = dict(context)
    data["$flagd"] = {"flagKey": flag.key, "timestamp": int(time.time()) if now is None else now}
    data.setdefault("targetingKey", None)
    from json_logic import jsonLogic  # loaded with the flag's operators (a dict lookup here)

    try:
        result = jsonLogic(flag.targeting, data, flag.operators)
    except Exception as exc:  # unknown operator, unresolved $ref, a rule that throws
        return error(flag.key, ErrorCode.PARSE_ERROR, f"targeting failed: {exc}", flag.metadata)
    if result is None:
        return _default(flag, Reason.DEFAULT)
    if isinstance(result, bool):
        name = "true" if result else "false"
    elif isinstance(result, (int, float, str)):
        name = str(result)
    else:
        name = None
    if name is None or name not in flag.variants:
        return error(
            flag.key,
            ErrorCode.GENERAL,
            f"targeting resolved to {result!r}, which is no variant",
            flag.metadata,
        )
    return Resolution(
        key=flag.key,
        reason=Reason.TARGETING_MATCH,
        value=flag.variants[name],
        has_value=True,
        variant=name,
        metadata=flag.metadata,
    )


def typed(res: Resolution, kind: FlagType) -> Resolution:
    """``res`` checked against the accessor ``kind`` (TYPE_MISMATCH), numbers made exact:
    a float accessor gets a float; an integer accessor accepts an integral float (lossless)."""
    if not res.has_value or kind is FlagType.ANY:
        return res
    value = res.value
    ok = False
    if kind is FlagType.BOOLEAN:
        ok = isinstance(value, bool)
    elif kind is FlagType.STRING:
        ok = isinstance(value, str)
    elif kind is FlagType.OBJECT:
        ok = isinstance(value, (dict, list))
    elif not isinstance(value, bool) and isinstance(value, (int, float)):
        if kind is FlagType.FLOAT:
            ok, value = True, float(value)
        elif isinstance(value, int) or value.is_integer():
            ok, value = True, int(value)
    if not ok:
        got = type(value).__name__
        return error(
            res.key, ErrorCode.TYPE_MISMATCH, f"{kind} accessor, {got} value", res.metadata
        )
    if value is res.value:
        return res
    return Resolution(
        key=res.key,
        reason=res.reason,
        value=value,
        has_value=True,
        variant=res.variant,
        metadata=res.metadata,
    )
