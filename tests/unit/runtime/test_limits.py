"""Limit flags (runtime/config.py), the in-flight body budget (runtime/api/http/limits.py) and
the extended-metadata bounds (runtime/services/metadata.py)."""

from __future__ import annotations

import pytest

from runtime.api.http.limits import BodyBudget
from runtime.compstore import ComponentStore
from runtime.config import SidecarConfig, UsageError, config_from_args, parse_args
from runtime.errors import APIError
from runtime.services.metadata import (
    MAX_ATTRIBUTE_KEY,
    MAX_ATTRIBUTE_VALUE,
    MAX_ATTRIBUTES,
    MAX_ATTRIBUTES_SIZE,
    AppConnection,
    MetadataService,
)
from runtime.services.metadata_errors import MetadataErrors

MiB = 1 << 20


def config(*argv: str) -> SidecarConfig:
    return config_from_args(parse_args(["run", "--app-id", "a", *argv], {}), {})


def test_limit_defaults() -> None:
    cfg = config()
    assert cfg.max_body_size == 4 * MiB
    assert cfg.max_inflight_body_size == 32 * MiB
    assert cfg.read_buffer_size == 8 * 1024
    assert (cfg.http_header_read_timeout, cfg.http_body_read_timeout) == (10.0, 30.0)
    assert cfg.http_idle_timeout == 60.0


def test_limit_flags() -> None:
    cfg = config(
        "--max-inflight-body-size",
        "64Mi",
        "--read-buffer-size",
        "16Ki",
        "--http-header-read-timeout",
        "2.5",
        "--http-body-read-timeout",
        "0",
        "--http-idle-timeout",
        "5",
    )
    assert cfg.max_inflight_body_size == 64 * MiB
    assert cfg.read_buffer_size == 16 * 1024
    assert (cfg.http_header_read_timeout, cfg.http_body_read_timeout) == (2.5, 0.0)
    assert cfg.http_idle_timeout == 5.0


def test_deprecated_daprd_size_flags_are_mib_and_kib() -> None:
    cfg = config("--dapr-http-max-request-size", "8", "--dapr-http-read-buffer-size", "16")
    assert cfg.max_body_size == 8 * MiB
    assert cfg.read_buffer_size == 16 * 1024
    # the current flag wins over its deprecated form
    assert (
        config("--max-body-size", "1Mi", "--dapr-http-max-request-size", "8").max_body_size == MiB
    )


def test_inflight_budget_follows_a_larger_body_limit() -> None:
    assert config("--max-body-size", "64Mi").max_inflight_body_size == 64 * MiB


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["--max-inflight-body-size", "1Mi"], "--max-inflight-body-size"),  # < max body
        (["--max-inflight-body-size", "lots"], "--max-inflight-body-size"),
        (["--read-buffer-size", "0"], "--read-buffer-size"),
        (["--http-header-read-timeout", "-1"], "--http-header-read-timeout"),
        (["--http-body-read-timeout", "nan"], "--http-body-read-timeout"),
        (["--http-idle-timeout", "0"], "--http-idle-timeout"),
    ],
)
def test_bad_limit_flags_name_the_flag(argv: list[str], flag: str) -> None:
    with pytest.raises(UsageError, match=flag):
        config(*argv)


def test_budget_grants_within_the_limit_and_refuses_beyond() -> None:
    budget = BodyBudget(10)
    assert budget.reserve(6)
    assert not budget.reserve(5)
    assert budget.reserve(4)
    budget.release(6)
    assert budget.reserve(5)
    assert budget.used == 9


def metadata() -> MetadataService:
    conn = AppConnection(port=None, protocol="http", channel_address="127.0.0.1")
    return MetadataService(ComponentStore(), app_id="a", app_connection=conn)


def test_metadata_value_and_key_bounds() -> None:
    svc = metadata()
    svc.set_attribute("k", "v" * MAX_ATTRIBUTE_VALUE)
    with pytest.raises(APIError) as err:
        svc.set_attribute("k2", "v" * (MAX_ATTRIBUTE_VALUE + 1))
    assert err.value.kind is MetadataErrors.ATTRIBUTES_TOO_LARGE
    assert err.value.code == "ERR_METADATA_TOO_LARGE"
    for key in ("k" * (MAX_ATTRIBUTE_KEY + 1), ""):
        with pytest.raises(APIError) as err:
            svc.set_attribute(key, "v")
        assert err.value.kind is MetadataErrors.ATTRIBUTE_KEY_INVALID
    assert "k2" not in svc.snapshot().extended


def test_metadata_count_bound_and_replacing_is_free() -> None:
    svc = metadata()
    start = len(svc.snapshot().extended)
    for i in range(MAX_ATTRIBUTES - start):
        svc.set_attribute(f"k{i}", "v")
    with pytest.raises(APIError) as err:
        svc.set_attribute("one-more", "v")
    assert err.value.kind is MetadataErrors.ATTRIBUTES_TOO_LARGE
    svc.set_attribute("k0", "replaced")  # replacing an attribute adds none
    assert svc.snapshot().extended["k0"] == "replaced"


def test_metadata_total_size_bound_counts_replacements() -> None:
    svc = metadata()
    value = "v" * MAX_ATTRIBUTE_VALUE
    fits = MAX_ATTRIBUTES_SIZE // MAX_ATTRIBUTE_VALUE - 1  # room is left for the built-ins
    for i in range(fits):
        svc.set_attribute(f"k{i}", value)
    with pytest.raises(APIError, match="in all"):
        svc.set_attribute("last", value)
    svc.set_attribute("k0", "small")  # shrinking an attribute frees its room
    svc.set_attribute("last", value)
    extended = svc.snapshot().extended
    assert sum(len(k) + len(v) for k, v in extended.items()) <= MAX_ATTRIBUTES_SIZE


def test_runtime_attributes_are_not_refused_but_count() -> None:
    svc = metadata()
    svc.set_runtime_attribute("appCommand", "x" * MAX_ATTRIBUTES_SIZE)
    assert svc.snapshot().extended["appCommand"] == "x" * MAX_ATTRIBUTES_SIZE
    with pytest.raises(APIError, match="in all"):
        svc.set_attribute("k", "v")
