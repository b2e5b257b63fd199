"""``secretstores.redis`` (Tandem's type; Dapr has no Redis secret store): secrets in Redis.

Layout: the secret ``<name>`` is the Redis key ``<prefix><name>``. A hash answers all its
fields (``HSET app-secrets:db user u password p`` -> ``{"user": "u", "password": "p"}``, so
the store declares ``MULTIPLE_KEY_VALUES_PER_SECRET``); a string answers ``{name: value}``.
Bulk reads every key under the prefix (``SCAN``). Values that are not UTF-8 are decoded with
replacement characters. One read is one round trip (a Lua script checks the type and reads).

Metadata (the connection names of ``state.redis``, case-insensitive):

- ``prefix`` (required, non-empty, as for ``secretstores.local.env``; ``keyPrefix`` is the
  runtime's name for state keys): only keys under it are secrets, so the store can never
  expose other data kept in the same database (state, for instance);
- ``redisHost`` (default ``localhost:6379``), ``redisUsername``, ``redisPassword``, ``redisDB``,
  ``enableTLS``;
- ``dialTimeout`` (default 5s): bound on opening a connection;
- ``readTimeout`` (default 5s): bound on one call, retries included: with the server gone a
  call fails within it, and the next call after the server is back reconnects;
- ``maxRetries`` (default 3, -1 for none): retries of a call whose connection broke.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import Field, SecretStr, field_validator, model_validator
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.connection import Connection, SSLConnection
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError

from components._metadata import Duration
from components.base import BaseMetadata, ComponentContext, ComponentInfo
from components.secretstores._api import SecretStoreFeature
from components.state.redis._metadata import parse_host_port

__all__ = ["RedisSecretStore", "RedisSecretStoreMetadata"]

_FEATURES = frozenset({SecretStoreFeature.MULTIPLE_KEY_VALUES_PER_SECRET})
_GLOB_SPECIAL = re.compile(rb"([*?\[\]\\])")
_SCAN_COUNT = 500

# {0} missing; {1, [field, value, ...]} hash; {2, value} string; {3, type} another type
_READ = """
local t = redis.call('TYPE', KEYS[1])['ok']
if t == 'hash' then return {1, redis.call('HGETALL', KEYS[1])} end
if t == 'string' then return {2, redis.call('GET', KEYS[1])} end
if t == 'none' then return {0} end
return {3, t}
"""


class RedisSecretStoreMetadata(BaseMetadata):
    prefix: str = Field(alias="prefix", min_length=1)
    redis_host: str = Field(default="localhost:6379", alias="redisHost")
    redis_username: str | None = Field(default=None, alias="redisUsername")
    redis_password: SecretStr | None = Field(default=None, alias="redisPassword")
    redis_db: int = Field(default=0, alias="redisDB", ge=0)
    enable_tls: bool = Field(default=False, alias="enableTLS")
    dial_timeout: Duration = Field(default=5.0, alias="dialTimeout", gt=0)
    read_timeout: Duration = Field(default=5.0, alias="readTimeout", gt=0)
    max_retries: int = Field(default=3, alias="maxRetries", ge=-1)

    @model_validator(mode="before")
    @classmethod
    def _empty_is_unset(cls, data: Any) -> Any:
        if isinstance(data, dict):  # prefix excepted: an empty one is refused, not defaulted
            return {
                k: v
                for k, v in data.items()
                if k.lower() == "prefix" or not (isinstance(v, str) and not v.strip())
            }
        return data

    @field_validator("redis_host")
    @classmethod
    def _check_host(cls, value: str) -> str:
        parse_host_port(value)
        return value.strip()


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


class RedisSecretStore:
    info: ClassVar[ComponentInfo] = ComponentInfo(type="secretstores.redis")
    Metadata: ClassVar[type[BaseMetadata]] = RedisSecretStoreMetadata

    def __init__(self, metadata: RedisSecretStoreMetadata, *, context: ComponentContext) -> None:
        self._md = metadata
        self._ctx = context
        self._client: Redis | None = None
        self._sha = ""
        self._prefix = metadata.prefix.encode()

    def _build_client(self) -> Redis:
        md = self._md
        host, port = parse_host_port(md.redis_host)
        pool = ConnectionPool(
            host=host,
            port=port,
            db=md.redis_db,
            username=md.redis_username,
            password=md.redis_password.get_secret_value() if md.redis_password else None,
            socket_connect_timeout=md.dial_timeout,
            socket_timeout=None,  # each call is bounded by one asyncio.timeout instead
            socket_keepalive=True,
            retry=Retry(
                ExponentialWithJitterBackoff(base=0.008, cap=0.5),
                max(md.max_retries, 0),
                supported_errors=(RedisConnectionError,),
            ),
            health_check_interval=10,
            decode_responses=False,
            protocol=2,
            connection_class=SSLConnection if md.enable_tls else Connection,
        )
        return Redis.from_pool(pool)

    async def init(self) -> None:
        if self._client is not None:
            return
        md = self._md
        client = self._build_client()
        try:
            async with asyncio.timeout(md.dial_timeout + md.read_timeout):
                await client.ping()
                sha = await client.script_load(_READ)
        except (RedisError, OSError, TimeoutError) as exc:
            await client.aclose()
            raise ConnectionError(
                f"secretstores.redis {self._ctx.name}: cannot use redis at {md.redis_host} "
                f"(db {md.redis_db}): {type(exc).__name__}"
            ) from None
        self._client = client
        self._sha = str(sha)

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    def features(self) -> frozenset[SecretStoreFeature]:
        return _FEATURES

    async def _read(self, client: Redis, key: bytes) -> Any:
        """One EVALSHA of the read script (loaded again if the server lost it: a restart)."""
        try:
            return await client.execute_command("EVALSHA", self._sha, 1, key)  # type: ignore[no-untyped-call]
        except NoScriptError:
            await client.script_load(_READ)
            return await client.execute_command("EVALSHA", self._sha, 1, key)  # type: ignore[no-untyped-call]

    @staticmethod
    def _decode(name: str, reply: Any) -> dict[str, str] | None:
        kind = int(reply[0])
        if kind == 0:
            return None
        if kind == 1:
            flat = reply[1]
            return {_text(flat[i]): _text(flat[i + 1]) for i in range(0, len(flat), 2)}
        if kind == 2:
            return {name: _text(reply[1])}
        raise TypeError(f"the key of secret {name!r} is a Redis {_text(reply[1])}, not a hash")

    async def get(self, name: str, metadata: Mapping[str, str]) -> dict[str, str] | None:
        client = self._require()
        key = self._prefix + name.encode("utf-8", "surrogatepass")
        async with asyncio.timeout(self._md.read_timeout):
            reply = await self._read(client, key)
        return self._decode(name, reply)

    async def bulk_get(self, metadata: Mapping[str, str]) -> dict[str, dict[str, str]]:
        client = self._require()
        pattern = _GLOB_SPECIAL.sub(rb"\\\1", self._prefix) + b"*"
        out: dict[str, dict[str, str]] = {}
        async with asyncio.timeout(self._md.read_timeout):
            cursor = 0
            while True:
                cursor, batch = await client.scan(cursor, match=pattern, count=_SCAN_COUNT)
                keys = [k if isinstance(k, bytes) else k.encode() for k in batch]
                names = [_text(k[len(self._prefix) :]) for k in keys]
                for name, key in zip(names, keys, strict=True):
                    reply = await self._read(client, key)
                    if int(reply[0]) in (1, 2):  # gone since the scan, or not a secret's type
                        found = self._decode(name, reply)
                        if found is not None:
                            out[name] = found
                if cursor == 0:
                    return out

    def _require(self) -> Redis:
        if self._client is None:
            raise RuntimeError(f"secretstores.redis {self._ctx.name} is not initialized")
        return self._client
