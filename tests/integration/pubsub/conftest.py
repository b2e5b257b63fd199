"""One sidecar (in-memory pub/sub, an HTTP subscriber app) per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.pubsub._support import PubSubEnv, start_env


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PubSubEnv]:
    with start_env(tmp_path_factory.mktemp("pubsub")) as e:
        yield e
