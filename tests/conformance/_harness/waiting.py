"""Polling with a deadline: ``tests.waiting``'s helpers, as the conformance harness exports them."""

from __future__ import annotations

from tests.waiting import eventually, wait_until

__all__ = ["eventually", "wait_until"]
