"""The test service's generated modules (``echo.proto``), compiled with grpc_tools into a
directory given by the caller, as a user of gRPC proxying would generate them."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

PROTO = Path(__file__).resolve().parent / "echo.proto"


def compile_proto(out_dir: Path) -> None:
    from grpc_tools import protoc  # type: ignore[import-untyped]

    out_dir.mkdir(parents=True, exist_ok=True)
    args = ["protoc", f"-I{PROTO.parent}", f"--python_out={out_dir}"]
    args.append(f"--grpc_python_out={out_dir}")
    if protoc.main([*args, str(PROTO)]) != 0:
        raise RuntimeError(f"protoc failed on {PROTO}")


def load(out_dir: Path) -> tuple[ModuleType, ModuleType]:
    """``(echo_pb2, echo_pb2_grpc)`` from ``out_dir`` (compiled there first if needed)."""
    if not (out_dir / "echo_pb2_grpc.py").exists():
        compile_proto(out_dir)
    if str(out_dir) not in sys.path:
        sys.path.insert(0, str(out_dir))
    return importlib.import_module("echo_pb2"), importlib.import_module("echo_pb2_grpc")
