"""Drives the example shop (examples/shop) in tests: a copy of a run file on free ports, and the
end-to-end check every way of running it must pass."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from tests.integration.harness import free_port, wait_until

__all__ = [
    "SHOP",
    "check_shop",
    "http",
    "list_sidecars",
    "sdk_path",
    "shop_run_file",
    "start_run_file",
    "stop",
]

ROOT = Path(__file__).resolve().parents[2]
SHOP = ROOT / "examples" / "shop"


def http(method: str, url: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw)
        except ValueError:
            return exc.code, raw.decode(errors="replace")
    except OSError:
        return 0, None


def shop_run_file(source: Path, dest: Path, env: dict[str, str]) -> tuple[Path, dict[str, int]]:
    """A copy of ``source`` in ``dest`` with absolute paths, free app ports and checkout's
    sidecar on a free HTTP port; returns it and the ports (``checkout`` app, ``sidecar``)."""
    data = yaml.safe_load(source.read_text())
    base = source.parent
    common = data.setdefault("common", {})
    common["resourcesPath"] = str((base / common["resourcesPath"]).resolve())
    common.setdefault("env", {}).update(env)
    ports = {}
    for app in data["apps"]:
        app["appDirPath"] = str((base / app["appDirPath"]).resolve())
        app["appPort"] = ports[app["appID"]] = free_port()
        app.pop("daprHTTPPort", None)
    data["apps"][0]["daprHTTPPort"] = ports["sidecar"] = free_port()
    dest.write_text(yaml.safe_dump(data))
    return dest, ports


def sdk_path() -> str:
    """PYTHONPATH for the shop's apps: this checkout's SDK first (as ``pip install -e ./sdk``
    gives), not whichever copy the environment has installed."""
    return os.pathsep.join(p for p in (str(ROOT / "sdk"), os.environ.get("PYTHONPATH")) if p)


def start_run_file(path: Path, home: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TANDEM_HOME": str(home), "PYTHONPATH": sdk_path()}
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "runtime", "run", "-f", str(path)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def list_sidecars(home: Path) -> list[dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-m", "runtime", "list", "-o", "json"],
        cwd=ROOT,
        env={**os.environ, "TANDEM_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    found: list[dict[str, Any]] = json.loads(done.stdout)
    return found


def stop(proc: subprocess.Popen[bytes], signum: int = signal.SIGINT) -> int:
    if proc.poll() is None:
        proc.send_signal(signum)
    try:
        return proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise


def check_shop(
    checkout_url: str,
    sidecar_url: str,
    timeout: float = 60.0,
    placed: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Place an order at checkout; it must reach orders' state store (read over invocation
    through checkout's sidecar) and the notifier. Returns the order; ``placed`` gets every
    order placed (for a clean-up)."""
    placed = [] if placed is None else placed

    def place() -> bool:
        status, body = http(
            "POST",
            f"{checkout_url}/checkout",
            {"item": "tea", "qty": 3, "customer": "ann@example.com"},
        )
        if status == 201:
            placed.append(body)
        return status == 201

    # the apps subscribe once their sidecars see them listening: retry until a placed order
    # is stored (an order published before orders subscribed is not delivered to it)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert wait_until(place, timeout=max(0.1, deadline - time.monotonic()), interval=0.2), (
            "checkout never accepted an order"
        )
        order = placed[-1]
        stored, notified = _reached(sidecar_url, order)
        if stored and notified:
            return dict(order)
    raise AssertionError(f"no order reached both orders and notifier; placed {placed}")


def _reached(sidecar_url: str, order: dict[str, Any]) -> tuple[bool, bool]:
    """Whether ``order`` is in orders' store (over invocation) and the notifier's list."""
    url = f"{sidecar_url}/v1.0/invoke/orders/method/orders/{order['id']}"
    notes = f"{sidecar_url}/v1.0/invoke/notifier/method/notifications"
    stored = wait_until(lambda: http("GET", url) == (200, order), timeout=5, interval=0.1)
    notified = wait_until(
        lambda: order["id"] in (http("GET", notes)[1] or []), timeout=5, interval=0.1
    )
    return stored, notified
