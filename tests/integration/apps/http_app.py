"""A tiny HTTP app on port argv[1]: ``GET /healthz`` is 200 while argv[2] exists, else 503.

Starts listening only once argv[3] exists when given (to test waiting for the app port).
Exits when its parent (the sidecar) goes away, or after 60 s.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def main() -> int:
    port = int(sys.argv[1])
    healthy = Path(sys.argv[2])
    gate = Path(sys.argv[3]) if len(sys.argv) > 3 else None
    parent = os.getppid()
    deadline = time.monotonic() + 60

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            ok = self.path == "/healthz" and healthy.exists()
            self.send_response(200 if ok else 503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    while gate is not None and not gate.exists():
        if time.monotonic() > deadline or os.getppid() != parent:
            return 1
        time.sleep(0.02)
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    while os.getppid() == parent and time.monotonic() < deadline:
        time.sleep(0.05)
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
