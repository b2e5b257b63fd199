"""The collector stand-in for ``bench/tracing.py``: an OTLP/gRPC receiver in its own process.

    python bench/_tracing_receiver.py        # prints {"port": N, "pid": P}, then serves

It is ``tests.otlp_receiver.OtlpReceiver`` (the receiver the tests use: ``TraceService/Export``
over ``grpc.aio``, every request parsed by protobuf) with ``_store`` replaced by counting: the
tests' version turns every span into a Python object and keeps it, which would cost this 2-core
machine more CPU than a real collector and grow without bound at sampling rate 1. Counted per
export: spans, spans by kind (SERVER, CLIENT), spans whose trace id starts with the bench's
``MARKER`` (the incoming ``traceparent`` variant), and spans per name; all of it per
``service.name`` (the sidecar's app id: one per configuration).

Control is line-based on stdin: ``count`` answers one JSON line with the totals so far per
service on stdout; end of input stops the receiver. ``Collector`` (below) is the bench's side of it.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

__all__ = ["MARKER", "Collector", "Counts"]

MARKER = bytes.fromhex("7a7a7a7a")
"""First 4 bytes of the trace ids the bench sends in ``traceparent`` (random ones otherwise)."""

_SERVER, _CLIENT = 2, 3  # opentelemetry.proto.trace.v1.Span.SpanKind


@dataclass
class Counts:
    """Totals of one service since the receiver started."""

    exports: int = 0
    spans: int = 0
    marked: int = 0  # trace id starts with MARKER: traces the bench started
    server: int = 0
    client: int = 0
    names: dict[str, int] = field(default_factory=dict)

    def __add__(self, other: Counts) -> Counts:
        names = dict(self.names)
        for n, c in other.names.items():
            names[n] = names.get(n, 0) + c
        return Counts(
            exports=self.exports + other.exports,
            spans=self.spans + other.spans,
            marked=self.marked + other.marked,
            server=self.server + other.server,
            client=self.client + other.client,
            names=names,
        )


class Collector:
    """The receiver process, started by the bench; ``counts()`` asks it for its totals."""

    def __init__(self) -> None:
        script = Path(__file__).resolve()
        self.proc = subprocess.Popen(
            [sys.executable, str(script)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=script.parents[1],
        )
        hello = json.loads(self._stdout.readline() or "null")
        if not isinstance(hello, dict):
            self.proc.kill()
            raise RuntimeError("the OTLP receiver did not start")
        self.port: int = hello["port"]

    @property
    def _stdin(self) -> IO[str]:
        assert self.proc.stdin is not None
        return self.proc.stdin

    @property
    def _stdout(self) -> IO[str]:
        assert self.proc.stdout is not None
        return self.proc.stdout

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def counts(self) -> dict[str, Counts]:
        """Totals so far per ``service.name``."""
        self._stdin.write("count\n")
        self._stdin.flush()
        data: dict[str, dict[str, Any]] = json.loads(self._stdout.readline())
        return {service: Counts(**fields) for service, fields in data.items()}

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self._stdin.close()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


# ---- the receiver process -----------------------------------------------------------------


async def _serve() -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    from tests.otlp_receiver import OtlpReceiver

    counts: dict[str, Counts] = {}
    names: dict[str, Counter[str]] = {}

    def service_of(resource_spans: Any) -> str:
        for kv in resource_spans.resource.attributes:
            if kv.key == "service.name":
                return str(kv.value.string_value)
        return ""

    class CountingReceiver(OtlpReceiver):
        async def _store(self, request: ExportTraceServiceRequest, transport: str) -> None:
            for resource_spans in request.resource_spans:
                service = service_of(resource_spans)
                if service not in counts:
                    counts[service], names[service] = Counts(), Counter()
                count, name_count = counts[service], names[service]
                count.exports += 1
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        count.spans += 1
                        if span.trace_id.startswith(MARKER):
                            count.marked += 1
                        if span.kind == _SERVER:
                            count.server += 1
                        elif span.kind == _CLIENT:
                            count.client += 1
                        name_count[span.name] += 1

    receiver = await CountingReceiver().start()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    print(json.dumps({"port": receiver.grpc_port}), flush=True)
    try:
        while line := await reader.readline():
            if line.strip() == b"count":
                for service, count in counts.items():
                    count.names = dict(names[service])
                print(json.dumps({s: c.__dict__ for s, c in counts.items()}), flush=True)
    finally:
        await receiver.stop()


def main() -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for ``tests``
    try:
        import uvloop

        uvloop.run(_serve())
    except ImportError:  # pragma: no cover
        asyncio.run(_serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
