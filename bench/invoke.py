"""Service invocation: the latency and cost Tandem adds per hop, beside nginx, in one run.

    python bench/invoke.py                    # 5 s per wrk point
    python bench/invoke.py --duration 3 --stream-bytes 268435456   # quicker

Needs ``wrk`` and ``nginx`` (Debian packages). Everything listens on 127.0.0.1. One aiohttp app
(``_invoke_app.py``: ``GET /hello`` answers 100 bytes) is called

- directly;
- through one Tandem sidecar (the callee's own: ``/v1.0/invoke/callee/method/hello``);
- through two sidecars (the caller's, then the callee's, found by ``nameresolution.sqlite``),
  mTLS between them (the default), and the same with ``--enable-mtls=false`` (``x2 no mTLS``):
  the c=16 throughput lost to mTLS (target <= 15%, issue 13), and the TLS handshakes per
  10,000 calls (connections open to the callee's internal port / calls made);
- through one and two nginx reverse proxies (keep-alive upstreams, one worker each, configured
  here in a temp folder) as the reference proxy.

``--profile`` measures nothing else: it samples the sidecars with py-spy (``_profile.py``) under
wrk at 16 connections, first the callee alone (``tandem x1``), then both of ``tandem x2``, and
prints where their CPU goes (raw profiles under ``bench/results/profiles/``).

Then, unless ``--no-grpc``, the gRPC part (``bench/invoke_grpc.py`` with ``--seconds`` set to
``--duration``): ``InvokeService`` and gRPC proxying (one and two sidecars) beside a direct grpcio
call, p50/p99 at one call in flight, throughput and sidecar CPU at 16.

``--baseline DIR`` adds a pair of sidecars run from another checkout (e.g. ``git archive`` of
an older revision unpacked in DIR; mTLS on, as ``tandem x2``): its p50, c=16 throughput and
sidecar CPU per request are measured in alternated rounds with this checkout's pair, so a
change is compared within one run on a shared machine. ``--compare-only`` runs just those
rounds (and reports each sidecar's CPU per request, caller and callee).

Per path, wrk gives the throughput at 16 connections and p50/p99 at 1 connection. The added
p50 per hop is (p50 of the path - p50 direct) / hops. Then, at a fixed 1,000 requests/s through
both sidecars (an open-loop asyncio client), each sidecar's CPU (mCPU) and RSS; and a 1 GiB
response streamed through both, with each sidecar's peak RSS growth. Targets (issue 10): Tandem
adds at most 3x nginx's p50 per hop; < 150 mCPU and < 60 MB per sidecar at 1,000 rps; RSS growth
< 20 MB while streaming 1 GB. At the same rate, the same measure of the floors: each nginx
worker of ``nginx x2``, and the app itself (a bare aiohttp server). Results go to
``bench/results/invoke-<time>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from _common import (
    REPO,
    Sidecar,
    cpu_seconds,
    free_port,
    git_revision,
    machine,
    probe,
    rss_kib,
    verdict,
)
from _profile import Profiler, summarise

__all__ = ["main"]

APP = Path(__file__).resolve().with_name("_invoke_app.py")
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}

NGINX_CONF = """
worker_processes 1;
daemon off;
pid {dir}/nginx-{port}.pid;
error_log {dir}/nginx-{port}.err warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body-{port};
  proxy_temp_path {dir}/proxy-{port};
  fastcgi_temp_path {dir}/fcgi-{port};
  uwsgi_temp_path {dir}/uwsgi-{port};
  scgi_temp_path {dir}/scgi-{port};
  upstream next {{ server 127.0.0.1:{upstream}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://next;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }}
  }}
}}
"""


def _wait_port(port: int, path: str = "/hello", timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe(port, path) is not None:
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing answers on port {port}")


def established(port: int) -> int:
    """Open TCP connections whose local port is ``port`` (server side), from /proc/net/tcp*."""
    total = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "01" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                total += 1
    return total


def _nginx(workdir: Path, upstream: int) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    conf = workdir / f"nginx-{port}.conf"
    conf.write_text(NGINX_CONF.format(dir=workdir, port=port, upstream=upstream))
    proc = subprocess.Popen(
        ["nginx", "-c", str(conf), "-p", str(workdir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait_port(port)
    return proc, port


def _worker(master: subprocess.Popen[bytes]) -> int:
    """nginx's one worker process (the child of ``master``), whose CPU is the proxy's."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for task in Path(f"/proc/{master.pid}/task").iterdir():
            children = (task / "children").read_text().split()
            if children:
                return int(children[0])
        time.sleep(0.05)
    raise RuntimeError(f"nginx {master.pid} started no worker")


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if match is None:
        raise ValueError(text)
    return float(match.group(1)) * _UNITS[match.group(2)]


