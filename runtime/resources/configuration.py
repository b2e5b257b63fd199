"""The sidecar's Configuration resource (``--config``), as typed models of Dapr's schema.

Every section of ``spec`` is modelled and validated, with every error reported at once (file,
document, field path). Sections Tandem acts on today: ``tracing`` (read by observability),
``metrics.enabled`` and ``logging.apiLogging.enabled``; the others (``features``, ``api``,
``accessControl``, ``secrets``, ``components``, ``httpPipeline``, ``appHttpPipeline``,
``nameResolution``, metric ``rules``/``latencyDistributionBuckets``) are parsed and kept for the
building blocks that will use them. Unknown fields are ignored, as daprd ignores them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import msgspec
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from components._metadata import Duration
from runtime.resources.issues import ConfigError, Issue
from runtime.resources.loader import parse_documents
from runtime.resources.manifest import format_loc

__all__ = ["ConfigurationSpec", "SidecarConfiguration", "empty_spec", "load_configuration"]

Action = Literal["allow", "deny"]


class _Model(BaseModel):
    # Built at the first validation: a sidecar without ``--config`` never pays for the
    # validators of the ~30 models below (see ``empty_spec``).
    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)


class NameValue(_Model):
    name: str
    value: str = ""


class OtelSpec(_Model):
    endpointAddress: str | None = None  # noqa: N815 (Dapr's field names, here and below)
    isSecure: bool | None = None  # noqa: N815
    protocol: Literal["grpc", "http"] | None = None
    headers: str | list[NameValue] | dict[str, str] | None = None
    timeout: str | float | None = None  # a duration, or milliseconds (see observability)


class ZipkinSpec(_Model):
    endpointAddress: str | None = None  # noqa: N815


class TracingSpec(_Model):
    samplingRate: str | None = None  # noqa: N815
    stdout: bool | None = None
    otel: OtelSpec | None = None
    zipkin: ZipkinSpec | None = None

    @field_validator("samplingRate", mode="before")
    @classmethod
    def _rate(cls, value: Any) -> str | None:
        if value is None or value == "":
            return None
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValueError("expected a number between 0 and 1, as a string")  # noqa: TRY004
        try:
            rate = float(value)
        except ValueError:
            raise ValueError(f"expected a number between 0 and 1, got {value!r}") from None
        if not math.isfinite(rate) or not 0.0 <= rate <= 1.0:
            raise ValueError(f"must be between 0 and 1, got {value!r}")
        return str(value)


class MetricLabel(_Model):
    name: str
    regex: dict[str, str] = Field(default_factory=dict)


class MetricRule(_Model):
    name: str
    labels: list[MetricLabel] = Field(default_factory=list)


class MetricsHTTP(_Model):
    increasedCardinality: bool | None = None  # noqa: N815
    pathMatching: list[str] = Field(default_factory=list)  # noqa: N815
    excludeVerbs: bool | None = None  # noqa: N815


class MetricsSpec(_Model):
    enabled: bool | None = None
    recordErrorCodes: bool | None = None  # noqa: N815
    rules: list[MetricRule] = Field(default_factory=list)
    latencyDistributionBuckets: list[int] = Field(default_factory=list)  # noqa: N815  (ms)
    http: MetricsHTTP | None = None

    @field_validator("latencyDistributionBuckets")
    @classmethod
    def _buckets(cls, value: list[int]) -> list[int]:
        if any(b <= 0 or b > 10**9 for b in value):
            raise ValueError("buckets are milliseconds between 1 and 1e9")
        if value != sorted(set(value)):
            raise ValueError("buckets must be in increasing order, without repeats")
        return value


class ApiLogging(_Model):
    enabled: bool | None = None
    obfuscateURLs: bool = False  # noqa: N815
    omitHealthChecks: bool = False  # noqa: N815


class LoggingSpec(_Model):
    apiLogging: ApiLogging | None = None  # noqa: N815


class Feature(_Model):
    name: str
    enabled: bool = False


class ApiRule(_Model):
    name: str
    version: str = ""
    protocol: Literal["http", "grpc", ""] = ""


class ApiSpec(_Model):
    allowed: list[ApiRule] | None = None
    denied: list[ApiRule] | None = None


class Operation(_Model):
    name: str
    httpVerb: list[str] = Field(default_factory=list)  # noqa: N815
    action: Action


class AppPolicy(_Model):
    appId: str  # noqa: N815
    defaultAction: Action | None = None  # noqa: N815
    trustDomain: str | None = None  # noqa: N815
    namespace: str | None = None
    operations: list[Operation] = Field(default_factory=list)


class AccessControl(_Model):
    defaultAction: Action = "allow"  # noqa: N815
    trustDomain: str = "public"  # noqa: N815
    policies: list[AppPolicy] = Field(default_factory=list)


class SecretScope(_Model):
    storeName: str  # noqa: N815
    defaultAccess: Action = "allow"  # noqa: N815
    allowedSecrets: list[str] = Field(default_factory=list)  # noqa: N815
    deniedSecrets: list[str] = Field(default_factory=list)  # noqa: N815


class SecretsSpec(_Model):
    scopes: list[SecretScope] = Field(default_factory=list)


class ComponentsSpec(_Model):
    deny: list[str] = Field(default_factory=list)


class Handler(_Model):
    name: str
    type: str
    version: str = "v1"


class Pipeline(_Model):
    handlers: list[Handler] = Field(default_factory=list)


class NameResolution(_Model):
    component: str
    version: str = "v1"
    configuration: Any = None


class MTLSSpec(_Model):
    enabled: bool | None = None
    workloadCertTTL: Duration | None = None  # noqa: N815
    allowedClockSkew: Duration | None = None  # noqa: N815


class ConfigurationSpec(_Model):
    """``spec`` of a Configuration; ``metric`` is Dapr's older spelling of ``metrics``."""

    tracing: TracingSpec | None = None
    metrics: MetricsSpec | None = None
    metric: MetricsSpec | None = None
    logging: LoggingSpec | None = None
    features: list[Feature] = Field(default_factory=list)
    api: ApiSpec | None = None
    accessControl: AccessControl | None = None  # noqa: N815
    secrets: SecretsSpec | None = None
    components: ComponentsSpec | None = None
    httpPipeline: Pipeline | None = None  # noqa: N815
    appHttpPipeline: Pipeline | None = None  # noqa: N815
    nameResolution: NameResolution | None = None  # noqa: N815
    mtls: MTLSSpec | None = None

    @property
    def effective_metrics(self) -> MetricsSpec | None:
        return self.metrics or self.metric

    def feature(self, name: str) -> bool:
        """Whether the preview feature ``name`` is enabled (the last entry wins)."""
        enabled = False
        for f in self.features:
            if f.name == name:
                enabled = f.enabled
        return enabled


