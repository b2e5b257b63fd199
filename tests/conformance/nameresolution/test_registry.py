"""Resolvers that register (REGISTER): entries appear for every instance on the same registry,
go away on unregister and close, and expire when their sidecar dies (dead pid at once, a
silent one after its TTL)."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from components.nameresolution import NameResolutionFeature
from tests.conformance._harness import MakeComponent, eventually, requires
from tests.conformance.nameresolution.block import registration

pytestmark = requires(NameResolutionFeature.REGISTER)


async def settles(resolver: Any, app_id: str, count: int, within: float = 5.0) -> list[str]:
    """The addresses of ``app_id`` once there are ``count`` of them (fails after ``within``)."""
    found: list[str] = []

    async def check() -> bool:
        found[:] = sorted(str(a) for a in await resolver.resolve(app_id, "default"))
        return len(found) == count

    await eventually(check, within=within)
    return found


async def test_another_instance_sees_a_registration(
    resolver: Any, make_component: MakeComponent, key: str
) -> None:
    other = await make_component()
    await resolver.register(registration(key, 41001))
    assert await settles(other, key, 1) == ["127.0.0.1:41001"]


async def test_replicas_all_resolve(make_component: MakeComponent, resolver: Any, key: str) -> None:
    first, second = await make_component(), await make_component()
    await first.register(registration(key, 41001))
    await second.register(registration(key, 41002))
    assert await settles(resolver, key, 2) == ["127.0.0.1:41001", "127.0.0.1:41002"]


async def test_unregister_and_close_withdraw_the_entry(
    make_component: MakeComponent, resolver: Any, key: str
) -> None:
    first = await make_component()
    await first.register(registration(key, 41001))
    await settles(resolver, key, 1)
    await first.unregister()
    await first.unregister()  # idempotent
    assert await settles(resolver, key, 0) == []
    await first.register(registration(key, 41001))
    await first.close()
    assert await settles(resolver, key, 0) == []


async def test_entry_of_a_dead_process_disappears(
    make_component: MakeComponent, resolver: Any, key: str
) -> None:
    child = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await child.wait()  # a pid that no longer runs
    registrar = await make_component()
    await registrar.register(registration(key, 41001, pid=child.pid))
    assert await settles(resolver, key, 0) == []
