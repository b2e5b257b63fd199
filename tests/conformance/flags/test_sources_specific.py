"""Behaviour of the file and HTTP flag sources beyond the shared contract: reloads, broken
updates (last good flags kept, logged with where), start-up failures that name the origin."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from components.base import ComponentContext
from components.flags.engine import FlagSetError
from components.flags.file import FileFlagSource
from components.flags.http import HttpFlagSource
from tests.conformance._harness.waiting import eventually


def doc(variant: str) -> dict[str, Any]:
    return {
        "flags": {
            "f": {"state": "ENABLED", "variants": {"a": 1, "b": 2}, "defaultVariant": variant}
        }
    }


def context(tmp_path: Path) -> ComponentContext:
    return ComponentContext(name="flags", app_id="app", namespace="", home=tmp_path)


def replace(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)


async def test_file_edit_is_published(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "flags.json"
    path.write_text(json.dumps(doc("a")))
    meta = FileFlagSource.Metadata.model_validate({"path": str(path), "pollInterval": "20ms"})
    source = FileFlagSource(meta, context=context(tmp_path))  # type: ignore[arg-type]
    await source.init()
    try:
        calls: list[None] = []
        source.subscribe(lambda: calls.append(None))
        replace(path, json.dumps(doc("b")))
        await eventually(lambda: calls, within=5, interval=0.01)
        assert source.flags().document["flags"]["f"]["defaultVariant"] == "b"
        with caplog.at_level(logging.ERROR):
            replace(path, '{"flags":\n  {"f": }}')
            await eventually(lambda: f"{path}:2:9" in caplog.text, within=5, interval=0.01)
        assert source.flags().document["flags"]["f"]["defaultVariant"] == "b"
        assert len(calls) == 1
        replace(path, "flags:\n  f: {state: ENABLED, variants: {a: 1}, defaultVariant: a}\n")
        await eventually(lambda: len(calls) == 2, within=5, interval=0.01)
    finally:
        await source.close()


async def test_file_missing_at_start_up_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.json"
    meta = FileFlagSource.Metadata.model_validate({"path": str(path)})
    source = FileFlagSource(meta, context=context(tmp_path))  # type: ignore[arg-type]
    with pytest.raises(FlagSetError, match=str(path)):
        await source.init()
    await source.close()


def test_the_bucketing_generation_is_an_option() -> None:
    meta = FileFlagSource.Metadata.model_validate({"path": "x", "fractional": "v2"})
    assert meta.fractional == "v2"  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="fractional"):
        FileFlagSource.Metadata.model_validate({"path": "x", "fractional": "v1"})


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, dict[str, Any]]]:
    state: dict[str, Any] = {"body": json.dumps(doc("a")), "status": 200, "conditional": 0}

    async def handler(request: web.Request) -> web.Response:
        etag = f'"{hash(state["body"]) & 0xFFFF}"'
        if request.headers.get("If-None-Match") == etag:
            state["conditional"] += 1
            return web.Response(status=304)
        return web.Response(status=state["status"], text=state["body"], headers={"ETag": etag})

    app = web.Application()
    app.router.add_get("/flags.json", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}/flags.json", state
    await runner.cleanup()


async def test_http_polls_with_etag_and_keeps_the_last_good_flags(
    server: tuple[str, dict[str, Any]], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url, state = server
    meta = HttpFlagSource.Metadata.model_validate({"url": url, "pollInterval": "20ms"})
    source = HttpFlagSource(meta, context=context(tmp_path))  # type: ignore[arg-type]
    await source.init()
    try:
        # unchanged: answered 304
        await eventually(lambda: state["conditional"] >= 2, within=5, interval=0.01)
        calls: list[None] = []
        source.subscribe(lambda: calls.append(None))
        state["body"] = json.dumps(doc("b"))
        await eventually(lambda: calls, within=5, interval=0.01)
        assert source.flags().document["flags"]["f"]["defaultVariant"] == "b"
        with caplog.at_level(logging.ERROR):
            state["body"] = "{broken"
            await eventually(lambda: f"{url}:1:2" in caplog.text, within=5, interval=0.01)
            state["status"] = 500
            await eventually(lambda: "HTTP 500" in caplog.text, within=5, interval=0.01)
        assert source.flags().document["flags"]["f"]["defaultVariant"] == "b"
    finally:
        await source.close()


async def test_http_unreachable_at_start_up_names_the_url(tmp_path: Path) -> None:
    from tests.integration.harness import free_port

    url = f"http://127.0.0.1:{free_port()}/flags.json"
    meta = HttpFlagSource.Metadata.model_validate({"url": url})
    source = HttpFlagSource(meta, context=context(tmp_path))  # type: ignore[arg-type]
    with pytest.raises(FlagSetError, match=url):
        await source.init()
    await source.close()
