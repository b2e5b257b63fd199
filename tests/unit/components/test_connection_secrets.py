"""Errors about a connection string never quote its values (issue 8: secrets in messages).

A malformed libpq string, URL or option, or a mistyped ``redisHost`` holding a URL with
credentials, is refused with a message that names the position or the field, never the text:
a value may be, or contain, the password.
"""

from __future__ import annotations

import pytest

from components.state.postgresql._metadata import PostgresMetadata, parse_connection_string
from components.state.redis._metadata import parse_host_port

SECRET = "hunter2Secret"

BAD_PG = [
    f"host=127.0.0.1 user=postgres password={SECRET} extra dbname=test",  # a space in the value
    f"host=127.0.0.1 password={SECRET}",  # fine so far, then ...
    f"host=127.0.0.1 password='{SECRET}",  # unterminated quote
    f"host=127.0.0.1 {SECRET}",
    f"host=127.0.0.1 password={SECRET} pool_max_conns={SECRET}",
    f"host=127.0.0.1 options='-x {SECRET}'",
    f"host=127.0.0.1 options='-c {SECRET}'",
    f"{SECRET}://user@host/db",
    f"postgresql://user:{SECRET}@host/db?pool_max_conns={SECRET}",
    f"postgresql://user:{SECRET}@host/db?options=-x%20{SECRET}",
]


@pytest.mark.parametrize("text", BAD_PG)
def test_postgres_connection_string_errors_do_not_quote_values(text: str) -> None:
    if text == f"host=127.0.0.1 password={SECRET}":
        parse_connection_string(text)  # valid: the description leaves the password out
        assert SECRET not in parse_connection_string(text).description
        return
    with pytest.raises(ValueError, match=r"connection|pool_max_conns") as info:
        parse_connection_string(text)
    assert SECRET not in str(info.value)


def test_postgres_metadata_validation_errors_do_not_quote_the_string() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as info:
        PostgresMetadata.model_validate({"connectionString": f"host=x password={SECRET} oops"})
    for error in info.value.errors():
        assert SECRET not in error["msg"]


@pytest.mark.parametrize(
    "value",
    [
        f"redis://admin:{SECRET}@host:6379",
        f"admin:{SECRET}@host",
        f"host:{SECRET}",
        f"host:99999{SECRET[:0]}",
    ],
)
def test_redis_host_errors_do_not_quote_the_value(value: str) -> None:
    with pytest.raises(ValueError, match="redisHost") as info:
        parse_host_port(value)
    assert SECRET not in str(info.value)