def wrk(url: str, connections: int, duration: float) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{duration:g}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}  # type: ignore[union-attr]
    for pct in ("50", "99"):
        match = re.search(rf"^\s+{pct}%\s+(\S+)", out, re.M)
        result[f"p{pct}_ms"] = _ms(match.group(1)) if match else float("nan")
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    result["non_2xx"] = float(errors.group(1)) if errors else 0.0
    return result


async def _fixed_rate(url: str, rate: int, seconds: float) -> dict[str, float]:
    """Open loop: one request every 1/rate s (up to 64 in flight); the rate achieved."""
    import aiohttp

    done = failed = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session:
        slots = asyncio.Semaphore(64)

        async def one() -> None:
            nonlocal done, failed
            try:
                async with session.get(url) as r:
                    await r.read()
                    done += r.status == 200
                    failed += r.status != 200
            finally:
                slots.release()

        start = time.perf_counter()
        tasks = set()
        n = 0
        while (now := time.perf_counter()) - start < seconds:
            due = start + n / rate
            if due > now:
                await asyncio.sleep(due - now)
            await slots.acquire()
            task = asyncio.create_task(one())
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            n += 1
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
    return {"achieved_rps": done / elapsed, "failed": failed}


def cost_at_rate(url: str, pids: dict[str, int], rate: int, seconds: float) -> dict[str, Any]:
    asyncio.run(_fixed_rate(url, rate, 2.0))  # warm-up
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    t0 = time.perf_counter()
    load = asyncio.run(_fixed_rate(url, rate, seconds))
    elapsed = time.perf_counter() - t0
    out: dict[str, Any] = {"load": load}
    for name, pid in pids.items():
        out[name] = {
            "mcpu": (cpu_seconds(pid) - before[name]) / elapsed * 1000,
            "rss_mb": (rss_kib(pid) or 0) / 1024,
        }
    return out


def stream(url: str, pids: dict[str, int], size: int) -> dict[str, Any]:
    import urllib.request

    before = {name: rss_kib(pid) or 0 for name, pid in pids.items()}
    peak = dict(before)
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            for name, pid in pids.items():
                peak[name] = max(peak[name], rss_kib(pid) or 0)
            stop.wait(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    received = 0
    t0 = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=120) as response:
            while chunk := response.read(1 << 20):
                received += len(chunk)
    finally:
        stop.set()
        sampler.join()
    elapsed = time.perf_counter() - t0
    return {
        "bytes": received,
        "seconds": elapsed,
        "mb_per_s": received / elapsed / 1e6,
        "rss_growth_mb": {n: (peak[n] - before[n]) / 1024 for n in pids},
    }


def profile(
    url: str, pids: dict[str, int], label: str, duration: float, top: int, *, native: bool = False
) -> list[Path]:
    """py-spy on each of ``pids`` while wrk drives ``url`` at 16 connections; the profiles."""
    out = REPO / "bench" / "results" / "profiles"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    wrk(url, 16, 1.0)  # warm-up

    async def run() -> list[Path]:
        profilers = [
            Profiler(pid, out / f"invoke-{label}-{name}-{stamp}.txt", duration, native=native)
            for name, pid in pids.items()
        ]
        for p in profilers:
            await p.start()
        load = await asyncio.to_thread(wrk, url, 16, duration + 1)
        for p in profilers:
            await p.wait()
        print(f"{label}: c=16 {load['rps']:.0f}/s under py-spy; load {os.getloadavg()}")
        return [p.out for p in profilers]

    files = asyncio.run(run())
    for f in files:
        print(summarise(f, top))
        print()
    return files


