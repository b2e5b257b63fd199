"""The crash test of issue 9 at component level, shared by the durable components' test files.

A consumer child process (``tests.pubsub_child``, mode ``consume``) records each message it
handles before acknowledging it; it is killed with SIGKILL while working through ``COUNT``
messages, then started again. Every message must be recorded in the end: duplicates are
allowed, losses are not.
"""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from pathlib import Path
from typing import Any

from tests.conformance._harness import eventually
from tests.pubsub_child import build, children, record_lines

__all__ = ["COUNT", "run_crash_test"]

COUNT = 10_000
_KILL_AFTER = 2_000  # recorded messages before the SIGKILL
_CHUNK = 500


async def run_crash_test(
    type_: str, metadata: dict[str, Any], topic: str, tmp: Path
) -> Counter[bytes]:
    """Returns how often each message was handled (every one at least once, or it raises)."""
    record = tmp / "handled.log"
    publisher: Any = build(type_, metadata, tmp)
    await publisher.init()
    try:
        # the group exists before anything is published (it then gets every message)
        await (
            await publisher.subscribe(topic, _never, consumer_group="crash", metadata={})
        ).aclose()
        sent = [f"m-{n}".encode() for n in range(COUNT)]
        for start in range(0, COUNT, _CHUNK):
            await asyncio.gather(
                *(publisher.publish(topic, d, metadata={}) for d in sent[start : start + _CHUNK])
            )
    finally:
        await publisher.close()
    spec = {
        "type": type_,
        "metadata": metadata,
        "home": str(tmp),
        "mode": "consume",
        "topic": topic,
        "group": "crash",
        "record": str(record),
        "concurrency": 16,
    }
    with children() as kids:
        first = kids.start(spec)

        async def under_way() -> bool:
            return len(record_lines(record)) >= _KILL_AFTER

        await eventually(under_way, within=60)
        first.send_signal(signal.SIGKILL)
        await asyncio.to_thread(first.wait, 10)
        handled_before = set(record_lines(record))
        assert len(handled_before) < COUNT, "the consumer finished before it was killed"
        kids.start(spec)

        async def all_handled() -> bool:
            return set(record_lines(record)) >= set(sent)

        await eventually(all_handled, within=90, interval=0.1)
    counts = Counter(record_lines(record))
    assert set(counts) == set(sent)
    return counts


async def _never(_: Any) -> Any:
    raise AssertionError("nothing is delivered to the group-creating subscription")
