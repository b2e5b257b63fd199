"""nameresolution.redis beyond the contract: an entry whose heartbeat stops expires after its
TTL (by the server's clock), the app id's key itself expires once no replica beats, the layout
is one sorted set per app id, and an unreachable server is a clear error."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from pydantic import ValidationError

from components.base import ComponentContext
from components.nameresolution.redis import RedisResolver, RedisResolverMetadata
from tests.conformance._harness import eventually
from tests.conformance.nameresolution.block import registration
from tests.servers import REDIS_URL, require_server, unique

pytestmark = pytest.mark.redis


def _resolver(home: Path, **metadata: str) -> RedisResolver:
    context = ComponentContext(
        name="nr", app_id="a", namespace="", home=home, logger=logging.getLogger("t")
    )
    return RedisResolver(RedisResolverMetadata.model_validate(metadata), context=context)


async def test_an_entry_without_heartbeats_expires_and_so_does_its_key(tmp_path: Path) -> None:
    require_server("redis")
    prefix = f"{unique('nr')}:"
    md = {
        "redisHost": REDIS_URL,
        "keyPrefix": prefix,
        "ttl": "1s",
        "heartbeatInterval": "200ms",
        "cacheTime": "0s",
    }
    registrar, reader = _resolver(tmp_path, **md), _resolver(tmp_path, **md)
    await registrar.init()
    await reader.init()
    host, _, port = REDIS_URL.rpartition(":")
    client = aioredis.Redis(host=host, port=int(port))
    key = f"{prefix}default:frozen"
    try:
        await registrar.register(registration("frozen", 41001))
        assert [str(a) for a in await reader.resolve("frozen", "default")] == ["127.0.0.1:41001"]
        assert await client.type(key) == b"zset"
        assert await client.zcard(key) == 1
        assert registrar._heartbeat is not None
        registrar._heartbeat.cancel()  # frozen, or on a machine that vanished: no more beats

        async def gone() -> bool:
            return await reader.resolve("frozen", "default") == []

        await eventually(gone, within=10)

        async def key_gone() -> bool:
            return not await client.exists(key)

        await eventually(key_gone, within=10)
    finally:
        await registrar.close()
        await reader.close()
        await client.aclose()


async def test_an_unreachable_server_fails_init_clearly(tmp_path: Path) -> None:
    resolver = _resolver(tmp_path, redisHost="127.0.0.1:1", dialTimeout="500ms")
    with pytest.raises(ConnectionError, match=r"nameresolution.redis: cannot use redis"):
        await resolver.init()
    await resolver.close()


@pytest.mark.parametrize(
    ("metadata", "match"),
    [
        ({"ttl": "1s", "heartbeatInterval": "2s"}, "shorter than ttl"),
        ({"redisHost": "a:b:c"}, "redisHost"),
        ({"cacheTime": "-1s"}, "cacheTime"),
    ],
)
def test_bad_metadata_is_refused(metadata: dict[str, str], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        RedisResolverMetadata.model_validate(metadata)
