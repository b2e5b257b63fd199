"""The sidecar's Metrics record what the runner reports (it implements PolicyEvents)."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from runtime.observability.metrics import Metrics
from runtime.resiliency import PolicyEvents


def samples(metrics: Metrics) -> dict[tuple[str, str, str], float]:
    body, _ = metrics.render()
    out: dict[tuple[str, str, str], float] = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            if s.name.startswith(("tandem_resiliency", "tandem_circuit")):
                out[(s.name, s.labels.get("target", ""), s.labels.get("policy", ""))] = s.value
    return out


def test_runner_events_become_series() -> None:
    metrics = Metrics("app", process_metrics=False)
    events: PolicyEvents = metrics
    target = "components.statestore.outbound"
    events.resiliency_retry(target, "fast")
    events.resiliency_retry(target, "fast")
    events.resiliency_timeout(target, "general")
    events.resiliency_rejected(target, "cb")
    events.set_circuit_breaker_state(target, "open")
    got = samples(metrics)
    assert got[("tandem_resiliency_retries_total", target, "fast")] == 2
    assert got[("tandem_resiliency_timeouts_total", target, "general")] == 1
    assert got[("tandem_resiliency_breaker_rejections_total", target, "cb")] == 1
    assert got[("tandem_circuit_breaker_state", target, "")] == 2
