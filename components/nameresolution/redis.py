"""``nameresolution.redis`` (Tandem's type): one registry on a Redis server, for many hosts.

Layout: one sorted set per app id, ``<keyPrefix><namespace>:<app id>`` (both parts
percent-encoded, so no two pairs share a key). A member is one replica (JSON: entry id, host,
port, pid, hostname); its score is the time its entry expires, by the *server's* clock
(``TIME`` in a script), so hosts with skewed clocks agree. A sidecar adds its member on
``register`` and re-scores it every ``heartbeatInterval`` to now + ``ttl``; ``resolve`` is one
read of the members scored after now. The heartbeat also drops expired members and renews the
key's own expiry (``ttl``), so the key of an app id whose replicas all died vanishes.

Why a sorted set rather than a key per replica with a TTL: a resolve is then one O(log n) read
of one key, where per-replica keys need ``SCAN`` over the keyspace (or an index set whose
members cannot expire one by one); expiry is still per replica and exact.

As for ``nameresolution.sqlite``, an entry written on this machine whose pid is gone is
skipped at once (and removed); one from a host that vanished expires after ``ttl``. Answers
are kept ``cacheTime`` in memory; while the server cannot be reached, the last answer serves
for up to ``ttl``, then ``resolve`` raises ConnectionError.

Metadata (connection names as Dapr's Redis components, case-insensitive):
``redisHost`` (``localhost:6379``), ``redisUsername``, ``redisPassword``, ``redisDB`` (0),
``enableTLS`` (false), ``dialTimeout`` (5s), ``readTimeout`` (5s: bounds every call),
``keyPrefix`` (``tandem:nr:``), ``ttl`` (10s), ``heartbeatInterval`` (2s), ``cacheTime`` (1s).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
import uuid
from typing import Any, ClassVar
from urllib.parse import quote

import msgspec
from pydantic import Field, SecretStr, field_validator, model_validator
from redis.asyncio import Redis
from redis.asyncio.connection import Connection, ConnectionPool, SSLConnection
from redis.exceptions import RedisError

from components._metadata import Duration
from components.base import BaseMetadata, ComponentContext, ComponentInfo
from components.nameresolution._api import Address, NameResolutionFeature, Registration
from components.nameresolution.sqlite import pid_alive
from components.state.redis._metadata import parse_host_port

__all__ = ["RedisResolver", "RedisResolverMetadata"]

_MAX_CACHED = 1024

# KEYS[1] the app's set; ARGV: member, ttl (s). Re-scores the member to server now + ttl,
# drops expired members, keeps the key alive for one ttl.
_BEAT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2]) * 1000))
return 1
"""

