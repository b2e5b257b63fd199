"""Apps the pub/sub integration tests start behind a sidecar (``tandem run -- python app``)."""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["pubsub_app"]

_DIR = Path(__file__).resolve().parent


def pubsub_app(name: str, *args: object) -> list[str]:
    """The command line running ``apps/<name>.py`` with this interpreter."""
    return [sys.executable, str(_DIR / f"{name}.py"), *map(str, args)]
