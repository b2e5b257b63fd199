"""Configuration problems, collected so that every one is reported at once."""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

__all__ = ["ConfigError", "Issue"]


class Issue(msgspec.Struct, frozen=True):
    """One problem: where (file, document number, dotted field path) and what."""

    source: str
    message: str
    document: int | None = None
    path: str = ""

    @property
    def where(self) -> str:
        """``file (document N) field.path``."""
        where = self.source
        if self.document is not None:
            where += f" (document {self.document + 1})"
        if self.path:
            where += f" {self.path}"
        return where

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class ConfigError(Exception):
    """Raised with every problem found, never just the first."""

    def __init__(self, issues: Iterable[Issue]) -> None:
        self.issues = list(issues)
        lines = "\n".join(f"  - {i}" for i in self.issues)
        super().__init__(f"{len(self.issues)} configuration error(s):\n{lines}")
