"""The metrics endpoint listens where the APIs do (``--dapr-listen-addresses``), nowhere else."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.harness import Sidecar, free_port, http_request, listening_addresses

pytestmark = pytest.mark.integration


def test_metrics_listen_on_every_listen_address_only(tmp_path: Path) -> None:
    if not Path("/proc/net/tcp").exists():
        pytest.skip("needs /proc/net/tcp")
    port = free_port()
    args = ["--dapr-listen-addresses", "127.0.0.1,127.0.0.3", "--metrics-port", str(port)]
    with Sidecar.start(tmp_path, empty_resources=True, args=args) as sc:
        assert listening_addresses(port) == {"0100007F", "0300007F"}  # 127.0.0.1, 127.0.0.3
        assert listening_addresses(sc.http_port) == {"0100007F", "0300007F"}
        for host in ("127.0.0.1", "127.0.0.3"):
            assert http_request(port, "GET", "/metrics", host=host).status == 200
        with pytest.raises(ConnectionRefusedError):
            http_request(port, "GET", "/metrics", host="127.0.0.2", timeout=2)
