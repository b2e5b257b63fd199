"""docker-compose.yml and the Dockerfile, with no Docker engine: ``docker-compose config``
validates the file, and the same services run natively (the same commands, environment and
component files, with localhost in place of the container network) through the shop's
end-to-end check."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.brokers import private
from tests.integration.harness import free_port
from tests.integration.shop import check_shop, sdk_path

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"


def _services() -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())["services"]
    return services


def _apps(services: dict[str, Any]) -> list[str]:
    return [name for name in services if f"{name}-tandem" in services]


def _compose_tool() -> str:
    tool = shutil.which("docker-compose")
    if tool is None:  # not on the README's install line, so a skip even under CI
        pytest.skip("docker-compose is not installed (apt-get install docker-compose)")
    return tool


def test_docker_compose_config_accepts_the_file() -> None:
    done = subprocess.run(
        [_compose_tool(), "-f", str(COMPOSE), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_docker_compose_config_rejects_a_sidecar_beside_no_app(tmp_path: Path) -> None:
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE.read_text().replace('"service:orders"', '"service:nowhere"'))
    done = subprocess.run(
        [_compose_tool(), "-f", str(broken), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "nowhere" in done.stderr


def test_each_app_has_a_sidecar_in_its_network_namespace_and_redis() -> None:
    services = _services()
    apps = _apps(services)
    assert set(apps) == {"checkout", "orders", "notifier"}
    assert "redis" in services
    for app in apps:
        sidecar = services[f"{app}-tandem"]
        assert sidecar["network_mode"] == f"service:{app}"
        assert "--resources-path=/shop/components/redis" in sidecar["command"]
        assert any(v.startswith("./examples/shop:/shop") for v in sidecar["volumes"])
        assert services[app]["environment"]["DAPR_HTTP_PORT"] == "3500"  # localhost:3500


def test_dockerfile_is_slim_non_root_with_the_outbound_healthcheck() -> None:
    text = (ROOT / "Dockerfile").read_text()
    final = text[text.rindex("\nFROM ") :]
    assert re.search(r"^FROM python:[\d.]+-slim$", final, re.M)
    user = re.search(r"^USER (\S+)$", final, re.M)
    assert user is not None
    assert user.group(1).split(":")[0] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*\n?.*/v1\.0/healthz/outbound", final, re.M)


# ---- the same services, natively ----------------------------------------------------------


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[int]:
    """A Redis of this test's own (the topic and keys of the example are fixed names)."""
    with private.private_redis(tmp_path / "redis") as server:
        yield server.port


class _Native:
    """Container paths and addresses mapped to this machine."""

    def __init__(self, services: dict[str, Any], addresses: dict[str, str], tmp: Path) -> None:
        self.addresses = addresses  # "redis:6379" -> "127.0.0.1:<port>"
        self.mounts: dict[str, Path] = {}
        for svc in services.values():
            for volume in svc.get("volumes", []):
                host, container = volume.split(":")[:2]
                if host.startswith("."):
                    self.mounts[container] = (COMPOSE.parent / host).resolve()
        self.tmp = tmp

    def path(self, container: str) -> str:
        for prefix, host in self.mounts.items():
            if container == prefix or container.startswith(prefix + "/"):
                return str(host) + container[len(prefix) :]
        raise AssertionError(f"{container} is not under a mounted folder")

    def value(self, text: str) -> str:
        for service_address, local in self.addresses.items():
            text = text.replace(service_address, local)
        return text


def _sidecar_argv(
    args: list[str], native: _Native, ports: dict[str, int], config: Path
) -> list[str]:
    out = []
    for arg in args:
        flag, _, value = arg.partition("=")
        mapped = {
            "--app-port": str(ports["app"]),
            "--dapr-internal-grpc-port": str(ports["internal"]),
            "--dapr-listen-addresses": "127.0.0.1",
            "--config": str(config),  # static name resolution in place of compose's DNS
        }
        if flag in mapped:
            out.append(f"{flag}={mapped[flag]}")
        elif flag == "--resources-path":
            out.append(f"{flag}={native.path(value)}")
        else:
            assert not value.startswith("/"), f"unmapped container path in {arg}"
            out.append(arg)
    return [
        *out,
        f"--dapr-http-port={ports['http']}",
        f"--dapr-grpc-port={ports['grpc']}",
        f"--metrics-port={ports['metrics']}",
    ]


def test_compose_services_run_natively_end_to_end(tmp_path: Path, private_redis: int) -> None:
    services = _services()
    native = _Native(
        services, {"redis:6379": f"127.0.0.1:{private_redis}", "0.0.0.0": "127.0.0.1"}, tmp_path
    )
    apps = _apps(services)
    ports = {
        app: {k: free_port() for k in ("app", "http", "grpc", "metrics", "internal")}
        for app in apps
    }
    config = tmp_path / "nameresolution.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "dapr.io/v1alpha1",
                "kind": "Configuration",
                "metadata": {"name": "native"},
                "spec": {
                    "nameResolution": {
                        "component": "static",
                        "configuration": {
                            "apps": {a: [f"127.0.0.1:{p['internal']}"] for a, p in ports.items()}
                        },
                    }
                },
            }
        )
    )
    procs: list[subprocess.Popen[bytes]] = []
    log = (tmp_path / "services.log").open("wb")
    try:
        for app in apps:
            svc, side = services[app], services[f"{app}-tandem"]
            env = {k: native.value(str(v)) for k, v in svc["environment"].items()}
            env |= {"APP_PORT": str(ports[app]["app"]), "DAPR_HTTP_PORT": str(ports[app]["http"])}
            env["PYTHONPATH"] = sdk_path()  # the image installs the SDK (Dockerfile)
            assert svc["entrypoint"] == ["python"]
            procs.append(
                subprocess.Popen(
                    [sys.executable, *svc["command"]],
                    cwd=native.path(svc["working_dir"]),
                    env={**os.environ, **env},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
            side_env = {k: native.value(str(v)) for k, v in side["environment"].items()}
            # The sidecars share the named volume mounted as TANDEM_HOME (so they share a CA).
            assert "tandem-home:/var/lib/tandem" in side["volumes"]
            side_env |= {"TANDEM_HOME": str(tmp_path / "tandem-home"), "PYTHONPATH": str(ROOT)}
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "runtime",
                        *_sidecar_argv(side["command"], native, ports[app], config),
                    ],
                    cwd=native.path(side["working_dir"]),
                    env={**os.environ, **side_env},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        order = check_shop(
            f"http://127.0.0.1:{ports['checkout']['app']}",
            f"http://127.0.0.1:{ports['checkout']['http']}",
        )
        assert order["charged_with"] == "...1234"
        assert order["pricing"].startswith("new")
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
    assert "Traceback" not in (tmp_path / "services.log").read_text()
