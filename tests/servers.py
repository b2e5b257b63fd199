"""Access to the real backend servers on 127.0.0.1 for tests.

A test that needs a server calls ``require_server``: when the server is unreachable the test is
skipped with a message naming it, except under CI (``CI=true``), where a missing server fails.
"""

from __future__ import annotations

import os
import socket
import uuid

import pytest

__all__ = ["POSTGRES_DSN", "REDIS_URL", "SERVERS", "require_server", "unique"]

SERVERS: dict[str, tuple[str, int]] = {
    "redis": ("127.0.0.1", 6379),
    "postgres": ("127.0.0.1", 5432),
    "rabbitmq": ("127.0.0.1", 5672),
    "mosquitto": ("127.0.0.1", 1883),
    "nats": ("127.0.0.1", 4222),
    "mariadb": ("127.0.0.1", 3306),
}

REDIS_URL = os.environ.get("TANDEM_TEST_REDIS", "127.0.0.1:6379")
POSTGRES_DSN = os.environ.get("TANDEM_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def require_server(name: str) -> None:
    host, port = SERVERS[name]
    if _reachable(host, port):
        return
    message = f"{name} server not reachable on {host}:{port}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message} (CI=true: a missing server is a failure)")
    pytest.skip(message)


ISSUED: set[str] = set()
"""Every name ``unique`` gave out in this process: what a clean-up may delete on a shared
server (a name holding one of them is this run's, never another's)."""


def unique(prefix: str = "t") -> str:
    """A name no other test run uses: isolates keys, tables and topics on shared servers."""
    name = f"{prefix}{uuid.uuid4().hex[:12]}"
    ISSUED.add(name)
    return name
