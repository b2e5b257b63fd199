"""Retry policies: when to try again and how long to wait first.

``constant``     wait ``duration`` between attempts.
``exponential``  first wait 500 ms, then each wait is the previous one times 1.5, every wait
                 randomised by ±50%, never above ``max_interval`` (Dapr's back-off).
``max_retries``  retries after the first attempt; -1 retries until success, an open breaker,
                 a non-matching error or cancellation. A wait is never shorter than 1 ms, so
                 no policy can busy-loop.

``matching`` filters by the status an error carries: an error with an HTTP (gRPC) status is
retried only if that status is listed, when HTTP (gRPC) codes are given. Errors without a
status (a backend's connection error, a timeout) are retried whatever the filter. Client
errors (``classify.is_client_error``) and ``BreakerOpen`` are never retried.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

import msgspec

from runtime.resiliency.breaker import BreakerOpen
from runtime.resiliency.classify import is_client_error, status_codes

__all__ = ["EXPONENTIAL_INITIAL", "MIN_INTERVAL", "RetryPolicy"]

EXPONENTIAL_INITIAL = 0.5
EXPONENTIAL_MULTIPLIER = 1.5
RANDOMIZATION = 0.5
MIN_INTERVAL = 0.001


class RetryPolicy(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    exponential: bool = False
    duration: float = 5.0
    max_interval: float = 60.0
    max_retries: int = -1
    http_codes: frozenset[int] | None = None  # None: no filter
    grpc_codes: frozenset[int] | None = None

    def should_retry(self, exc: BaseException, retries_done: int) -> bool:
        if 0 <= self.max_retries <= retries_done:
            return False
        if isinstance(exc, BreakerOpen) or is_client_error(exc):
            return False
        http, grpc_code = status_codes(exc)
        if http is not None and self.http_codes:
            return http in self.http_codes
        if grpc_code is not None and self.grpc_codes:
            return grpc_code in self.grpc_codes
        return True

    def waits(self, rand: Callable[[], float] = random.random) -> Iterator[float]:
        """The successive waits before each retry (an endless iterator)."""
        if not self.exponential:
            wait = max(self.duration, MIN_INTERVAL)
            while True:
                yield wait
        cap = max(self.max_interval, MIN_INTERVAL)
        current = min(EXPONENTIAL_INITIAL, cap)
        while True:
            delta = RANDOMIZATION * current
            yield max(min(current - delta + rand() * 2 * delta, cap), MIN_INTERVAL)
            current = min(current * EXPONENTIAL_MULTIPLIER, cap)
