"""The feature-flags block (flag sources) as the shared conformance harness sees it.

Matrix fields of its own (``components.yaml``):
  flagKeys: the flag keys the manifest's source serves after ``init()``.

Feature coherence: WATCH has no capability Protocol (every source has ``subscribe``); a source
that does not declare it simply never calls its subscribers.
"""

from __future__ import annotations

import hashlib
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from components.flags import FlagSourceFeature
from tests.conformance._harness import Block, Case, FeatureCheck

__all__ = ["FLAGS", "FLAGS_URL_ENV", "FlagsOptions"]

FLAGS_URL_ENV = "TANDEM_TEST_FLAGS_URL"


class FlagsOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    flag_keys: list[str] = Field(alias="flagKeys")


async def _watch(source: Any, _: Case[Any], __: str) -> None:
    source.subscribe(lambda: None)()


FLAGS: Block[FlagsOptions] = Block(
    name="flags",
    features=FlagSourceFeature,
    declared=lambda source: source.features(),
    options=FlagsOptions,
    checks={FlagSourceFeature.WATCH: FeatureCheck(protocol=None, probe=_watch)},
)


def _serve_fixture_flags() -> str:
    """A local HTTP server (a daemon thread) serving ``manifests/flags.json`` with an ETag,
    for the ``flags.http`` entry; its URL is handed to the manifest through the environment
    (``envRef``), because the generic suites build components from every block's matrix."""
    body = (Path(__file__).parent / "manifests" / "flags.json").read_bytes()
    etag = f'"{hashlib.sha256(body).hexdigest()[:16]}"'

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("ETag", etag)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/flags.json"


os.environ.setdefault(FLAGS_URL_ENV, _serve_fixture_flags())
