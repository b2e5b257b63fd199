"""Start-up decisions: mTLS on or off, and when exposing the APIs is warned about."""

from __future__ import annotations

from typing import Any

import pytest

from runtime.config import config_from_args, parse_args
from runtime.resources.configuration import ConfigurationSpec
from runtime.security.setup import exposed_without_token, mtls_enabled


def spec(**fields: Any) -> ConfigurationSpec:
    return ConfigurationSpec.model_validate(fields)


@pytest.mark.parametrize(
    ("flag", "configured", "on"),
    [
        (None, {}, True),  # on by default
        (None, {"mtls": {"enabled": False}}, False),
        (None, {"mtls": {"enabled": True}}, True),
        (False, {}, False),
        (True, {"mtls": {"enabled": False}}, True),  # the flag wins
    ],
)
def test_mtls_enabled(flag: bool | None, configured: dict[str, Any], on: bool) -> None:
    assert mtls_enabled(flag, spec(**configured)) is on


def test_enable_mtls_flag_takes_daprd_forms() -> None:
    def cfg(*argv: str) -> bool | None:
        return config_from_args(parse_args(["run", "--app-id", "a", *argv]), {}).enable_mtls

    assert cfg() is None
    assert cfg("--enable-mtls=false") is False
    assert cfg("-enable-mtls") is True


@pytest.mark.parametrize(
    ("addresses", "token", "exposed"),
    [
        ("127.0.0.1", None, []),
        ("127.0.0.1,::1,localhost,[::1]", None, []),
        ("0.0.0.0", None, ["0.0.0.0"]),
        ("127.0.0.1,10.1.2.3", None, ["10.1.2.3"]),
        ("myhost.example", None, ["myhost.example"]),
        ("0.0.0.0", "t", []),
    ],
)
def test_exposed_without_token(addresses: str, token: str | None, exposed: list[str]) -> None:
    env = {"DAPR_API_TOKEN": token} if token else {}
    ns = parse_args(["run", "--app-id", "a", "--dapr-listen-addresses", addresses])
    assert exposed_without_token(config_from_args(ns, env)) == exposed
