"""The app channel's settings: ``--app-max-concurrency`` and ``APP_API_TOKEN``."""

from __future__ import annotations

import pytest

from runtime.config import UsageError, config_from_args, parse_args


def configure(*flags: str, env: dict[str, str] | None = None) -> tuple[int, str | None]:
    env = env or {}
    config = config_from_args(parse_args(["run", "--app-id", "a", *flags], env), env)
    return config.app_max_concurrency, config.app_api_token


def test_defaults_are_unlimited_and_no_token() -> None:
    assert configure() == (-1, None)


@pytest.mark.parametrize("value", ["-1", "0", "1", "100"])
def test_max_concurrency(value: str) -> None:
    assert configure("--app-max-concurrency", value)[0] == int(value)
    assert configure(f"-app-max-concurrency={value}")[0] == int(value)  # daprd's spelling


@pytest.mark.parametrize("value", ["-2", "ten"])
def test_bad_max_concurrency(value: str) -> None:
    with pytest.raises(UsageError, match="app-max-concurrency"):
        configure("--app-max-concurrency", value)


def test_app_api_token_from_the_environment() -> None:
    assert configure(env={"APP_API_TOKEN": "s3cret"})[1] == "s3cret"
    assert configure(env={"APP_API_TOKEN": ""})[1] is None
