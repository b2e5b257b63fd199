"""One sidecar per test module: a ``configuration.file`` store and a recording HTTP app."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.configuration._support import ConfigEnv, start_env


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConfigEnv]:
    with start_env(tmp_path_factory.mktemp("configuration")) as e:
        yield e
