"""``Resiliency``: which policies apply to a target, resolved once per target.

A target's named policies (``spec.targets``) win, one kind at a time (timeout, retry,
circuit breaker). A kind the target does not name falls back to the reserved default names,
most specific first, as Dapr documents:

    apps           DefaultApp{Kind}Policy → Default{Kind}Policy
    actors         DefaultActor{Kind}Policy → Default{Kind}Policy
    components     Default{Type}Component{Dir}{Kind}Policy → DefaultComponent{Dir}{Kind}Policy
                   → DefaultComponent{Kind}Policy → Default{Kind}Policy

with Kind ∈ Retry, Timeout, CircuitBreaker; Dir ∈ Outbound, Inbound; Type from the block
(state → Statestore, pubsub → Pubsub, bindings → Binding, secretstores → Secretstore,
configuration → Configuration, lock → Lock). A target with no policy at all gets ``None``:
callers then run the bare operation. Runners (and so breakers) are cached per target.

Built-in retries (``builtin``) are Dapr's ``DaprBuiltIn…`` names; a retry policy of the same
name in ``spec.policies.retries`` overrides the built-in one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from runtime.resiliency.breaker import BreakerState, CircuitBreaker
from runtime.resiliency.load import ResiliencyConfig
from runtime.resiliency.model import PolicyNames, RetrySpec
from runtime.resiliency.retry import RetryPolicy
from runtime.resiliency.runner import NOOP_EVENTS, PolicyEvents, Runner
from runtime.resiliency.trip import compile_trip

__all__ = ["BUILTIN_RETRIES", "Resiliency"]

log = logging.getLogger("tandem.resiliency")

_BLOCK_NAMES = {
    "state": "Statestore",
    "pubsub": "Pubsub",
    "bindings": "Binding",
    "secretstores": "Secretstore",
    "configuration": "Configuration",
    "lock": "Lock",
}

# Valid constants, made without validation (RetrySpec's validator is built only when a
# Resiliency document is read); tests/unit/resiliency check they equal the validated values.
BUILTIN_RETRIES: dict[str, RetrySpec] = {
    # service invocation between sidecars (gRPC Unavailable/Unauthenticated): 1s, 3 tries
    "DaprBuiltInServiceRetries": RetrySpec.model_construct(
        policy="constant", duration=1.0, maxRetries=3
    ),
    # start-up calls to the app (/dapr/subscribe and friends): exponential from 500 ms
    "DaprBuiltInInitializationRetries": RetrySpec.model_construct(
        policy="exponential", maxInterval=10.0, maxRetries=3
    ),
    "DaprBuiltInActorRetries": RetrySpec.model_construct(
        policy="constant", duration=1.0, maxRetries=3
    ),
    "DaprBuiltInActorReminderRetries": RetrySpec.model_construct(
        policy="exponential", maxInterval=60.0, maxRetries=-1
    ),
}


def _retry_policy(name: str, spec: RetrySpec) -> RetryPolicy:
    matching = spec.matching
    return RetryPolicy(
        name=name,
        exponential=spec.policy == "exponential",
        duration=spec.duration,
        max_interval=spec.maxInterval,
        max_retries=spec.maxRetries,
        http_codes=matching.httpStatusCodes or None if matching else None,
        grpc_codes=matching.gRPCStatusCodes or None if matching else None,
    )


def _breaker_changed(events: PolicyEvents, target: str, name: str, state: BreakerState) -> None:
    level = logging.WARNING if state is BreakerState.OPEN else logging.INFO
    log.log(level, "circuit breaker %s of %s is now %s", name, target, state.value)
    events.set_circuit_breaker_state(target, state.value)


class Resiliency:
    def __init__(
        self,
        config: ResiliencyConfig | None = None,
        *,
        events: PolicyEvents = NOOP_EVENTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config or ResiliencyConfig()
        self._events = events
        self._clock = clock
        self._runners: dict[str, Runner | None] = {}

    # ---- targets ------------------------------------------------------------------------

    def component_outbound(self, name: str, block: str) -> Runner | None:
        """Policies of calls from the sidecar to component ``name`` (state get/set, publish)."""
        return self._component(name, block, "outbound")

    def component_inbound(self, name: str, block: str) -> Runner | None:
        """Policies of deliveries from component ``name`` to the app (events, bindings)."""
        return self._component(name, block, "inbound")

    def app(self, app_id: str) -> Runner | None:
        """Policies of service invocation of ``app_id``."""
        key = f"apps.{app_id}"
        if key not in self._runners:
            self._runners[key] = self._build(
                key, self.config.apps.get(app_id), ("DefaultApp", "Default")
            )
        return self._runners[key]

    def builtin(self, name: str) -> Runner:
        """A ``DaprBuiltIn…Retries`` runner, overridden by a retry policy of that name."""
        key = f"builtin.{name}"
        runner = self._runners.get(key)
        if runner is None:
            spec = self.config.retries.get(name) or BUILTIN_RETRIES[name]
            runner = Runner(key, retry=_retry_policy(name, spec), events=self._events)
            self._runners[key] = runner
        return runner

    # ---- resolution -----------------------------------------------------------------------

    def _component(self, name: str, block: str, direction: str) -> Runner | None:
        key = f"components.{name}.{direction}"
        if key in self._runners:
            return self._runners[key]
        target = self.config.components.get(name)
        names = getattr(target, direction) if target is not None else None
        dir_name = direction.capitalize()
        chain: list[str] = []
        kind = _BLOCK_NAMES.get(block)
        if kind is not None:
            chain.append(f"Default{kind}Component{dir_name}")
        chain += [f"DefaultComponent{dir_name}", "DefaultComponent", "Default"]
        runner = self._build(key, names, chain)
        self._runners[key] = runner
        return runner

    def _pick(
        self, named: str | None, defaults: Sequence[str], kind: str, known: Sequence[str]
    ) -> str | None:
        if named is not None:
            return named
        for prefix in defaults:
            candidate = f"{prefix}{kind}Policy"
            if candidate in known:
                return candidate
        return None

    def _build(self, key: str, names: PolicyNames | None, defaults: Sequence[str]) -> Runner | None:
        cfg = self.config
        if cfg.empty:
            return None
        names = names or PolicyNames()
        timeout_name = self._pick(names.timeout, defaults, "Timeout", list(cfg.timeouts))
        retry_name = self._pick(names.retry, defaults, "Retry", list(cfg.retries))
        breaker_name = self._pick(
            names.circuitBreaker, defaults, "CircuitBreaker", list(cfg.breakers)
        )
        timeout = cfg.timeouts.get(timeout_name) if timeout_name else None
        retry_spec = cfg.retries.get(retry_name) if retry_name else None
        breaker_spec = cfg.breakers.get(breaker_name) if breaker_name else None
        if not timeout and retry_spec is None and breaker_spec is None:
            return None
        breaker = None
        if breaker_spec is not None:
            events, name = self._events, breaker_name or ""
            events.set_circuit_breaker_state(key, BreakerState.CLOSED.value)
            breaker = CircuitBreaker(
                trip=compile_trip(breaker_spec.trip),
                max_requests=breaker_spec.maxRequests or 1,
                interval=breaker_spec.interval,
                timeout=breaker_spec.timeout or 60.0,
                clock=self._clock,
                on_change=lambda state: _breaker_changed(events, key, name, state),
            )
        return Runner(
            key,
            timeout=timeout,
            timeout_name=timeout_name or "",
            retry=_retry_policy(retry_name, retry_spec) if retry_name and retry_spec else None,
            breaker=breaker,
            breaker_name=breaker_name or "",
            events=self._events,
        )
