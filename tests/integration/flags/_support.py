"""Shared by the flags integration tests: a flag file and a sidecar serving it."""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.integration.harness import Sidecar, component_yaml

__all__ = ["FLAGS", "flag_document", "start_with_flags", "write_flags"]

FLAGS: dict[str, Any] = {
    "bool-flag": {
        "state": "ENABLED",
        "variants": {"on": True, "off": False},
        "defaultVariant": "on",
    },
    "string-flag": {
        "state": "ENABLED",
        "variants": {"red": "red", "blue": "blue"},
        "defaultVariant": "red",
    },
    "int-flag": {"state": "ENABLED", "variants": {"ten": 10, "one": 1}, "defaultVariant": "ten"},
    "float-flag": {
        "state": "ENABLED",
        "variants": {"one": 1.0, "half": 0.5},
        "defaultVariant": "one",
    },
    "object-flag": {
        "state": "ENABLED",
        "variants": {"cfg": {"size": 3, "tags": ["a"]}},
        "defaultVariant": "cfg",
    },
    "targeted-flag": {
        "state": "ENABLED",
        "variants": {"on": True, "off": False},
        "defaultVariant": "off",
        "targeting": {"if": [{"ends_with": [{"var": "email"}, "@example.com"]}, "on", "off"]},
    },
    "fractional-flag": {
        "state": "ENABLED",
        "variants": {
            "clubs": "clubs",
            "diamonds": "diamonds",
            "hearts": "hearts",
            "spades": "spades",
        },
        "defaultVariant": "clubs",
        "targeting": {
            "fractional": [
                {"cat": [{"var": "$flagd.flagKey"}, {"var": "user.name"}]},
                ["clubs", 25],
                ["diamonds", 25],
                ["hearts", 25],
                ["spades", 25],
            ]
        },
    },
    "disabled-flag": {"state": "DISABLED", "variants": {"on": True}, "defaultVariant": "on"},
    "code-default-flag": {"state": "ENABLED", "variants": {"a": "a"}},
}


def flag_document(**overrides: Any) -> dict[str, Any]:
    """A fresh (deep) copy: tests edit it."""
    flags = copy.deepcopy({**FLAGS, **overrides})
    return {"metadata": {"flagSetId": "app", "team": "web"}, "flags": flags}


def write_flags(path: Path, document: dict[str, Any] | str) -> None:
    """Replace the file at once (write a sibling, then rename), as editors do."""
    text = document if isinstance(document, str) else json.dumps(document, indent=2)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)


@contextlib.contextmanager
def start_with_flags(
    tmp_path: Path, document: dict[str, Any] | None = None, **kwargs: Any
) -> Iterator[tuple[Sidecar, Path]]:
    path = tmp_path / "flags.json"
    write_flags(path, document or flag_document())
    source = component_yaml("flags", "flags.file", {"path": str(path), "pollInterval": "50ms"})
    with Sidecar.start(tmp_path, components=[source], **kwargs) as sidecar:
        yield sidecar, path
