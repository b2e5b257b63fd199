"""State queries and key listing of ``state.sqlite``, validated and translated to SQL.

Queries run over the rows whose value is valid JSON (``is_json``, computed when the row is
written), with ``json_type``/``json_extract`` and bound parameters only, following the
semantics of ``components.state._query`` (invalid paths, operands, limits and tokens raise the
same ``InvalidRequest``). Query page tokens are *offsets*: pages are stable while the data does
not change, but a write between two pages can shift items across the page boundary.
``list_keys`` pages are keyset-based (after the last key) and stay consistent under writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from components.errors import InvalidRequest
from components.state import _query as shared
from components.state._types import (
    And,
    Compare,
    Filter,
    In,
    ListKeysRequest,
    Op,
    Query,
    SortKey,
)
from components.state.sqlite._sql import DOC, LIVE, Statements, fill

__all__ = ["build_list_keys", "build_query"]

_INT64 = range(-(2**63), 2**63)
_SQL_OPS = {Op.EQ: "=", Op.GT: ">", Op.GTE: ">=", Op.LT: "<", Op.LTE: "<="}
_SORT_RANK = (
    f"CASE json_type({DOC}, ?) WHEN 'true' THEN 1 WHEN 'false' THEN 1"
    " WHEN 'integer' THEN 2 WHEN 'real' THEN 2 WHEN 'text' THEN 3"
    " WHEN 'object' THEN 4 WHEN 'array' THEN 4 ELSE 0 END"
)


def _json_path(path: str) -> str:
    return "$." + ".".join(shared.validate_path(path))


def _sql_operand(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and value not in _INT64:
        return float(value)
    return value


def _sql_equal(path: str, value: Any, params: list[Any]) -> str:
    """SQL for "the document value at ``path`` EQ ``value``" (same JSON kind, equal value)."""
    if value is None:
        params.append(path)
        return f"json_type({DOC}, ?) = 'null'"
    if isinstance(value, bool):
        params.extend((path, "true" if value else "false"))
        return f"json_type({DOC}, ?) = ?"
    return _sql_ordered(Op.EQ, path, value, params)


def _sql_ordered(op: Op, path: str, value: Any, params: list[Any]) -> str:
    kinds = "'text'" if isinstance(value, str) else "'integer', 'real'"
    params.extend((path, path, _sql_operand(value)))
    return f"(json_type({DOC}, ?) IN ({kinds}) AND json_extract({DOC}, ?) {_SQL_OPS[op]} ?)"


def _sql_filter(f: Filter, params: list[Any]) -> str:
    """A WHERE expression for ``f`` (already validated), appending its parameters in order."""
    if isinstance(f, Compare):
        path = _json_path(f.path)
        if f.op is Op.EQ:
            return _sql_equal(path, f.value, params)
        if f.op is Op.NEQ:
            params.append(path)
            exists = f"json_type({DOC}, ?) IS NOT NULL"
            return f"({exists} AND NOT {_sql_equal(path, f.value, params)})"
        return _sql_ordered(f.op, path, f.value, params)
    if isinstance(f, In):
        path = _json_path(f.path)
        parts = [_sql_equal(path, v, params) for v in f.values]
        return _balanced(parts, " OR ") if parts else "0"
    joiner = " AND " if isinstance(f, And) else " OR "
    parts = [_sql_filter(sub, params) for sub in f.filters]
    if not parts:
        return "1" if isinstance(f, And) else "0"
    return _balanced(parts, joiner)


def _balanced(parts: Sequence[str], joiner: str) -> str:
    """``parts`` joined as a balanced tree of parenthesised pairs (placeholder order kept).

    SQLite parses ``a OR b OR c ...`` as a left-deep tree, which reaches its expression depth
    limit (1000) at about a thousand terms; a balanced tree is log2(n) deep.
    """
    while len(parts) > 1:
        paired = [f"({parts[i]}{joiner}{parts[i + 1]})" for i in range(0, len(parts) - 1, 2)]
        parts = paired + ([parts[-1]] if len(parts) % 2 else [])
    return parts[0]


def _sql_order(sort: Sequence[SortKey], params: list[Any]) -> str:
    terms: list[str] = []
    for key in sort:
        path = _json_path(key.path)
        direction = "DESC" if key.descending else "ASC"
        terms.append(f"{_SORT_RANK} {direction}, json_extract({DOC}, ?) {direction}")
        params.extend((path, path))
    terms.append("key ASC")
    return ", ".join(terms)


def build_query(sql: Statements, q: Query, now: float) -> tuple[str, list[Any], int]:
    """(statement, parameters, offset) for ``q``; raises InvalidRequest.

    The statement selects ``key, value, etag`` and asks for ``limit + 1`` rows, so the caller
    knows whether another page exists.
    """
    offset = shared.validate_query(q)  # the shared rules and size limits
    # Placeholders are positional: each clause appends its parameters as it is written.
    where = ["key >= ?"]
    params: list[Any] = [q.key_prefix]
    upper = shared.prefix_upper_bound(q.key_prefix)
    if upper is not None:
        where.append("key < ?")
        params.append(upper)
    where += ["is_json = 1", LIVE]
    params.append(now)
    if q.filter is not None:
        where.append(_sql_filter(q.filter, params))
    order = _sql_order(q.sort, params)
    fetch = -1 if q.limit is None else q.limit + 1
    params.extend((fetch, offset))
    statement = fill(
        "SELECT key, value, etag FROM {t} WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?",
        t=sql.quoted,
        where=" AND ".join(where),
        order=order,
    )
    return statement, params, offset


def build_list_keys(sql: Statements, req: ListKeysRequest, now: float) -> tuple[str, list[Any]]:
    """(statement, parameters) selecting up to ``limit + 1`` keys; raises InvalidRequest."""
    if req.limit < 1:
        raise InvalidRequest(f"list limit must be positive: {req.limit}")
    lower, strict = req.prefix, False
    if req.token is not None:
        after = shared.decode_key_token(req.token)
        if after >= lower:
            lower, strict = after, True
    upper = shared.prefix_upper_bound(req.prefix)
    params: list[Any] = [lower]
    if upper is not None:
        params.append(upper)
    params.extend((now, req.limit + 1))
    return sql.list_keys[strict, upper is not None], params
