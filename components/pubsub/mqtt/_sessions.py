"""Stable MQTT client ids for persistent sessions, one per live subscriber.

A persistent session belongs to a client id: a subscriber that restarts must reconnect with
the same id to get back the messages the broker kept for it, while two live subscribers must
never share one (the broker would disconnect the older). A subscription therefore claims the
first free *slot* of its (consumer group, topic): the id ``<group>-<topic hash>-<slot>``.

A slot is held by an exclusive ``flock`` on a file under ``$TANDEM_HOME/mqtt-sessions`` that
holds the client id (the lock is released by the kernel when the process dies, so a restarted
sidecar takes the slot of the one that crashed) and, within one process, by a set of claimed
ids. Sidecars sharing a ``TANDEM_HOME`` share the slots; replicas on other hosts must not reuse
a group with persistent sessions unless their ids differ (see the package docstring).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from pathlib import Path

__all__ = ["SessionSlot", "claim_slot"]

_CLAIMED: set[str] = set()
_MAX_SLOTS = 1024


class SessionSlot:
    def __init__(self, identifier: str, fd: int | None) -> None:
        self.identifier = identifier
        self._fd = fd

    def release(self) -> None:
        _CLAIMED.discard(self.identifier)
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def base_id(group: str, topic: str) -> str:
    return f"{group}-{hashlib.sha256(topic.encode()).hexdigest()[:10]}"


def claim_slot(home: Path, group: str, topic: str) -> SessionSlot:
    """The first free slot's id for (group, topic); raises OSError when none is left."""
    folder = home / "mqtt-sessions"
    folder.mkdir(parents=True, exist_ok=True)
    base = base_id(group, topic)
    for slot in range(_MAX_SLOTS):
        identifier = f"{base}-{slot}"
        if identifier in _CLAIMED:
            continue
        name = hashlib.sha256(identifier.encode()).hexdigest()[:32]
        fd = os.open(folder / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        os.ftruncate(fd, 0)  # the file names its client id (for tools and clean-ups)
        os.pwrite(fd, identifier.encode(), 0)
        _CLAIMED.add(identifier)
        return SessionSlot(identifier, fd)
    raise OSError(f"no free MQTT session slot for {base}")
