"""Tiny programs the integration tests start as the app (``tandem run ... -- python app.py``)."""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["APPS_DIR", "python_app"]

APPS_DIR = Path(__file__).resolve().parent


def python_app(name: str, *args: object) -> list[str]:
    """The command line running ``apps/<name>.py`` with this interpreter."""
    return [sys.executable, str(APPS_DIR / f"{name}.py"), *map(str, args)]
