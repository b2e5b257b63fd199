"""Read a flagd flag-set document from JSON or YAML text, with the position of any error."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import yaml

from components.flags._api import Fractional
from components.flags._types import FlagSetSnapshot
from components.flags.engine import FlagSetError, parse_flag_set

__all__ = ["MAX_DOCUMENT_BYTES", "load_snapshot"]

MAX_DOCUMENT_BYTES = 16 * 1024 * 1024


def _decode(text: bytes, origin: str) -> Any:
    if len(text) > MAX_DOCUMENT_BYTES:
        raise FlagSetError(f"{origin}: larger than {MAX_DOCUMENT_BYTES} bytes")
    stripped = text.lstrip()
    if stripped.startswith((b"{", b"[")):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise FlagSetError(f"{origin}:{exc.lineno}:{exc.colno}: {exc.msg}") from None
        except UnicodeDecodeError as exc:
            raise FlagSetError(f"{origin}: not UTF-8 (byte {exc.start})") from None
    try:
        return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{origin}:{mark.line + 1}:{mark.column + 1}" if mark else origin
        raise FlagSetError(f"{where}: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise FlagSetError(f"{origin}: {exc}") from None


def load_snapshot(
    text: bytes, origin: str, *, fractional: Fractional, flag_set_id: str | None
) -> FlagSetSnapshot:
    """Parse and validate ``text`` (JSON or YAML); raises FlagSetError naming ``origin`` and,
    for syntax errors, the line and column."""
    document = _decode(text, origin)
    try:
        parse_flag_set(document, fractional=fractional, flag_set_id=flag_set_id)
    except FlagSetError as exc:
        raise FlagSetError(f"{origin}: {exc}") from None
    except RecursionError:
        raise FlagSetError(f"{origin}: nested too deeply") from None
    if isinstance(document, dict):
        document.pop("$schema", None)
    return FlagSetSnapshot(document=document, revision=hashlib.sha256(text).hexdigest()[:16])
