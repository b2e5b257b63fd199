"""Latency-aware load balancing over the replicas (addresses) of one app id.

The contract the invocation paths use (HTTP invocation, gRPC proxying)::

    address = balancer.pick(app_id, addresses)   # counts one call in flight to ``address``
    ...send...
    balancer.observe(address, latency, ok=...)   # exactly once per pick: ends that call

``pick`` chooses by *power of two random choices*: two distinct candidates at random, the one
with the lower load wins. A replica's load is its peak-EWMA cost times (calls in flight + 1),
as Linkerd and Finagle do: the cost jumps at once to a response time above it (a replica that
slows down is avoided immediately) and otherwise decays towards recent response times with a
time constant ``decay`` (seconds, not a sample count, so a rarely used replica forgets old
figures at the same pace as a busy one). A replica never observed costs nothing unless a call
to it is in flight, when it costs ``penalty``: a new replica is tried at once, not flooded.

``observe(..., ok=False)`` means the replica could not be used (a connection error): it is
*ejected* for ``ejection`` seconds, doubled for each further consecutive failure up to
``maxEjection``. Ejected replicas are skipped while any other candidate is not ejected; when
every candidate is ejected, all are candidates again (a call must go somewhere). A success
ends the failure streak. State is kept per address, bounded (``max_tracked``): idle entries are
dropped, oldest first.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from components.nameresolution import Address

__all__ = ["Balancer"]

log = logging.getLogger("tandem.invoke.balancer")


@dataclass(slots=True)
class _Replica:
    cost: float = 0.0  # peak-EWMA of response times, seconds (0: never observed)
    stamp: float = 0.0  # when cost was last updated
    pending: int = 0  # calls in flight
    failures: int = 0  # consecutive connection failures
    ejected_until: float = 0.0
    used: float = 0.0  # last pick or observe, for eviction


class Balancer:
    def __init__(
        self,
        *,
        decay: float = 10.0,
        penalty: float = 1.0,
        ejection: float = 1.0,
        max_ejection: float = 30.0,
        max_tracked: int = 4096,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if decay <= 0 or ejection <= 0 or max_ejection < ejection or max_tracked < 1:
            raise ValueError("decay and ejection must be positive, maxEjection >= ejection")
        self._decay = decay
        self._penalty = penalty
        self._ejection = ejection
        self._max_ejection = max_ejection
        self._max_tracked = max_tracked
        self._rng = rng or random.Random()  # load spreading, not security
        self._clock = clock
        self._replicas: dict[Address, _Replica] = {}

    # ---- the contract ---------------------------------------------------------------------

    def pick(self, app_id: str, addresses: Sequence[Address]) -> Address:
        """One of ``addresses`` (non-empty) for a call to ``app_id``; counts it in flight."""
        if not addresses:
            raise ValueError(f"no address to pick for {app_id!r}")
        now = self._clock()
        candidates = [a for a in addresses if self._admitted(a, now)] or list(addresses)
        if len(candidates) == 1:
            chosen = candidates[0]
        else:
            count = len(candidates)
            i, j = self._rng.randrange(count), self._rng.randrange(count - 1)
            first, second = candidates[i], candidates[j + 1 if j >= i else j]
            chosen = second if self._load(second, now) < self._load(first, now) else first
        replica = self._replica(chosen, now)
        replica.pending += 1
        replica.used = now
        return chosen

    def observe(self, address: Address, latency: float, *, ok: bool) -> None:
        """End one call to ``address`` picked before: its response time (seconds, to the
        response headers) and whether the replica could be used at all."""
        now = self._clock()
        replica = self._replica(address, now)
        replica.pending = max(replica.pending - 1, 0)
        replica.used = now
        if not ok:
            replica.failures += 1
            backoff = min(self._ejection * 2 ** (replica.failures - 1), self._max_ejection)
            replica.ejected_until = now + backoff
            log.debug("replica %s ejected for %.1fs (%d)", address, backoff, replica.failures)
            return
        replica.failures = 0
        replica.ejected_until = 0.0
        latency = max(latency, 0.0)
        if latency > replica.cost or replica.stamp == 0.0:
            replica.cost = latency  # peak: a slower answer counts at once
        else:
            weight = math.exp(-(now - replica.stamp) / self._decay)
            replica.cost = replica.cost * weight + latency * (1.0 - weight)
        replica.stamp = now

    # ---- introspection (tests, metadata) --------------------------------------------------

    def ejected(self, address: Address) -> bool:
        replica = self._replicas.get(address)
        return replica is not None and replica.ejected_until > self._clock()

    def cost(self, address: Address) -> float:
        replica = self._replicas.get(address)
        return replica.cost if replica is not None else 0.0

    # ---- internals ------------------------------------------------------------------------

    def _admitted(self, address: Address, now: float) -> bool:
        replica = self._replicas.get(address)
        return replica is None or replica.ejected_until <= now

    def _load(self, address: Address, now: float) -> float:
        replica = self._replicas.get(address)
        if replica is None:
            return 0.0
        cost = replica.cost
        if replica.stamp and replica.pending == 0:  # idle: let an old peak decay meanwhile
            cost *= math.exp(-(now - replica.stamp) / self._decay)
        if cost == 0.0:
            return self._penalty * replica.pending  # unmeasured: free unless already busy
        return cost * (replica.pending + 1)

    def _replica(self, address: Address, now: float) -> _Replica:
        replica = self._replicas.get(address)
        if replica is None:
            if len(self._replicas) >= self._max_tracked:
                self._evict()
            replica = self._replicas[address] = _Replica(used=now)
        return replica

    def _evict(self) -> None:
        """Drop the least recently used idle half (addresses come and go with replicas)."""
        idle = sorted(
            (r.used, a) for a, r in self._replicas.items() if r.pending == 0 and r.failures == 0
        )
        for _, address in idle[: max(len(idle) // 2, 1)]:
            del self._replicas[address]