# KEYS[1] the app's set: its members not yet expired by the server's clock (read only).
_LIVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')
"""


class _Entry(msgspec.Struct, frozen=True):
    id: str
    host: str
    port: int
    pid: int
    hostname: str


class RedisResolverMetadata(BaseMetadata):
    redis_host: str = Field(default="localhost:6379", alias="redisHost")
    redis_username: str | None = Field(default=None, alias="redisUsername")
    redis_password: SecretStr | None = Field(default=None, alias="redisPassword")
    redis_db: int = Field(default=0, alias="redisDB", ge=0)
    enable_tls: bool = Field(default=False, alias="enableTLS")
    dial_timeout: Duration = Field(default=5.0, alias="dialTimeout", gt=0)
    read_timeout: Duration = Field(default=5.0, alias="readTimeout", gt=0)
    key_prefix: str = Field(default="tandem:nr:", alias="keyPrefix")
    ttl: Duration = 10.0
    heartbeat_interval: Duration = Field(default=2.0, alias="heartbeatInterval")
    cache_time: Duration = Field(default=1.0, alias="cacheTime", ge=0)

    @model_validator(mode="before")
    @classmethod
    def _empty_is_unset(cls, data: Any) -> Any:
        if isinstance(data, dict):  # Dapr manifests often carry value: ""
            return {k: v for k, v in data.items() if not (isinstance(v, str) and not v.strip())}
        return data

    @field_validator("redis_host")
    @classmethod
    def _check_host(cls, value: str) -> str:
        parse_host_port(value)
        return value.strip()

    @model_validator(mode="after")
    def _bounds(self) -> RedisResolverMetadata:
        if self.ttl <= 0 or self.heartbeat_interval <= 0:
            raise ValueError("ttl and heartbeatInterval must be positive")
        if self.heartbeat_interval >= self.ttl:
            raise ValueError("heartbeatInterval must be shorter than ttl")
        return self


class RedisResolver:
    info: ClassVar[ComponentInfo] = ComponentInfo(type="nameresolution.redis")
    Metadata: ClassVar[type[BaseMetadata]] = RedisResolverMetadata

    def __init__(self, metadata: RedisResolverMetadata, *, context: ComponentContext) -> None:
        self._md = metadata
        self._ctx = context
        self._log = context.logger
        self._hostname = socket.gethostname()
        self._client: Redis | None = None
        self._beat_sha = ""
        self._live_sha = ""
        self._entry: tuple[str, bytes] | None = None  # (key, member)
        self._heartbeat: asyncio.Task[None] | None = None
        self._cache: dict[tuple[str, str], tuple[float, list[Address]]] = {}

    def features(self) -> frozenset[NameResolutionFeature]:
        return frozenset({NameResolutionFeature.REGISTER})

    def _key(self, app_id: str, namespace: str) -> str:
        return f"{self._md.key_prefix}{quote(namespace, safe='')}:{quote(app_id, safe='')}"

    async def init(self) -> None:
        if self._client is not None:
            return
        md = self._md
        host, port = parse_host_port(md.redis_host)
        client = Redis.from_pool(
            ConnectionPool(
                host=host,
                port=port,
                db=md.redis_db,
                username=md.redis_username,
                password=md.redis_password.get_secret_value() if md.redis_password else None,
                socket_connect_timeout=md.dial_timeout,
                socket_keepalive=True,
                health_check_interval=10,
                protocol=2,
                connection_class=SSLConnection if md.enable_tls else Connection,
            )
        )
        try:
            async with asyncio.timeout(md.dial_timeout + md.read_timeout):
                self._beat_sha = str(await client.script_load(_BEAT))
                self._live_sha = str(await client.script_load(_LIVE))
        except (RedisError, OSError, TimeoutError) as exc:
            await client.aclose()
            raise ConnectionError(
                f"nameresolution.redis: cannot use redis at {md.redis_host} "
                f"(db {md.redis_db}): {type(exc).__name__}"
            ) from None
        self._client = client

    async def close(self) -> None:
        await self.unregister()
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def _script(self, sha: str, source: str, key: str, *args: bytes | float) -> Any:
        """Run a loaded script (loading it again if the server lost it), within readTimeout."""
        if self._client is None:
            raise RuntimeError("nameresolution.redis is not initialised")
        async with asyncio.timeout(self._md.read_timeout):
            try:
                return await self._client.evalsha(sha, 1, key, *args)
            except RedisError as exc:
                if "NOSCRIPT" not in str(exc):
                    raise
                return await self._client.eval(source, 1, key, *args)

    # ---- registry -------------------------------------------------------------------------

    async def register(self, registration: Registration) -> None:
        await self.unregister()
        r = registration
        member = msgspec.json.encode(
            _Entry(uuid.uuid4().hex, r.address.host, r.address.port, r.pid, r.hostname)
        )
        key = self._key(r.app_id, r.namespace)
        await self._script(self._beat_sha, _BEAT, key, member, self._md.ttl)
        self._entry = (key, member)
        self._heartbeat = asyncio.create_task(
            self._beat(key, member), name="nameresolution-redis-heartbeat"
        )

    async def _beat(self, key: str, member: bytes) -> None:
        while True:
            await asyncio.sleep(self._md.heartbeat_interval)
            try:
                await self._script(self._beat_sha, _BEAT, key, member, self._md.ttl)
            except (RedisError, OSError, TimeoutError) as exc:  # the server is away: next beat
                self._log.warning("name resolution heartbeat failed: %s", type(exc).__name__)

    async def unregister(self) -> None:
        task, self._heartbeat = self._heartbeat, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        entry, self._entry = self._entry, None
        if entry is not None and self._client is not None:
            with contextlib.suppress(RedisError, OSError, TimeoutError):
                async with asyncio.timeout(self._md.read_timeout):
                    await self._client.zrem(entry[0], entry[1])

    # ---- lookup ---------------------------------------------------------------------------

    async def resolve(self, app_id: str, namespace: str) -> list[Address]:
        key = (app_id, namespace)
        cached = self._cache.get(key)
        now = time.monotonic()
        if cached is not None and now - cached[0] < self._md.cache_time:
            return list(cached[1])
        try:
            found = await self._lookup(app_id, namespace)
        except (RedisError, OSError, TimeoutError) as exc:
            if cached is not None and now - cached[0] < self._md.ttl:
                return list(cached[1])  # the registry is away: the last answer, while fresh
            raise ConnectionError(
                f"nameresolution.redis: registry unreachable: {type(exc).__name__}"
            ) from None
        if len(self._cache) >= _MAX_CACHED:  # callers may name any number of app ids
            self._cache.clear()
        self._cache[key] = (now, found)
        return list(found)

    async def _lookup(self, app_id: str, namespace: str) -> list[Address]:
        redis_key = self._key(app_id, namespace)
        members = await self._script(self._live_sha, _LIVE, redis_key)
        live: set[Address] = set()
        for raw in members:
            try:
                entry = msgspec.json.decode(raw, type=_Entry)
            except msgspec.DecodeError:
                continue  # not ours: never fail a lookup on it
            if entry.hostname == self._hostname and not pid_alive(entry.pid):
                if self._client is not None:
                    with contextlib.suppress(RedisError, OSError, TimeoutError):
                        await self._client.zrem(redis_key, raw)
                continue
            live.add(Address(entry.host, entry.port))
        return sorted(live)
