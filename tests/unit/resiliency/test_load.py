"""Resiliency YAML: validation (every problem, with file, document and field), merging, scopes."""

from __future__ import annotations

from pathlib import Path

from runtime.resiliency import load_resiliency
from runtime.resources.issues import Issue
from runtime.resources.loader import collect_resources

FULL = """\
apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata:
  name: myresiliency
scopes: [app1]
spec:
  policies:
    timeouts:
      general: 5s
      fast: 150ms
    retries:
      pubsubRetry:
        policy: constant
        duration: 5s
        maxRetries: 10
        matching:
          httpStatusCodes: "500-599,429"
          gRPCStatusCodes: 14
      retryForever:
        policy: exponential
        maxInterval: 15s
        maxRetries: -1
    circuitBreakers:
      simpleCB:
        maxRequests: 1
        interval: 8s
        timeout: 45s
        trip: consecutiveFailures > 8
  targets:
    apps:
      appB: {timeout: general, retry: retryForever, circuitBreaker: simpleCB}
    actors:
      myActorType: {timeout: general, circuitBreakerScope: both, circuitBreakerCacheSize: 5000}
    components:
      statestore:
        outbound: {timeout: fast, retry: pubsubRetry, circuitBreaker: simpleCB}
      pubsub:
        inbound: {retry: pubsubRetry}
"""


def load(tmp_path: Path, *files: str, app_id: str | None = "app1") -> tuple[object, list[Issue]]:
    for i, text in enumerate(files):
        (tmp_path / f"r{i}.yaml").write_text(text)
    resources, issues = collect_resources([tmp_path])
    cfg = load_resiliency(resources.others.get("Resiliency", []), app_id=app_id, issues=issues)
    return cfg, issues


def test_full_document_loads(tmp_path: Path) -> None:
    cfg, issues = load(tmp_path, FULL)
    assert issues == []
    assert cfg.timeouts == {"general": 5.0, "fast": 0.15}  # type: ignore[attr-defined]
    retry = cfg.retries["pubsubRetry"]  # type: ignore[attr-defined]
    assert retry.matching.httpStatusCodes == {*range(500, 600), 429}
    assert retry.matching.gRPCStatusCodes == {14}
    assert cfg.breakers["simpleCB"].trip == "consecutiveFailures > 8"  # type: ignore[attr-defined]
    assert cfg.components["statestore"].outbound.retry == "pubsubRetry"  # type: ignore[attr-defined]


def test_every_problem_is_reported_with_its_field_path(tmp_path: Path) -> None:
    bad = """\
apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata: {name: bad}
spec:
  policies:
    timeouts:
      general: soon
    retries:
      r1: {policy: linear, maxRetries: -2, matching: {httpStatusCodes: "500-700"}}
      r2: {duration: 1s, maxRetrys: 3}
    circuitBreakers:
      cb: {trip: "consecutiveFailures >"}
  targets:
    components:
      statestore:
        outbound: {retry: nope}
"""
    _, issues = load(tmp_path, FULL, FULL.replace("myresiliency", "second") + "---\n" + bad)
    found = {(Path(i.source).name, i.document, i.path) for i in issues}
    assert found == {
        ("r1.yaml", 1, "spec.policies.timeouts.general"),
        ("r1.yaml", 1, "spec.policies.retries.r1.policy"),
        ("r1.yaml", 1, "spec.policies.retries.r1.maxRetries"),
        ("r1.yaml", 1, "spec.policies.retries.r1.matching.httpStatusCodes"),
        ("r1.yaml", 1, "spec.policies.retries.r2.maxRetrys"),
        ("r1.yaml", 1, "spec.policies.circuitBreakers.cb.trip"),
    }, issues
    messages = " | ".join(str(i) for i in issues)
    assert "invalid duration 'soon'" in messages
    assert "Value error" not in messages
    assert "out of range" in messages
    assert "Syntax error" in messages


def test_unknown_policy_references_are_errors(tmp_path: Path) -> None:
    doc = FULL.replace("retry: pubsubRetry, circuitBreaker", "retry: missing, circuitBreaker")
    _, issues = load(tmp_path, doc)
    assert [(i.path, i.document) for i in issues] == [
        ("spec.targets.components.statestore.outbound.retry", 0)
    ]
    assert "unknown retry policy 'missing'" in issues[0].message
    assert "pubsubRetry" in issues[0].message  # the known names are listed


def test_documents_merge_and_references_may_cross_documents(tmp_path: Path) -> None:
    policies = """\
apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata: {name: policies}
spec:
  policies:
    retries:
      shared: {duration: 10ms, maxRetries: 2}
"""
    targets = """\
apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata: {name: targets}
spec:
  targets:
    components:
      statestore:
        outbound: {retry: shared}
"""
    cfg, issues = load(tmp_path, policies, targets)
    assert issues == []
    assert cfg.names == ("policies", "targets")  # type: ignore[attr-defined]
    assert cfg.components["statestore"].outbound.retry == "shared"  # type: ignore[attr-defined]


def test_scopes_leave_out_documents_of_other_apps_but_validate_checks_all(tmp_path: Path) -> None:
    cfg, issues = load(tmp_path, FULL, app_id="other")
    assert issues == []
    assert cfg.empty  # type: ignore[attr-defined]
    cfg, issues = load(tmp_path, FULL, app_id=None)
    assert issues == []
    assert not cfg.empty  # type: ignore[attr-defined]
