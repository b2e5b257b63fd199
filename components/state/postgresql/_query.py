"""Translation of a state ``Query`` into one parameterised SQL statement over ``value_json``.

The semantics are those of the shared query definition (``components.state._query`` in this
repository; the in-memory store evaluates it directly), expressed in SQL:

- The query is first checked with the shared ``validate_query``, so invalid paths, operands,
  limits and tokens, and queries past the shared size limits, raise the same ``InvalidRequest``.
- Only rows whose value is JSON (``value_json IS NOT NULL``), whose key starts with the query's
  key prefix (a ``key`` range, see ``key_range``) and that have not expired take part.
- Paths are resolved through objects only: ``value_json -> $a -> $b`` (``->`` with a text
  operand yields NULL on arrays and scalars, so a path through a non-object is missing). A
  missing path matches no comparison, not even ``NEQ``.
- ``EQ`` / ``IN``: same JSON kind and equal value (``jsonb`` equality: ``true`` never equals
  ``1``, numbers compare numerically so ``15`` equals ``15.0``); ``NEQ``: the path resolves and
  ``EQ`` does not hold. Operands must be scalars (null, bool, number, string).
- ``GT`` / ``GTE`` / ``LT`` / ``LTE``: with a number operand, numerically and only against JSON
  numbers (the text ``#>> '{}'`` cast to ``numeric`` behind a ``jsonb_typeof`` guard, so floats
  compare correctly with ints on nested paths); with a string operand, by code point
  (``COLLATE "C"``) and only against JSON strings. Other operands raise ``InvalidRequest``.
- ``And()`` with no filters is true, ``Or()`` with no filters is false; ``In`` with no values is
  false.
- Order: each sort key ranks missing/null < bool (false < true) < number < string <
  object/array, ``descending`` reversing that whole order; then the key ascending (byte order),
  so pages are stable. Objects/arrays are ordered by PostgreSQL's ``jsonb`` text form, which
  normalises key order and spacing: an approximation of the shared definition's "compact JSON
  text", good enough for a sort value nobody should sort by.

Every value and path segment is a ``$n`` parameter; the only identifier in the SQL is the
(validated, quoted) table name.

Pagination is by **offset**: the token is the shared opaque encoding of the number of rows
already returned. The statement asks for ``limit + 1`` rows to know whether another page
exists; the token is None when none does. Rows written or deleted between pages can shift the
offset. A limit of None means no limit (and no token).
"""

# Only validated, double-quoted identifiers are interpolated into SQL; values are $n parameters.
# ruff: noqa: S608

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

from components.errors import InvalidRequest
from components.state._query import prefix_upper_bound, validate_path, validate_query
from components.state._types import And, Compare, Filter, In, Op, Or, Query, SortKey

__all__ = ["NOT_EXPIRED", "build_query", "key_range"]

NOT_EXPIRED = "(expires_at IS NULL OR expires_at > now())"

_RANGE_OPS = {Op.GT: ">", Op.GTE: ">=", Op.LT: "<", Op.LTE: "<="}


def key_range(prefix: str, params: list[Any]) -> list[str]:
    """SQL conditions selecting keys that start with ``prefix`` (appending to ``params``).

    Under ``COLLATE "C"`` (UTF-8 byte order = code point order) ``prefix <= key < bound`` is
    exactly "key starts with prefix", and it is a plain range scan of the primary key.
    """
    if not prefix:
        return []
    params.append(prefix)
    conds = [f"key >= ${len(params)}"]
    upper = prefix_upper_bound(prefix)
    if upper is not None:
        params.append(upper)
        conds.append(f"key < ${len(params)}")
    return conds


# ---- filters ---------------------------------------------------------------------------------


