"""``flags.http``: a flagd flag-set document fetched over HTTP(S), polled with ETag.

Every ``pollInterval`` (default 5 s, flagd's) the URL is fetched with ``If-None-Match``; 304 or
an unchanged body keeps the flags. A failed or broken fetch after start-up keeps the last good
flags and logs why; at ``init()`` it is an error naming the URL.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import ClassVar

import aiohttp
from pydantic import Field

from components._metadata import Duration
from components.base import BaseMetadata, ComponentContext, ComponentInfo
from components.flags._document import MAX_DOCUMENT_BYTES, load_snapshot
from components.flags._source import SourceBase, SourceMetadata
from components.flags.engine import FlagSetError

__all__ = ["HttpFlagSource"]


class HttpMetadata(SourceMetadata):
    url: str = Field(pattern=r"^https?://")
    poll_interval: Duration = Field(default=5.0, alias="pollInterval")
    timeout: Duration = 10.0
    auth_header: str | None = Field(default=None, alias="authHeader")  # Authorization value


class HttpFlagSource(SourceBase):
    info: ClassVar[ComponentInfo] = ComponentInfo(type="flags.http")
    Metadata: ClassVar[type[BaseMetadata]] = HttpMetadata

    def __init__(self, metadata: HttpMetadata, *, context: ComponentContext) -> None:
        super().__init__(metadata, context=context)
        self._url = metadata.url
        self._interval = max(0.01, metadata.poll_interval)
        self._timeout = aiohttp.ClientTimeout(total=metadata.timeout)
        self._headers = {"Authorization": metadata.auth_header} if metadata.auth_header else {}
        self._etag: str | None = None
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None

    async def _fetch(self) -> None:
        assert self._session is not None
        headers = dict(self._headers)
        if self._etag:
            headers["If-None-Match"] = self._etag
        async with self._session.get(self._url, headers=headers) as resp:
            if resp.status == 304:
                return
            if resp.status != 200:
                raise FlagSetError(f"{self._url}: HTTP {resp.status}")
            body = await resp.content.read(MAX_DOCUMENT_BYTES + 1)
            snapshot = load_snapshot(
                body, self._url, fractional=self.fractional, flag_set_id=self.flag_set_id
            )
            self._publish(snapshot)
            self._etag = resp.headers.get("ETag")

    async def init(self) -> None:
        self._session = aiohttp.ClientSession(timeout=self._timeout)
        try:
            await self._fetch()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise FlagSetError(f"{self._url}: {type(exc).__name__}: {exc}") from None
        self._task = asyncio.create_task(self._poll(), name=f"flags.http {self._url}")

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self._fetch()
            except (aiohttp.ClientError, TimeoutError, FlagSetError) as exc:
                self._log.error("flags not refreshed, keeping the last good ones: %s", exc)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None
