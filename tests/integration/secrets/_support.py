"""One sidecar with every kind of secret store, scopes and a secretKeyRef, for the twin tests.

Stores (every secret value holds ``CANARY``, so a leak anywhere is one ``in`` away):

- ``localsecretstore``: ``secretstores.local.file`` over ``FILE_SECRETS`` (flattened with ``:``);
- ``multistore``: the same file, ``multiValued: true``;
- ``envstore``: ``secretstores.local.env`` with prefix ``<PREFIX>_`` over ``ENV_SECRETS``;
- ``statestore``: ``state.sqlite`` whose ``connectionString`` comes from the secret
  ``dbfile`` of ``localsecretstore`` (``auth.secretStore``).

Scopes (Configuration ``secrets.scopes``): ``localsecretstore`` allows all but ``denied`` (and
``missing-denied``, which does not exist); ``envstore`` denies by default and allows only
``ALLOWED``.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.integration.harness import Response, Sidecar, component_yaml

__all__ = [
    "CANARY",
    "ENV_SECRETS",
    "FILE_SECRETS",
    "SCOPES",
    "SecretsEnv",
    "component_with_refs",
    "configuration_yaml",
    "secret_store_components",
    "start_env",
]

CANARY = f"canary-{uuid.uuid4().hex}"

FILE_SECRETS: dict[str, Any] = {
    "plain": f"{CANARY}-plain",
    "denied": f"{CANARY}-denied",
    "bulk": f"{CANARY}-bulk",
    "nested": {"user": f"{CANARY}-user", "password": f"{CANARY}-password"},
    "list": [f"{CANARY}-0", {"deep": f"{CANARY}-deep"}],
    "number": 42,
}
ENV_SECRETS = {"ALLOWED": f"{CANARY}-env-allowed", "OTHER": f"{CANARY}-env-other"}


SCOPES: list[dict[str, Any]] = [
    {"storeName": "localsecretstore", "deniedSecrets": ["denied", "missing-denied"]},
    {"storeName": "envstore", "defaultAccess": "deny", "allowedSecrets": ["ALLOWED"]},
]


def configuration_yaml(
    scopes: list[dict[str, Any]], extra_spec: Mapping[str, Any] | None = None
) -> str:
    return json.dumps(
        {
            "apiVersion": "dapr.io/v1alpha1",
            "kind": "Configuration",
            "metadata": {"name": "secrets"},
            "spec": {"secrets": {"scopes": scopes}, **(extra_spec or {})},
        }
    )


def component_with_refs(
    name: str,
    type_: str,
    metadata: Mapping[str, object],
    refs: Mapping[str, Mapping[str, str]],
    *,
    store: str | None,
    spec: Mapping[str, object] | None = None,
) -> str:
    """A component whose ``refs`` fields are ``secretKeyRef``s read from ``store``."""
    doc = json.loads(component_yaml(name, type_, metadata, spec=spec))
    doc["spec"]["metadata"] += [{"name": k, "secretKeyRef": dict(v)} for k, v in refs.items()]
    if store is not None:
        doc["auth"] = {"secretStore": store}
    return json.dumps(doc, indent=2) + "\n"


@dataclass
class SecretsEnv:
    sidecar: Sidecar
    tmp: Path
    env_prefix: str

    def get(self, path: str) -> Response:
        return self.sidecar.request("GET", path)


def write_secrets_file(tmp: Path) -> Path:
    path = tmp / "secrets.json"
    secrets = {**FILE_SECRETS, "dbfile": str(tmp / "state-from-ref.db")}
    path.write_text(json.dumps(secrets))
    return path


def secret_store_components(tmp: Path, env_prefix: str) -> list[str]:
    secrets_file = write_secrets_file(tmp)
    return [
        component_yaml(
            "localsecretstore", "secretstores.local.file", {"secretsFile": str(secrets_file)}
        ),
        component_yaml(
            "multistore",
            "secretstores.local.file",
            {"secretsFile": str(secrets_file), "multiValued": "true"},
        ),
        component_yaml("envstore", "secretstores.local.env", {"prefix": f"{env_prefix}_"}),
    ]


@contextlib.contextmanager
def start_env(
    tmp: Path,
    *,
    args: list[str] | None = None,
    extra_spec: Mapping[str, Any] | None = None,
    extra_components: list[str] | None = None,
) -> Iterator[SecretsEnv]:
    """The sidecar described above; ``extra_spec`` adds Configuration sections (tracing)."""
    env_prefix = f"TANDEMTEST{uuid.uuid4().hex[:8].upper()}"
    config = tmp / "config.yaml"
    config.write_text(configuration_yaml(SCOPES, extra_spec))
    components = [
        *secret_store_components(tmp, env_prefix),
        component_with_refs(
            "statestore",
            "state.sqlite",
            {},
            {"connectionString": {"name": "dbfile", "key": "dbfile"}},
            store="localsecretstore",
        ),
        *(extra_components or []),
    ]
    env = {f"{env_prefix}_{k}": v for k, v in ENV_SECRETS.items()}
    with Sidecar.start(
        tmp,
        components=components,
        app_id="secrets-app",
        args=["--config", str(config), *(args or [])],
        env=env,
    ) as sc:
        yield SecretsEnv(sc, tmp, env_prefix)
