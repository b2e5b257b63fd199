"""Raw JSON member spans, so values embedded in a response come back byte-exact.

The sidecar embeds a stored JSON value into bulk-get and query answers as it is stored;
``json.loads`` would re-encode it (whitespace, key order, ``1.0``). These helpers return the
exact text of each member instead. Input is trusted sidecar output (compact JSON).
"""

from __future__ import annotations

import json
import re

__all__ = ["raw_array_of_objects", "raw_object"]

_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


def _skip(text: str, pos: int) -> int:
    m = _WS.match(text, pos)
    return m.end() if m else pos


def _expect(text: str, pos: int, char: str) -> int:
    if text[pos : pos + 1] != char:
        raise ValueError(f"expected {char!r} at {pos}")
    return pos + 1


def raw_object(text: str, pos: int = 0) -> tuple[dict[str, str], int]:
    """The object at ``pos``: member name to its value's exact text, and the end position."""
    pos = _expect(text, _skip(text, pos), "{")
    out: dict[str, str] = {}
    pos = _skip(text, pos)
    if text[pos : pos + 1] == "}":
        return out, pos + 1
    while True:
        name, pos = _DECODER.raw_decode(text, _skip(text, pos))
        pos = _skip(text, _expect(text, _skip(text, pos), ":"))
        _, end = _DECODER.raw_decode(text, pos)
        out[str(name)] = text[pos:end]
        pos = _skip(text, end)
        if text[pos : pos + 1] == ",":
            pos += 1
            continue
        return out, _expect(text, pos, "}")


def raw_array_of_objects(text: str, pos: int = 0) -> tuple[list[dict[str, str]], int]:
    """The array of objects at ``pos``, each as by ``raw_object``."""
    pos = _skip(text, _expect(text, _skip(text, pos), "["))
    items: list[dict[str, str]] = []
    if text[pos : pos + 1] == "]":
        return items, pos + 1
    while True:
        obj, pos = raw_object(text, pos)
        items.append(obj)
        pos = _skip(text, pos)
        if text[pos : pos + 1] == ",":
            pos += 1
            continue
        return items, _expect(text, pos, "]")
