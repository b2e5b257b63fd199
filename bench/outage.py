"""State outages: how fast requests fail and how soon Tandem serves again, beside redis-py.

    python bench/outage.py [--rounds 3] [--timeout 2]

The figures ``tests/integration/state/test_outage.py`` used to assert, measured instead. The
bench starts a private ``redis-server`` on a free port (never the shared one), one sidecar
(``tandem run``) with a ``state.redis`` component on it (``dialTimeout``, ``readTimeout``,
``writeTimeout`` = ``--timeout``), and, as the baseline, a redis-py client
(``redis.Redis``, ``socket_timeout`` and ``socket_connect_timeout`` = ``--timeout``, its other
defaults). Each round, in alternating order (Tandem first, then the baseline first):

- ``stopped``: ``SHUTDOWN NOSAVE``; the seconds one GET takes to answer (Tandem: HTTP 500
  ERR_STATE_GET; redis-py: an error, unless its retries outlast the outage);
- ``stopped recovery``: the server is started again; from its first PONG, the seconds until a
  GET succeeds (both polled every 10 ms, interleaved);
- ``paused``: per client, ``CLIENT PAUSE 4500 ALL`` (accepts, does not answer); the seconds
  one GET takes to answer, then ``CLIENT UNPAUSE`` and the recovery as above.

Printed: the median per figure, Tandem beside redis-py, and their ratio; how many outage GETs
answered with an error (the rest succeeded late); the load average (noisy on a shared machine).
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import redis
from _common import Sidecar, free_port

KEY = "outage-bench"
PAUSE_MS = 4500


class PrivateRedis:
    """A redis-server of the bench's own, on a free port, in a temp folder."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.folder = folder
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        cmd = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        cmd += ["--save", "", "--appendonly", "no", "--dir", str(self.folder)]
        with (self.folder / "redis.log").open("ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=log)
        _until(self.ready, 15, "the private redis-server did not start")

    def cli(self, *args: str) -> None:
        subprocess.run(
            ["redis-cli", "-p", str(self.port), *args], capture_output=True, check=False, timeout=10
        )

    def stop(self) -> None:
        self.cli("shutdown", "nosave")
        if self.proc is not None:
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def ready(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False


def _until(predicate: Callable[[], bool], within: float, message: str) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(message)
        time.sleep(0.01)


class Client:
    """One way of doing ``GET KEY``: ``get()`` is True on success, False on an error."""

    name: str

    def get(self) -> bool:
        raise NotImplementedError


class TandemClient(Client):
    name = "tandem"

    def __init__(self, port: int, store: str) -> None:
        self.port, self.store = port, store

    def get(self) -> bool:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("GET", f"/v1.0/state/{self.store}/{KEY}")
            return conn.getresponse().status in (200, 204)
        except OSError:
            return False
        finally:
            conn.close()


class DirectClient(Client):
    name = "redis-py"

    def __init__(self, port: int, timeout: float) -> None:
        self.client = redis.Redis(
            host="127.0.0.1", port=port, socket_timeout=timeout, socket_connect_timeout=timeout
        )

    def get(self) -> bool:
        try:
            self.client.get(KEY)
        except redis.RedisError:
            return False
        return True


def _answer(client: Client, errors: dict[str, int]) -> float:
    """Seconds one GET takes to answer while the server is down or paused; counts errors."""
    start = time.perf_counter()
    ok = client.get()
    took = time.perf_counter() - start
    errors[client.name] += not ok
    return took


def _recovery(clients: list[Client], server: PrivateRedis) -> dict[str, float]:
    """From the server's first PONG, seconds until each client's GET succeeds (interleaved)."""
    _until(server.ready, 30, "the private redis-server did not come back")
    back = time.perf_counter()
    found: dict[str, float] = {}
    while len(found) < len(clients):
        for c in clients:
            if c.name not in found and c.get():
                found[c.name] = time.perf_counter() - back
        if time.perf_counter() - back > 60:
            raise RuntimeError(f"not served again within 60 s: {sorted(found)}")
        time.sleep(0.01)
    return found


def _round(
    clients: list[Client],
    server: PrivateRedis,
    figures: dict[str, list[float]],
    errors: dict[str, int],
) -> None:
    server.stop()
    for c in clients:
        figures[f"stopped: GET answers after {c.name}"].append(_answer(c, errors))
    server.start()
    for name, took in _recovery(clients, server).items():
        figures[f"stopped: served again after {name}"].append(took)
    for c in clients:  # one client per pause: the first one's wait must not eat the second's
        server.cli("client", "pause", str(PAUSE_MS), "ALL")
        try:
            figures[f"paused: GET answers after {c.name}"].append(_answer(c, errors))
        finally:
            server.cli("client", "unpause")
        for name, took in _recovery([c], server).items():
            figures[f"paused: served again after {name}"].append(took)


def _component(port: int, timeout: float) -> str:
    meta = {"redisHost": f"127.0.0.1:{port}"}
    meta |= {k: f"{timeout:g}s" for k in ("dialTimeout", "readTimeout", "writeTimeout")}
    lines = "".join(f'  - name: {k}\n    value: "{v}"\n' for k, v in meta.items())
    return (
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: outage\n"
        f"spec:\n  type: state.redis\n  version: v1\n  metadata:\n{lines}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=2.0, help="component/client timeout, s")
    args = parser.parse_args()
    if shutil.which("redis-server") is None:
        raise SystemExit("needs redis-server on PATH")
    with tempfile.TemporaryDirectory(prefix="tandem-outage-") as tmp:
        work = Path(tmp)
        server = PrivateRedis(work)
        server.start()
        resources = work / "resources"
        resources.mkdir()
        (resources / "outage.yaml").write_text(_component(server.port, args.timeout))
        sidecar = Sidecar.spawn(work, app_id="outage-bench", resources=resources)
        try:
            sidecar.wait_ready()
            tandem: Client = TandemClient(sidecar.http_port, "outage")
            direct: Client = DirectClient(server.port, args.timeout)
            figures: dict[str, list[float]] = defaultdict(list)
            errors: dict[str, int] = defaultdict(int)
            for n in range(args.rounds):
                order = [tandem, direct] if n % 2 == 0 else [direct, tandem]
                _round(order, server, figures, errors)
        finally:
            sidecar.stop()
            server.stop()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"state.redis outage, {args.rounds} rounds, timeouts {args.timeout:g}s, load {load}")
    print(f"{'figure, seconds (median)':<32} {'tandem':>9} {'redis-py':>9} {'ratio':>7}")
    for key in dict.fromkeys(k.rsplit(" ", 1)[0] for k in figures):
        t = statistics.median(figures[f"{key} tandem"])
        d = statistics.median(figures[f"{key} redis-py"])
        ratio = f"{t / d:.2f}" if d > 0 else "-"
        print(f"{key:<32} {t:>9.3f} {d:>9.3f} {ratio:>7}")
    outage_gets = 2 * args.rounds
    print(
        f"GETs during an outage that answered with an error: tandem {errors['tandem']}/"
        f"{outage_gets}, redis-py {errors['redis-py']}/{outage_gets} (the rest waited the"
        " outage out and succeeded)"
    )


if __name__ == "__main__":
    main()
