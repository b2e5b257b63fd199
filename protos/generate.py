"""Regenerate, or check, the Python code generated from the .proto files in protos/.

Usage (from the repository root, inside the project's virtualenv)::

    python -m protos.generate           # rewrite the generated files
    python -m protos.generate --check   # exit 1 and list stale files if out of date

The include root is the repository root, so ``protos/dapr/runtime/v1/state.proto``
becomes the Python module ``protos.dapr.runtime.v1.state_pb2``. For every .proto file
four files are written next to it: ``_pb2.py`` and ``_pb2_grpc.py`` (grpcio-tools) and
their typed stubs ``_pb2.pyi`` and ``_pb2_grpc.pyi`` (mypy-protobuf).

Code is always generated into a temporary directory first. Without ``--check`` the
result is then copied over the committed files, and generated files whose .proto
source is gone are deleted; with ``--check`` nothing in the tree is touched.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

# The generated code depends on these exact versions (headers, runtime version
# checks, stub layout), so a different version would make every file "stale".
PINNED_VERSIONS = {
    "grpcio-tools": "1.85.1",
    "mypy-protobuf": "5.1.0",
}

PROTOS_DIR = Path(__file__).resolve().parent
REPO_ROOT = PROTOS_DIR.parent
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi")
MYPY_PLUGINS = ("protoc-gen-mypy", "protoc-gen-mypy_grpc")


class GenerateError(Exception):
    """Generation cannot run or failed; the message says why."""


def check_versions() -> None:
    """Refuse to run with code generators other than the pinned ones."""
    problems = []
    for dist, wanted in PINNED_VERSIONS.items():
        try:
            found = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            problems.append(f"{dist}=={wanted} is required but not installed")
            continue
        if found != wanted:
            problems.append(f"{dist}=={wanted} is required but {found} is installed")
    if problems:
        pins = " ".join(f"{d}=={v}" for d, v in PINNED_VERSIONS.items())
        raise GenerateError(
            "; ".join(problems) + f". Install the pinned versions: pip install {pins}"
        )


def proto_sources() -> list[str]:
    """All .proto files under protos/, as include-root-relative POSIX paths."""
    return sorted(p.relative_to(REPO_ROOT).as_posix() for p in PROTOS_DIR.rglob("*.proto"))


def grpc_tools_include_dir() -> Path:
    """The directory holding the well-known types (google/protobuf/*.proto)."""
    spec = importlib.util.find_spec("grpc_tools")
    if spec is None or spec.origin is None:
        raise GenerateError("grpc_tools is not importable; install grpcio-tools")
    include = Path(spec.origin).parent / "_proto"
    if not (include / "google" / "protobuf" / "empty.proto").is_file():
        raise GenerateError(f"grpc_tools has no bundled well-known types in {include}")
    return include


def find_plugin(name: str) -> Path:
    """Find a protoc plugin, preferring the one next to the running interpreter."""
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    found = shutil.which(name, path=search)
    if found is None:
        raise GenerateError(f"protoc plugin {name!r} not found; install mypy-protobuf")
    return Path(found)


def generate_into(out_dir: Path) -> list[str]:
    """Run protoc into out_dir; return the generated files, relative to out_dir."""
    sources = proto_sources()
    if not sources:
        raise GenerateError(f"no .proto files found under {PROTOS_DIR}")
    plugins = [f"--plugin={name}={find_plugin(name)}" for name in MYPY_PLUGINS]
    out = str(out_dir)
    cmd = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"-I{REPO_ROOT}",
        f"-I{grpc_tools_include_dir()}",
        *plugins,
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        f"--mypy_out={out}",
        f"--mypy_grpc_out={out}",
        *sources,
    ]
    # The command is built from this interpreter and paths inside the repository.
    result = subprocess.run(  # noqa: S603
        cmd, cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise GenerateError(f"protoc failed (exit {result.returncode}):\n{result.stderr.strip()}")
    return sorted(
        p.relative_to(out_dir).as_posix()
        for p in out_dir.rglob("*")
        if p.is_file() and p.name.endswith(GENERATED_SUFFIXES)
    )


def committed_files() -> list[str]:
    """Generated files currently in the tree, relative to the repository root."""
    return sorted(
        p.relative_to(REPO_ROOT).as_posix()
        for p in PROTOS_DIR.rglob("*")
        if p.is_file() and p.name.endswith(GENERATED_SUFFIXES)
    )


def stale_files(out_dir: Path, generated: list[str]) -> list[str]:
    """Files that differ between out_dir and the tree, or exist on one side only."""
    stale = []
    for rel in generated:
        target = REPO_ROOT / rel
        if not target.is_file() or target.read_bytes() != (out_dir / rel).read_bytes():
            stale.append(rel)
    stale.extend(sorted(set(committed_files()) - set(generated)))
    return sorted(stale)


def run(*, check: bool) -> int:
    """Generate (or check); return the process exit code."""
    check_versions()
    with tempfile.TemporaryDirectory(prefix="tandem-protos-") as tmp:
        out_dir = Path(tmp)
        generated = generate_into(out_dir)
        stale = stale_files(out_dir, generated)
        if check:
            if stale:
                print("Generated protobuf code is out of date:", file=sys.stderr)
                for rel in stale:
                    print(f"  {rel}", file=sys.stderr)
                print("Run: python -m protos.generate", file=sys.stderr)
                return 1
            print(f"Generated protobuf code is up to date ({len(generated)} files).")
            return 0
        for rel in stale:
            source, target = out_dir / rel, REPO_ROOT / rel
            if source.is_file():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)
                print(f"wrote   {rel}")
            else:
                target.unlink()
                print(f"removed {rel}")
        print(f"{len(generated)} generated files, {len(stale)} changed.")
        return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m protos.generate",
        description="Generate Python code from the .proto files under protos/.",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="do not write anything; exit 1 and list the stale files if the "
        "committed generated code differs from what would be generated",
    )
    args = parser.parse_args(argv)
    try:
        return run(check=args.check)
    except GenerateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
