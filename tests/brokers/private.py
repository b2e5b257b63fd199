"""Private broker processes for outage and crash tests (a server on a free port that a test may
stop and start again without touching the shared servers on the default ports), and the
clean-up of what tests leave on the shared brokers."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Collection, Coroutine, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import aio_pika
import aiomqtt
import asyncpg
import nats
import pytest
import redis.asyncio as aredis

from tests.integration.harness import free_port

__all__ = [
    "MOSQUITTO_CONF",
    "REDIS_COMMAND",
    "PrivateServer",
    "drop_rabbit",
    "drop_stream",
    "end_mqtt_sessions",
    "private_mosquitto",
    "private_postgres",
    "private_redis",
    "reachable",
    "run_sweeps",
    "sweep_jetstream",
    "sweep_postgres",
    "sweep_rabbit",
    "sweep_redis",
]

log = logging.getLogger(__name__)

NATS_URL = "nats://127.0.0.1:4222"
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672"


async def drop_stream(name: str, url: str = NATS_URL) -> None:
    """Delete the JetStream stream ``name`` (absent: nothing to do)."""
    nc = await nats.connect(url)
    try:
        with contextlib.suppress(Exception):
            await nc.jetstream().delete_stream(name)
    finally:
        await nc.close()


async def drop_rabbit(queue: str, exchange: str, url: str = AMQP_URL) -> None:
    """Delete a RabbitMQ queue and exchange (either absent: nothing to do)."""
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        with contextlib.suppress(Exception):
            await channel.queue_delete(queue)
        with contextlib.suppress(Exception):
            await channel.exchange_delete(exchange)
    finally:
        await connection.close()


def _ours(name: str, tokens: Collection[str]) -> bool:
    return any(token in name for token in tokens)


async def sweep_redis(
    tokens: Collection[str], address: str, kind: str | None = "stream"
) -> list[str]:
    """Delete the keys of type ``kind`` (None: any) whose name holds one of ``tokens``
    (``address``: host:port); the keys deleted."""
    host, _, port = address.rpartition("://")[2].partition(":")
    client = aredis.Redis(host=host, port=int(port or 6379))
    try:
        keys = [
            key
            async for key in client.scan_iter(count=1000, _type=kind)
            if _ours(key.decode(errors="replace"), tokens)
        ]
        if keys:
            await client.delete(*keys)
        return [k.decode(errors="replace") for k in keys]
    finally:
        await client.aclose()


async def sweep_postgres(tokens: Collection[str], dsn: str, table: str) -> int:
    """Delete the rows of the state table ``table`` whose key holds one of ``tokens`` (an
    absent table: nothing to do); how many."""
    connection = await asyncpg.connect(dsn, timeout=10)
    try:
        if await connection.fetchval("SELECT to_regclass($1)", table) is None:
            return 0
        status: str = await connection.execute(
            f'DELETE FROM "{table}" WHERE EXISTS '
            "(SELECT 1 FROM unnest($1::text[]) AS t(token) WHERE strpos(key, token) > 0)",
            list(tokens),
        )
        return int(status.rsplit(" ", 1)[-1])
    finally:
        await connection.close()


async def sweep_jetstream(tokens: Collection[str], url: str = NATS_URL) -> list[str]:
    """Delete the JetStream streams whose name holds one of ``tokens``; the names deleted."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        names = [s.config.name or "" for s in await js.streams_info()]
        ours = [n for n in names if _ours(n, tokens)]
        for name in ours:
            with contextlib.suppress(Exception):
                await js.delete_stream(name)
        return ours
    finally:
        await nc.close()


