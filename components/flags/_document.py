"""Read a flagd flag-set document from JSON or YAML text, with the position of any error."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import yaml

from components._safe_yaml import load_all
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
    try:  # bounded in depth and alias expansion, as resource files are
        documents = list(load_all(text.decode()))
    except UnicodeDecodeError as exc:
        raise FlagSetError(f"{origin}: not UTF-8 (byte {exc.start})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"{origin}:{mark.line + 1}:{mark.column + 1}" if mark else origin
        problem = getattr(exc, "problem", None) or getattr(exc, "context", None) or exc
        raise FlagSetError(f"{where}: {problem}") from None
    if len(documents) != 1:
        raise FlagSetError(f"{origin}: expected one YAML document, found {len(documents)}")
    return documents[0]


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
