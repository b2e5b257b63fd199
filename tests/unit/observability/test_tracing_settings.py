from __future__ import annotations

from typing import Any

import pytest

from runtime.observability.tracing_settings import (
    DEFAULT_EXPORT_TIMEOUT,
    DEFAULT_SAMPLING_RATE,
    TracingConfigError,
    TracingSettings,
)


def parse(spec: dict[str, Any] | None, **env: str) -> TracingSettings:
    return TracingSettings.from_config(spec, env)


def test_nothing_configured_is_off() -> None:
    settings = parse(None)
    assert not settings.enabled
    assert settings.otlp_endpoint is None
    assert not TracingSettings().enabled


def test_yaml_otel_section() -> None:
    settings = parse(
        {
            "samplingRate": "1",
            "otel": {"endpointAddress": "localhost:4317", "isSecure": False, "protocol": "grpc"},
        }
    )
    assert settings == TracingSettings(
        sampling_rate=1.0,
        otlp_endpoint="localhost:4317",
        otlp_protocol="grpc",
        otlp_insecure=True,
        stdout=False,
    )
    assert settings.enabled


def test_yaml_section_without_rate_uses_dapr_default() -> None:
    settings = parse({"otel": {"endpointAddress": "collector:4317"}})
    assert settings.sampling_rate == DEFAULT_SAMPLING_RATE
    assert settings.otlp_insecure  # Dapr's isSecure defaults to false
    assert settings.otlp_protocol == "grpc"


def test_sampling_rate_zero_disables() -> None:
    settings = parse({"samplingRate": "0", "otel": {"endpointAddress": "c:4317"}, "stdout": True})
    assert settings.sampling_rate == 0.0
    assert not settings.enabled


def test_stdout_alone_enables() -> None:
    settings = parse({"samplingRate": "0.5", "stdout": True})
    assert settings.enabled
    assert settings.stdout
    assert settings.otlp_endpoint is None


@pytest.mark.parametrize("value", ["1", "0.25", " 0.5 ", 1, 0.75, "1e-4"])
def test_sampling_rate_accepts_numbers(value: object) -> None:
    assert 0 < parse({"samplingRate": value}).sampling_rate <= 1


@pytest.mark.parametrize("value", ["abc", "1.5", "-0.1", "nan", "inf", True, [1]])
def test_bad_sampling_rate_raises_naming_field(value: object) -> None:
    with pytest.raises(ValueError, match=r"tracing\.samplingRate"):
        parse({"samplingRate": value})


def test_env_endpoint_alone_samples_everything() -> None:
    settings = parse(None, OTEL_EXPORTER_OTLP_ENDPOINT="http://collector:4317")
    assert settings.enabled
    assert settings.sampling_rate == 1.0
    assert settings.otlp_endpoint == "collector:4317"
    assert settings.otlp_protocol == "grpc"
    assert settings.otlp_insecure  # http:// scheme


def test_env_endpoint_keeps_yaml_sampling_rate() -> None:
    settings = parse({"samplingRate": "0.1"}, OTEL_EXPORTER_OTLP_ENDPOINT="collector:4317")
    assert settings.sampling_rate == 0.1


def test_yaml_wins_over_env() -> None:
    settings = parse(
        {"otel": {"endpointAddress": "yaml:4317", "protocol": "grpc", "isSecure": True}},
        OTEL_EXPORTER_OTLP_ENDPOINT="http://env:4318",
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
        OTEL_EXPORTER_OTLP_INSECURE="true",
    )
    assert settings.otlp_endpoint == "yaml:4317"
    assert settings.otlp_protocol == "grpc"
    assert settings.otlp_insecure is False
    assert settings.sampling_rate == DEFAULT_SAMPLING_RATE


def test_env_fills_fields_the_yaml_leaves_out() -> None:
    settings = parse(
        {"samplingRate": "1", "otel": {"endpointAddress": "yaml:4318"}},
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
        OTEL_EXPORTER_OTLP_INSECURE="false",
    )
    assert settings.otlp_protocol == "http"
    assert settings.otlp_insecure is False
    assert settings.otlp_endpoint == "https://yaml:4318/v1/traces"


def test_traces_specific_env_wins_over_generic() -> None:
    settings = parse(
        None,
        OTEL_EXPORTER_OTLP_ENDPOINT="http://generic:4318",
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="http://traces:4318/custom/path",
        OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL="http/protobuf",
    )
    assert settings.otlp_protocol == "http"
    # a signal-specific URL is used as given
    assert settings.otlp_endpoint == "http://traces:4318/custom/path"


def test_generic_env_http_endpoint_gets_signal_path() -> None:
    settings = parse(
        None,
        OTEL_EXPORTER_OTLP_ENDPOINT="https://collector:4318/otlp/",
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
    )
    assert settings.otlp_endpoint == "https://collector:4318/otlp/v1/traces"
    assert settings.otlp_insecure is False


