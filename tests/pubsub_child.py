"""A pub/sub component in a child process, for tests that need a second (killable) process.

``python -m tests.pubsub_child '<json>'`` with the JSON keys:

- ``type``: ``pubsub.sqlite`` or ``pubsub.redis``; ``metadata``: its component metadata;
  ``home``: the component's home folder;
- ``mode``: ``publish`` (publish ``count`` messages ``<prefix>-<n>`` to ``topic`` and exit),
  ``consume`` (subscribe ``topic`` in ``group`` and acknowledge every message after appending
  its data, one per line, to ``record``: a line is written before its ACK, so a message may be
  recorded twice, never acknowledged unrecorded), or ``hold`` (record each message and never
  answer: the handler blocks until the process dies);
- ``concurrency``: the subscription's bound (default 8).

A subscriber prints ``ready`` on stdout once subscribed. Appends are single ``os.write`` calls
on an ``O_APPEND`` file: they survive SIGKILL of this process.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

from components.base import ComponentContext
from components.pubsub import Ack, Message, PubSub
from runtime.catalog import CATALOG
from tests.conformance._harness import load_class

__all__ = ["Children", "build", "children", "command", "opened", "record_lines"]


def command(spec: dict[str, Any]) -> list[str]:
    """The argv that runs this module with ``spec``."""
    return [sys.executable, "-m", "tests.pubsub_child", json.dumps(spec)]


def record_lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines() if path.exists() else []


class Children:
    def __init__(self) -> None:
        self.started: list[subprocess.Popen[str]] = []

    def start(self, spec: dict[str, Any]) -> subprocess.Popen[str]:
        """Start a child; a subscriber is returned once it printed ``ready``."""
        child = subprocess.Popen(command(spec), stdout=subprocess.PIPE, text=True)
        self.started.append(child)
        if spec["mode"] != "publish":
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "ready", "the child did not subscribe"
        return child


@contextmanager
def children() -> Iterator[Children]:
    """Children that are killed (if still running) and reaped on exit."""
    found = Children()
    try:
        yield found
    finally:
        for child in found.started:
            if child.poll() is None:
                child.kill()
            child.wait(timeout=10)
            if child.stdout is not None:
                child.stdout.close()


def build(type_: str, metadata: dict[str, Any], home: Path, name: str = "pubsub") -> PubSub:
    (entry,) = [e for e in CATALOG if e.type == type_]
    cls: Any = load_class(entry)
    context = ComponentContext(name=name, app_id="child", namespace="default", home=home)
    component: PubSub = cls(cls.Metadata.model_validate(metadata), context=context)
    return component


@asynccontextmanager
async def opened(
    type_: str, metadata: dict[str, Any], home: Path
) -> AsyncIterator[Callable[..., Awaitable[PubSub]]]:
    """``make(**overrides)``: an initialised ``type_`` component (``metadata`` with
    ``overrides``) in this process; every one is closed on exit, the last first."""
    made: list[PubSub] = []

    async def make(**overrides: Any) -> PubSub:
        pubsub = build(type_, {**metadata, **overrides}, home)
        await pubsub.init()
        made.append(pubsub)
        return pubsub

    try:
        yield make
    finally:
        for pubsub in reversed(made):
            await pubsub.close()


async def _main(spec: dict[str, Any]) -> None:
    pubsub = build(spec["type"], spec["metadata"], Path(spec["home"]))
    await pubsub.init()
    mode = spec["mode"]
    if mode == "publish":
        for n in range(int(spec["count"])):
            await pubsub.publish(spec["topic"], f"{spec['prefix']}-{n}".encode(), metadata={})
        await pubsub.close()
        return
    fd = os.open(spec["record"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    forever = asyncio.Event()

    async def handler(message: Message) -> Ack:
        os.write(fd, message.data + b"\n")
        if mode == "hold":
            await forever.wait()
        return Ack.ACK

    await pubsub.subscribe(
        spec["topic"],
        handler,
        consumer_group=spec["group"],
        metadata={},
        concurrency=int(spec.get("concurrency", 8)),
    )
    print("ready", flush=True)
    await forever.wait()


if __name__ == "__main__":
    asyncio.run(_main(json.loads(sys.argv[1])))
