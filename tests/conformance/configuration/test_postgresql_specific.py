"""``configuration.postgresql`` beyond the shared contract: the listening connection comes back
by itself when the server drops it (``pg_terminate_backend``: only this test's connection, the
shared server is untouched), rows too big for a notification still reach subscribers, the
migration is safe to repeat, and a bad ``pgNotifyChannel`` is refused."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from components.configuration import ConfigurationItem, ConfigurationStore
from components.errors import InvalidRequest
from tests.conformance._harness import MakeComponent, eventually
from tests.conformance.configuration.harness import Recorder, Updater
from tests.servers import POSTGRES_DSN

WAIT = 10.0


@pytest.fixture
def pg_store(case: Any, store: ConfigurationStore) -> ConfigurationStore:
    if case.name != "postgresql":
        pytest.skip("configuration.postgresql only")
    return store


async def _listener_pids(store: Any) -> set[int]:
    conn = await asyncpg.connect(POSTGRES_DSN)
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE application_name = $1", store.application_name
        )
        return {r["pid"] for r in rows}
    finally:
        await conn.close()


async def test_the_listener_reconnects_and_reports_missed_changes(
    pg_store: ConfigurationStore, updater: Updater
) -> None:
    await updater.set({"a": ("1", "v1"), "b": ("1", "v1")})
    seen = Recorder()
    await pg_store.subscribe(["a", "b"], seen)
    (pid,) = await _listener_pids(pg_store)

    conn = await asyncpg.connect(POSTGRES_DSN)
    try:
        await conn.execute("SELECT pg_terminate_backend($1)", pid)
    finally:
        await conn.close()
    await updater.set({"a": ("2", "v2")})  # likely before the listener is back
    await updater.delete(["b"])

    async def back() -> bool:
        pids = await _listener_pids(pg_store)
        return bool(pids) and pid not in pids

    await eventually(back, within=WAIT)
    await eventually(
        lambda: _value(seen, "a", ConfigurationItem("2", "v2")), within=WAIT, interval=0.02
    )
    await eventually(lambda: _deleted(seen, "b"), within=WAIT, interval=0.02)
    await updater.set({"a": ("3", "v3")})  # live again
    await eventually(
        lambda: _value(seen, "a", ConfigurationItem("3", "v3")), within=WAIT, interval=0.02
    )


async def _value(seen: Recorder, key: str, item: ConfigurationItem) -> bool:
    return seen.latest().get(key) == item


async def _deleted(seen: Recorder, key: str) -> bool:
    # a delete seen live carries the row's last item; one found by the resync, an empty item
    return key in seen.seen_keys() and seen.latest()[key].value in ("", "1")


async def test_a_row_too_big_to_notify_is_read_back(
    pg_store: ConfigurationStore, updater: Updater
) -> None:
    seen = Recorder()
    await pg_store.subscribe(["big"], seen)
    big = "x" * 20_000
    await updater.set({"big": (big, "v1")})
    await eventually(
        lambda: _value(seen, "big", ConfigurationItem(big, "v1")), within=WAIT, interval=0.02
    )


async def test_a_second_store_on_the_same_table_starts(
    pg_store: ConfigurationStore, make_component: MakeComponent, updater: Updater
) -> None:
    await updater.set({"a": ("1", "v1")})
    other = await make_component()
    assert await other.get(["a"]) == {"a": ConfigurationItem("1", "v1")}


async def test_a_bad_notify_channel_is_refused(pg_store: ConfigurationStore) -> None:
    with pytest.raises(InvalidRequest):
        await pg_store.subscribe(["a"], Recorder(), {"pgNotifyChannel": "x; DROP TABLE y"})


async def test_a_key_the_database_cannot_hold_is_refused(pg_store: ConfigurationStore) -> None:
    with pytest.raises(InvalidRequest):
        await pg_store.get(["a\x00b"])
