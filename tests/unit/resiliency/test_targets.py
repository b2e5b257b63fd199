"""Resiliency: which policies a target gets (named, Default… chain, built-ins), cached."""

from __future__ import annotations

from runtime.resiliency import Resiliency, ResiliencyConfig
from runtime.resiliency.model import ComponentTarget, PolicyNames, RetrySpec
from tests.unit.resiliency._support import Recorder


def cfg(**kw: object) -> ResiliencyConfig:
    return ResiliencyConfig(**kw)  # type: ignore[arg-type]


def retries(*names: str) -> dict[str, RetrySpec]:
    return {n: RetrySpec(duration=0.01 * (i + 1)) for i, n in enumerate(names)}


def test_no_policies_means_no_runner() -> None:
    res = Resiliency()
    assert res.component_outbound("statestore", "state") is None
    assert res.app("orders") is None


def test_named_target_policies_win_one_kind_at_a_time() -> None:
    res = Resiliency(
        cfg(
            timeouts={"DefaultTimeoutPolicy": 9.0, "fast": 0.1},
            retries=retries("DefaultRetryPolicy", "named"),
            components={"statestore": ComponentTarget(outbound=PolicyNames(retry="named"))},
        )
    )
    runner = res.component_outbound("statestore", "state")
    assert runner is not None
    assert runner.retry is not None
    assert runner.retry.name == "named"
    assert runner.timeout == 9.0  # the kind the target does not name falls back to defaults
    assert runner.breaker is None
    assert runner.target == "components.statestore.outbound"


def test_default_chain_most_specific_first() -> None:
    names = [
        "DefaultRetryPolicy",
        "DefaultComponentRetryPolicy",
        "DefaultComponentOutboundRetryPolicy",
        "DefaultStatestoreComponentOutboundRetryPolicy",
    ]
    for i in range(len(names)):
        res = Resiliency(cfg(retries=retries(*names[: i + 1])))
        runner = res.component_outbound("statestore", "state")
        assert runner is not None
        assert runner.retry is not None
        assert runner.retry.name == names[i]
    res = Resiliency(cfg(retries=retries(*names)))
    pubsub = res.component_outbound("pubsub", "pubsub")
    inbound = res.component_inbound("pubsub", "pubsub")
    assert pubsub is not None
    assert pubsub.retry is not None
    assert inbound is not None
    assert pubsub.retry.name == "DefaultComponentOutboundRetryPolicy"
    assert inbound.retry is not None
    assert inbound.retry.name == "DefaultComponentRetryPolicy"


def test_app_defaults() -> None:
    res = Resiliency(
        cfg(
            retries=retries("DefaultRetryPolicy", "DefaultAppRetryPolicy", "fastRetries"),
            apps={"appA": PolicyNames(retry="fastRetries")},
        )
    )
    names = {app: res.app(app).retry.name for app in ("appA", "appC")}  # type: ignore[union-attr]
    assert names == {"appA": "fastRetries", "appC": "DefaultAppRetryPolicy"}


def test_runner_and_breaker_are_shared_per_target() -> None:
    from runtime.resiliency.model import BreakerSpec

    rec = Recorder()
    res = Resiliency(
        cfg(
            breakers={"DefaultCircuitBreakerPolicy": BreakerSpec()},
            retries=retries("DefaultRetryPolicy"),
        ),
        events=rec,
    )
    a = res.component_outbound("a", "state")
    assert a is res.component_outbound("a", "state")
    b = res.component_outbound("b", "state")
    assert a is not None
    assert b is not None
    assert a.breaker is not b.breaker
    assert ("breaker", "components.a.outbound", "closed") in rec.log  # gauge starts at closed


def test_builtin_retries_and_their_override() -> None:
    builtin = Resiliency().builtin("DaprBuiltInServiceRetries")
    assert builtin.retry is not None
    assert (builtin.retry.duration, builtin.retry.max_retries) == (1.0, 3)
    override = Resiliency(
        cfg(retries={"DaprBuiltInServiceRetries": RetrySpec(duration=0.2, maxRetries=5)})
    ).builtin("DaprBuiltInServiceRetries")
    assert override.retry is not None
    assert (override.retry.duration, override.retry.max_retries) == (0.2, 5)
