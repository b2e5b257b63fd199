"""Fixtures of the secret store cases: the seeded secrets and the store under test.

``seeded`` (autouse) puts Dapr's conformance secrets into the store of the test's matrix entry
before it starts: the file stores read ``fixtures/secrets.json``; the env store gets variables
under its ``${UNIQUE}_`` prefix; Redis gets keys under ``${UNIQUE}:`` (removed afterwards).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

import pytest

from components.secretstores import SecretStore
from tests.conformance._harness import Case
from tests.servers import REDIS_URL

SECRETS = {"conftestsecret": "abcd", "secondsecret": "efgh"}
MULTI = {"sql": "s", "mysql": "m"}


@pytest.fixture(autouse=True)
def seeded(case: Case[Any], unique_name: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    match case.options.seed:
        case "env":
            for name, value in SECRETS.items():
                monkeypatch.setenv(f"{unique_name}_{name}", value)
            yield
        case "redis":
            import redis

            host, _, port = REDIS_URL.rpartition(":")
            client = redis.Redis(host=host or REDIS_URL, port=int(port or 6379))
            keys = [f"{unique_name}:{n}" for n in (*SECRETS, "connectionStrings")]
            try:
                for name, value in SECRETS.items():
                    client.set(f"{unique_name}:{name}", value)
                for field, value in MULTI.items():
                    client.hset(f"{unique_name}:connectionStrings", field, value)
                yield
            finally:
                client.delete(*keys)
                client.close()
        case _:
            yield


@pytest.fixture
def store(component: object) -> SecretStore:
    return cast(SecretStore, component)
