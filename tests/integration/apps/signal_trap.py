"""Trap SIGTERM and SIGINT: record each signal in argv[1] and exit 0 on the first one.

Writes ``ready`` to argv[1] once the handlers are installed, then one line per signal
received. Exits by itself after 30 s so a broken test never leaves it behind.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path
from types import FrameType

received: list[str] = []


def on_signal(signum: int, frame: FrameType | None) -> None:
    received.append(signal.Signals(signum).name)


def main() -> int:
    marker = Path(sys.argv[1])
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    marker.write_text("ready\n")
    deadline = time.monotonic() + 30
    while not received and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)  # a second, unwanted signal would arrive meanwhile
    marker.write_text("ready\n" + "".join(f"{name}\n" for name in received))
    return 0 if received else 1


if __name__ == "__main__":
    sys.exit(main())
