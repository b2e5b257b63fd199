"""deploy/kubernetes/shop.yaml, checked offline: no schema validator installs offline here
(kubectl's dry run needs a cluster), so the structure users rely on is asserted, and the
components in the ConfigMap go through ``tandem validate``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "deploy" / "kubernetes" / "shop.yaml"


def _docs() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(MANIFEST.read_text()) if d]


def _named(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in _docs() if d["kind"] == kind}


def test_every_document_has_api_version_kind_and_name() -> None:
    for doc in _docs():
        assert {"apiVersion", "kind", "metadata"} <= set(doc), doc
        assert doc["metadata"]["name"]


def test_each_app_runs_tandem_as_a_native_sidecar_with_probes_and_resources() -> None:
    deployments = _named("Deployment")
    apps = set(deployments) - {"redis"}
    assert apps == {"checkout", "orders", "notifier"}
    for name in apps:
        spec = deployments[name]["spec"]["template"]["spec"]
        (sidecar,) = spec["initContainers"]
        assert sidecar["restartPolicy"] == "Always"  # the native sidecar form
        assert f"--app-id={name}" in sidecar["args"]
        port_names = {p["name"] for p in sidecar["ports"]}
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            get = sidecar[probe]["httpGet"]
            assert get["path"].startswith("/v1.0/healthz")
            assert get["port"] in port_names
        assert sidecar["startupProbe"]["httpGet"]["path"] == "/v1.0/healthz/outbound"
        for container in [sidecar, *spec["containers"]]:
            assert container["resources"]["requests"]
            assert container["resources"]["limits"]["memory"]
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert spec["securityContext"]["runAsNonRoot"] is True
        # every mount names a declared volume; the components folder is the ConfigMap
        volumes = {v["name"]: v for v in spec["volumes"]}
        mounts = {m["mountPath"]: m["name"] for m in sidecar["volumeMounts"]}
        assert set(mounts.values()) <= set(volumes)
        resources = next(a.partition("=")[2] for a in sidecar["args"] if "--resources-path" in a)
        assert volumes[mounts[resources]]["configMap"]["name"] == "shop-components"
        for volume in volumes.values():
            if "configMap" in volume:
                assert volume["configMap"]["name"] in _named("ConfigMap")
            if "secret" in volume and volume["secret"]["secretName"] != "tandem-ca":
                assert volume["secret"]["secretName"] in _named("Secret")
        # one CA for every pod (mTLS): the user-created Secret tandem-ca, named by the CA flags
        assert volumes[mounts["/etc/tandem/ca"]]["secret"]["secretName"] == "tandem-ca"
        for flag in ("--trust-anchors-file", "--issuer-cert", "--issuer-key"):
            (value,) = [a.partition("=")[2] for a in sidecar["args"] if a.startswith(flag + "=")]
            assert value.startswith("/etc/tandem/ca/")
        # other sidecars reach this one at <app id>:50002 (the DNS template)
        service = _named("Service")[name]
        assert {"port": 50002, "name": "dapr-internal", "targetPort": "dapr-internal"} in service[
            "spec"
        ]["ports"]
        assert service["spec"]["selector"] == deployments[name]["spec"]["selector"]["matchLabels"]


def test_the_components_configmap_passes_tandem_validate(tmp_path: Path) -> None:
    data = _named("ConfigMap")["shop-components"]["data"]
    for file, text in data.items():
        (tmp_path / file).write_text(text)
    done = subprocess.run(
        [sys.executable, "-m", "runtime", "validate", "--resources-path", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"ok: {len(data)} component(s)")
