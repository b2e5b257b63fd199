"""The state key separator ``||`` and the one check that a key, prefix or app id is free of it;
and the check that a state key is free of NUL.

Dapr stores ``<prefix>||<key>``; a ``||`` inside either part would make keys ambiguous, so an
app id, a ``keyPrefix`` setting and every state key are checked here, whatever the caller.
"""

from __future__ import annotations

__all__ = ["KEY_SEPARATOR", "has_nul", "separator_problem"]

KEY_SEPARATOR = "||"


def has_nul(value: str) -> bool:
    """True when a state key or prefix holds a NUL character. PostgreSQL cannot store one, so
    every store refuses it alike (400 ERR_MALFORMED_REQUEST), whatever it could keep."""
    return "\x00" in value


def separator_problem(value: str) -> str | None:
    """Dapr's message when ``value`` contains ``||`` (``input key/keyPrefix 'x' can't contain
    '||'``), else None. Callers raise it as their own error type."""
    if KEY_SEPARATOR in value:
        return f"input key/keyPrefix '{value}' can't contain '{KEY_SEPARATOR}'"
    return None
