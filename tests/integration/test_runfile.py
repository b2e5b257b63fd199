"""``tandem run -f`` (several apps from a Dapr CLI run file) and ``tandem list``, with the shop
example end to end: on SQLite files (no server) and on Redis."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import redis

from runtime.cli.runfile import RunFileError, load_run_file
from tests.integration.harness import wait_until
from tests.integration.shop import (
    SHOP,
    check_shop,
    list_sidecars,
    shop_run_file,
    start_run_file,
    stop,
)
from tests.servers import REDIS_URL, require_server, unique

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def _tandem(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runtime", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("apps: []\n", "apps: List should have at least 1 item"),
        ("version: 2\napps: [{appID: a, command: [x]}]\n", "version: Value error, only version 1"),
        ("apps: [{appID: a, command: [x], appPort: 70000}]\n", "apps[0].appPort: Input should be"),
        ("apps: [{appID: a, command: [x], apPort: 1}]\n", "apps[0].apPort: Extra inputs"),
        ("apps: [{command: [x]}]\n", "apps[0].appID: Field required"),
        ("apps: [{appID: 'a b', command: [x]}]\n", "apps[0].appID: String should match"),
        ("common: {env: {A: [1]}}\napps: [{appID: a, command: [x]}]\n", "common.env.A"),
        ("apps: [{appID: a}]\n", "apps[0].command: the app's command is required"),
        (
            "apps: [{appID: a, command: [x]}, {appID: a, command: [y]}]\n",
            "apps[1].appID: 'a' is used twice",
        ),
        ("apps: [{appID: a, command: [x], appDirPath: nowhere}]\n", "apps[0].appDirPath:"),
        ("apps: [{appID: a, command: [x], resourcesPath: nowhere}]\n", "apps[0].resourcesPath:"),
        ("apps: [{appID: a\n", "not valid YAML"),
        ("- just a list\n", "expected a mapping"),
    ],
)
def test_invalid_run_files_name_the_file_and_field(
    tmp_path: Path, body: str, expected: str
) -> None:
    path = tmp_path / "tandem.yaml"
    path.write_text(body)
    with pytest.raises(RunFileError) as err:
        load_run_file(path)
    assert str(err.value).startswith(f"{path}: ")
    assert expected in str(err.value)


def test_invalid_run_file_is_a_usage_error_with_no_traceback(tmp_path: Path) -> None:
    path = tmp_path / "tandem.yaml"
    path.write_text("apps: [{appID: a, command: [x], appPort: nope}]\n")
    done = _tandem("run", "-f", str(path))
    assert done.returncode == 2
    assert f"tandem: {path}: apps[0].appPort:" in done.stderr
    assert "Traceback" not in done.stderr
    missing = _tandem("run", "-f", str(tmp_path / "absent.yaml"))
    assert missing.returncode == 2
    assert "absent.yaml: cannot read" in missing.stderr


def test_run_file_takes_no_other_flags(tmp_path: Path) -> None:
    done = _tandem("run", "-f", str(tmp_path / "x.yaml"), "--app-id", "a")
    assert done.returncode == 2
    assert "put them in the run file" in done.stderr
    assert _tandem("run", "-f").returncode == 2


def test_common_options_map_to_each_app_and_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "svc").mkdir()
    (tmp_path / "res").mkdir()
    (tmp_path / "tandem.yaml").write_text(
        "version: 1\n"
        "common: {resourcesPath: ./res, logLevel: debug, env: {A: 1, B: true}}\n"
        "apps:\n"
        "- {appID: one, appDirPath: ./svc, appPort: 8080, command: [python, app.py],"
        " env: {A: two}, logLevel: warn, daprHTTPPort: 3600}\n"
    )
    (app,) = load_run_file(tmp_path / "tandem.yaml").apps
    assert app.app_dir == tmp_path / "svc"
    assert app.resources_paths == (tmp_path / "res",)
    assert app.env == {"A": "two", "B": "true"}
    assert "--log-level=warn" in app.flags
    assert (app.app_port, app.http_port, app.grpc_port) == (8080, 3600, None)


def _run_shop(
    tmp_path: Path, source: Path, env: dict[str, str], placed: list[dict[str, Any]] | None = None
) -> None:
    home = tmp_path / "home"
    path, ports = shop_run_file(source, tmp_path / "tandem.yaml", env)
    proc = start_run_file(path, home, tmp_path / "run.log")
    try:
        order = check_shop(
            f"http://127.0.0.1:{ports['checkout']}",
            f"http://127.0.0.1:{ports['sidecar']}",
            placed=placed,
        )
        assert order["pricing"].startswith("new")  # the flag's targeting matched
        assert order["total"] == 10.8  # 3 x 4.0, 10% off
        assert order["charged_with"] == "...1234"  # the key from the secret store
        listed = {e["app_id"]: e for e in list_sidecars(home)}
        assert set(listed) == {"checkout", "orders", "notifier"}
        assert listed["checkout"]["http_port"] == ports["sidecar"]
        assert {e["app_port"] for e in listed.values()} == {
            ports["checkout"],
            ports["orders"],
            ports["notifier"],
        }
        assert len({e["http_port"] for e in listed.values()}) == 3  # each its own ports
    finally:
        code = stop(proc, signal.SIGINT)
    log = (tmp_path / "run.log").read_text()
    assert code == 130, log
    for app_id in ("checkout", "orders", "notifier"):
        assert f"{app_id:<8} | " in log  # every line prefixed with its app
    assert "Traceback" not in log
    assert wait_until(lambda: list_sidecars(home) == [], timeout=10)


def test_shop_runs_on_sqlite_files_with_no_server(tmp_path: Path) -> None:
    _run_shop(tmp_path, SHOP / "tandem.yaml", {"ORDERS_TOPIC": unique("orders")})


def test_shop_runs_on_redis(tmp_path: Path) -> None:
    require_server("redis")
    topic = unique("orders")
    placed: list[dict[str, Any]] = []
    env = {"REDIS_HOST": REDIS_URL, "ORDERS_TOPIC": topic}
    try:
        _run_shop(tmp_path, SHOP / "tandem.redis.yaml", env, placed)
    finally:  # what the shop left on the shared server: the topic's stream, the orders
        host, _, port = REDIS_URL.partition(":")
        with redis.Redis(host=host, port=int(port or 6379)) as client:
            client.delete(topic, *(f"orders||{order['id']}" for order in placed))


def test_sigterm_stops_every_app_with_128_plus_15(tmp_path: Path) -> None:
    home = tmp_path / "home"
    path, _ = shop_run_file(SHOP / "tandem.yaml", tmp_path / "tandem.yaml", {})
    proc = start_run_file(path, home, tmp_path / "run.log")
    try:
        listed = wait_until(lambda: len(list_sidecars(home)) == 3, timeout=60, interval=0.2)
        assert listed, (tmp_path / "run.log").read_text()[-5000:]
    finally:
        code = stop(proc, signal.SIGTERM)
    assert code == 143, (tmp_path / "run.log").read_text()
    assert list_sidecars(home) == []
