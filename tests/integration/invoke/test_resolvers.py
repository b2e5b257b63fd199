"""Two real sidecars that find each other through a configured resolver and invoke each other:
``nameresolution.redis`` (the shared Redis server, a key prefix of the test's own) and
``nameresolution.mdns`` (multicast DNS on the loopback interface). They share a TANDEM_HOME
only for the mTLS CA; the default sqlite registry is not used (its file never appears)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from tests.integration.harness import Sidecar, free_port, wait_until
from tests.integration.invoke.conftest import ECHO_APP
from tests.servers import REDIS_URL, require_server, unique

pytestmark = pytest.mark.integration


def _config(tmp: Path, component: str, metadata: dict[str, Any]) -> Path:
    path = tmp / f"config-{component}.yaml"
    doc = {
        "apiVersion": "dapr.io/v1alpha1",
        "kind": "Configuration",
        "metadata": {"name": f"resolver-{component}"},
        "spec": {"nameResolution": {"component": component, "configuration": metadata}},
    }
    path.write_text(yaml.safe_dump(doc))
    return path


@contextlib.contextmanager
def _pair(tmp: Path, config: Path, prefix: str) -> Iterator[tuple[Sidecar, Sidecar]]:
    def spec(app_id: str) -> dict[str, Any]:
        port = free_port()
        return {
            "app_id": app_id,
            "empty_resources": True,
            "args": ["--app-port", str(port), "--config", str(config)],
            "app_command": [sys.executable, str(ECHO_APP), str(port)],
        }

    with (
        Sidecar.start(tmp, **spec(f"{prefix}-caller")) as caller,
        Sidecar.start(tmp, **spec(f"{prefix}-callee")) as callee,
    ):
        caller.wait_ready()
        callee.wait_ready()
        yield caller, callee


def _invokes(caller: Sidecar, callee: Sidecar) -> None:
    r = caller.request("GET", f"/v1.0/invoke/{callee.app_id}/method/echo/hi?x=1")
    assert r.status == 200, r.text
    seen = r.json()
    assert seen["path"] == "/echo/hi"
    assert seen["headers"]["dapr-caller-app-id"] == caller.app_id


def _status(caller: Sidecar, app_id: str) -> int:
    return caller.request("GET", f"/v1.0/invoke/{app_id}/method/echo").status


def test_redis_sidecars_find_each_other_and_invoke(tmp_path: Path) -> None:
    require_server("redis")
    prefix = f"{unique('nr')}:"
    host, _, port = REDIS_URL.rpartition(":")
    config = _config(
        tmp_path,
        "redis",
        {"redisHost": REDIS_URL, "keyPrefix": prefix, "ttl": "3s", "heartbeatInterval": "500ms"},
    )
    client = redis.Redis(host=host, port=int(port))
    try:
        with _pair(tmp_path, config, "rz") as (caller, callee):
            assert client.zcard(f"{prefix}:rz-callee") == 1  # namespace "" then the app id
            _invokes(caller, callee)
            _invokes(callee, caller)
            callee.stop()  # unregisters: the caller then answers 404 for it
            assert wait_until(
                lambda: caller.request("GET", "/v1.0/invoke/rz-callee/method/echo").status == 404,
                timeout=10,
            )
        assert not (tmp_path / "home" / "data" / "nameresolution.db").exists()
    finally:
        for key in client.scan_iter(match=f"{prefix}*"):
            client.delete(key)
        client.close()


def test_mdns_sidecars_find_each_other_and_invoke(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        "mdns",
        {"interfaces": "127.0.0.1", "serviceType": "_tandem-e2e._tcp", "ttl": "5s"},
    )
    with _pair(tmp_path, config, unique("md")) as (caller, callee):
        assert wait_until(lambda: _status(caller, callee.app_id) == 200, timeout=10)
        _invokes(caller, callee)
        _invokes(callee, caller)
        callee.stop()  # a goodbye: the caller forgets it
        assert wait_until(lambda: _status(caller, callee.app_id) == 404, timeout=10)
