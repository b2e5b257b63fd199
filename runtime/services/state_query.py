"""Parse Dapr's state query JSON into the typed Query the stores understand.

Grammar: ``{"filter": F, "sort": [{"key": path, "order": "ASC"|"DESC"}],
"page": {"limit": n, "token": t}}`` where F is ``{"EQ": {path: v}}``, ``{"NEQ"|"GT"|"GTE"|"LT"|
"LTE": {path: v}}``, ``{"IN": {path: [v, ...]}}``, ``{"AND": [F, ...]}`` or ``{"OR": [F, ...]}``.
"""

from __future__ import annotations

import re
from typing import Any

from components.state import And, Compare, Filter, In, Op, Or, Query, SortKey

__all__ = ["QuerySyntaxError", "parse_query"]

_PATH = re.compile(r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*$")


class QuerySyntaxError(ValueError):
    pass


def _path(value: Any) -> str:
    if not isinstance(value, str) or not _PATH.match(value):
        raise QuerySyntaxError(f"invalid field path {value!r}")
    return value


def _filter(node: Any, where: str) -> Filter:
    if not isinstance(node, dict) or len(node) != 1:
        raise QuerySyntaxError(f"{where}: a filter is an object with exactly one operator")
    ((op, arg),) = node.items()
    op_u = str(op).upper()
    if op_u in ("AND", "OR"):
        if not isinstance(arg, list) or len(arg) < 1:
            raise QuerySyntaxError(f"{where}.{op}: expected a non-empty list of filters")
        parts = tuple(_filter(f, f"{where}.{op}[{i}]") for i, f in enumerate(arg))
        return And(parts) if op_u == "AND" else Or(parts)
    if not isinstance(arg, dict) or len(arg) != 1:
        raise QuerySyntaxError(f"{where}.{op}: expected an object with one field path")
    ((path, value),) = arg.items()
    if op_u == "IN":
        if not isinstance(value, list) or not value:
            raise QuerySyntaxError(f"{where}.IN: expected a non-empty list of values")
        return In(_path(path), tuple(value))
    try:
        return Compare(Op(op_u), _path(path), value)
    except ValueError:
        raise QuerySyntaxError(f"{where}: unknown operator {op!r}") from None


def parse_query(doc: Any, *, key_prefix: str, metadata: dict[str, str]) -> Query:
    if not isinstance(doc, dict):
        raise QuerySyntaxError("the query must be a JSON object")
    unknown = set(doc) - {"filter", "sort", "page"}
    if unknown:
        raise QuerySyntaxError(f"unknown query field(s): {', '.join(sorted(unknown))}")
    flt = _filter(doc["filter"], "filter") if doc.get("filter") else None
    sort: list[SortKey] = []
    for i, s in enumerate(doc.get("sort") or []):
        if not isinstance(s, dict) or "key" not in s:
            raise QuerySyntaxError(f"sort[{i}]: expected {{'key': path, 'order': 'ASC'|'DESC'}}")
        order = str(s.get("order", "ASC")).upper()
        if order not in ("ASC", "DESC"):
            raise QuerySyntaxError(f"sort[{i}].order: expected ASC or DESC")
        sort.append(SortKey(_path(s["key"]), descending=order == "DESC"))
    page = doc.get("page") or {}
    if not isinstance(page, dict):
        raise QuerySyntaxError("page: expected an object")
    limit = page.get("limit")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
        raise QuerySyntaxError("page.limit: expected a non-negative integer")
    token = page.get("token")
    if token is not None and not isinstance(token, str):
        raise QuerySyntaxError("page.token: expected a string")
    return Query(
        key_prefix=key_prefix,
        filter=flt,
        sort=tuple(sort),
        limit=limit or None,
        token=token or None,
        metadata=metadata,
    )
