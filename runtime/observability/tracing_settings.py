"""Tracing settings: the Configuration ``spec.tracing`` section and the ``OTEL_EXPORTER_OTLP_*``
variables, parsed and validated into ``TracingSettings``.

A leaf module (standard library and the stdlib-only ``components._duration``): configuration
loading, the lifecycle and the tracing setup all import it without importing each other or
OpenTelemetry.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import msgspec

from components._duration import parse_duration

__all__ = [
    "DEFAULT_EXPORT_TIMEOUT",
    "DEFAULT_SAMPLING_RATE",
    "OtlpProtocol",
    "TracingConfigError",
    "TracingSettings",
]

DEFAULT_SAMPLING_RATE = 0.0001
"""Dapr's default when the Configuration has a tracing section without ``samplingRate``."""
DEFAULT_EXPORT_TIMEOUT = 5.0
"""Seconds one export call may take, retries included; the SDK's default is 10."""

OtlpProtocol = Literal["grpc", "http"]


class TracingConfigError(ValueError):
    """An invalid tracing setting; ``field`` names it (``tracing.samplingRate``, an env var)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


class TracingSettings(msgspec.Struct, frozen=True, kw_only=True):
    """What to trace and where to send it. ``TracingSettings()`` is tracing off.

    ``otlp_endpoint`` is normalised for the exporter: ``host:port`` for gRPC, a full URL ending in
    the signal path (``http://host:4318/v1/traces``) for HTTP.
    """

    sampling_rate: float = 0.0
    otlp_endpoint: str | None = None
    otlp_protocol: OtlpProtocol = "grpc"
    otlp_insecure: bool = True
    stdout: bool = False
    otlp_headers: tuple[tuple[str, str], ...] = ()
    """Extra export headers from ``otel.headers``; ``OTEL_EXPORTER_OTLP_HEADERS`` is read by the
    exporter itself when this is empty."""
    otlp_timeout: float = DEFAULT_EXPORT_TIMEOUT

    @property
    def enabled(self) -> bool:
        """True when spans are sampled and something receives them."""
        return self.sampling_rate > 0.0 and (self.otlp_endpoint is not None or self.stdout)

    @classmethod
    def from_config(
        cls, spec_tracing: Mapping[str, Any] | None, env: Mapping[str, str]
    ) -> TracingSettings:
        """Parse ``spec.tracing`` (may be None) and the OTLP environment variables.

        A value in the YAML wins over the environment. Like daprd, an endpoint that comes only
        from the environment samples everything unless ``samplingRate`` says otherwise; an
        endpoint from the YAML uses the Dapr default rate 0.0001. ``samplingRate: "0"`` turns
        tracing off. Raises ``ValueError`` naming the offending field.
        """
        spec = _mapping(spec_tracing, "tracing")
        otel = _mapping(spec.get("otel"), "tracing.otel")

        yaml_endpoint = _opt_str(otel.get("endpointAddress"), "tracing.otel.endpointAddress")
        env_endpoint, env_endpoint_name = _first_env(
            env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"
        )
        raw_endpoint = yaml_endpoint or env_endpoint
        endpoint_field = "tracing.otel.endpointAddress" if yaml_endpoint else env_endpoint_name

        protocol = _protocol(otel.get("protocol"), "tracing.otel.protocol")
        if protocol is None:
            value, name = _first_env(
                env, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"
            )
            protocol = _protocol(value, name) or "grpc"

        insecure: bool | None = None
        is_secure = _opt_bool(otel.get("isSecure"), "tracing.otel.isSecure")
        if is_secure is not None:
            insecure = not is_secure
        else:
            value, name = _first_env(
                env, "OTEL_EXPORTER_OTLP_TRACES_INSECURE", "OTEL_EXPORTER_OTLP_INSECURE"
            )
            insecure = _opt_bool(value, name)

        endpoint: str | None = None
        if raw_endpoint:
            endpoint, insecure = _normalise_endpoint(
                raw_endpoint,
                protocol=protocol,
                insecure=insecure,
                base_url=not yaml_endpoint and env_endpoint_name == "OTEL_EXPORTER_OTLP_ENDPOINT",
                field=endpoint_field,
            )

        rate = _sampling_rate(spec.get("samplingRate"))
        if rate is None:
            rate = 1.0 if (endpoint and not yaml_endpoint) else DEFAULT_SAMPLING_RATE

        timeout = _timeout(otel.get("timeout"), "tracing.otel.timeout")
        if timeout is None:
            value, name = _first_env(
                env, "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"
            )
            timeout = _env_timeout_ms(value, name) if value else None

        return cls(
            sampling_rate=rate,
            otlp_endpoint=endpoint,
            otlp_protocol=protocol,
            otlp_insecure=True if insecure is None else insecure,
            stdout=bool(_opt_bool(spec.get("stdout"), "tracing.stdout")),
            otlp_headers=_headers(otel.get("headers"), "tracing.otel.headers"),
            otlp_timeout=DEFAULT_EXPORT_TIMEOUT if timeout is None else timeout,
        )


def _mapping(value: Any, field: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TracingConfigError(field, f"expected a mapping, got {type(value).__name__}")
    return value


def _first_env(env: Mapping[str, str], *names: str) -> tuple[str | None, str]:
    for name in names:
        value = env.get(name, "").strip()
        if value:
            return value, name
    return None, names[-1]


def _opt_str(value: Any, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TracingConfigError(field, f"expected a string, got {type(value).__name__}")
    return value.strip() or None


def _opt_bool(value: Any, field: str) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise TracingConfigError(field, f"expected true or false, got {value!r}")


def _protocol(value: Any, field: str) -> OtlpProtocol | None:
    if value is None or value == "":
        return None
    text = value.strip().lower() if isinstance(value, str) else value
    if text == "grpc":
        return "grpc"
    # daprd maps every OTLP HTTP flavour to "http"; the Python exporter always sends protobuf.
    if text in ("http", "http/protobuf", "http/json"):
        return "http"
    raise TracingConfigError(field, f"unsupported OTLP protocol {value!r} (expected grpc or http)")


def _sampling_rate(value: Any) -> float | None:
    field = "tracing.samplingRate"
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise TracingConfigError(field, f"expected a number between 0 and 1, got {value!r}")
    try:
        rate = float(value)
    except ValueError:
        raise TracingConfigError(
            field, f"expected a number between 0 and 1, got {value!r}"
        ) from None
    if not math.isfinite(rate) or not 0.0 <= rate <= 1.0:
        raise TracingConfigError(field, f"must be between 0 and 1, got {value!r}")
    return rate


def _timeout(value: Any, field: str) -> float | None:
    """A YAML timeout: a Go duration (``500ms``, ``10s``, ``1m30s``) or a number of ms."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise TracingConfigError(field, f"expected a duration such as 10s, got {value!r}")
    text = str(value).strip()
    try:
        number = float(text) if isinstance(value, int | float) or _is_number(text) else None
        seconds = parse_duration(number / 1000.0 if number is not None else text)
    except ValueError:
        raise TracingConfigError(field, f"expected a duration such as 10s, got {value!r}") from None
    if seconds <= 0:
        raise TracingConfigError(field, f"must be positive, got {value!r}")
    return seconds


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _env_timeout_ms(value: str, field: str) -> float:
    try:
        millis = float(value)
    except ValueError:
        raise TracingConfigError(field, f"expected milliseconds, got {value!r}") from None
    if not math.isfinite(millis) or millis <= 0:
        raise TracingConfigError(field, f"must be positive, got {value!r}")
    return millis / 1000.0


def _headers(value: Any, field: str) -> tuple[tuple[str, str], ...]:
    """``"k=v,k2=v2"``, a mapping, or a list of ``{name, value}`` items."""
    if value is None or value == "":
        return ()
    pairs: list[tuple[str, str]] = []
    if isinstance(value, str):
        for item in value.split(","):
            if not item.strip():
                continue
            name, sep, val = item.partition("=")
            if not sep or not name.strip():
                raise TracingConfigError(field, f"expected name=value pairs, got {item.strip()!r}")
            pairs.append((name.strip().lower(), val.strip()))
    elif isinstance(value, Mapping):
        pairs = [(str(k).strip().lower(), str(v)) for k, v in value.items()]
    elif isinstance(value, Sequence):
        for item in value:
            if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
                raise TracingConfigError(field, "expected items with name and value")
            pairs.append((item["name"].strip().lower(), str(item.get("value", ""))))
    else:
        raise TracingConfigError(field, f"expected a string or a list, got {type(value).__name__}")
    return tuple(pairs)


def _normalise_endpoint(
    raw: str, *, protocol: OtlpProtocol, insecure: bool | None, base_url: bool, field: str
) -> tuple[str, bool | None]:
    """Return the exporter endpoint and the insecure flag (derived from a scheme if unset)."""
    text = raw.strip()
    scheme = ""
    if "://" in text:
        scheme, _, text = text.partition("://")
        scheme = scheme.lower()
        if scheme not in ("http", "https"):
            raise TracingConfigError(field, f"unsupported scheme {scheme!r} in {raw!r}")
        if insecure is None:
            insecure = scheme == "http"
    host, slash, path = text.partition("/")
    if not host or any(c.isspace() for c in host):
        raise TracingConfigError(field, f"expected host:port, got {raw!r}")
    if protocol == "grpc":
        return host, insecure
    use_tls = insecure is False
    path = (slash + path).rstrip("/")
    if base_url or not path:
        # OTEL_EXPORTER_OTLP_ENDPOINT is a base URL; a bare host:port gets the default path.
        path += "/v1/traces"
    return f"{'https' if use_tls else 'http'}://{host}{path}", insecure
