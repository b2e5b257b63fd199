"""Parse Dapr's state query JSON into the typed Query the stores understand.

Grammar: ``{"filter": F, "sort": [{"key": path, "order": "ASC"|"DESC"}],
"page": {"limit": n, "token": t}}`` where F is ``{"EQ": {path: v}}``, ``{"NEQ"|"GT"|"GTE"|"LT"|
"LTE": {path: v}}``, ``{"IN": {path: [v, ...]}}``, ``{"AND": [F, ...]}`` or ``{"OR": [F, ...]}``.

Every shape is checked before use (a wrong type anywhere is a ``QuerySyntaxError``, never a
crash), and the parsed query is then checked against the shared rules and size limits of
``components.state._query.validate_query`` (depth, terms, paths, limit, token), so every store
and both protocols refuse the same queries with the same error.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from components.errors import InvalidRequest, shown
from components.state import And, Compare, Filter, In, Op, Or, Query, SortKey
from components.state._query import MAX_FILTER_DEPTH, MAX_TOKEN_LENGTH, validate_query

__all__ = ["QuerySyntaxError", "decode_query", "parse_query"]

_PATH = re.compile(r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*$")


class QuerySyntaxError(ValueError):
    pass


def decode_query(raw: bytes | str) -> Any:
    """The query document; QuerySyntaxError for anything that is not JSON (or nests too deep)."""
    try:
        return msgspec.json.decode(raw)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise QuerySyntaxError(f"the query is not valid JSON: {shown(str(exc), 200)}") from None


def _path(value: Any) -> str:
    if not isinstance(value, str) or not _PATH.match(value):
        raise QuerySyntaxError(f"invalid field path {shown(value)}")
    return value


def _filter(node: Any, where: str, depth: int) -> Filter:
    if depth > MAX_FILTER_DEPTH:
        raise QuerySyntaxError(f"filter nests more than {MAX_FILTER_DEPTH} levels")
    if not isinstance(node, dict) or len(node) != 1:
        raise QuerySyntaxError(f"{where}: a filter is an object with exactly one operator")
    ((op, arg),) = node.items()
    op_u = str(op).upper()
    if op_u in ("AND", "OR"):
        if not isinstance(arg, list) or len(arg) < 1:
            raise QuerySyntaxError(f"{where}.{op}: expected a non-empty list of filters")
        parts = tuple(_filter(f, f"{where}.{op}[{i}]", depth + 1) for i, f in enumerate(arg))
        return And(parts) if op_u == "AND" else Or(parts)
    if not isinstance(arg, dict) or len(arg) != 1:
        raise QuerySyntaxError(f"{where}.{shown(op)}: expected an object with one field path")
    ((path, value),) = arg.items()
    if op_u == "IN":
        if not isinstance(value, list) or not value:
            raise QuerySyntaxError(f"{where}.IN: expected a non-empty list of values")
        return In(_path(path), tuple(value))
    try:
        return Compare(Op(op_u), _path(path), value)
    except ValueError:
        raise QuerySyntaxError(f"{where}: unknown operator {shown(op)}") from None


def _sort(raw: Any) -> tuple[SortKey, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise QuerySyntaxError("sort: expected a list of {'key': path, 'order': 'ASC'|'DESC'}")
    out: list[SortKey] = []
    for i, s in enumerate(raw):
        if not isinstance(s, dict) or "key" not in s:
            raise QuerySyntaxError(f"sort[{i}]: expected {{'key': path, 'order': 'ASC'|'DESC'}}")
        order = s.get("order", "ASC")
        if not isinstance(order, str) or order.upper() not in ("ASC", "DESC"):
            raise QuerySyntaxError(f"sort[{i}].order: expected ASC or DESC")
        out.append(SortKey(_path(s["key"]), descending=order.upper() == "DESC"))
    return tuple(out)


def parse_query(doc: Any, *, key_prefix: str, metadata: dict[str, str]) -> Query:
    """The Query for a decoded query document (QuerySyntaxError when it is not one)."""
    if not isinstance(doc, dict):
        raise QuerySyntaxError("the query must be a JSON object")
    unknown = set(doc) - {"filter", "sort", "page"}
    if unknown:
        names = ", ".join(sorted(shown(k) for k in unknown)[:5])
        raise QuerySyntaxError(f"unknown query field(s): {names}")
    flt = _filter(doc["filter"], "filter", 1) if doc.get("filter") else None
    page = doc.get("page")
    if page is None:
        page = {}
    if not isinstance(page, dict):
        raise QuerySyntaxError("page: expected an object")
    limit = page.get("limit")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
        raise QuerySyntaxError("page.limit: expected a non-negative integer")
    token = page.get("token")
    if token is not None and (not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH):
        raise QuerySyntaxError(f"page.token: expected a string of at most {MAX_TOKEN_LENGTH}")
    query = Query(
        key_prefix=key_prefix,
        filter=flt,
        sort=_sort(doc.get("sort")),
        limit=limit or None,
        token=token or None,
        metadata=metadata,
    )
    try:
        validate_query(query)
    except InvalidRequest as exc:
        raise QuerySyntaxError(str(exc)) from None
    return query
