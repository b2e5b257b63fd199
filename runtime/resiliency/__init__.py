"""Dapr's Resiliency resource: timeouts, retries and circuit breakers per target.

Modules, one concern each:

* ``model``     typed pydantic models of the YAML (``kind: Resiliency``)
* ``codes``     ``matching`` status-code lists and ranges (``"500-599,429"``)
* ``trip``      CEL ``trip`` expressions over the breaker's counts
* ``load``      documents → one merged ``ResiliencyConfig``; every problem as an ``Issue``
* ``classify``  client mistakes (never retried, not breaker failures) vs target failures
* ``retry``     ``RetryPolicy``: which errors to retry and the back-off between attempts
* ``breaker``   ``CircuitBreaker`` (closed / open / half-open)
* ``deadlines`` per-attempt timeouts sharing one timer per target
* ``runner``    ``Runner``: retry(breaker(timeout(op))), Dapr's order
* ``targets``   ``Resiliency``: a target (component outbound/inbound, app) → ``Runner | None``

Building-block services ask ``Resiliency`` for a target's runner once and run each backend call
through it; ``None`` means no policy applies and the call runs bare.
"""

from runtime.resiliency.breaker import BreakerOpen, BreakerState
from runtime.resiliency.load import ResiliencyConfig, load_resiliency
from runtime.resiliency.runner import NOOP_EVENTS, PolicyEvents, Runner
from runtime.resiliency.targets import Resiliency

__all__ = [
    "NOOP_EVENTS",
    "BreakerOpen",
    "BreakerState",
    "PolicyEvents",
    "Resiliency",
    "ResiliencyConfig",
    "Runner",
    "load_resiliency",
]
