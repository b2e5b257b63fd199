"""Fixtures of the secrets integration tests: one sidecar per module (see ``_support``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.secrets._support import SecretsEnv, start_env


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecretsEnv]:
    with start_env(tmp_path_factory.mktemp("secrets")) as e:
        yield e
