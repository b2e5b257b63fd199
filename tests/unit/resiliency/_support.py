"""Test doubles for the resiliency unit tests: a manual clock and an event recorder."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Clock", "Recorder"]


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Recorder:
    """Implements ``PolicyEvents``; ``log`` keeps every event in order."""

    log: list[tuple[str, str, str]] = field(default_factory=list)
    waits: list[float] = field(default_factory=list)

    def resiliency_retry(self, target: str, policy: str) -> None:
        self.log.append(("retry", target, policy))

    def resiliency_timeout(self, target: str, policy: str) -> None:
        self.log.append(("timeout", target, policy))

    def resiliency_rejected(self, target: str, policy: str) -> None:
        self.log.append(("rejected", target, policy))

    def set_circuit_breaker_state(self, target: str, state: str) -> None:
        self.log.append(("breaker", target, state))

    def kinds(self) -> list[str]:
        return [k if k != "breaker" else f"breaker:{s}" for k, _, s in self.log]

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
