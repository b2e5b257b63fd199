"""Issue 9's crash test on ``pubsub.sqlite``: a consumer process killed with SIGKILL while it
handles 10,000 messages, then started again, loses none (``_crash``)."""

from __future__ import annotations

from pathlib import Path

from tests.integration.pubsub._crash import COUNT, run_crash_test


async def test_a_killed_consumer_loses_no_message(tmp_path: Path) -> None:
    metadata = {"connectionString": str(tmp_path / "pubsub.db"), "processingTimeout": "2s"}
    counts = await run_crash_test("pubsub.sqlite", metadata, "orders", tmp_path)
    assert len(counts) == COUNT
