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
    "protos.flagd": "a call to flagd's gRPC services (runtime.api.grpc.rpcs.flagd)",
    "components.flags.engine": "a flag set, or a call to flagd's gRPC services",
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

def _models(base):
    for sub in base.__subclasses__():
        yield sub
        yield from _models(sub)


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
import pydantic
built = sorted(
    f"{m.__module__}.{m.__qualname__}"
    for m in _models(pydantic.BaseModel)
    if m.__module__.startswith(("runtime.", "components."))
    and m.__dict__.get("__pydantic_complete__")
)
print(json.dumps({"modules": sorted(sys.modules), "built": built}))
"""


def _after_start(tmp_path: Path, *flags: str) -> dict[str, list[str]]:
    """``modules``: sys.modules; ``built``: Tandem's pydantic models whose validator is built."""
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
    result: dict[str, list[str]] = json.loads(out.stdout.splitlines()[-1])
    return result


def _modules_after_start(tmp_path: Path, *flags: str) -> set[str]:
    return set(_after_start(tmp_path, *flags)["modules"])


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


# Models whose validators (pydantic's schema build, ~1-2 ms a model here) wait for the first
# document that needs them (``defer_build``); the embedded defaults and the empty Configuration
# are made with ``model_construct``.
DEFERRED_MODELS = {
    "runtime.resources.configuration.": "a Configuration file (--config)",
    "runtime.resources.manifest.": "a Component file (--resources-path, $TANDEM_HOME/components)",
    "runtime.resiliency.model.": "a Resiliency document",
    "runtime.resources.subscription.": "a Subscription document",
}


def test_embedded_defaults_build_no_resource_models(tmp_path: Path) -> None:
    built = _after_start(tmp_path)["built"]
    early = [m for m in built if m.startswith(tuple(DEFERRED_MODELS))]
    assert not early, f"validators built on the default start path: {early}"
    # the defaults' own component metadata is validated: the check above sees the real path
    assert "components.state.sqlite._metadata.SqliteMetadata" in built


def test_constants_made_without_validation_equal_their_validated_form(tmp_path: Path) -> None:
    """What ``model_construct`` makes on the start path is what validation would have given."""
    from runtime.resiliency.model import RetrySpec
    from runtime.resiliency.targets import BUILTIN_RETRIES
    from runtime.resources.configuration import ConfigurationSpec, empty_spec, load_configuration
    from runtime.resources.defaults import default_components
    from runtime.resources.manifest import ComponentManifest

    (tmp_path / "flags.json").write_text("{}")  # the third default: flags.file
    defaults = default_components(tmp_path)
    assert [m.spec.type for m in defaults] == ["state.sqlite", "pubsub.sqlite", "flags.file"]
    for made in defaults:
        validated = ComponentManifest.model_validate(made.model_dump(exclude_unset=True))
        assert made == validated
        assert made.model_fields_set == validated.model_fields_set
    for retry in BUILTIN_RETRIES.values():
        checked = RetrySpec.model_validate(retry.model_dump(exclude_unset=True))
        assert retry == checked
        assert retry.model_fields_set == checked.model_fields_set
    assert empty_spec() == ConfigurationSpec.model_validate({})
    assert load_configuration([]).model == ConfigurationSpec.model_validate({})
