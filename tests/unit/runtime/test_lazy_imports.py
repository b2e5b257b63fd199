"""Heavy packages stay out of a sidecar started on the embedded defaults (issue 15: idle memory).

A fresh interpreter does what ``tandem run`` does before it serves, without binding a port:
parse the flags, load the Configuration and the resources (the embedded defaults), plan the
components (which imports their drivers), import the API servers and the metrics, and set up
security. The packages below cost RSS and start-up time and are needed only by features the
defaults do not use, so they must not be imported by then.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]

# package -> what needs it (the only reason it may be imported)
NOT_ON_THE_DEFAULT_PATH = {
    "opentelemetry.sdk": "tracing configured (spec.tracing / OTEL_*)",
    "yaml": "a resource, Configuration or flags file to read",
    "json_logic": "a flag set (components.flags.engine.operators)",
    "openfeature.contrib.tools.flagd.core": "a flag set (flagd's targeting operators)",
    "cel_expr_python": "a CEL expression (breaker trip, pub/sub routing rule)",
    "redis": "a Redis component",
    "asyncpg": "a PostgreSQL component",
    "nats": "pubsub.jetstream",
    "aio_pika": "pubsub.rabbitmq",
    "aiomqtt": "pubsub.mqtt3",
    "httpx": "an h2c app channel",
}

_SCRIPT = r"""
import asyncio, json, os, sys
from contextlib import AsyncExitStack

from runtime.config import config_from_args, parse_args
from runtime.lifecycle import load_all
from runtime.registry import Registry
from runtime.resources.build import plan_components
from runtime.resources.configuration import load_configuration
from runtime.security.setup import start_security

argv = ["run", "--app-id", "lazy", *sys.argv[1:]]
cfg = config_from_args(parse_args(argv, os.environ), os.environ)
configuration = load_configuration(cfg.config_paths)
resources, _, issues = load_all(cfg)
plans = plan_components(
    resources.components, Registry(), app_id=cfg.app_id, env=os.environ, prior_issues=issues
)
assert plans, "the embedded defaults plan no component"
import runtime.api.grpc.server, runtime.api.http.server, runtime.observability.metrics  # noqa


async def security() -> None:
    async with AsyncExitStack() as stack:
        await start_security(stack, cfg, configuration.model, os.environ, None)


asyncio.run(security())
print(json.dumps(sorted(sys.modules)))
"""


def _modules_after_start(tmp_path: Path, *flags: str) -> set[str]:
    env = {
        **os.environ,
        "TANDEM_HOME": str(tmp_path),
        "PYTHONPATH": str(REPO),
    }
    for name in list(env):
        if name.startswith(("OTEL_", "DAPR_")):
            del env[name]
    out = subprocess.run(
        [sys.executable, "-c", _SCRIPT, *flags],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return set(json.loads(out.stdout.splitlines()[-1]))


def _loaded(modules: set[str], package: str) -> bool:
    return package in modules or any(m.startswith(package + ".") for m in modules)


def test_embedded_defaults_leave_heavy_packages_unimported(tmp_path: Path) -> None:
    modules = _modules_after_start(tmp_path)
    loaded = {p: why for p, why in NOT_ON_THE_DEFAULT_PATH.items() if _loaded(modules, p)}
    assert not loaded, f"imported on the default start path (needed only for): {loaded}"
    # the defaults' own drivers are imported: the check above sees the real start path
    assert "components.state.sqlite" in modules


@pytest.mark.parametrize(("flag", "expected"), [("--enable-mtls=false", False), ("", True)])
def test_cryptography_only_with_mtls(tmp_path: Path, flag: str, expected: bool) -> None:
    """cryptography (~9 MB of RSS) issues the workload certificate before the internal port
    accepts connections, so mTLS on (the default) imports it at start-up; off, nothing does."""
    modules = _modules_after_start(tmp_path, *([flag] if flag else []))
    assert _loaded(modules, "cryptography") is expected
