"""The ``tandem`` command line: version, help, validate, and every start-up error.

Each start-up error must end the process with a non-zero code and one clear message naming
the file, field or port, without a traceback and before the APIs serve.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime._version import __version__
from tests.integration.harness import (
    REPO_ROOT,
    Sidecar,
    component_yaml,
    free_port,
    run_tandem,
)

pytestmark = pytest.mark.integration

READY_LINE = "ready for outbound calls"


def start_failure(tmp_path: Path, **kwargs: object) -> tuple[int, str]:
    """Spawn a sidecar that must fail to start; its exit code and output."""
    sc = Sidecar.spawn(tmp_path, **kwargs)  # type: ignore[arg-type]
    try:
        code = sc.wait_exit(timeout=20)
    finally:
        sc.stop()
    out = sc.logs()
    assert "Traceback" not in out, out
    assert READY_LINE not in out, f"served before failing:\n{out}"
    return code, out


@pytest.fixture
def listening_socket() -> Iterator[socket.socket]:
    """A socket listening on a free loopback port (the port is in use)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s


# --version and --help ---------------------------------------------------------------------


def test_version() -> None:
    result = run_tandem(["--version"])
    assert result.returncode == 0
    assert result.stdout.strip() == f"tandem {__version__}"


def test_version_through_the_console_script() -> None:
    script = Path(sys.executable).with_name("tandem")
    if not script.exists():
        pytest.skip("the tandem console script is not installed next to this interpreter")
    import subprocess

    result = subprocess.run(
        [str(script), "--version"], capture_output=True, text=True, timeout=30, check=False
    )
    assert (result.returncode, result.stdout.strip()) == (0, f"tandem {__version__}")


def test_help_is_readable() -> None:
    result = run_tandem(["--help"])
    assert result.returncode == 0
    out = result.stdout
    assert out.startswith("usage: tandem")
    for word in ("run", "validate", "Dapr", "--version"):
        assert word in out
    assert result.stderr == ""


def test_no_arguments_prints_help() -> None:
    result = run_tandem([])
    assert result.returncode == 0
    assert "usage: tandem" in result.stdout


def test_run_help_lists_daprd_flags() -> None:
    result = run_tandem(["run", "--help"])
    assert result.returncode == 0
    out = result.stdout
    for flag in (
        "--app-id",
        "--app-port",
        "--dapr-http-port",
        "--dapr-grpc-port",
        "--resources-path",
        "--max-body-size",
        "--log-as-json",
        "--enable-app-health-check",
        "--api-token-file",
    ):
        assert flag in out, flag
    assert "-- " in out  # how to give the app command
    assert all(len(line) <= 100 for line in out.splitlines())


def test_validate_help() -> None:
    result = run_tandem(["validate", "--help"])
    assert result.returncode == 0
    assert "--resources-path" in result.stdout


@pytest.mark.parametrize(
    ("args", "word"),
    [
        (["run", "--app-id", "a", "--no-such-flag"], "--no-such-flag"),
        (["run", "--app-id", "a", "--dapr-http-port", "99999"], "--dapr-http-port"),
        (["run", "--app-id", "a", "--max-body-size", "huge"], "--max-body-size"),
        (["run", "--app-id", "a", "--app-protocol", "ftp"], "--app-protocol"),
        (["run"], "--app-id"),
        (["frobnicate"], "frobnicate"),
    ],
)
def test_usage_errors_exit_2_naming_the_flag(args: list[str], word: str) -> None:
    result = run_tandem(args, timeout=15)
    assert result.returncode == 2, result.stderr
    assert word in result.stderr
    assert "Traceback" not in result.stderr


# tandem validate ----------------------------------------------------------------------------


SUBSCRIPTION = """\
apiVersion: dapr.io/v2alpha1
kind: Subscription
metadata:
  name: sub
spec:
  pubsubname: pubsub
  topic: orders
  routes:
    default: /orders
"""


