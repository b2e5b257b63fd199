"""``flags.file``: a flagd flag-set file (JSON or YAML), watched for edits.

The file is re-read when its size, mtime or inode changes (checked every ``pollInterval``,
default 250 ms, so an edit is served well within a second; works on every filesystem and with
editors that replace the file). A broken edit keeps the last good flags and logs the file,
line and column; a broken file at ``init()`` is an error naming them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path
from typing import ClassVar

from pydantic import Field

from components._metadata import Duration
from components.base import BaseMetadata, ComponentContext, ComponentInfo
from components.flags._document import load_snapshot
from components.flags._source import SourceBase, SourceMetadata
from components.flags.engine import FlagSetError

__all__ = ["FileFlagSource"]


class FileMetadata(SourceMetadata):
    path: Path
    poll_interval: Duration = Field(default=0.25, alias="pollInterval")


class FileFlagSource(SourceBase):
    info: ClassVar[ComponentInfo] = ComponentInfo(type="flags.file")
    Metadata: ClassVar[type[BaseMetadata]] = FileMetadata

    def __init__(self, metadata: FileMetadata, *, context: ComponentContext) -> None:
        super().__init__(metadata, context=context)
        self._path = metadata.path.expanduser()
        self._interval = max(0.01, metadata.poll_interval)
        self._stamp: tuple[int, int, int] | None = None
        self._task: asyncio.Task[None] | None = None

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self._path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _load(self) -> None:
        text = self._path.read_bytes()
        self._publish(
            load_snapshot(
                text, str(self._path), fractional=self.fractional, flag_set_id=self.flag_set_id
            )
        )

    async def init(self) -> None:
        self._stamp = self._stat()
        try:
            self._load()
        except OSError as exc:
            raise FlagSetError(f"{self._path}: {exc.strerror or exc}") from None
        self._task = asyncio.create_task(self._watch(), name=f"flags.file {self._path}")

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            stamp = self._stat()
            if stamp == self._stamp or stamp is None:
                continue  # unchanged, or mid-replace / deleted: keep the last good flags
            self._stamp = stamp
            try:
                self._load()
            except (OSError, FlagSetError) as exc:
                self._log.error("flag file not reloaded, keeping the last good flags: %s", exc)
            else:
                self._log.debug("flag file %s reloaded", self._path)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
