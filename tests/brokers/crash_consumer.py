"""A consumer process for the crash test: subscribes with a pub/sub component and records each
handled message's payload (one line, appended before the ACK) in a file.

``python -m tests.brokers.crash_consumer SPEC_JSON``, SPEC: ``type`` (catalog type),
``metadata`` (component metadata), ``topic``, ``group``, ``record`` (file), ``home``,
``concurrency``. Prints ``ready`` once subscribed, then runs until killed.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from components.base import ComponentContext
from components.pubsub import Ack, Message, PubSub
from runtime.catalog import CATALOG
from tests.conformance._harness import load_class

__all__ = ["build", "main"]


def build(type_: str, metadata: dict[str, Any], home: Path) -> PubSub:
    (entry,) = [e for e in CATALOG if e.type == type_]
    cls = load_class(entry)
    context = ComponentContext(name="crash", app_id="crash", namespace="default", home=home)
    component: PubSub = cls(cls.Metadata.model_validate(metadata), context=context)  # type: ignore[assignment]
    return component


async def _run(spec: dict[str, Any]) -> None:
    pubsub = build(spec["type"], spec["metadata"], Path(spec["home"]))
    await pubsub.init()
    fd = os.open(spec["record"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    async def handle(message: Message) -> Ack:
        os.write(fd, message.data + b"\n")  # one write: whole line or nothing on SIGKILL
        await asyncio.sleep(0)
        return Ack.ACK

    await pubsub.subscribe(
        spec["topic"],
        handle,
        consumer_group=spec["group"],
        metadata={},
        concurrency=int(spec.get("concurrency", 8)),
    )
    print("ready", flush=True)
    await asyncio.Event().wait()


def main() -> None:
    asyncio.run(_run(json.loads(sys.argv[1])))


if __name__ == "__main__":
    main()
