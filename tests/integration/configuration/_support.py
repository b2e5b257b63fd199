"""A sidecar over a watched ``configuration.file`` store, with an app recording callbacks.

``ConfigEnv.write``/``delete`` change the file (atomically, as an editor does) and the tests
watch the change arrive; each test uses its own keys (``env.keys()``), so tests share one
sidecar per module.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.integration.harness import Response, Sidecar, component_yaml, free_port, http_request

__all__ = ["STORE", "ConfigEnv", "start_env"]

STORE = "configstore"
HERE = Path(__file__).resolve().parent
_counter = itertools.count()


@dataclass
class ConfigEnv:
    sidecar: Sidecar
    file: Path
    app_port: int
    items: dict[str, dict[str, str]] = field(default_factory=dict)

    def keys(self, n: int = 2) -> list[str]:
        run = f"{uuid.uuid4().hex[:8]}{next(_counter)}"
        return [f"{run}-k{i}" for i in range(n)]

    def _flush(self) -> None:
        tmp = self.file.with_suffix(".tmp")
        tmp.write_text(yaml.safe_dump(self.items), encoding="utf-8")
        os.replace(tmp, self.file)

    def write(self, values: dict[str, str], version: str = "1") -> None:
        self.items.update({k: {"value": v, "version": version} for k, v in values.items()})
        self._flush()

    def delete(self, keys: list[str]) -> None:
        for k in keys:
            self.items.pop(k, None)
        self._flush()

    def http(self, path: str) -> Response:
        return self.sidecar.request("GET", path)

    def received(self) -> list[dict[str, Any]]:
        """Every callback the app got so far."""
        out: list[dict[str, Any]] = http_request(self.app_port, "GET", "/received").json()
        return out


@contextmanager
def start_env(tmp: Path, *, extra_components: tuple[str, ...] = ()) -> Iterator[ConfigEnv]:
    tmp.mkdir(parents=True, exist_ok=True)
    file = tmp / "configuration.yaml"
    file.write_text("{}\n", encoding="utf-8")
    app_port = free_port()
    component = component_yaml(
        STORE, "configuration.file", {"path": str(file), "pollInterval": "20ms"}
    )
    with Sidecar.start(
        tmp,
        components=[component, *extra_components],
        app_id=f"cfg{uuid.uuid4().hex[:8]}",
        args=["--app-port", str(app_port)],
        app_command=[sys.executable, str(HERE / "callback_app.py"), str(app_port)],
    ) as sc:
        sc.wait_ready()
        yield ConfigEnv(sidecar=sc, file=file, app_port=app_port)


def item(value: str, version: str = "1") -> dict[str, Any]:
    return {"value": value, "version": version, "metadata": {}}


def as_json(text: str) -> Any:
    return json.loads(text)
