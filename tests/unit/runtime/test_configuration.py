"""The Configuration resource (runtime/resources/configuration.py): typed, every error at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.observability.tracing_settings import TracingSettings
from runtime.resources.configuration import load_configuration
from runtime.resources.issues import ConfigError, Issue

HEADER = "apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata:\n  name: appconfig\n"

FULL = (
    HEADER
    + """\
spec:
  tracing:
    samplingRate: "1"
    stdout: true
    otel: {endpointAddress: "localhost:4317", isSecure: false, protocol: grpc}
    zipkin: {endpointAddress: "http://localhost:9411/api/v2/spans"}
  metrics:
    enabled: true
    recordErrorCodes: true
    rules:
    - name: dapr_runtime_service_invocation_req_sent_total
      labels: [{name: method, regex: {"orders/": "orders/.+"}}]
    latencyDistributionBuckets: [1, 2, 5, 10, 50, 100]
    http: {increasedCardinality: false, pathMatching: ["/orders/{orderID}"], excludeVerbs: false}
  logging:
    apiLogging: {enabled: false, obfuscateURLs: false, omitHealthChecks: true}
  features:
  - {name: HotReload, enabled: true}
  api:
    allowed: [{name: state, version: v1.0, protocol: http}]
    denied: []
  accessControl:
    defaultAction: deny
    trustDomain: public
    policies:
    - appId: app1
      defaultAction: deny
      trustDomain: public
      namespace: default
      operations:
      - {name: /op1, httpVerb: [POST, GET], action: deny}
      - {name: /op2/*, httpVerb: ["*"], action: allow}
  secrets:
    scopes:
    - {storeName: localstore, defaultAccess: allow, allowedSecrets: [], deniedSecrets: [pw]}
  components:
    deny: [bindings.smtp, secretstores.local.file]
  httpPipeline: {handlers: [{name: oauth2, type: middleware.http.oauth2}]}
  appHttpPipeline: {handlers: []}
  nameResolution: {component: mdns, version: v1, configuration: {}}
  someFutureSection: {x: 1}
"""
)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def errors(*paths: Path) -> list[Issue]:
    with pytest.raises(ConfigError) as info:
        load_configuration(paths)
    return info.value.issues


def test_every_documented_section_is_typed_and_kept(tmp_path: Path) -> None:
    cfg = load_configuration([write(tmp_path / "c.yaml", FULL)])
    m = cfg.model
    assert cfg.metrics_enabled is True
    assert cfg.api_logging is False
    assert m.effective_metrics is not None
    assert m.effective_metrics.latencyDistributionBuckets == [1, 2, 5, 10, 50, 100]
    assert m.effective_metrics.rules[0].labels[0].regex == {"orders/": "orders/.+"}
    assert m.feature("HotReload") is True
    assert m.feature("Other") is False
    assert m.accessControl is not None
    assert m.accessControl.defaultAction == "deny"
    assert m.accessControl.policies[0].operations[1].httpVerb == ["*"]
    assert m.secrets is not None
    assert m.secrets.scopes[0].deniedSecrets == ["pw"]
    assert m.components is not None
    assert "bindings.smtp" in m.components.deny
    assert m.httpPipeline is not None
    assert m.httpPipeline.handlers[0].type == "middleware.http.oauth2"
    assert m.appHttpPipeline is not None
    assert m.appHttpPipeline.handlers == []
    assert m.nameResolution is not None
    assert m.nameResolution.component == "mdns"
    assert m.api is not None
    assert m.api.allowed is not None
    assert m.api.allowed[0].name == "state"
    assert cfg.sources == (str(tmp_path / "c.yaml"),)


def test_tracing_section_still_feeds_observability(tmp_path: Path) -> None:
    cfg = load_configuration([write(tmp_path / "c.yaml", FULL)])
    settings = TracingSettings.from_config(cfg.tracing, {})
    assert settings.sampling_rate == 1.0
    assert settings.otlp_endpoint is not None
    assert "4317" in settings.otlp_endpoint
    assert settings.stdout is True


@pytest.mark.parametrize("text", ['"false"', "false", "'False'", '"0"'])
def test_quoted_false_is_false(tmp_path: Path, text: str) -> None:
    """``bool("false")`` is True in Python: the old code turned metrics on for ``"false"``."""
    body = HEADER + f"spec:\n  metrics: {{enabled: {text}}}\n  logging:\n"
    body += f"    apiLogging: {{enabled: {text}}}\n"
    cfg = load_configuration([write(tmp_path / "c.yaml", body)])
    assert cfg.metrics_enabled is False
    assert cfg.api_logging is False


def test_quoted_true_is_true_and_metric_is_an_alias(tmp_path: Path) -> None:
    body = (
        HEADER + 'spec:\n  metric: {enabled: "true"}\n  logging: {apiLogging: {enabled: "true"}}\n'
    )
    cfg = load_configuration([write(tmp_path / "c.yaml", body)])
    assert cfg.metrics_enabled is True
    assert cfg.api_logging is True


def test_absent_sections_mean_no_opinion(tmp_path: Path) -> None:
    cfg = load_configuration([write(tmp_path / "c.yaml", HEADER + "spec: {}\n")])
    assert (cfg.metrics_enabled, cfg.api_logging, cfg.tracing) == (None, None, None)


def test_every_error_reported_at_once_with_file_and_path(tmp_path: Path) -> None:
    body = (
        HEADER
        + """\
spec:
  tracing: {samplingRate: "2"}
  metrics: {enabled: maybe, latencyDistributionBuckets: [5, 1]}
  accessControl: {defaultAction: perhaps}
  features: [{enabled: true}]
"""
    )
    path = write(tmp_path / "bad.yaml", body)
    issues = errors(path)
    paths = {i.path for i in issues}
    assert {
        "spec.tracing.samplingRate",
        "spec.metrics.enabled",
        "spec.metrics.latencyDistributionBuckets",
        "spec.accessControl.defaultAction",
        "spec.features[0].name",
    } <= paths
    assert all(i.source == str(path) for i in issues)


def test_errors_in_several_files_are_collected(tmp_path: Path) -> None:
    a = write(tmp_path / "a.yaml", HEADER + "spec: {metrics: {enabled: maybe}}\n")
    b = write(tmp_path / "b.yaml", HEADER + "spec: {logging: {apiLogging: {enabled: 7}}}\n")
    assert {i.source for i in errors(a, b)} == {str(a), str(b)}


def test_later_files_replace_sections(tmp_path: Path) -> None:
    a = write(tmp_path / "a.yaml", HEADER + "spec: {metrics: {enabled: false}}\n")
    b = write(tmp_path / "b.yaml", HEADER + "spec: {metrics: {enabled: true}}\n")
    assert load_configuration([a, b]).metrics_enabled is True


def test_file_without_configuration(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", "kind: Component\n")
    (issue,) = errors(path)
    assert "no document of kind Configuration" in issue.message


def test_alias_bomb_in_configuration_is_refused(tmp_path: Path) -> None:
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x","x"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    path = write(tmp_path / "bomb.yaml", HEADER + "spec:\n" + "\n".join("  " + ln for ln in lines))
    (issue,) = errors(path)
    assert issue.source == str(path)
    assert "refused" in issue.message


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("1m30s", 90.0), ("1.5s", 1.5), ("250ms", 0.25), ("500", 0.5), (750, 0.75)],
)
def test_tracing_timeout_uses_the_shared_duration_parser(value: object, seconds: float) -> None:
    """Go durations (``1m30s`` was refused before), or milliseconds for a bare number."""
    settings = TracingSettings.from_config({"otel": {"timeout": value}}, {})
    assert settings.otlp_timeout == pytest.approx(seconds)


@pytest.mark.parametrize("value", ["nan", "inf", "-1s", "0", "soon"])
def test_tracing_timeout_refuses_nonsense(value: str) -> None:
    with pytest.raises(ValueError, match=r"tracing\.otel\.timeout"):
        TracingSettings.from_config({"otel": {"timeout": value}}, {})
