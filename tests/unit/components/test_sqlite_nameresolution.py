"""``nameresolution.sqlite``: calls that miss the cache together share one lookup."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from pathlib import Path

from components.base import ComponentContext
from components.nameresolution import Address, Registration
from components.nameresolution.sqlite import SqliteMetadata, SqliteResolver


async def test_concurrent_misses_share_one_lookup(tmp_path: Path) -> None:
    context = ComponentContext(
        name="nr",
        app_id="me",
        namespace="",
        home=tmp_path,
        logger=logging.getLogger("test"),
    )
    resolver = SqliteResolver(SqliteMetadata(), context=context)
    await resolver.init()
    try:
        await resolver.register(
            Registration(
                app_id="callee",
                namespace="",
                address=Address("127.0.0.1", 50001),
                pid=os.getpid(),
                hostname=socket.gethostname(),
            )
        )
        lookups = 0
        real = resolver._lookup

        def counted(app_id: str, namespace: str) -> list[Address]:
            nonlocal lookups
            lookups += 1
            return real(app_id, namespace)

        resolver._lookup = counted  # type: ignore[method-assign]
        found = await asyncio.gather(*(resolver.resolve("callee", "") for _ in range(16)))
        assert found == [[Address("127.0.0.1", 50001)]] * 16
        assert lookups == 1
        assert await resolver.resolve("callee", "") == [Address("127.0.0.1", 50001)]
        assert lookups == 1  # cached
        assert await resolver.resolve("nobody", "") == []
    finally:
        await resolver.close()
