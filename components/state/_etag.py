"""ETag helpers shared by state stores.

Contract:
- an empty ETag (``""``) is the same as no ETag, as in Dapr (``given_etag``);
- a store checks the *form* of a given ETag before comparing it: an ETag that can never be one of
  its ETags raises ``ETagInvalid``; a well-formed one that is not current raises ``ETagMismatch``;
- ``new_uuid_etag`` / ``check_uuid_etag`` serve stores whose ETags are random UUIDs (SQLite,
  PostgreSQL v2 style); ``VersionCounter`` / ``check_version_etag`` serve stores whose ETags are
  increasing version numbers (the in-memory store).
"""

from __future__ import annotations

import itertools
import re
import uuid

from components.errors import ETagInvalid

__all__ = [
    "VersionCounter",
    "check_uuid_etag",
    "check_version_etag",
    "given_etag",
    "new_uuid_etag",
]

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_VERSION = re.compile(r"[1-9][0-9]{0,18}")


def given_etag(etag: str | None) -> str | None:
    """The ETag a request really carries: ``""`` means none (Dapr's rule)."""
    return etag or None


def new_uuid_etag() -> str:
    return str(uuid.uuid4())


def check_uuid_etag(etag: str) -> str:
    """``etag`` in canonical (lower-case) form; ETagInvalid when it is not a UUID."""
    canonical = etag.lower()
    if not _UUID.fullmatch(canonical):
        raise ETagInvalid(etag)
    return canonical


def check_version_etag(etag: str) -> str:
    """``etag`` when it is a positive decimal version number; ETagInvalid otherwise."""
    if not _VERSION.fullmatch(etag):
        raise ETagInvalid(etag)
    return etag


class VersionCounter:
    """Hands out increasing version ETags ("1", "2", ...): never the same one twice."""

    __slots__ = ("_next",)

    def __init__(self) -> None:
        self._next = itertools.count(1)

    def next(self) -> str:
        return str(next(self._next))