def empty_spec() -> ConfigurationSpec:
    """The spec of no Configuration document (every section unset), what validating ``{}``
    gives, made without building the models' validators."""
    return ConfigurationSpec.model_construct()


class SidecarConfiguration(msgspec.Struct, frozen=True):
    """The merged ``spec`` of the Configuration documents given with ``--config``: later
    documents replace earlier ones section by section."""

    # raw, for consumers that re-parse
    spec: Mapping[str, Any] = msgspec.field(default_factory=dict)
    sources: tuple[str, ...] = ()
    model: ConfigurationSpec = msgspec.field(default_factory=empty_spec)

    @property
    def tracing(self) -> Mapping[str, Any] | None:
        """The raw ``tracing`` section, for ``TracingSettings.from_config``."""
        value = self.spec.get("tracing")
        return value if isinstance(value, Mapping) else None

    @property
    def metrics_enabled(self) -> bool | None:
        metrics = self.model.effective_metrics
        return metrics.enabled if metrics else None

    @property
    def api_logging(self) -> bool | None:
        logging = self.model.logging
        return logging.apiLogging.enabled if logging and logging.apiLogging else None


def load_configuration(paths: Iterable[Path]) -> SidecarConfiguration:
    """Read and validate Configuration files; raises ConfigError with every problem."""
    issues: list[Issue] = []
    spec: dict[str, Any] = {}
    sources: list[str] = []
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            issues.append(Issue(str(path), f"cannot read configuration: {exc}"))
            continue
        found = False
        for doc in parse_documents(text, str(path), issues):
            if doc.body.get("kind") != "Configuration":
                continue
            found = True
            body_spec = doc.body.get("spec")
            if body_spec is None:
                continue
            if not isinstance(body_spec, dict):
                issues.append(Issue(doc.source, "expected a mapping", doc.index, "spec"))
                continue
            try:
                ConfigurationSpec.model_validate(body_spec)
            except ValidationError as exc:
                issues.extend(
                    Issue(doc.source, err["msg"], doc.index, "spec." + format_loc(err["loc"]))
                    for err in exc.errors()
                )
                continue
            spec.update(body_spec)
        if found:
            sources.append(str(path))
        elif not any(i.source == str(path) for i in issues):
            issues.append(Issue(str(path), "no document of kind Configuration in this file"))
    if issues:
        raise ConfigError(issues)
    model = ConfigurationSpec.model_validate(spec) if spec else empty_spec()
    return SidecarConfiguration(spec=spec, sources=tuple(sources), model=model)
