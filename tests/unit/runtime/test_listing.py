"""``tandem list``'s source: the files sidecars announce under ``$TANDEM_HOME/run``, live while
their lock is held (no /proc, so portable), stale ones dropped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from runtime.cli.listing import SidecarEntry, announce, format_table, running_sidecars
from tests.integration.harness import REPO_ROOT


def entry(app_id: str = "orders", pid: int | None = None) -> SidecarEntry:
    return SidecarEntry(app_id, pid or os.getpid(), 3500, 50001, 50002, 9090, 8082, 0.0)


def test_an_announced_sidecar_is_listed_with_its_ports_until_it_withdraws(tmp_path: Path) -> None:
    with announce(tmp_path, entry()):
        (listed,) = running_sidecars(tmp_path)
        assert (listed.app_id, listed.pid) == ("orders", os.getpid())
        assert (listed.http_port, listed.grpc_port, listed.internal_port) == (3500, 50001, 50002)
        assert (listed.metrics_port, listed.app_port) == (9090, 8082)
        assert listed.uptime_seconds >= 0
        assert "orders" in format_table([listed])
    assert running_sidecars(tmp_path) == []
    assert list((tmp_path / "run").iterdir()) == []


def test_a_killed_sidecar_is_not_listed_and_its_files_are_removed(tmp_path: Path) -> None:
    code = textwrap.dedent(
        f"""
        import os, sys
        sys.path.insert(0, {str(REPO_ROOT)!r})
        from pathlib import Path
        from runtime.cli.listing import SidecarEntry, announce
        e = SidecarEntry("doomed", os.getpid(), 1, 2, 3, None, None, 0.0)
        with announce(Path({str(tmp_path)!r}), e):
            print("announced", flush=True)
            sys.stdin.read()
        """
    )
    with subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "announced"
        assert [e.app_id for e in running_sidecars(tmp_path)] == ["doomed"]
        proc.send_signal(signal.SIGKILL)  # no clean-up runs: the files stay behind
        proc.wait(timeout=30)
        assert (tmp_path / "run" / f"{proc.pid}.json").exists()
        assert running_sidecars(tmp_path) == []
        assert list((tmp_path / "run").iterdir()) == []


def test_no_run_folder_and_stale_files_list_nothing(tmp_path: Path) -> None:
    assert running_sidecars(tmp_path) == []
    with announce(tmp_path, entry("other")):
        (tmp_path / "run" / "123.json").write_text("not json")
        (tmp_path / "run" / "123.lock").write_bytes(b"")
        assert [e.app_id for e in running_sidecars(tmp_path)] == ["other"]
    assert format_table([]) == "no sidecars running"