def test_validate_ok(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        component_yaml("one") + "---\n" + component_yaml("two") + "---\n" + SUBSCRIPTION
    )
    other = tmp_path / "more"
    other.mkdir()
    (other / "b.yml").write_text(component_yaml("three"))
    result = run_tandem(
        ["validate", "--resources-path", str(tmp_path), "--resources-path", str(other)]
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok: 3 component(s), 1 Subscription"


def test_validate_reports_every_error(tmp_path: Path) -> None:
    (tmp_path / "1.yaml").write_text("kind: [oops\n")
    (tmp_path / "2.yaml").write_text(component_yaml("s", "state.nosuch"))
    (tmp_path / "3.yaml").write_text(component_yaml("dup") + "---\n" + component_yaml("dup"))
    (tmp_path / "4.yaml").write_text(component_yaml("t", "state.sqlite", {"timeout": "soon"}))
    result = run_tandem(["validate", "--resources-path", str(tmp_path)])
    assert result.returncode == 1
    err = result.stderr
    assert "4 configuration error(s)" in err
    assert f"{tmp_path / '1.yaml'}: malformed YAML: line " in err
    assert f"{tmp_path / '2.yaml'} (document 1) spec.type: unknown component type" in err
    assert f"{tmp_path / '3.yaml'} (document 2) metadata.name: duplicate" in err
    assert f"{tmp_path / '4.yaml'} (document 1) spec.metadata[0] (timeout)" in err
    assert "Traceback" not in err


def test_validate_checks_components_scoped_to_other_apps(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(component_yaml("s", "state.nosuch", scopes=["orders"]))
    result = run_tandem(["validate", "--resources-path", str(tmp_path)])
    assert result.returncode == 1
    assert "state.nosuch" in result.stderr


def test_validate_missing_folder(tmp_path: Path) -> None:
    result = run_tandem(["validate", "--resources-path", str(tmp_path / "nope")])
    assert result.returncode == 1
    assert str(tmp_path / "nope") in result.stderr


# start-up errors ----------------------------------------------------------------------------


def test_malformed_yaml(tmp_path: Path) -> None:
    code, out = start_failure(tmp_path, components=["apiVersion: v1\nkind: Component\n  bad: [\n"])
    assert code != 0
    assert str(tmp_path / "resources" / "component0.yaml") in out
    assert "malformed YAML: line 3" in out


def test_duplicate_component_name(tmp_path: Path) -> None:
    code, out = start_failure(tmp_path, components=[component_yaml("s"), component_yaml("s")])
    assert code != 0
    assert f"{tmp_path / 'resources' / 'component1.yaml'} (document 1) metadata.name" in out
    assert "duplicate component name 's'" in out
    assert "component0.yaml" in out


def test_bad_metadata_value(tmp_path: Path) -> None:
    bad = component_yaml(
        "s", "state.sqlite", {"connectionString": str(tmp_path / "x.db"), "timeout": "soon"}
    )
    code, out = start_failure(tmp_path, components=[bad])
    assert code != 0
    assert f"{tmp_path / 'resources' / 'component0.yaml'} (document 1) spec.metadata[1]" in out
    assert "timeout" in out
    assert "invalid duration" in out


def test_unknown_type_lists_known_types(tmp_path: Path) -> None:
    code, out = start_failure(tmp_path, components=[component_yaml("s", "state.nosuch")])
    assert code != 0
    assert f"{tmp_path / 'resources' / 'component0.yaml'} (document 1) spec.type" in out
    assert "unknown component type 'state.nosuch'" in out
    assert "state.in-memory" in out
    assert "state.redis" in out


def test_every_start_error_reported_at_once(tmp_path: Path) -> None:
    code, out = start_failure(
        tmp_path,
        components=["kind: [\n", component_yaml("s", "state.nosuch"), component_yaml("t", "x")],
    )
    assert code != 0
    assert "3 configuration error(s)" in out


def test_http_port_in_use(tmp_path: Path, listening_socket: socket.socket) -> None:
    port = listening_socket.getsockname()[1]
    code, out = start_failure(tmp_path, empty_resources=True, http_port=port)
    assert code != 0
    assert f"127.0.0.1:{port}" in out
    assert "HTTP" in out


def test_grpc_port_in_use(tmp_path: Path, listening_socket: socket.socket) -> None:
    port = listening_socket.getsockname()[1]
    code, out = start_failure(tmp_path, empty_resources=True, grpc_port=port)
    assert code != 0
    assert f"127.0.0.1:{port}" in out
    assert "gRPC" in out


def test_metrics_port_in_use(tmp_path: Path, listening_socket: socket.socket) -> None:
    port = listening_socket.getsockname()[1]
    code, out = start_failure(tmp_path, empty_resources=True, args=["--metrics-port", str(port)])
    assert code != 0
    assert f"127.0.0.1:{port}" in out
    assert "metrics" in out


def test_same_port_for_both_apis(tmp_path: Path) -> None:
    port = free_port()
    code, out = start_failure(tmp_path, empty_resources=True, http_port=port, grpc_port=port)
    assert code != 0
    assert str(port) in out


def test_app_command_that_does_not_exist(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-app")
    code, out = start_failure(tmp_path, empty_resources=True, app_command=[missing, "--flag"])
    assert code != 0
    assert missing in out
    assert "cannot start the app command" in out


def test_app_command_not_on_path(tmp_path: Path) -> None:
    code, out = start_failure(
        tmp_path, empty_resources=True, app_command=["tandem-test-no-such-program"]
    )
    assert code != 0
    assert "tandem-test-no-such-program" in out


def test_app_command_not_executable(tmp_path: Path) -> None:
    script = tmp_path / "app.sh"
    script.write_text("#!/bin/sh\nexit 0\n")  # no execute permission
    code, out = start_failure(tmp_path, empty_resources=True, app_command=[str(script)])
    assert code != 0
    assert str(script) in out


def test_missing_resources_folder(tmp_path: Path) -> None:
    code, out = start_failure(tmp_path, args=["--resources-path", str(tmp_path / "nope")])
    assert code != 0
    assert f"{tmp_path / 'nope'}: resources path does not exist" in out


def test_repo_root_is_where_the_harness_runs() -> None:
    assert (REPO_ROOT / "runtime" / "__main__.py").exists()


# daprd compatibility: flags and resource folders ------------------------------------------

SDK_RESOURCES = REPO_ROOT / "tests" / "unit" / "runtime" / "sdk_resources"


def test_validate_names_an_unimplemented_dapr_type_and_the_fix() -> None:
    folder = SDK_RESOURCES / "distributed_lock"
    result = run_tandem(["validate", "--resources-path", str(folder)])
    assert result.returncode == 1
    assert (
        f"{folder / 'lockstore.yaml'} (document 1) spec.type: 'lock.redis' is a Dapr component"
        " type Tandem does not implement; set spec.ignoreErrors: true" in result.stderr
    )
    assert "Traceback" not in result.stderr


def test_validate_warns_about_what_it_skips(tmp_path: Path) -> None:
    text = (SDK_RESOURCES / "state_store" / "pubsub.yaml").read_text()
    # a type Dapr has and Tandem lacks (the SDK's file names pubsub.redis, which Tandem has)
    text = text.replace("pubsub.redis", "pubsub.kafka")
    (tmp_path / "pubsub.yaml").write_text(
        text.replace("\nspec:\n", "\nspec:\n  ignoreErrors: true\n")
    )
    (tmp_path / "endpoint.yaml").write_text(
        (SDK_RESOURCES / "http_endpoint" / "endpoint.yaml").read_text()
    )
    result = run_tandem(["validate", "--resources-path", str(tmp_path)])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "ok: 1 component(s); 1 component(s) skipped (ignoreErrors);"
        " 1 document(s) of unsupported kinds"
    )
    assert "warning:" in result.stderr
    assert "pubsub.kafka" in result.stderr
    assert "HTTPEndpoint" in result.stderr


def test_sdk_test_runner_style_command_line_starts_and_names_ignored_flags(tmp_path: Path) -> None:
    """The flags the Dapr SDKs' test runners pass to daprd, in Go's syntax."""
    args = [
        "-enable-metrics",
        "--log-as-json=false",
        "--enable-api-logging=true",
        "--mode",
        "standalone",
        "--dapr-internal-grpc-port",
        str(internal := free_port()),
        "--placement-host-address",
        "localhost:50005",
        "-scheduler-host-address=localhost:50006",
        "--enable-profiling=false",
    ]
    with Sidecar.start(tmp_path, empty_resources=True, args=args) as sc:
        assert sc.request("GET", "/v1.0/metadata").status == 200
    logs = sc.logs()
    for flag in ("--placement-host-address", "--scheduler-host-address", "--enable-profiling"):
        assert f"flag {flag} accepted for compatibility with daprd and ignored" in logs
    assert f"sidecar-to-sidecar calls on port {internal}" in logs
    assert "Traceback" not in logs


def test_mode_kubernetes_is_a_clear_usage_error(tmp_path: Path) -> None:
    code, out = start_failure(tmp_path, empty_resources=True, args=["--mode", "kubernetes"])
    assert code == 2
    assert "standalone mode only" in out


def test_hostile_resource_file_named_without_traceback(tmp_path: Path) -> None:
    deep = "x: " + "[" * 100_000 + "]" * 100_000 + "\n"
    code, out = start_failure(tmp_path, components=[deep])
    assert code == 1
    assert str(tmp_path / "resources" / "component0.yaml") in out
    assert "nested more than" in out
