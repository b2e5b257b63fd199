"""The cyclic garbage collector is paused during start-up only (issue 15: start-up CPU)."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path

import pytest

from runtime.config import SidecarConfig
from runtime.lifecycle import Sidecar, _GcPause
from runtime.resources.issues import ConfigError


def test_a_pause_resumes_only_what_it_paused() -> None:
    assert gc.isenabled()
    outer = _GcPause()
    inner = _GcPause()  # e.g. a second sidecar in the process
    assert not gc.isenabled()
    inner.end()
    assert not gc.isenabled()
    outer.end()
    assert gc.isenabled()
    outer.end()  # idempotent
    assert gc.isenabled()


def test_a_failed_start_resumes_the_collector(tmp_path: Path) -> None:
    config = SidecarConfig(app_id="gc", home=tmp_path, config_paths=(tmp_path / "missing.yaml",))
    with pytest.raises(ConfigError, match=r"missing\.yaml"):
        asyncio.run(Sidecar(config, env={}).run())
    assert gc.isenabled()


def test_the_collector_runs_once_outbound_ready(tmp_path: Path) -> None:
    from tests.integration.harness import free_port
    from tests.waiting import eventually

    config = SidecarConfig(
        app_id="gc",
        home=tmp_path,
        http_port=free_port(),
        grpc_port=free_port(),
        metrics_port=free_port(),
        enable_mtls=False,
    )

    async def main() -> None:
        sidecar = Sidecar(config, env={})
        task = asyncio.create_task(sidecar.run())
        await eventually(lambda: sidecar.status.outbound_ready or task.done(), within=60)
        assert sidecar.status.outbound_ready, task.result()
        assert gc.isenabled()
        sidecar.status.request_shutdown()
        assert await task == 0

    asyncio.run(main())
