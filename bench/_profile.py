"""Sample the sidecar with py-spy during a measurement and summarise the samples.

    python bench/_profile.py bench/results/profiles/<file>.txt [--top 25] [--markdown]
    python bench/_profile.py --drive [--duration 5] [--native] [--markdown]

``--drive`` profiles a state GET on ``state.redis`` (``--redis-host``, keys under a run prefix,
deleted after) at 16 callers over HTTP and over gRPC: it runs ``bench/state.py`` with
``--profile redis:get:16:http --profile redis:get:16:grpc`` (one sidecar, py-spy attached to it
for each measurement) and summarises the two profiles it wrote.

py-spy (``pip install py-spy``) writes ``--format raw`` files: one collapsed stack per line,
``frame;frame;...;leaf count``, outermost frame first. The summary lists, as a share of all
samples of running (non-idle) threads:

- self: samples whose innermost frame is the function (where the CPU time is spent);
- total: samples with the function anywhere on the stack (the time under it).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

__all__ = ["Profiler", "summarise"]

_LINENO = re.compile(r":\d+\)$")


def _frame(text: str) -> str:
    """``func (path/file.py:12)`` → ``func (path/file.py)``."""
    return _LINENO.sub(")", text.strip())


def _parse(path: Path) -> tuple[Counter[str], Counter[str], int]:
    own: Counter[str] = Counter()
    under: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame(f) for f in stack.split(";") if f.strip()]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for f in set(frames):
            under[f] += count
    return own, under, total


def summarise(path: Path, top: int = 20, *, markdown: bool = False) -> str:
    if not path.exists():
        return f"{path}: no profile written"
    own, under, total = _parse(path)
    if not total:
        return f"{path}: no samples"
    if markdown:
        rows = ["| function | self % | total % |", "|---|---|---|"]
        rows += [
            f"| `{f}` | {n / total * 100:.1f} | {under[f] / total * 100:.1f} |"
            for f, n in own.most_common(top)
        ]
        return f"{path.name}: {total} samples\n\n" + "\n".join(rows)
    lines = [f"{path.name}: {total} samples of running threads", "", "  self%  function"]
    lines += [f"  {n / total * 100:5.1f}  {f}" for f, n in own.most_common(top)]
    lines += ["", " total%  function (time under it)"]
    lines += [f"  {n / total * 100:5.1f}  {f}" for f, n in under.most_common(top)]
    return "\n".join(lines)


class Profiler:
    """``py-spy record`` attached to ``pid`` for ``seconds`` (raw collapsed stacks)."""

    def __init__(
        self,
        pid: int,
        out: Path,
        seconds: float,
        *,
        rate: int = 200,
        native: bool = False,
        extra: Sequence[str] = (),
    ) -> None:
        exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        self._cmd = [
            exe, "record", "--pid", str(pid), "--format", "raw", "--rate", str(rate),
            "--duration", str(max(1, round(seconds))), "--output", str(out),
        ]  # fmt: skip
        # --native: C/C++/Cython frames too (grpc's core, uvloop); it must pause the process
        # for each sample, so the sampled process slows down more.
        self._cmd.append("--native" if native else "--nonblocking")
        self._cmd += extra  # e.g. --gil: only samples holding the GIL (Python work)
        self.out = out
        self._proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self._proc = await asyncio.create_subprocess_exec(
            *self._cmd,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )

    async def wait(self) -> None:
        if self._proc is None:
            return
        _, err = await self._proc.communicate()
        if self._proc.returncode != 0:
            print(f"py-spy failed: {err.decode(errors='replace')}", file=sys.stderr)


def drive(*, duration: float, native: bool, redis_host: str) -> list[Path]:
    """Run ``bench/state.py`` profiling redis GET at c=16 over HTTP and gRPC; the profiles."""
    here = Path(__file__).resolve().parent
    profiles = here / "results" / "profiles"
    before = set(profiles.glob("*.txt")) if profiles.exists() else set()
    cmd = [
        sys.executable, str(here / "state.py"), "--stores", "redis", "--ops", "get",
        "--concurrency", "16", "--paths", "direct,http,grpc", "--duration", str(duration),
        "--redis-host", redis_host,
        "--profile", "redis:get:16:http", "--profile", "redis:get:16:grpc",
    ]  # fmt: skip
    if native:
        cmd.append("--profile-native")
    subprocess.run(cmd, check=True, stderr=subprocess.DEVNULL)
    return sorted(set(profiles.glob("*.txt")) - before)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Summarise py-spy raw profiles.")
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--markdown", action="store_true", help="a table for the README")
    parser.add_argument("--drive", action="store_true", help="profile redis GET, HTTP and gRPC")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--native", action="store_true", help="py-spy --native")
    parser.add_argument("--redis-host", default="127.0.0.1:6379")
    args = parser.parse_args(argv)
    files = list(args.files)
    if args.drive:
        files += drive(duration=args.duration, native=args.native, redis_host=args.redis_host)
    for f in files:
        print(summarise(f, args.top, markdown=args.markdown))
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