def compare(pairs: dict[str, tuple[str, int, int]], args: argparse.Namespace) -> dict[str, Any]:
    """Alternated rounds over two sidecar pairs: c=1 p50, c=16 throughput with the sidecars'
    CPU per request at c=16, and mCPU at the fixed rate; medians over the rounds."""
    rows: dict[str, dict[str, list[float]]] = {
        name: {
            "p50_us": [],
            "rps_c16": [],
            "cpu_us_per_req": [],
            "caller_cpu_us": [],
            "callee_cpu_us": [],
            "mcpu_at_rate": [],
        }
        for name in pairs
    }
    for _ in range(args.baseline_rounds):
        for name, (url, caller_pid, callee_pid) in pairs.items():
            row = rows[name]
            row["p50_us"].append(wrk(url, 1, args.duration)["p50_ms"] * 1000)
            before = cpu_seconds(caller_pid), cpu_seconds(callee_pid)
            c16 = wrk(url, 16, args.duration)
            calls = c16["rps"] * args.duration
            caller_us = (cpu_seconds(caller_pid) - before[0]) / calls * 1e6
            callee_us = (cpu_seconds(callee_pid) - before[1]) / calls * 1e6
            row["rps_c16"].append(c16["rps"])
            row["cpu_us_per_req"].append((caller_us + callee_us) / 2)
            row["caller_cpu_us"].append(caller_us)
            row["callee_cpu_us"].append(callee_us)
            cost = cost_at_rate(
                url, {"caller": caller_pid, "callee": callee_pid}, args.rate, args.rate_seconds
            )
            row["mcpu_at_rate"].append((cost["caller"]["mcpu"] + cost["callee"]["mcpu"]) / 2)
    medians = {n: {k: statistics.median(v) for k, v in row.items()} for n, row in rows.items()}
    least = {n: min(row["cpu_us_per_req"]) for n, row in rows.items()}  # least disturbed round
    this, base = medians["this"], medians["baseline"]
    for name, m in medians.items():
        print(
            f"{name:8s} x2: p50 {m['p50_us']:6.0f} us, c=16 {m['rps_c16']:7.0f}/s, "
            f"{m['cpu_us_per_req']:5.0f} us CPU per request per sidecar "
            f"(caller {m['caller_cpu_us']:.0f}, callee {m['callee_cpu_us']:.0f}), "
            f"{m['mcpu_at_rate']:4.0f} mCPU per sidecar at {args.rate} rps (medians)"
        )
    print(
        f"this / baseline: CPU per request {this['cpu_us_per_req'] / base['cpu_us_per_req']:.2f}, "
        f"c=16 throughput {this['rps_c16'] / base['rps_c16']:.2f}, "
        f"p50 {this['p50_us'] / base['p50_us']:.2f}; least CPU per request in a round "
        f"{least['this']:.0f} vs {least['baseline']:.0f} us "
        f"({least['this'] / least['baseline']:.2f})"
    )
    return {"rounds": rows, "medians": medians, "least_cpu_us_per_req": least}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per wrk point")
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--rate-seconds", type=float, default=10.0)
    parser.add_argument("--mtls-rounds", type=int, default=5, help="alternated c=16 rounds")
    parser.add_argument("--stream-bytes", type=int, default=1 << 30)
    parser.add_argument("--baseline", type=Path, help="a checkout to compare with (see above)")
    parser.add_argument("--baseline-rounds", type=int, default=3)
    parser.add_argument(
        "--compare-only", action="store_true", help="with --baseline: only the alternated rounds"
    )
    parser.add_argument("--profile", action="store_true", help="py-spy the sidecars (above)")
    parser.add_argument("--native", action="store_true", help="--profile: C frames too")
    parser.add_argument("--top", type=int, default=30, help="rows of each --profile summary")
    parser.add_argument(
        "--no-grpc", action="store_true", help="skip the gRPC part (bench/invoke_grpc.py)"
    )
    args = parser.parse_args()
    for tool in ("wrk", "nginx"):
        if shutil.which(tool) is None:
            print(f"{tool} not found: apt-get install -y wrk nginx", file=sys.stderr)
            return 2

    procs: list[subprocess.Popen[bytes]] = []
    sidecars: list[Sidecar] = []
    with tempfile.TemporaryDirectory(prefix="tandem-bench-invoke-") as tmp:
        workdir = Path(tmp)
        try:
            app_port = free_port()
            procs.append(subprocess.Popen([sys.executable, str(APP), str(app_port)]))
            _wait_port(app_port)
            env = {"PYTHONPATH": str(REPO)}  # run this checkout, whatever venv runs the bench
            internal = free_port()
            callee = Sidecar.spawn(
                workdir,
                app_id="callee",
                extra_args=[
                    "--app-port",
                    str(app_port),
                    "--dapr-internal-grpc-port",
                    str(internal),
                ],
                env=env,
            )
            sidecars.append(callee)
            callee.wait_ready()
            caller = Sidecar.spawn(workdir, app_id="caller", env=env)
            sidecars.append(caller)
            caller.wait_ready()
            invoke = "/v1.0/invoke/callee/method/hello"
            if args.profile:
                x1 = f"http://127.0.0.1:{callee.http_port}{invoke}"
                x2 = f"http://127.0.0.1:{caller.http_port}{invoke}"
                sides = {"caller": caller.pid, "callee": callee.pid}
                opts = {"native": args.native}
                profile(x1, {"callee": callee.pid}, "x1", args.duration, args.top, **opts)
                profile(x2, sides, "x2", args.duration, args.top, **opts)
                return 0
            base_pair: tuple[Sidecar, Sidecar] | None = None
            if args.baseline is not None:
                base_env = {"PYTHONPATH": str(args.baseline.resolve())}
                base_dir = workdir / "baseline"
                base_callee = Sidecar.spawn(
                    base_dir,
                    app_id="callee",
                    extra_args=["--app-port", str(app_port)],
                    env=base_env,
                )
                sidecars.append(base_callee)
                base_callee.wait_ready()
                base_caller = Sidecar.spawn(base_dir, app_id="caller", env=base_env)
                sidecars.append(base_caller)
                base_caller.wait_ready()
                base_pair = (base_caller, base_callee)
            if args.compare_only:
                if base_pair is None:
                    print("--compare-only needs --baseline", file=sys.stderr)
                    return 2
                base_url = f"http://127.0.0.1:{base_pair[0].http_port}{invoke}"
                this_url = f"http://127.0.0.1:{caller.http_port}{invoke}"
                compare(
                    {
                        "this": (this_url, caller.pid, callee.pid),
                        "baseline": (base_url, base_pair[0].pid, base_pair[1].pid),
                    },
                    args,
                )
                print(f"load average at the end: {os.getloadavg()}")
                return 0
            # the same pair with mTLS off (its own TANDEM_HOME, so its own name resolution)
            plain_dir = workdir / "plain"
            off = ["--enable-mtls=false"]
            plain_callee = Sidecar.spawn(
                plain_dir, app_id="callee", extra_args=["--app-port", str(app_port), *off], env=env
            )
            sidecars.append(plain_callee)
            plain_callee.wait_ready()
            plain_caller = Sidecar.spawn(plain_dir, app_id="caller", extra_args=off, env=env)
            sidecars.append(plain_caller)
            plain_caller.wait_ready()
            nginx2, nginx2_port = _nginx(workdir, app_port)
            nginx1, nginx1_port = _nginx(workdir, nginx2_port)
            procs += [nginx2, nginx1]
            paths = {
                "direct": (f"http://127.0.0.1:{app_port}/hello", 0),
                "nginx x1": (f"http://127.0.0.1:{nginx2_port}/hello", 1),
                "nginx x2": (f"http://127.0.0.1:{nginx1_port}/hello", 2),
                "tandem x1": (f"http://127.0.0.1:{callee.http_port}{invoke}", 1),
                "tandem x2": (f"http://127.0.0.1:{caller.http_port}{invoke}", 2),
                "x2 no mTLS": (f"http://127.0.0.1:{plain_caller.http_port}{invoke}", 2),
            }
            results: dict[str, Any] = {}
            for name, (url, hops) in paths.items():
                wrk(url, 16, 1.0)  # warm-up: connections, caches
                c16 = wrk(url, 16, args.duration)
                c1 = wrk(url, 1, args.duration)
                results[name] = {"hops": hops, "c16": c16, "c1": c1}
                if name == "tandem x2":  # each open connection to the callee cost one handshake
                    calls = c16["rps"] * args.duration + c1["rps"] * args.duration
                    results[name]["internal_connections"] = established(internal)
                    results[name]["calls"] = calls
                bad = c16["non_2xx"] + c1["non_2xx"]
                print(
                    f"{name:10s} c=16 {c16['rps']:8.0f}/s   c=1 p50 {c1['p50_ms'] * 1000:6.0f} us"
                    f"  p99 {c1['p99_ms'] * 1000:6.0f} us   non-2xx {bad:.0f}"
                )
            direct = results["direct"]["c1"]["p50_ms"]
            added = {
                name: (r["c1"]["p50_ms"] - direct) / r["hops"]
                for name, r in results.items()
                if r["hops"] and name != "x2 no mTLS"
            }
            # mTLS against no mTLS: alternated rounds, medians (a shared machine drifts)
            rounds: dict[str, list[float]] = {"tandem x2": [], "x2 no mTLS": []}
            for _ in range(args.mtls_rounds):
                for name, values in rounds.items():
                    values.append(wrk(paths[name][0], 16, args.duration)["rps"])
            medians = {name: statistics.median(v) for name, v in rounds.items()}
            mtls_loss = 1 - medians["tandem x2"] / medians["x2 no mTLS"]
            print(
                "c=16 rounds (alternated): "
                + "; ".join(f"{n} {' '.join(f'{r:.0f}' for r in v)}/s" for n, v in rounds.items())
            )
            x2 = results["tandem x2"]
            per_10k = x2["internal_connections"] / x2["calls"] * 10_000 if x2["calls"] else 0.0
            print(
                f"mTLS (tandem x2) vs no mTLS (x2 no mTLS), c=16 median throughput: "
                f"{mtls_loss:+.1%} loss [{verdict(mtls_loss <= 0.15)} <= 15%]; "
                f"{x2['internal_connections']} TLS connections for {x2['calls']:.0f} calls "
                f"= {per_10k:.1f} handshakes per 10,000 calls (connections reused)"
            )
            tandem_hop = (added["tandem x1"] + added["tandem x2"]) / 2
            nginx_hop = (added["nginx x1"] + added["nginx x2"]) / 2
            ratio = tandem_hop / nginx_hop if nginx_hop > 0 else float("inf")
            print(
                f"p50 added per hop: tandem {tandem_hop * 1000:.0f} us, "
                f"nginx {nginx_hop * 1000:.0f} us -> {ratio:.1f}x  [{verdict(ratio <= 3)} <= 3x]"
            )
            app_pid = procs[0].pid
            cost = cost_at_rate(
                paths["tandem x2"][0],
                {"caller": caller.pid, "callee": callee.pid, "app": app_pid},
                args.rate,
                args.rate_seconds,
            )
            for side in ("caller", "callee"):
                c = cost[side]
                print(
                    f"{side} sidecar at {cost['load']['achieved_rps']:.0f} rps: "
                    f"{c['mcpu']:.0f} mCPU [{verdict(c['mcpu'] < 150)} < 150], "
                    f"RSS {c['rss_mb']:.1f} MB [{verdict(c['rss_mb'] < 60)} < 60]"
                )
            # the floors on this machine, same rate: an nginx worker proxying, and the app (a
            # bare aiohttp server answering 100 bytes), whose cost any aiohttp-served hop pays
            reference = cost_at_rate(
                paths["nginx x2"][0],
                {"nginx front": _worker(nginx1), "nginx back": _worker(nginx2)},
                args.rate,
                args.rate_seconds,
            )
            reference["app (aiohttp)"] = cost["app"]
            print(
                "reference at the same rate: "
                + "; ".join(
                    f"{name} {reference[name]['mcpu']:.0f} mCPU, {reference[name]['rss_mb']:.1f} MB"
                    for name in ("nginx front", "nginx back", "app (aiohttp)")
                )
            )
            streamed = stream(
                f"http://127.0.0.1:{caller.http_port}/v1.0/invoke/callee/method/big"
                f"?bytes={args.stream_bytes}",
                {"caller": caller.pid, "callee": callee.pid},
                args.stream_bytes,
            )
            growth = streamed["rss_growth_mb"]
            print(
                f"streamed {streamed['bytes'] / 2**30:.2f} GiB through two sidecars at "
                f"{streamed['mb_per_s']:.0f} MB/s; RSS growth caller {growth['caller']:.1f} MB, "
                f"callee {growth['callee']:.1f} MB [{verdict(max(growth.values()) < 20)} < 20]"
            )
            versus = (
                compare(
                    {
                        "this": (paths["tandem x2"][0], caller.pid, callee.pid),
                        "baseline": (
                            f"http://127.0.0.1:{base_pair[0].http_port}{invoke}",
                            base_pair[0].pid,
                            base_pair[1].pid,
                        ),
                    },
                    args,
                )
                if base_pair is not None
                else None
            )
            report = {
                "machine": machine(),
                "git": git_revision(),
                "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                "paths": results,
                "added_p50_ms_per_hop": added,
                "ratio_tandem_to_nginx": ratio,
                "mtls_throughput_loss_c16": mtls_loss,
                "mtls_rounds_rps_c16": rounds,
                "handshakes_per_10k_calls": per_10k,
                "at_rate": cost,
                "reference_at_rate": reference,
                "stream": streamed,
                "versus_baseline": versus,
            }
            out = REPO / "bench" / "results"
            out.mkdir(exist_ok=True)
            target = out / f"invoke-{time.strftime('%Y%m%d-%H%M%S')}.json"
            target.write_text(json.dumps(report, indent=2))
            print(f"written to {target.relative_to(REPO)}")
        finally:
            for sc in sidecars:
                sc.stop()
            for proc in procs:
                proc.terminate()
                proc.wait(timeout=10)
    if args.no_grpc:
        return 0
    # gRPC invocation and proxying beside a direct grpcio call, in the same run
    import invoke_grpc

    print("\n== gRPC: InvokeService and proxying (bench/invoke_grpc.py) ==", flush=True)
    return invoke_grpc.main(["--seconds", str(args.duration), "--rounds", "3"])


if __name__ == "__main__":
    sys.exit(main())
