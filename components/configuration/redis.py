"""``configuration.redis``: items are Redis strings ``value||version``, watched by keyspace events.

As Dapr's component: a key's value ``v||7`` is the item ``{value: "v", version: "7"}`` (no
``||``: the whole string is the value, version empty); keys holding other types are ignored;
a deleted or expired key is reported as an empty item. Changes are seen through keyspace
notifications (``__keyspace@<db>__:<key>``).

Metadata: Dapr's names ``redisHost``, ``redisUsername``, ``redisPassword``, ``redisDB``,
``enableTLS``, ``dialTimeout``, ``readTimeout`` (bound on every call), and Tandem's
``itemPrefix`` (default none, as Dapr): only keys starting with it are items, named without
it, so several apps or tests can share one database (not ``keyPrefix``: the runtime reserves
that name for state key prefixes). Dapr's pool and retry settings are accepted and ignored.

Keyspace notifications: Dapr's component sets ``notify-keyspace-events`` to ``Kg$xe`` at start.
Tandem reads the setting first and adds only the flags it lacks (keeping flags others rely on);
when ``CONFIG`` is not allowed (managed Redis) it logs what to set and goes on.

Reconnection: the listener reconnects with backoff (50 ms doubling to 2 s) and then reports
what changed meanwhile (see ``components.configuration._api``).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from pydantic import Field, SecretStr
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError, ResponseError

from components._metadata import Duration
from components.base import BaseMetadata, ComponentContext, ComponentInfo, Stability
from components.configuration._api import (
    ConfigurationFeature,
    ConfigurationItem,
    UpdateHandler,
)
from components.configuration._subscriptions import DELETED, Subscriptions
from components.state.redis._metadata import parse_host_port

__all__ = ["RedisConfigurationMetadata", "RedisConfigurationStore", "parse_value"]

SEPARATOR = "||"
NEEDED_EVENTS = "Kg$xe"  # keyspace channel; generic (del, rename), string, expired, evicted
_DELETE_EVENTS = frozenset({"del", "expired", "evicted", "rename_from", "move_from"})
_WRITE_EVENTS = frozenset(
    {"set", "setrange", "incrby", "incrbyfloat", "append", "rename_to", "restore", "copy_to"}
    | {"move_to", "getdel"}
)
_BATCH = 500
_GLOB = re.compile(r"([*?\[\]\\])")


class RedisConfigurationMetadata(BaseMetadata):
    redis_host: str = Field(default="localhost:6379", alias="redisHost")
    redis_username: str | None = Field(default=None, alias="redisUsername")
    redis_password: SecretStr | None = Field(default=None, alias="redisPassword")
    redis_db: int = Field(default=0, alias="redisDB", ge=0)
    enable_tls: bool = Field(default=False, alias="enableTLS")
    dial_timeout: Duration = Field(default=5.0, alias="dialTimeout", gt=0)
    read_timeout: Duration = Field(default=5.0, alias="readTimeout", gt=0)
    item_prefix: str = Field(default="", alias="itemPrefix")
    max_retries: int | None = Field(default=None, alias="maxRetries")
    pool_size: int | None = Field(default=None, alias="poolSize")


def parse_value(text: str) -> ConfigurationItem:
    """Dapr's layout: ``value||version`` (the last ``||`` separates them)."""
    value, sep, version = text.rpartition(SEPARATOR)
    return ConfigurationItem(value=value, version=version) if sep else ConfigurationItem(text)


def missing_events(current: str) -> str:
    """The flags of ``NEEDED_EVENTS`` that ``current`` lacks (``A`` stands for g$lshzxet...)."""
    have = set(current)
    if "A" in have:
        have |= set("g$lshzxetd")
    return "".join(f for f in NEEDED_EVENTS if f not in have)


