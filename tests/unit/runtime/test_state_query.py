"""The state query parser: every wrong shape is a QuerySyntaxError, never a crash."""

from __future__ import annotations

import pytest

from components.errors import InvalidRequest
from components.state import SortKey
from components.state._query import decode_offset_token, encode_offset_token
from runtime.services.state_query import QuerySyntaxError, decode_query, parse_query


def _parse(raw: bytes) -> object:
    return parse_query(decode_query(raw), key_prefix="app||", metadata={})


@pytest.mark.parametrize(
    "raw",
    [
        b'{"sort": true}',
        b'{"sort": "n"}',
        b'{"sort": {"key": "n"}}',
        b'{"sort": [{"key": "n", "order": 1}]}',
        b'{"sort": [{"key": 1}]}',
        b'{"page": []}',
        b'{"page": {"limit": 9223372036854775808}}',
        b'{"page": {"limit": -1}}',
        b'{"page": {"limit": true}}',
        b'{"page": {"token": 3}}',
        b'{"filter": {"EQ": {"a": 1}, "NEQ": {"b": 2}}}',
        b'{"filter": {"EQ": {"a": [1]}}}',
        b'{"filter": {"GT": {"a": null}}}',
        b'{"filter": {"IN": {"a": []}}}',
        b'{"filter": {"AND": {}}}',
        b'{"filter": {"XOR": [{"EQ": {"a": 1}}]}}',
        b'{"filter": {"EQ": {"a..b": 1}}}',
        b'{"filter": ' + b'{"OR":[' * 40 + b'{"EQ":{"a":1}}' + b"]}" * 40 + b"}",
        b"[" * 100_000 + b"]" * 100_000,
        b"\xff",
        b"NaN",
        b"[]",
        b'{"x": 1}',
    ],
)
def test_malformed_queries_are_syntax_errors(raw: bytes) -> None:
    with pytest.raises(QuerySyntaxError):
        _parse(raw)


def test_a_well_formed_query() -> None:
    q = parse_query(
        decode_query(
            b'{"sort": [{"key": "a.b", "order": "desc"}], "page": {"limit": 2, "token": "3"}}'
        ),
        key_prefix="app||",
        metadata={},
    )
    assert q.sort == (SortKey("a.b", descending=True),)
    assert (q.limit, q.token, q.key_prefix) == (2, "3", "app||")


@pytest.mark.parametrize("offset", [0, 1, 3, 10**6, 2**62])
def test_offset_tokens_decimal_and_opaque(offset: int) -> None:
    assert decode_offset_token(str(offset)) == offset
    assert decode_offset_token(encode_offset_token(offset)) == offset


@pytest.mark.parametrize(
    "token", ["-1", "+3", "3.0", " 3", "٣", "9" * 20, str(2**62 + 1), "x" * 5000]
)
def test_bad_offset_tokens(token: str) -> None:
    with pytest.raises(InvalidRequest):
        decode_offset_token(token)
