"""The schema of ``pubsub.sqlite`` and the transactions it runs (on the database thread).

Tables (prefixed ``pubsub_``; the schema level is the row ``schema_version:pubsub`` of the
``metadata`` table, laid out as the state store's so both may share one file):

- ``pubsub_messages``: one row per published message; ``seq`` is AUTOINCREMENT, so it grows
  for ever and is never reused, even once rows are deleted (group cursors rely on it);
- ``pubsub_groups``: one row per (topic, consumer group); ``cursor`` is the highest ``seq`` the
  group has taken. A group starts at the end of the topic when it is created;
- ``pubsub_leases``: one row per message a group has taken and not acknowledged: its ``owner``
  (a subscription) and the time ``until`` which it is leased. A lease past ``until`` is taken
  again by the next claim of any subscription of the group (a NACK sets ``until`` to the
  redelivery time and clears the owner; a crashed process's leases simply run out);
- ``pubsub_listeners``: the localhost UDP ports of live subscriptions per topic, refreshed
  periodically (``seen``); publishers poke them after each commit.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from components.errors import ComponentError
from components.pubsub.sqlite._db import transaction

__all__ = [
    "LISTENER_TTL",
    "SCHEMA_VERSION",
    "Claimed",
    "Published",
    "Settle",
    "claim",
    "cleanup",
    "ensure_group",
    "extend",
    "insert",
    "listen",
    "listeners",
    "migrate",
    "release",
    "settle",
    "unlisten",
]

LISTENER_TTL = 60.0
"""A listener row not refreshed for this long (seconds) is ignored and then deleted."""

_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        "CREATE TABLE pubsub_messages ("
        " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
        " topic TEXT NOT NULL,"
        " data BLOB NOT NULL,"
        " content_type TEXT NOT NULL,"
        " metadata TEXT NOT NULL,"
        " published REAL NOT NULL,"
        " expires REAL)",
        "CREATE INDEX pubsub_messages_topic ON pubsub_messages (topic, seq)",
        "CREATE TABLE pubsub_groups ("
        " id INTEGER PRIMARY KEY,"
        " topic TEXT NOT NULL,"
        " name TEXT NOT NULL,"
        " cursor INTEGER NOT NULL,"
        " UNIQUE (topic, name))",
        "CREATE TABLE pubsub_leases ("
        " grp INTEGER NOT NULL,"
        " seq INTEGER NOT NULL,"
        " owner TEXT,"
        " until REAL NOT NULL,"
        " PRIMARY KEY (grp, seq)) WITHOUT ROWID",
        "CREATE INDEX pubsub_leases_owner ON pubsub_leases (owner) WHERE owner IS NOT NULL",
        "CREATE INDEX pubsub_leases_due ON pubsub_leases (grp, until)",
        "CREATE INDEX pubsub_leases_seq ON pubsub_leases (seq)",
        "CREATE TABLE pubsub_listeners ("
        " topic TEXT NOT NULL,"
        " port INTEGER NOT NULL,"
        " seen REAL NOT NULL,"
        " PRIMARY KEY (topic, port)) WITHOUT ROWID",
    ),
)
SCHEMA_VERSION = len(_MIGRATIONS)
_VERSION_KEY = "schema_version:pubsub"


def migrate(conn: sqlite3.Connection) -> None:
    """Bring the file to ``SCHEMA_VERSION`` (once, even when processes start together)."""
    with transaction(conn):
        conn.execute(
            "CREATE TABLE IF NOT EXISTS metadata"
            " (key TEXT NOT NULL PRIMARY KEY, value TEXT NOT NULL)"
        )
        row = conn.execute("SELECT value FROM metadata WHERE key = ?", (_VERSION_KEY,)).fetchone()
        current = int(row[0]) if row else 0
        if current > SCHEMA_VERSION:
            raise ComponentError(
                f"the pub/sub tables have schema version {current}, newer than this Tandem's "
                f"{SCHEMA_VERSION}: upgrade Tandem or use another file"
            )
        for statements in _MIGRATIONS[current:]:
            for statement in statements:
                conn.execute(statement)
        if current < SCHEMA_VERSION:
            conn.execute(
                "INSERT INTO metadata (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (_VERSION_KEY, str(SCHEMA_VERSION)),
            )


@dataclass(frozen=True, slots=True)
class Published:
    topic: str
    data: bytes
    content_type: str
    metadata: str  # JSON object
    expires: float | None  # unix time


@dataclass(frozen=True, slots=True)
class Claimed:
    seq: int
    topic: str
    data: bytes
    content_type: str
    metadata: dict[str, str]


@dataclass(frozen=True, slots=True)
class Settle:
    grp: int
    seq: int
    owner: str
    redeliver_at: float | None  # None: acknowledged; else NACKed, due again then


def insert(
    conn: sqlite3.Connection, messages: Sequence[Published], now: float
) -> dict[str, list[int]]:
    """Insert ``messages`` in one transaction; returns the listener ports of their topics."""
    with transaction(conn):
        conn.executemany(
            "INSERT INTO pubsub_messages (topic, data, content_type, metadata, published, expires)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [(m.topic, m.data, m.content_type, m.metadata, now, m.expires) for m in messages],
        )
    return listeners(conn, sorted({m.topic for m in messages}), now)


def listeners(conn: sqlite3.Connection, topics: Sequence[str], now: float) -> dict[str, list[int]]:
    """The live listener ports of ``topics``."""
    rows = conn.execute(
        "SELECT topic, port FROM pubsub_listeners"
        " WHERE topic IN (SELECT value FROM json_each(?)) AND seen > ?",
        (json.dumps(topics), now - LISTENER_TTL),
    ).fetchall()
    ports: dict[str, list[int]] = {}
    for topic, port in rows:
        ports.setdefault(topic, []).append(port)
    return ports


def ensure_group(conn: sqlite3.Connection, topic: str, name: str) -> int:
    """The group's id; a new group starts after the topic's last message."""
    with transaction(conn):
        conn.execute(
            "INSERT INTO pubsub_groups (topic, name, cursor)"
            " VALUES (?, ?, (SELECT COALESCE(MAX(seq), 0) FROM pubsub_messages))"
            " ON CONFLICT (topic, name) DO NOTHING",
            (topic, name),
        )
        row = conn.execute(
            "SELECT id FROM pubsub_groups WHERE topic = ? AND name = ?", (topic, name)
        ).fetchone()
    return int(row[0])


def _decode(seq: int, topic: str, data: bytes, content_type: str, metadata: str) -> Claimed:
    try:
        decoded = json.loads(metadata)
    except ValueError:
        decoded = {}
    return Claimed(seq, topic, bytes(data), content_type, decoded)


def claim(
    conn: sqlite3.Connection,
    grp: int,
    topic: str,
    owner: str,
    *,
    count: int,
    now: float,
    lease_until: float,
) -> list[Claimed]:
    """Lease up to ``count`` messages to ``owner``: leases that ran out first, then new ones in
    ``seq`` order. Expired (TTL) messages are skipped and never leased. Reads first, and takes
    the write lock only when there is something to take."""
    found = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pubsub_leases WHERE grp = ? AND until <= ?)"
        " OR EXISTS (SELECT 1 FROM pubsub_messages WHERE topic = ?"
        "  AND seq > (SELECT cursor FROM pubsub_groups WHERE id = ?))",
        (grp, now, topic, grp),
    ).fetchone()
    if not found[0]:
        return []
    taken: list[Claimed] = []
    with transaction(conn):
        due = conn.execute(
            "SELECT l.seq, m.topic, m.data, m.content_type, m.metadata, m.expires"
            " FROM pubsub_leases l JOIN pubsub_messages m ON m.seq = l.seq"
            " WHERE l.grp = ? AND l.until <= ? ORDER BY l.seq LIMIT ?",
            (grp, now, count),
        ).fetchall()
        dead = [(grp, r[0]) for r in due if r[5] is not None and r[5] <= now]
        live = [r for r in due if r[5] is None or r[5] > now]
        conn.executemany("DELETE FROM pubsub_leases WHERE grp = ? AND seq = ?", dead)
        conn.executemany(
            "UPDATE pubsub_leases SET owner = ?, until = ? WHERE grp = ? AND seq = ?",
            [(owner, lease_until, grp, r[0]) for r in live],
        )
        taken += [_decode(*r[:5]) for r in live]
        room = count - len(live)
        if room > 0:
            fresh = conn.execute(
                "SELECT seq, topic, data, content_type, metadata, expires FROM pubsub_messages"
                " WHERE topic = ? AND seq > (SELECT cursor FROM pubsub_groups WHERE id = ?)"
                " ORDER BY seq LIMIT ?",
                (topic, grp, room),
            ).fetchall()
            if fresh:
                keep = [r for r in fresh if r[5] is None or r[5] > now]
                conn.executemany(
                    "INSERT INTO pubsub_leases (grp, seq, owner, until) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT (grp, seq) DO NOTHING",
                    [(grp, r[0], owner, lease_until) for r in keep],
                )
                conn.execute(
                    "UPDATE pubsub_groups SET cursor = ? WHERE id = ?", (fresh[-1][0], grp)
                )
                taken += [_decode(*r[:5]) for r in keep]
    return taken


def settle(conn: sqlite3.Connection, items: Sequence[Settle]) -> None:
    """Acknowledge (delete the lease, whoever holds it now) or NACK (due again at
    ``redeliver_at``, if the lease is still this owner's)."""
    with transaction(conn):
        conn.executemany(
            "DELETE FROM pubsub_leases WHERE grp = ? AND seq = ?",
            [(s.grp, s.seq) for s in items if s.redeliver_at is None],
        )
        conn.executemany(
            "UPDATE pubsub_leases SET owner = NULL, until = ?"
            " WHERE grp = ? AND seq = ? AND owner = ?",
            [(s.redeliver_at, s.grp, s.seq, s.owner) for s in items if s.redeliver_at is not None],
        )


def extend(conn: sqlite3.Connection, owner: str, lease_until: float) -> None:
    """Keep ``owner``'s leases (a live subscription's messages are not taken from it)."""
    conn.execute("UPDATE pubsub_leases SET until = ? WHERE owner = ?", (lease_until, owner))


def release(conn: sqlite3.Connection, owner: str) -> None:
    """Hand back ``owner``'s leases: due at once for the rest of the group."""
    conn.execute("UPDATE pubsub_leases SET owner = NULL, until = 0 WHERE owner = ?", (owner,))


def listen(conn: sqlite3.Connection, topics: Sequence[str], port: int, now: float) -> None:
    conn.executemany(
        "INSERT INTO pubsub_listeners (topic, port, seen) VALUES (?, ?, ?)"
        " ON CONFLICT (topic, port) DO UPDATE SET seen = excluded.seen",
        [(t, port, now) for t in topics],
    )


def unlisten(conn: sqlite3.Connection, topics: Sequence[str] | None, port: int) -> None:
    if topics is None:
        conn.execute("DELETE FROM pubsub_listeners WHERE port = ?", (port,))
    else:
        conn.executemany(
            "DELETE FROM pubsub_listeners WHERE topic = ? AND port = ?", [(t, port) for t in topics]
        )


def cleanup(
    conn: sqlite3.Connection, now: float, max_age: float, max_messages: int
) -> tuple[int, int]:
    """Retention: delete messages every group of their topic has acknowledged (and those of
    topics without a group: no group can get them), expired ones, and, beyond the age and count
    bounds, the oldest ones even if unacknowledged. Returns (deleted, of which unacknowledged)."""
    deleted = forced = 0
    with transaction(conn):
        conn.execute("DELETE FROM pubsub_listeners WHERE seen <= ?", (now - LISTENER_TTL,))
        for topic, low in conn.execute(
            "SELECT topic, MIN(cursor) FROM pubsub_groups GROUP BY topic"
        ).fetchall():
            deleted += conn.execute(
                "DELETE FROM pubsub_messages WHERE topic = ? AND seq <= ?"
                " AND NOT EXISTS (SELECT 1 FROM pubsub_leases l WHERE l.seq = pubsub_messages.seq)",
                (topic, low),
            ).rowcount
        deleted += conn.execute(
            "DELETE FROM pubsub_messages WHERE topic NOT IN (SELECT topic FROM pubsub_groups)"
        ).rowcount
        deleted += conn.execute(
            "DELETE FROM pubsub_messages WHERE expires IS NOT NULL AND expires <= ?", (now,)
        ).rowcount
        if max_age > 0:
            forced += conn.execute(
                "DELETE FROM pubsub_messages WHERE published < ?", (now - max_age,)
            ).rowcount
        if max_messages > 0:
            forced += conn.execute(
                "DELETE FROM pubsub_messages WHERE seq <= (SELECT seq FROM pubsub_messages"
                " ORDER BY seq DESC LIMIT 1 OFFSET ?)",
                (max_messages,),
            ).rowcount
        conn.execute(
            "DELETE FROM pubsub_leases WHERE NOT EXISTS"
            " (SELECT 1 FROM pubsub_messages m WHERE m.seq = pubsub_leases.seq)"
        )
    return deleted + forced, forced
