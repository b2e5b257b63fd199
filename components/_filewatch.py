"""Watching one file by polling its ``stat``: shared by the file-backed components.

A file's ``FileStamp`` (device, inode, size, mtime in ns) is checked every ``interval``; when
it differs from the last one seen, ``on_change(stamp)`` runs and the new stamp is remembered
(so each change is reported once, even when handling it fails). Polling, not inotify: it needs
no native dependency, sees atomic replacements (editors and ``kubectl``-style renames) and works
on bind mounts and network file systems where inotify stays silent; one ``stat`` per poll
costs microseconds.

A missing file has the stamp None: reported (and remembered) when ``report_missing``, otherwise
ignored until the file is back (the last good content stays). A file that cannot be stat'ed
for another reason (permissions) is skipped until the next poll. ``on_change`` handles its own
expected errors; anything else it raises is logged and the watch goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import NamedTuple

__all__ = ["FileStamp", "FileWatcher", "file_stamp"]


class FileStamp(NamedTuple):
    dev: int
    ino: int
    size: int
    mtime_ns: int


def file_stamp(path: Path) -> FileStamp | None:
    """The file's stamp, None when it does not exist; other ``OSError`` propagates."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return FileStamp(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


class FileWatcher:
    """Calls ``on_change(stamp)`` once per change of ``path``'s stamp, between ``start`` and
    ``close``."""

    def __init__(
        self,
        path: Path,
        interval: float,
        on_change: Callable[[FileStamp | None], Awaitable[None]],
        *,
        logger: logging.Logger,
        report_missing: bool,
    ) -> None:
        self._path = path
        self._interval = interval
        self._on_change = on_change
        self._log = logger
        self._report_missing = report_missing
        self._seen: FileStamp | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None

    def start(self, seen: FileStamp | None, *, name: str) -> None:
        """Watch for changes from ``seen`` (the stamp of the content already loaded)."""
        if self._task is None:
            self._seen = seen
            self._task = asyncio.create_task(self._run(), name=name)

    async def close(self) -> None:
        """Stop watching; idempotent."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                stamp = file_stamp(self._path)
            except OSError:
                continue  # unreadable for now: try again at the next poll
            if stamp == self._seen or (stamp is None and not self._report_missing):
                continue
            self._seen = stamp
            try:
                await self._on_change(stamp)
            except Exception:
                self._log.exception("handling a change of %s failed", self._path)