class _Params:
    def __init__(self, params: list[Any]) -> None:
        self.values = params

    def add(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


def _doc(path: str, p: _Params) -> str:
    """``value_json -> $a -> $b``: the value at ``path``, NULL when it does not resolve."""
    return "(value_json" + "".join(f" -> {p.add(seg)}::text" for seg in validate_path(path)) + ")"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _scalar_json(value: Any) -> str:
    """JSON text of a scalar operand (null, bool, number, string); else InvalidRequest."""
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidRequest(f"query operand {value!r} is not a JSON number")
    if value is not None and not isinstance(value, bool | int | float | str):
        raise InvalidRequest(f"query operand {value!r} must be null, bool, number or string")
    return json.dumps(value)


def _compare(f: Compare, p: _Params) -> str:
    if not isinstance(f.op, Op):
        raise InvalidRequest(f"unknown query operator {f.op!r}")
    doc = _doc(f.path, p)
    if f.op is Op.EQ:
        return f"({doc} = {p.add(_scalar_json(f.value))}::jsonb)"
    if f.op is Op.NEQ:
        return f"({doc} <> {p.add(_scalar_json(f.value))}::jsonb)"
    sql_op = _RANGE_OPS[f.op]
    if _is_number(f.value):
        if isinstance(f.value, float) and not math.isfinite(f.value):
            raise InvalidRequest(f"query operand {f.value!r} is not a JSON number")
        # repr of a float is its shortest round-trip form: 11.1 -> Decimal("11.1").
        operand = p.add(Decimal(repr(f.value)) if isinstance(f.value, float) else f.value)
        return (
            f"((CASE WHEN jsonb_typeof({doc}) = 'number' THEN ({doc} #>> '{{}}')::numeric END)"
            f" {sql_op} {operand}::numeric)"
        )
    if isinstance(f.value, str):
        operand = p.add(f.value)
        return (
            f"((CASE WHEN jsonb_typeof({doc}) = 'string' THEN {doc} #>> '{{}}' END)"
            f' COLLATE "C" {sql_op} {operand}::text)'
        )
    raise InvalidRequest(f"ordering comparison needs a number or a string, not {f.value!r}")


def _filter(f: Filter, p: _Params) -> str:
    if isinstance(f, Compare):
        return _compare(f, p)
    if isinstance(f, In):
        doc = _doc(f.path, p)
        values = [_scalar_json(v) for v in f.values]
        return f"({doc} = ANY({p.add(values)}::jsonb[]))" if values else "FALSE"
    if isinstance(f, And):
        parts = [_filter(sub, p) for sub in f.filters]
        return "(" + " AND ".join(parts) + ")" if parts else "TRUE"
    if isinstance(f, Or):
        parts = [_filter(sub, p) for sub in f.filters]
        return "(" + " OR ".join(parts) + ")" if parts else "FALSE"
    raise InvalidRequest(f"unknown query filter {f!r}")


def _order(s: SortKey, p: _Params) -> list[str]:
    """ORDER BY terms: kind rank, then the numeric value, then the text value."""
    doc = _doc(s.path, p)
    kind = f"jsonb_typeof({doc})"
    d = "DESC" if s.descending else "ASC"
    return [
        f"(CASE {kind} WHEN 'boolean' THEN 1 WHEN 'number' THEN 2 WHEN 'string' THEN 3 "
        f"WHEN 'object' THEN 4 WHEN 'array' THEN 4 ELSE 0 END) {d}",
        f"(CASE {kind} WHEN 'boolean' THEN ({doc})::boolean::int::numeric "
        f"WHEN 'number' THEN ({doc})::numeric END) {d}",
        f"(CASE {kind} WHEN 'string' THEN {doc} #>> '{{}}' "
        f"WHEN 'object' THEN ({doc})::text WHEN 'array' THEN ({doc})::text END) "
        f'COLLATE "C" {d}',
    ]


def build_query(table_sql: str, q: Query) -> tuple[str, list[Any], int | None, int]:
    """``(sql, params, limit, offset)``: the statement returns ``key, value, etag`` rows.

    When ``limit`` is not None the statement returns up to ``limit + 1`` rows; a row beyond
    ``limit`` means another page exists (its token is the shared ``encode_offset_token`` of
    ``offset + limit``).
    """
    # the shared definition's errors and size limits, before any SQL is built
    offset = validate_query(q)
    params: list[Any] = []
    p = _Params(params)
    conds = ["value_json IS NOT NULL", NOT_EXPIRED, *key_range(q.key_prefix, params)]
    if q.filter is not None:
        conds.append(_filter(q.filter, p))
    order = [term for s in q.sort for term in _order(s, p)]
    order.append("key ASC")
    limit = q.limit or None
    sql = (
        f"SELECT key, value, etag FROM {table_sql} WHERE {' AND '.join(conds)} "
        f"ORDER BY {', '.join(order)}"
    )
    if limit is not None:
        sql += f" LIMIT {p.add(limit + 1)}"
    if offset:
        sql += f" OFFSET {p.add(offset)}"
    return sql, params, limit, offset
