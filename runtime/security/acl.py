"""Access control for service invocation: the Configuration's ``spec.accessControl``.

Decision for a call from ``caller`` to ``<verb> <method>``:

1. the policy whose ``appId`` is the caller's id, whose ``trustDomain`` (default: the
   accessControl's) and ``namespace`` (unset: any) match the caller's verified identity;
   no such policy: the global ``defaultAction``;
2. within it, the most specific operation whose ``name`` matches the normalised method path
   and whose ``httpVerb`` list holds the verb or ``*`` (an empty list, or a gRPC call with no
   verb, matches any verb); its ``action`` decides;
3. no operation matches: the policy's ``defaultAction``, else the global one.

Names are ``/``-separated; ``*`` matches one segment, ``**`` any number (zero included) of the
remaining ones. The method is percent-decoded once (what the app will see) and normalised
(empty and ``.`` segments dropped, ``..`` applied) before matching; a path that climbs above
the root is denied whatever the rules say.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import unquote

import msgspec

from runtime.resources.configuration import AccessControl

__all__ = ["AccessPolicy", "Caller", "normalise_path"]


class Caller(msgspec.Struct, frozen=True):
    app_id: str
    namespace: str
    trust_domain: str


def normalise_path(method: str) -> tuple[str, ...] | None:
    """The method's segments after one percent-decoding and dot/empty-segment removal;
    None when ``..`` climbs above the root or a NUL byte is in it."""
    decoded = unquote(method.split("?", 1)[0], errors="strict")
    if "\x00" in decoded:
        return None
    out: list[str] = []
    for segment in decoded.replace("\\", "/").split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if not out:
                return None
            out.pop()
            continue
        out.append(segment)
    return tuple(out)


def _match(pattern: Sequence[str], path: Sequence[str]) -> bool:
    if not pattern:
        return not path
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(_match(rest, path[i:]) for i in range(len(path) + 1))
    if not path:
        return False
    return (head == "*" or head == path[0]) and _match(rest, path[1:])


def _specificity(pattern: Sequence[str]) -> tuple[int, ...]:
    """Higher is more specific: literal segments beat ``*``, which beats ``**``."""
    return tuple(0 if s == "**" else 1 if s == "*" else 2 for s in pattern)


class _Operation(msgspec.Struct, frozen=True):
    pattern: tuple[str, ...]
    verbs: frozenset[str]  # empty: any
    allow: bool


class _Policy(msgspec.Struct, frozen=True):
    app_id: str
    trust_domain: str
    namespace: str | None
    allow: bool | None
    operations: tuple[_Operation, ...]


class AccessPolicy:
    def __init__(self, spec: AccessControl) -> None:
        self.trust_domain = spec.trustDomain
        self.default_allow = spec.defaultAction == "allow"
        self._policies: dict[str, list[_Policy]] = {}
        for p in spec.policies:
            ops = tuple(
                _Operation(
                    pattern=tuple(s for s in o.name.split("/") if s),
                    verbs=frozenset(v.upper() for v in o.httpVerb),
                    allow=o.action == "allow",
                )
                for o in p.operations
            )
            self._policies.setdefault(p.appId, []).append(
                _Policy(
                    app_id=p.appId,
                    trust_domain=p.trustDomain or spec.trustDomain,
                    namespace=p.namespace,
                    allow=None if p.defaultAction is None else p.defaultAction == "allow",
                    operations=ops,
                )
            )

    def allows(self, caller: Caller, verb: str | None, method: str) -> bool:
        policy = next(
            (
                p
                for p in self._policies.get(caller.app_id, ())
                if p.trust_domain == caller.trust_domain
                and (p.namespace is None or p.namespace == caller.namespace)
            ),
            None,
        )
        try:
            path = normalise_path(method)
        except UnicodeDecodeError:
            path = None
        if path is None:
            return False
        if policy is None:
            return self.default_allow
        verb = verb.upper() if verb else None
        best: _Operation | None = None
        for op in policy.operations:
            if verb is not None and op.verbs and verb not in op.verbs and "*" not in op.verbs:
                continue
            if not _match(op.pattern, path):
                continue
            if best is None or _specificity(op.pattern) > _specificity(best.pattern):
                best = op
        if best is not None:
            return best.allow
        return policy.allow if policy.allow is not None else self.default_allow
