"""nameresolution.sqlite beyond the contract: an entry whose heartbeat stops expires after its
TTL; its default file is ``$TANDEM_HOME/data/nameresolution.db``."""

from __future__ import annotations

import logging
from pathlib import Path

from components.base import ComponentContext
from components.nameresolution.sqlite import SqliteMetadata, SqliteResolver
from tests.conformance._harness import eventually
from tests.conformance.nameresolution.block import registration


def _resolver(home: Path, **metadata: str) -> SqliteResolver:
    context = ComponentContext(
        name="nr", app_id="a", namespace="", home=home, logger=logging.getLogger("t")
    )
    return SqliteResolver(SqliteMetadata.model_validate(metadata), context=context)


async def test_an_entry_without_heartbeats_expires_after_its_ttl(tmp_path: Path) -> None:
    md = {"ttl": "1s", "heartbeatInterval": "200ms", "cacheTime": "0s"}
    registrar, reader = _resolver(tmp_path, **md), _resolver(tmp_path, **md)
    await registrar.init()
    await reader.init()
    try:
        await registrar.register(registration("frozen", 41001))
        assert [str(a) for a in await reader.resolve("frozen", "default")] == ["127.0.0.1:41001"]
        assert registrar._heartbeat is not None
        registrar._heartbeat.cancel()  # frozen, or on a machine that vanished: no more beats

        async def gone() -> bool:
            return await reader.resolve("frozen", "default") == []

        await eventually(gone, within=10)
    finally:
        await registrar.close()
        await reader.close()
    assert (tmp_path / "data" / "nameresolution.db").is_file()


async def test_heartbeat_must_be_shorter_than_ttl() -> None:
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="shorter than ttl"):
        SqliteMetadata.model_validate({"ttl": "1s", "heartbeatInterval": "2s"})
