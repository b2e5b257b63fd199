"""Metadata of ``state.redis``: the names Dapr's redis state store uses, matched case-insensitively.

Empty values count as unset (Dapr manifests often carry ``value: ""``).

- ``redisHost`` (default ``localhost:6379``): ``host:port``, ``[ipv6]:port`` or a bare host (port
  6379).
- ``redisUsername`` / ``redisPassword``: ACL user and password (both optional).
- ``redisDB`` (int >= 0, default 0): the logical database.
- ``enableTLS`` (bool, default false): TLS with certificate verification against the system CAs.
- ``dialTimeout`` (Duration, default 5s): bound on opening one connection.
- ``readTimeout`` (Duration, default 5s): the operation timeout. It bounds every socket read and
  write (the driver has one socket timeout for both) and is the time budget for retrying one
  operation, so an operation against a dead or unresponsive server fails within about that long
  instead of hanging.
- ``writeTimeout`` (Duration, default 5s): accepted for compatibility with Dapr manifests; writes
  are bounded by ``readTimeout`` (``init()`` logs a warning when the two differ).
- ``maxRetries`` (int >= -1, default 3; -1 disables retries): retries of an operation that failed
  with a connection error. ``minRetryBackoff`` / ``maxRetryBackoff`` (Duration, default 8ms /
  512ms) bound the jittered exponential pause between retries.
- ``poolSize`` (int >= 0, default 0 = the driver's unbounded pool): with a positive size, callers
  wait for a free connection up to the operation timeout.
- ``ttlInSeconds`` (int >= -1, optional; -1 or 0 = none): TTL of every written key whose request
  does not give its own ``ttlInSeconds``.
- ``queryIndexes``: accepted and ignored (the query API needs RediSearch, which this store does
  not use); ``init()`` logs a warning when it is set.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, SecretStr, field_validator, model_validator

from components._metadata import Duration
from components.base import BaseMetadata

__all__ = ["DEFAULT_PORT", "RedisStateMetadata", "parse_host_port"]

DEFAULT_PORT = 6379

_BRACKETED = re.compile(r"\[([0-9A-Fa-f:.%A-Za-z]+)\](?::(\d{1,5}))?")
_HOST = re.compile(r"[A-Za-z0-9_.-]+")


def parse_host_port(value: str) -> tuple[str, int]:
    """``(host, port)`` from ``host:port``, ``[ipv6]:port``, ``host`` or ``[ipv6]``.

    Errors never quote the value: a mistyped one may hold a URL with credentials.
    """
    text = value.strip()
    m = _BRACKETED.fullmatch(text)
    if m:
        host, port_text = m.group(1), m.group(2)
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    elif ":" not in text:
        host, port_text = text, None
    else:
        raise ValueError("invalid redisHost: write an IPv6 address as [addr]:port")
    if not host or (not m and not _HOST.fullmatch(host)):
        raise ValueError("invalid redisHost: expected host:port")
    if port_text is not None and not (port_text.isascii() and port_text.isdigit()):
        raise ValueError("invalid redisHost: the port must be a number")
    port = DEFAULT_PORT if port_text is None else int(port_text)
    if not 0 < port < 65536:
        raise ValueError("invalid redisHost: port out of range")
    return host, port


class RedisStateMetadata(BaseMetadata):
    redis_host: str = Field(default="localhost:6379", alias="redisHost")
    redis_username: str | None = Field(default=None, alias="redisUsername")
    redis_password: SecretStr | None = Field(default=None, alias="redisPassword")
    redis_db: int = Field(default=0, alias="redisDB", ge=0)
    enable_tls: bool = Field(default=False, alias="enableTLS")
    dial_timeout: Duration = Field(default=5.0, alias="dialTimeout", gt=0)
    read_timeout: Duration = Field(default=5.0, alias="readTimeout", gt=0)
    write_timeout: Duration = Field(default=5.0, alias="writeTimeout", gt=0)
    max_retries: int = Field(default=3, alias="maxRetries", ge=-1)
    min_retry_backoff: Duration = Field(default=0.008, alias="minRetryBackoff", ge=0)
    max_retry_backoff: Duration = Field(default=0.512, alias="maxRetryBackoff", ge=0)
    pool_size: int = Field(default=0, alias="poolSize", ge=0)
    ttl_in_seconds: int | None = Field(default=None, alias="ttlInSeconds", ge=-1, le=2**31 - 1)
    query_indexes: Any = Field(default=None, alias="queryIndexes")

    @model_validator(mode="before")
    @classmethod
    def _empty_is_unset(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if not (isinstance(v, str) and not v.strip())}
        return data

    @field_validator("redis_host")
    @classmethod
    def _check_host(cls, value: str) -> str:
        parse_host_port(value)
        return value.strip()

    @property
    def address(self) -> tuple[str, int]:
        return parse_host_port(self.redis_host)

    @property
    def operation_timeout(self) -> float:
        """Bound on one socket read or write, and the retry budget of one operation."""
        return self.read_timeout

    @property
    def default_ttl(self) -> int | None:
        ttl = self.ttl_in_seconds
        return ttl if ttl is not None and ttl > 0 else None