class RedisConfigurationStore:
    info: ClassVar[ComponentInfo] = ComponentInfo(
        type="configuration.redis", stability=Stability.ALPHA
    )
    Metadata: ClassVar[type[BaseMetadata]] = RedisConfigurationMetadata

    def __init__(self, metadata: RedisConfigurationMetadata, *, context: ComponentContext) -> None:
        self._md = metadata
        self._ctx = context
        self._log = context.logger
        self._host, self._port = parse_host_port(metadata.redis_host)
        self._client: Redis | None = None
        self._subs = Subscriptions()
        self._listener: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()
        self._channel = f"__keyspace@{metadata.redis_db}__:{metadata.item_prefix}"
        self._budget = metadata.read_timeout

    def features(self) -> frozenset[ConfigurationFeature]:
        return frozenset()

    # ---- lifecycle ------------------------------------------------------------------------

    async def init(self) -> None:
        if self._client is not None:
            return
        md = self._md
        client = Redis(
            host=self._host,
            port=self._port,
            db=md.redis_db,
            username=md.redis_username,
            password=md.redis_password.get_secret_value() if md.redis_password else None,
            socket_connect_timeout=md.dial_timeout,
            socket_keepalive=True,
            health_check_interval=10,
            # No silent reconnects: the listener must see a lost connection to resync.
            retry=Retry(NoBackoff(), 0),
            ssl=md.enable_tls,
            decode_responses=True,
            encoding_errors="replace",
        )
        try:
            async with asyncio.timeout(md.dial_timeout + self._budget):
                await client.ping()
                await self._enable_notifications(client)
        except (RedisError, OSError, TimeoutError) as exc:
            await client.aclose()
            raise ConnectionError(
                f"configuration.redis {self._ctx.name}: cannot use redis at "
                f"{self._host}:{self._port} (db {md.redis_db}): {exc}"
            ) from exc
        self._client = client

    async def _enable_notifications(self, client: Redis) -> None:
        try:
            found = await client.config_get("notify-keyspace-events")
            current = str(found.get("notify-keyspace-events", ""))
            missing = missing_events(current)
            if missing:
                await client.config_set("notify-keyspace-events", current + missing)
        except ResponseError as exc:
            self._log.warning(
                "configuration.redis %s: cannot enable keyspace notifications (%s); set "
                "notify-keyspace-events to include %s on the server, or changes go unseen",
                self._ctx.name,
                exc,
                NEEDED_EVENTS,
            )

    async def close(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    def _redis(self) -> Redis:
        if self._client is None:
            raise RuntimeError("configuration.redis is not initialised")
        return self._client

    # ---- reads ----------------------------------------------------------------------------

    async def get(
        self, keys: Sequence[str], metadata: Mapping[str, str] | None = None
    ) -> dict[str, ConfigurationItem]:
        async with asyncio.timeout(self._budget):
            return await self._get(keys)

    async def _get(self, keys: Sequence[str]) -> dict[str, ConfigurationItem]:
        client, prefix = self._redis(), self._md.item_prefix
        if not keys:
            keys = [
                str(k)[len(prefix) :]
                async for k in client.scan_iter(
                    match=_GLOB.sub(r"\\\1", prefix) + "*", count=1000, _type="string"
                )
            ]
        found: dict[str, ConfigurationItem] = {}
        for start in range(0, len(keys), _BATCH):
            batch = keys[start : start + _BATCH]
            values = await client.mget([prefix + k for k in batch])
            found.update(
                {
                    k: parse_value(str(v))
                    for k, v in zip(batch, values, strict=True)
                    if v is not None
                }
            )
        return found

    # ---- subscriptions --------------------------------------------------------------------

    async def subscribe(
        self,
        keys: Sequence[str],
        handler: UpdateHandler,
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        if self._listener is None:
            self._listener = asyncio.create_task(self._listen(), name="configuration.redis")
        try:
            async with asyncio.timeout(self._md.dial_timeout + self._budget):
                await self._listening.wait()
        except TimeoutError:
            raise ConnectionError(
                f"configuration.redis {self._ctx.name}: cannot watch keys: redis at "
                f"{self._host}:{self._port} is unreachable"
            ) from None
        return self._subs.add(keys, handler, await self.get(keys), metadata)

    async def unsubscribe(self, subscription_id: str) -> None:
        self._subs.remove(subscription_id)

    async def _listen(self) -> None:
        backoff, reconnect, warned = 0.05, False, False
        while True:
            pubsub = self._redis().pubsub()
            try:
                async with asyncio.timeout(self._md.dial_timeout + self._budget):
                    if reconnect:  # a restarted server may have lost the setting
                        await self._enable_notifications(self._redis())
                    await pubsub.psubscribe(_GLOB.sub(r"\\\1", self._channel) + "*")
                    while await pubsub.get_message(timeout=self._budget) is None:
                        pass  # the psubscribe confirmation
                if reconnect and self._subs:
                    watched = self._subs.watched()
                    current = await self.get(sorted(watched) if watched is not None else [])
                    self._subs.resync(current, watched)
                    self._log.info("configuration.redis %s: watching again", self._ctx.name)
                self._listening.set()
                backoff, reconnect, warned = 0.05, True, False
                while True:
                    msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if msg is not None:
                        await self._on_event(msg)
            except Exception as exc:  # whatever it was, keep watching: reconnect and resync
                self._listening.clear()
                reconnect = True
                if not isinstance(exc, RedisError | OSError | TimeoutError):
                    self._log.exception("configuration.redis %s: listener failed", self._ctx.name)
                if not warned:
                    self._log.warning(
                        "configuration.redis %s: lost keyspace notifications (%s); reconnecting",
                        self._ctx.name,
                        exc,
                    )
                    warned = True
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 2.0)

    async def _on_event(self, msg: dict[str, Any]) -> None:
        channel, event = str(msg["channel"]), str(msg["data"])
        key = channel[len(self._channel) :]
        if event in _DELETE_EVENTS:
            self._subs.publish({key: DELETED}, deleted=[key])
        elif event in _WRITE_EVENTS:
            try:
                async with asyncio.timeout(self._budget):
                    raw = await self._redis().get(self._md.item_prefix + key)
            except ResponseError:  # WRONGTYPE: not a configuration item
                return
            if raw is None:
                self._subs.publish({key: DELETED}, deleted=[key])
            else:
                self._subs.publish({key: parse_value(str(raw))})