def test_yaml_http_endpoint_without_path() -> None:
    settings = parse({"otel": {"endpointAddress": "localhost:4318", "protocol": "http"}})
    assert settings.otlp_endpoint == "http://localhost:4318/v1/traces"


def test_yaml_http_endpoint_with_scheme_and_path_kept() -> None:
    settings = parse(
        {"otel": {"endpointAddress": "https://c.example:443/x/v1/traces", "protocol": "http"}}
    )
    assert settings.otlp_endpoint == "https://c.example:443/x/v1/traces"
    assert settings.otlp_insecure is False


def test_grpc_endpoint_scheme_is_stripped() -> None:
    settings = parse({"otel": {"endpointAddress": "https://c.example:4317"}})
    assert settings.otlp_endpoint == "c.example:4317"
    assert settings.otlp_insecure is False


@pytest.mark.parametrize(
    ("spec", "env", "field"),
    [
        ({"otel": {"protocol": "thrift"}}, {}, "tracing.otel.protocol"),
        ({}, {"OTEL_EXPORTER_OTLP_PROTOCOL": "zipkin"}, "OTEL_EXPORTER_OTLP_PROTOCOL"),
        ({"otel": {"isSecure": "maybe"}}, {}, "tracing.otel.isSecure"),
        ({}, {"OTEL_EXPORTER_OTLP_INSECURE": "yes"}, "OTEL_EXPORTER_OTLP_INSECURE"),
        ({"stdout": "loud"}, {}, "tracing.stdout"),
        ({"otel": {"endpointAddress": 4317}}, {}, "tracing.otel.endpointAddress"),
        ({"otel": {"endpointAddress": "ftp://c:1"}}, {}, "tracing.otel.endpointAddress"),
        ({"otel": "c:4317"}, {}, "tracing.otel"),
        ({}, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http:///x"}, "OTEL_EXPORTER_OTLP_ENDPOINT"),
        ({"otel": {"timeout": "soon"}}, {}, "tracing.otel.timeout"),
        ({}, {"OTEL_EXPORTER_OTLP_TIMEOUT": "-1"}, "OTEL_EXPORTER_OTLP_TIMEOUT"),
        ({"otel": {"headers": "novalue"}}, {}, "tracing.otel.headers"),
    ],
)
def test_invalid_values_name_the_field(
    spec: dict[str, Any], env: dict[str, str], field: str
) -> None:
    with pytest.raises(TracingConfigError) as info:
        TracingSettings.from_config(spec, env)
    assert info.value.field == field
    assert str(info.value).startswith(field + ":")
    assert isinstance(info.value, ValueError)


def test_protocol_aliases() -> None:
    for value in ("http", "HTTP/protobuf", "http/json"):
        assert parse({"otel": {"protocol": value}}).otlp_protocol == "http"


def test_boolean_strings() -> None:
    settings = parse({"stdout": "true", "otel": {"endpointAddress": "c:1", "isSecure": "TRUE"}})
    assert settings.stdout
    assert settings.otlp_insecure is False


def test_headers_and_timeout() -> None:
    settings = parse(
        {
            "otel": {
                "endpointAddress": "c:4317",
                "headers": [{"name": "Authorization", "value": "Bearer x"}],
                "timeout": "2s",
            }
        }
    )
    assert settings.otlp_headers == (("authorization", "Bearer x"),)
    assert settings.otlp_timeout == 2.0
    assert parse({"otel": {"headers": "a=1, b = 2"}}).otlp_headers == (("a", "1"), ("b", "2"))
    assert parse({"otel": {"timeout": 1500}}).otlp_timeout == 1.5
    assert parse({"otel": {"timeout": "250ms"}}).otlp_timeout == 0.25
    assert parse(None, OTEL_EXPORTER_OTLP_TRACES_TIMEOUT="3000").otlp_timeout == 3.0
    assert parse(None).otlp_timeout == DEFAULT_EXPORT_TIMEOUT


def test_settings_are_frozen() -> None:
    settings = TracingSettings()
    with pytest.raises(AttributeError):
        settings.sampling_rate = 1.0  # type: ignore[misc]


def test_settings_module_is_a_leaf() -> None:
    """Config loading can parse tracing settings without loading OpenTelemetry or the runtime."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import runtime.observability.tracing_settings\n"
        "packages = {'runtime', 'runtime._version', 'runtime.observability',"
        " 'runtime.observability.observer', 'runtime.observability.tracing_settings'}\n"
        "loaded = [m for m in sys.modules if m.startswith(('runtime', 'opentelemetry'))]\n"
        "assert set(loaded) <= packages, sorted(set(loaded) - packages)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