def _rabbitmqctl(*args: str) -> list[str]:
    """Names listed by ``rabbitmqctl`` (empty when it is not installed or fails)."""
    if shutil.which("rabbitmqctl") is None:
        return []
    try:
        out = subprocess.run(
            ["rabbitmqctl", "-q", *args, "name", "--no-table-headers"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]


async def sweep_rabbit(tokens: Collection[str], url: str = AMQP_URL) -> list[str]:
    """Delete the queues and exchanges whose name holds one of ``tokens`` (listed with
    ``rabbitmqctl``, on this machine); the names deleted."""
    queues = [q for q in _rabbitmqctl("list_queues") if _ours(q, tokens)]
    exchanges = [e for e in _rabbitmqctl("list_exchanges") if _ours(e, tokens)]
    if not queues and not exchanges:
        return []
    connection = await aio_pika.connect(url)
    try:
        for kind, names in (("queue", queues), ("exchange", exchanges)):
            for name in names:
                channel = await connection.channel()  # an error closes the channel
                with contextlib.suppress(Exception):
                    if kind == "queue":
                        await channel.queue_delete(name)
                    else:
                        await channel.exchange_delete(name)
                with contextlib.suppress(Exception):
                    await channel.close()
    finally:
        await connection.close()
    return queues + exchanges


async def end_mqtt_sessions(
    identifiers: Iterable[str], host: str = "127.0.0.1", port: int = 1883
) -> None:
    """End the persistent MQTT sessions of ``identifiers``: a clean-session connect discards
    the broker's state (subscriptions, queued messages) for that client id."""
    for identifier in identifiers:
        with contextlib.suppress(Exception):
            async with aiomqtt.Client(host, port, identifier=identifier, clean_session=True):
                pass


def run_sweeps(after: str, jobs: Mapping[str, Coroutine[Any, Any, object]]) -> None:
    """Run the clean-ups ``jobs`` (server name: a sweep) in turn, each within 90 s; a server
    that is not there has nothing to sweep (logged, not raised). ``after``: what ran."""

    async def sweep() -> None:
        for name, job in jobs.items():
            try:
                async with asyncio.timeout(90):
                    await job
            except Exception as exc:
                log.info("sweeping %s after %s: %s", name, after, exc)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(sweep())


def reachable(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


# A redis-server that keeps nothing on disk: a restart empties it, as SHUTDOWN NOSAVE would.
REDIS_COMMAND = (
    "redis-server",
    "--port",
    "{port}",
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "no",
    "--protected-mode",
    "no",
    "--dir",
    "{dir}",
)
# A Mosquitto without a queue limit per offline session (the shared one keeps at most 1000
# queued messages per session, max_queued_messages, and drops the rest, which no client can
# prevent).
MOSQUITTO_CONF = "listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n"


class PrivateServer:
    """``command`` (with ``{port}`` and ``{dir}`` filled in) run as a child process.

    ``start()`` waits until ``ready(port)`` (default: the port accepts connections);
    ``stop()`` kills it (``stop_signal``,
    SIGKILL by default: an outage, not a shutdown) and waits until the port is closed;
    ``pause()`` / ``resume()`` freeze and thaw it (SIGSTOP: the port stays open, requests
    hang). The port and data folder stay the same across restarts. As a context manager:
    started on entry, stopped on exit. A missing binary skips the test (fails it under
    ``CI=true``).
    """

    def __init__(
        self,
        command: Sequence[str],
        folder: Path,
        config: str | None = None,
        *,
        stop_signal: signal.Signals = signal.SIGKILL,
        ready: Callable[[int], bool] = reachable,
    ) -> None:
        _require(command[0])
        self.stop_signal = stop_signal
        self._ready = ready
        self.port = free_port()
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        if config is not None:
            (folder / "server.conf").write_text(config.format(port=self.port, dir=folder))
        self._command = [part.format(port=self.port, dir=folder) for part in command]
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, within: float = 15.0) -> None:
        with (self.folder / "server.log").open("ab") as log:
            self._process = subprocess.Popen(self._command, stdout=log, stderr=log)
        deadline = time.monotonic() + within
        while not self._ready(self.port):
            if self._process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{self._command[0]} did not start: see {self.folder}/server.log")
            time.sleep(0.02)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(self.stop_signal)
            process.send_signal(signal.SIGCONT)  # a paused process takes it only once resumed
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        deadline = time.monotonic() + 10
        while reachable(self.port) and time.monotonic() < deadline:
            time.sleep(0.02)

    def pause(self) -> None:
        assert self._process is not None, "not running"
        self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self._process is not None, "not running"
        self._process.send_signal(signal.SIGCONT)

    def __enter__(self) -> PrivateServer:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def _require(program: str) -> None:
    """Skip the test when ``program`` is not installed (fail it under ``CI=true``)."""
    if shutil.which(program) is None:
        message = f"{program} is not installed"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message} (CI=true: a missing server is a failure)")
        pytest.skip(message)


def private_redis(folder: Path) -> PrivateServer:
    """A private redis-server in ``folder`` (not started)."""
    return PrivateServer(REDIS_COMMAND, folder)


def private_mosquitto(folder: Path) -> PrivateServer:
    """A private Mosquitto in ``folder`` (not started): anonymous, no queue limit."""
    return PrivateServer(["mosquitto", "-c", "{dir}/server.conf"], folder, MOSQUITTO_CONF)


def private_postgres(folder: Path) -> PrivateServer:
    """A PostgreSQL cluster of its own (made now with ``initdb``; not started), logs in
    ``folder``: database and trust user ``postgres`` on 127.0.0.1, no fsync. ``stop()`` is an
    immediate shutdown (SIGQUIT: no checkpoint, crash recovery at the next start; a SIGKILL
    would leave its backends holding the shared memory the next start needs).

    As root it runs as the ``postgres`` user (PostgreSQL refuses root), with its data in a
    folder of that user's under the system temp folder (removed when this process exits).
    """
    _require("initdb")
    bin_dir = Path(os.path.realpath(shutil.which("initdb") or "initdb")).parent
    as_owner: list[str] = []
    if os.geteuid() == 0:
        as_owner = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"]
    data = Path(tempfile.mkdtemp(prefix="tandem-pg-"))
    atexit.register(shutil.rmtree, data, True)
    if as_owner:
        shutil.chown(data, "postgres", "postgres")
    initdb = [str(bin_dir / "initdb"), "-D", str(data / "db"), "-U", "postgres", "--auth=trust"]
    subprocess.run(
        [*as_owner, *initdb, "--encoding=UTF8", "--no-sync"],
        capture_output=True,
        check=True,
        timeout=120,
        cwd=data,
    )
    settings = ["listen_addresses=127.0.0.1", f"unix_socket_directories={data}", "fsync=off"]
    command = [*as_owner, str(bin_dir / "postgres"), "-D", str(data / "db"), "-p", "{port}"]
    for setting in settings:
        command += ["-c", setting]

    def ready(port: int) -> bool:  # it accepts connections before it takes queries
        probe = [str(bin_dir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port), "-t", "1"]
        return subprocess.run(probe, check=False, timeout=10).returncode == 0

    return PrivateServer(command, folder, stop_signal=signal.SIGQUIT, ready=ready)
