"""Query semantics shared by state stores, plus page-token and key-range helpers.

This module is the *definition* of how a ``Query`` behaves; a store that translates queries to
its backend (SQL, RediSearch) must give the same answers. The in-memory store uses it directly.

Documents: only values that are valid UTF-8 JSON take part in a query; other values (raw bytes,
empty values) never match and are never returned.

Paths: dotted (``"product.value"``); each segment is one or more word characters or ``-``
(``validate_path``). Anything else (``$``, ``[``, quotes, spaces, empty segments) raises
``InvalidRequest`` before any backend sees it. A path that does not resolve (missing key, or a
non-object on the way) matches no comparison, not even ``NEQ``.

Comparisons, by the JSON kind of the document value and of the operand:
- kinds are null, bool, number (int and float compare numerically: 15 == 15.0) and string;
- ``EQ``/``IN``: same kind and equal value (``true`` never equals ``1``);
- ``NEQ``: the path resolves and ``EQ`` does not hold;
- ``GT``/``GTE``/``LT``/``LTE``: numbers numerically, strings by code point; other pairs never
  match. The operand of an ordering operator must be a number or a string, of ``EQ``/``NEQ``/``IN``
  a scalar (null, bool, number, string); else ``InvalidRequest``.

Sorting: by each ``SortKey`` in turn, then by store key ascending. Within one sort key values rank
missing/null < bool (false < true) < number < string < object/array (compared by compact JSON
text); ``descending`` reverses that whole order (the key tie-break stays ascending).

Size limits (``validate_query``; every store calls it, so all give the same answer): a filter
nests at most ``MAX_FILTER_DEPTH`` levels and holds at most ``MAX_FILTER_TERMS`` comparisons and
``IN`` values; a path has at most ``MAX_PATH_SEGMENTS`` segments; at most ``MAX_SORT_KEYS`` sort
keys; ``limit`` is at most ``MAX_PAGE_LIMIT``; an integer operand must fit a float (as in Dapr,
whose stores compare JSON numbers as float64). Past a limit: ``InvalidRequest``, before any
backend sees the query (SQL parsers and parameter counts have their own, smaller limits).

Tokens: ``encode_offset_token``/``decode_offset_token`` wrap a result offset (stable while the
data does not change); ``decode_offset_token`` also accepts Dapr's plain decimal offsets (``"3"``,
what Dapr's SQL stores return and the Dapr SDK examples send). ``encode_key_token``/
``decode_key_token`` wrap the last key of a page (keyset pagination: stable under concurrent
writes). A token that does not decode raises ``InvalidRequest``.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final, TypeVar

from components.errors import InvalidRequest, shown
from components.state._types import And, Compare, Filter, In, Op, Or, Query, SortKey

__all__ = [
    "MAX_FILTER_DEPTH",
    "MAX_FILTER_TERMS",
    "MAX_OFFSET",
    "MAX_PAGE_LIMIT",
    "MAX_PATH_SEGMENTS",
    "MAX_SORT_KEYS",
    "MAX_TOKEN_LENGTH",
    "NOT_JSON",
    "decode_document",
    "decode_key_token",
    "decode_offset_token",
    "encode_key_token",
    "encode_offset_token",
    "escape_like",
    "matches",
    "prefix_upper_bound",
    "resolve",
    "sort_documents",
    "validate_filter",
    "validate_path",
    "validate_query",
    "validate_sort",
]

MAX_FILTER_DEPTH = 32
MAX_FILTER_TERMS = 1000
MAX_PATH_SEGMENTS = 16
MAX_SORT_KEYS = 16
MAX_PAGE_LIMIT = 2**31 - 1
MAX_OFFSET = 2**62  # offset + limit + 1 stays a signed 64-bit integer
MAX_TOKEN_LENGTH = 4096
_MAX_FLOAT_INT = 2**1023

T = TypeVar("T")

_PATH = re.compile(r"[\w-]+(?:\.[\w-]+)*")
_ORDERING = frozenset({Op.GT, Op.GTE, Op.LT, Op.LTE})


class _Sentinel:
    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


NOT_JSON: Final = _Sentinel("NOT_JSON")
_MISSING: Final = _Sentinel("MISSING")

# ---- validation --------------------------------------------------------------------------


def validate_path(path: str) -> tuple[str, ...]:
    """The segments of a dotted path; InvalidRequest for anything but ``word(.word)*``."""
    if not _PATH.fullmatch(path):
        raise InvalidRequest(f"invalid query path {shown(path)}: expected dotted names like a.b_c")
    segments = tuple(path.split("."))
    if len(segments) > MAX_PATH_SEGMENTS:
        raise InvalidRequest(f"query path {shown(path)} has more than {MAX_PATH_SEGMENTS} parts")
    return segments


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "other"


def _check_operand(value: Any, *, ordering: bool) -> None:
    kind = _kind(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidRequest(f"query operand {shown(value)} is not a JSON number")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= _MAX_FLOAT_INT:
        raise InvalidRequest(f"query operand {shown(value)} is out of range")
    if ordering and kind not in ("number", "string"):
        raise InvalidRequest(f"ordering comparison needs a number or a string, not {shown(value)}")
    if kind == "other":
        raise InvalidRequest(f"query operand {shown(value)} must be null, bool, number or string")


def validate_filter(f: Filter) -> None:
    """Check every path and operand of ``f`` and its size limits (raises InvalidRequest)."""
    terms = 0
    stack: list[tuple[Any, int]] = [(f, 1)]  # iterative: any depth is refused, not overflowed
    while stack:
        node, depth = stack.pop()
        if depth > MAX_FILTER_DEPTH:
            raise InvalidRequest(f"query filter nests more than {MAX_FILTER_DEPTH} levels")
        if isinstance(node, Compare):
            terms += 1
            validate_path(node.path)
            if not isinstance(node.op, Op):
                raise InvalidRequest(f"unknown query operator {shown(node.op)}")
            _check_operand(node.value, ordering=node.op in _ORDERING)
        elif isinstance(node, In):
            terms += max(len(node.values), 1)
            validate_path(node.path)
            for v in node.values:
                _check_operand(v, ordering=False)
        elif isinstance(node, And | Or):
            stack.extend((sub, depth + 1) for sub in node.filters)
        else:
            raise InvalidRequest(f"unknown query filter {shown(node)}")
        if terms > MAX_FILTER_TERMS:
            raise InvalidRequest(f"query filter has more than {MAX_FILTER_TERMS} terms")


def validate_sort(sort: Sequence[SortKey]) -> None:
    if len(sort) > MAX_SORT_KEYS:
        raise InvalidRequest(f"query has more than {MAX_SORT_KEYS} sort keys")
    for key in sort:
        validate_path(key.path)


def validate_query(q: Query) -> int:
    """Check ``q`` whole (filter, sort, limit, token); returns the offset its token encodes."""
    if q.filter is not None:
        validate_filter(q.filter)
    validate_sort(q.sort)
    limit = q.limit
    if limit is not None and (isinstance(limit, bool) or not 0 < limit <= MAX_PAGE_LIMIT):
        raise InvalidRequest(f"query limit must be between 1 and {MAX_PAGE_LIMIT}")
    return 0 if q.token is None else decode_offset_token(q.token)


# ---- evaluation --------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def decode_document(value: bytes) -> Any:
    """The decoded JSON document, or ``NOT_JSON`` (invalid UTF-8, invalid JSON, NaN...)."""
    try:
        return json.loads(value.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return NOT_JSON


def resolve(doc: Any, segments: Sequence[str]) -> Any:
    """The value at ``segments`` in ``doc``, or the private MISSING sentinel."""
    for segment in segments:
        if not isinstance(doc, dict) or segment not in doc:
            return _MISSING
        doc = doc[segment]
    return doc


def _equal(found: Any, operand: Any) -> bool:
    kind = _kind(found)
    return kind != "other" and kind == _kind(operand) and found == operand


def _compare(op: Op, found: Any, operand: Any) -> bool:
    if op is Op.EQ:
        return _equal(found, operand)
    if op is Op.NEQ:
        return not _equal(found, operand)
    kind = _kind(found)
    if kind not in ("number", "string") or kind != _kind(operand):
        return False
    if op is Op.GT:
        return bool(found > operand)
    if op is Op.GTE:
        return bool(found >= operand)
    if op is Op.LT:
        return bool(found < operand)
    return bool(found <= operand)


def matches(f: Filter, doc: Any) -> bool:
    """Whether the decoded document ``doc`` satisfies ``f`` (validate the filter first)."""
    if isinstance(f, Compare):
        found = resolve(doc, f.path.split("."))
        return found is not _MISSING and _compare(f.op, found, f.value)
    if isinstance(f, In):
        found = resolve(doc, f.path.split("."))
        return found is not _MISSING and any(_equal(found, v) for v in f.values)
    if isinstance(f, And):
        return all(matches(sub, doc) for sub in f.filters)
    return any(matches(sub, doc) for sub in f.filters)


def _rank(value: Any) -> tuple[int, Any]:
    kind = "null" if value is _MISSING else _kind(value)
    if kind == "null":
        return (0, 0)
    if kind == "bool":
        return (1, int(value))
    if kind == "number":
        return (2, value)
    if kind == "string":
        return (3, value)
    return (4, json.dumps(value, separators=(",", ":"), ensure_ascii=False))


def sort_documents(
    rows: Iterable[T],
    sort: Sequence[SortKey],
    *,
    key: Callable[[T], str],
    doc: Callable[[T], Any],
) -> list[T]:
    """``rows`` ordered by ``sort`` then by store key (see the module docstring)."""
    ordered = sorted(rows, key=key)
    for sort_key in reversed(sort):  # stable sorts, least significant first
        ordered.sort(key=_ranker(sort_key.path.split("."), doc), reverse=sort_key.descending)
    return ordered


def _ranker(segments: Sequence[str], doc: Callable[[T], Any]) -> Callable[[T], tuple[int, Any]]:
    def rank(row: T) -> tuple[int, Any]:
        return _rank(resolve(doc(row), segments))

    return rank


# ---- page tokens -------------------------------------------------------------------------


def _b64encode(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode("utf-8")).decode("ascii").rstrip("=")


def _b64decode(token: str) -> str:
    if len(token) > MAX_TOKEN_LENGTH:
        raise InvalidRequest(f"invalid page token {shown(token)}: too long")
    try:
        padded = token + "=" * (-len(token) % 4)
        return base64.urlsafe_b64decode(padded.encode("ascii")).decode("utf-8")
    except (ValueError, UnicodeError, binascii.Error) as exc:
        raise InvalidRequest(f"invalid page token {shown(token)}") from exc


def _offset(digits: str, token: str) -> int:
    if not (digits.isascii() and digits.isdigit() and len(digits) <= 19):
        raise InvalidRequest(f"invalid page token {shown(token)}")
    offset = int(digits)
    if offset > MAX_OFFSET:
        raise InvalidRequest(f"invalid page token {shown(token)}: offset out of range")
    return offset


def encode_offset_token(offset: int) -> str:
    return _b64encode(f"o:{offset}")


def decode_offset_token(token: str) -> int:
    """The offset of an opaque token from ``encode_offset_token``, or of a decimal one (``"3"``).

    The two cannot be confused: an opaque token decodes to text starting with ``o:``, and no
    all-digit string does (its first base64 byte is >= 0xD0).
    """
    if token.isascii() and token.isdigit():
        return _offset(token, token)
    text = _b64decode(token)
    if not text.startswith("o:"):
        raise InvalidRequest(f"invalid page token {shown(token)}")
    return _offset(text[2:], token)


def encode_key_token(last_key: str) -> str:
    return _b64encode(f"k:{last_key}")


def decode_key_token(token: str) -> str:
    text = _b64decode(token)
    if not text.startswith("k:"):
        raise InvalidRequest(f"invalid page token {shown(token)}")
    return text[2:]


# ---- key ranges --------------------------------------------------------------------------

_MAX_CODE_POINT = 0x10FFFF
_SURROGATES = range(0xD800, 0xE000)


def prefix_upper_bound(prefix: str) -> str | None:
    """The smallest string greater than every string starting with ``prefix``.

    ``key >= prefix AND key < bound`` selects exactly the keys starting with ``prefix`` under
    code-point (= UTF-8 byte) order, case-sensitively and with no wildcard characters, so an
    index range scan can serve it. None when no bound exists (empty prefix, or only U+10FFFF).
    """
    chars = list(prefix)
    while chars:
        code = ord(chars.pop()) + 1
        if code in _SURROGATES:
            code = _SURROGATES.stop
        if code <= _MAX_CODE_POINT:
            return "".join(chars) + chr(code)
    return None


def escape_like(text: str, escape: str = "\\") -> str:
    """``text`` with LIKE wildcards escaped, for ``LIKE ? ESCAPE '\\'`` prefix patterns."""
    return (
        text.replace(escape, escape + escape).replace("%", escape + "%").replace("_", escape + "_")
    )
