"""``configuration.file`` (Tandem's own): configuration items in a YAML or JSON file, watched.

The file is a mapping of key to item. An item is a plain scalar (its text is the value) or a
mapping ``{value, version?, metadata?}``::

    feature.checkout: "on"
    limits.orders:
      value: "100"
      version: "7"
      metadata: {owner: payments}

Metadata:
- ``path`` (required): the file (JSON is YAML, so either works). A missing file counts as empty.
- ``pollInterval`` (Duration, default 100ms): how often the file is checked.

Watching polls the file's ``stat`` (device, inode, size, mtime in ns) every ``pollInterval`` and
re-reads it when that changes (``components._filewatch``: polling sees atomic replacements and
works where inotify stays silent); a file that disappears counts as empty.

A file that stops parsing (bad YAML, or not a mapping of items) keeps the last good items: the
error is logged once, with the file and line, and the next good version applies.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import yaml
from pydantic import Field

from components._filewatch import FileStamp, FileWatcher, file_stamp
from components._metadata import Duration
from components._safe_yaml import MAX_FILE_BYTES, load_all
from components.base import BaseMetadata, ComponentContext, ComponentInfo, Stability
from components.configuration._api import (
    ConfigurationFeature,
    ConfigurationItem,
    UpdateHandler,
)
from components.configuration._subscriptions import DELETED, Subscriptions

__all__ = ["FileConfigurationMetadata", "FileConfigurationStore", "parse_items"]


class FileConfigurationMetadata(BaseMetadata):
    path: str = Field(min_length=1)
    poll_interval: Duration = Field(default=0.1, alias="pollInterval", gt=0, le=60)


class FileFormatError(ValueError):
    """The file's text is not a mapping of items; the message names the file and line."""


def _line(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    return f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""


def _item(key: str, raw: Any) -> ConfigurationItem:
    if isinstance(raw, dict):
        unknown = set(raw) - {"value", "version", "metadata"}
        if unknown:
            raise ValueError(f"item {key!r} has unknown fields {sorted(map(str, unknown))}")
        meta = raw.get("metadata") or {}
        if not isinstance(meta, dict):
            raise ValueError(f"item {key!r}: metadata must be a mapping")  # noqa: TRY004
        return ConfigurationItem(
            value=_scalar(key, raw.get("value", "")),
            version=_scalar(key, raw.get("version", "")),
            metadata={str(k): _scalar(key, v) for k, v in meta.items()},
        )
    return ConfigurationItem(value=_scalar(key, raw))


def _scalar(key: str, raw: Any) -> str:
    if raw is None:
        return ""
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, str | int | float):
        return str(raw)
    raise ValueError(
        f"item {key!r}: expected a string, number or boolean, not {type(raw).__name__}"
    )


def parse_items(text: str, where: str) -> dict[str, ConfigurationItem]:
    """The items of a file's text; raises FileFormatError naming ``where`` and the line."""
    try:
        docs = list(load_all(text))
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc)
        raise FileFormatError(f"{where}{_line(exc)}: {problem}") from None
    if len(docs) > 1:
        raise FileFormatError(f"{where}: expected one document, found {len(docs)}")
    doc = docs[0] if docs else None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise FileFormatError(f"{where}: expected a mapping of key to item")
    try:
        return {str(k): _item(str(k), v) for k, v in doc.items()}
    except ValueError as exc:
        raise FileFormatError(f"{where}: {exc}") from None


class FileConfigurationStore:
    info: ClassVar[ComponentInfo] = ComponentInfo(
        type="configuration.file", stability=Stability.ALPHA
    )
    Metadata: ClassVar[type[BaseMetadata]] = FileConfigurationMetadata

    def __init__(self, metadata: FileConfigurationMetadata, *, context: ComponentContext) -> None:
        self._md = metadata
        self._log = context.logger
        path = Path(os.path.expanduser(metadata.path))
        self._path = path if path.is_absolute() else context.home / path
        self._items: dict[str, ConfigurationItem] = {}
        self._subs = Subscriptions()
        self._watcher = FileWatcher(
            self._path,
            metadata.poll_interval,
            self._changed,
            logger=context.logger,
            report_missing=True,
        )
        self._failing = False

    def features(self) -> frozenset[ConfigurationFeature]:
        return frozenset()

    async def init(self) -> None:
        """Read the file (a bad file fails init: there is no last good version yet)."""
        if self._watcher.running:
            return
        stamp = file_stamp(self._path)
        self._items = await asyncio.to_thread(self._read, stamp)
        self._watcher.start(stamp, name=f"watch {self._path}")

    async def close(self) -> None:
        await self._watcher.close()

    async def get(
        self, keys: Sequence[str], metadata: Mapping[str, str] | None = None
    ) -> dict[str, ConfigurationItem]:
        if not keys:
            return dict(self._items)
        return {k: self._items[k] for k in keys if k in self._items}

    async def subscribe(
        self,
        keys: Sequence[str],
        handler: UpdateHandler,
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        return self._subs.add(keys, handler, await self.get(keys), metadata)

    async def unsubscribe(self, subscription_id: str) -> None:
        self._subs.remove(subscription_id)

    # ---- watching -------------------------------------------------------------------------

    def _read(self, stamp: FileStamp | None) -> dict[str, ConfigurationItem]:
        """The items of the file as of ``stamp`` (none when it is missing)."""
        if stamp is None:
            return {}
        if stamp.size > MAX_FILE_BYTES:
            raise FileFormatError(f"{self._path}: larger than {MAX_FILE_BYTES >> 20} MiB")
        try:
            text = self._path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}  # removed since the stat: the watcher reports that next
        except UnicodeDecodeError as exc:
            raise FileFormatError(f"{self._path}: not UTF-8 text ({exc.reason})") from None
        return parse_items(text, str(self._path))

    async def _changed(self, stamp: FileStamp | None) -> None:
        try:
            items = await asyncio.to_thread(self._read, stamp)
        except (FileFormatError, OSError) as exc:
            if not self._failing:
                self._log.error("configuration file unusable, keeping the last good items: %s", exc)
            self._failing = True
            return  # re-read only once the file changes again
        if self._failing:
            self._log.info("configuration file %s is valid again", self._path)
            self._failing = False
        self._apply(items)

    def _apply(self, items: dict[str, ConfigurationItem]) -> None:
        old, self._items = self._items, items
        changed = {k: v for k, v in items.items() if old.get(k) != v}
        gone = [k for k in old if k not in items]
        changed.update(dict.fromkeys(gone, DELETED))
        if changed:
            self._subs.publish(changed, deleted=gone)
