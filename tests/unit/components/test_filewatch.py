"""The shared file watcher (components/_filewatch.py): one report per change of the stamp."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from components._filewatch import FileStamp, FileWatcher, file_stamp
from tests.conformance._harness.waiting import eventually

LOG = logging.getLogger("test.filewatch")


class Recorder:
    def __init__(self) -> None:
        self.seen: list[FileStamp | None] = []
        self.fail = False

    async def __call__(self, stamp: FileStamp | None) -> None:
        self.seen.append(stamp)
        if self.fail:
            raise RuntimeError("handler failed")

    async def reported(self, count: int) -> None:
        async def enough() -> bool:
            return len(self.seen) >= count

        await eventually(enough, within=5, interval=0.01)


def _touch(path: Path, text: str, mtime_ns: int) -> None:
    path.write_text(text)
    os.utime(path, ns=(mtime_ns, mtime_ns))  # a distinct stamp on any file system clock


@pytest.fixture
async def watched(tmp_path: Path) -> AsyncIterator[tuple[Path, Recorder, list[FileWatcher]]]:
    watchers: list[FileWatcher] = []
    yield tmp_path / "f.yaml", Recorder(), watchers
    for w in watchers:
        await w.close()


def _start(path: Path, rec: Recorder, watchers: list[FileWatcher], *, missing: bool) -> None:
    w = FileWatcher(path, 0.01, rec, logger=LOG, report_missing=missing)
    watchers.append(w)
    w.start(file_stamp(path), name="test watch")


async def test_each_edit_is_reported_once_with_its_stamp(
    watched: tuple[Path, Recorder, list[FileWatcher]],
) -> None:
    path, rec, watchers = watched
    _touch(path, "a", 1_000_000_000)
    _start(path, rec, watchers, missing=True)
    _touch(path, "bb", 2_000_000_000)
    await rec.reported(1)
    _touch(path, "ccc", 3_000_000_000)
    await rec.reported(2)
    assert [s.size if s else None for s in rec.seen] == [2, 3]
    assert rec.seen[-1] == file_stamp(path)


async def test_an_atomic_replacement_is_reported(
    watched: tuple[Path, Recorder, list[FileWatcher]],
) -> None:
    path, rec, watchers = watched
    _touch(path, "a", 1_000_000_000)
    _start(path, rec, watchers, missing=True)
    new = path.with_suffix(".tmp")
    _touch(new, "b", 1_000_000_000)  # same size and mtime: only the inode differs
    new.replace(path)
    await rec.reported(1)
    assert rec.seen == [file_stamp(path)]


async def test_a_missing_file_is_reported_when_asked(
    watched: tuple[Path, Recorder, list[FileWatcher]],
) -> None:
    path, rec, watchers = watched
    _touch(path, "a", 1_000_000_000)
    _start(path, rec, watchers, missing=True)
    path.unlink()
    await rec.reported(1)
    _touch(path, "a", 2_000_000_000)
    await rec.reported(2)
    assert rec.seen == [None, file_stamp(path)]


async def test_a_missing_file_is_ignored_otherwise(
    watched: tuple[Path, Recorder, list[FileWatcher]],
) -> None:
    path, rec, watchers = watched
    _touch(path, "a", 1_000_000_000)
    _start(path, rec, watchers, missing=False)
    path.unlink()
    # the reappearing file is the first report: the absence never was one
    _touch(path, "b", 2_000_000_000)
    await rec.reported(1)
    assert rec.seen == [file_stamp(path)]


async def test_a_failing_handler_is_logged_and_the_watch_goes_on(
    watched: tuple[Path, Recorder, list[FileWatcher]], caplog: pytest.LogCaptureFixture
) -> None:
    path, rec, watchers = watched
    _touch(path, "a", 1_000_000_000)
    _start(path, rec, watchers, missing=True)
    rec.fail = True
    _touch(path, "b", 2_000_000_000)
    await rec.reported(1)
    rec.fail = False
    _touch(path, "c", 3_000_000_000)
    await rec.reported(2)
    assert "handling a change of" in caplog.text


async def test_close_is_idempotent_and_stops_the_watch(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    rec = Recorder()
    watcher = FileWatcher(path, 0.01, rec, logger=LOG, report_missing=True)
    await watcher.close()  # never started
    watcher.start(None, name="test watch")
    running = watcher.running
    task = next(t for t in asyncio.all_tasks() if t.get_name() == "test watch")
    await watcher.close()
    await watcher.close()
    assert (running, watcher.running, task.done()) == (True, False, True)


def test_file_stamp_of_a_missing_file_is_none(tmp_path: Path) -> None:
    assert file_stamp(tmp_path / "nope") is None
