"""``flags.file``: a flagd flag-set file (JSON or YAML), watched for edits.

The file is re-read when its size, mtime or inode changes (checked every ``pollInterval``,
default 250 ms, so an edit is served well within a second; ``components._filewatch`` works on
every filesystem and with editors that replace the file; a file that disappears keeps the
last good flags). A broken edit keeps the last good flags and logs the file,
line and column; a broken file at ``init()`` is an error naming them.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import ClassVar

from pydantic import Field

from components._filewatch import FileStamp, FileWatcher, file_stamp
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
        self._watcher = FileWatcher(
            self._path,
            max(0.01, metadata.poll_interval),
            self._changed,
            logger=context.logger,
            report_missing=False,  # mid-replace or deleted: keep the last good flags
        )

    def _load(self) -> None:
        text = self._path.read_bytes()
        self._publish(
            load_snapshot(
                text, str(self._path), fractional=self.fractional, flag_set_id=self.flag_set_id
            )
        )

    async def init(self) -> None:
        stamp: FileStamp | None = None
        with contextlib.suppress(OSError):  # then _load names the problem
            stamp = file_stamp(self._path)
        try:
            self._load()
        except OSError as exc:
            raise FlagSetError(f"{self._path}: {exc.strerror or exc}") from None
        self._watcher.start(stamp, name=f"flags.file {self._path}")

    async def _changed(self, _: FileStamp | None) -> None:
        try:
            self._load()
        except (OSError, FlagSetError) as exc:
            self._log.error("flag file not reloaded, keeping the last good flags: %s", exc)
        else:
            self._log.debug("flag file %s reloaded", self._path)

    async def close(self) -> None:
        await self._watcher.close()
