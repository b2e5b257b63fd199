"""Issue 9's crash test on ``pubsub.redis``: a consumer process killed with SIGKILL while it
handles 10,000 messages, then started again, loses none (``_crash``); the killed consumer's
pending entries are claimed after ``processingTimeout``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aredis

from tests.integration.pubsub._crash import COUNT, run_crash_test
from tests.servers import REDIS_URL, require_server, unique

pytestmark = pytest.mark.redis


@pytest.fixture
async def topic() -> AsyncIterator[str]:
    require_server("redis")
    name = unique("tandem-crash-")
    yield name
    host, _, port = REDIS_URL.partition(":")
    client = aredis.Redis(host=host, port=int(port or 6379))
    await client.delete(name)
    await client.aclose()


async def test_a_killed_consumer_loses_no_message(topic: str, tmp_path: Path) -> None:
    metadata = {
        "redisHost": REDIS_URL,
        "processingTimeout": "2s",
        "redeliverInterval": "500ms",
    }
    counts = await run_crash_test("pubsub.redis", metadata, topic, tmp_path)
    assert len(counts) == COUNT
