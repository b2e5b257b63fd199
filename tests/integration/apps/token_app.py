"""A tiny HTTP app on port argv[1]: ``GET /healthz`` answers 200 when the request carries
``dapr-api-token: app-secret`` (else 401), and appends each token it sees to argv[2].

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
    seen = Path(sys.argv[2])
    parent = os.getppid()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            token = self.headers.get("dapr-api-token") or ""
            with lock, seen.open("a") as f:
                f.write(token + "\n")
            ok = self.path == "/healthz" and token == "app-secret"
            self.send_response(200 if ok else 401)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    deadline = time.monotonic() + 60
    while os.getppid() == parent and time.monotonic() < deadline:
        time.sleep(0.1)
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
