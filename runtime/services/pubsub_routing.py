"""Topic routing: a subscription's rules, CEL expressions over the CloudEvent, as in Dapr.

Rules are tried in order; the first whose ``match`` is true gives the path; an empty match is
a catch-all (the default route comes last). The expression sees the event as ``event``
(``event.type == "widget"``, ``has(event.data.x)``, ``event.data.n > 3``). An expression that
fails to evaluate (a missing key, a type mismatch) does not match, so evaluation never raises.

Compiled with ``cel-expr-python`` (Google's CEL runtime), the library the resiliency runner
uses for breaker trips; it is imported only when a rule has an expression.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from runtime.appchannel.base import TopicRule

__all__ = ["Router", "compile_rules"]

Match = Callable[[Mapping[str, Any]], bool]
_env: Any = None


def _cel_env() -> Any:
    global _env  # noqa: PLW0603 (one compiled environment per process)
    if _env is None:
        from cel_expr_python import cel

        _env = cel.NewEnv(variables={"event": cel.Type.DYN})
    return _env


def _compile(expression: str) -> Match:
    try:
        program = _cel_env().compile(expression)
    except RuntimeError as exc:
        detail = str(exc).removeprefix("INVALID_ARGUMENT: ").splitlines()[0]
        raise ValueError(f"invalid routing rule {expression!r}: {detail}") from None

    def match(event: Mapping[str, Any]) -> bool:
        try:
            return program.eval(data={"event": dict(event)}).plain_value() is True
        except (RuntimeError, TypeError, ValueError):
            return False

    return match


def _always(_: Mapping[str, Any]) -> bool:
    return True


class Router:
    """Compiled rules; ``path(event)`` is the matched path, or None when no rule matches."""

    def __init__(self, rules: Sequence[tuple[Match, str]]) -> None:
        self._rules = tuple(rules)

    def path(self, event: Mapping[str, Any]) -> str | None:
        for match, path in self._rules:
            if match(event):
                return path
        return None


def compile_rules(rules: Sequence[TopicRule]) -> Router:
    """Raises ValueError naming the first invalid expression."""
    return Router([(_compile(r.match) if r.match.strip() else _always, r.path) for r in rules])
