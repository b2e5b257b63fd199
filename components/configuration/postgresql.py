"""``configuration.postgresql``: items in a table, changes through a trigger and LISTEN/NOTIFY.

Table (Dapr's layout; names are lower case): ``key`` (primary key), ``value``, ``version``
(text) and ``metadata`` (json). A row trigger sends ``pg_notify(<channel>, {"table", "action",
"data": <row>})`` on insert, update and delete (the deleted row on delete, so a delete is
reported with the row's last item).

Migration (Tandem's addition; Dapr makes the user create both): at init, under an advisory lock
so concurrent starts are safe, Tandem creates the table if it does not exist and (re)creates
its trigger function ``tandem_cfg_notify_<hash>`` and trigger ``tandem_cfg_notify_<hash>`` on it
(``createTrigger: false`` skips the trigger, for tables that already have Dapr's). A row too
big for a notification (8000 bytes) is sent as ``{"table", "action", "key"}`` and read back.

Metadata: ``connectionString`` (as ``state.postgresql``), ``table`` (required; ``name`` or
``schema.name``), ``notifyChannel`` (default ``config``), ``createTrigger`` (default true),
``timeout`` (default 20s: bound on every call and on connecting), ``maxConns`` (pool size for
reads, default 4; or ``pool_max_conns`` in the connection string).
A subscription may name another channel with request metadata ``pgNotifyChannel`` (Dapr's
legacy way); it must be a plain identifier.

Reconnection: the listening connection is checked every 2 s and re-opened with backoff (50 ms
doubling to 2 s); then what changed meanwhile is reported (see ``components.configuration``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import asyncpg
from pydantic import Field, field_validator

from components._metadata import Duration
from components.base import BaseMetadata, ComponentContext, ComponentInfo, Stability
from components.configuration._api import (
    ConfigurationFeature,
    ConfigurationItem,
    UpdateHandler,
)
from components.configuration._subscriptions import DELETED, Subscriptions
from components.errors import InvalidRequest
from components.state.postgresql._metadata import parse_connection_string, quote_table_name

__all__ = [
    "PostgresConfigurationMetadata",
    "PostgresConfigurationStore",
    "migration_sql",
    "trigger_name",
]

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_LOCK_ID = 0x7A6E_C0F1  # advisory lock serialising migrations across sidecars
_CHECK_EVERY = 2.0
CHANNEL_METADATA = "pgNotifyChannel"
_CONNECTION_ERRORS = (
    OSError,
    TimeoutError,
    ConnectionError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
)


class PostgresConfigurationMetadata(BaseMetadata):
    connection_string: str = Field(alias="connectionString", repr=False)
    table: str = Field(alias="table")
    notify_channel: str = Field(default="config", alias="notifyChannel")
    create_trigger: bool = Field(default=True, alias="createTrigger")
    timeout: Duration = Field(default=20.0, alias="timeout", gt=0)
    max_conns: int | None = Field(default=None, alias="maxConns", ge=1)

    @field_validator("connection_string")
    @classmethod
    def _dsn(cls, value: str) -> str:
        parse_connection_string(value)
        return value

    @field_validator("table")
    @classmethod
    def _table(cls, value: str) -> str:
        parts = value.split(".")
        if len(parts) > 2 or not all(_IDENT.fullmatch(p) for p in parts):
            raise ValueError(f"invalid table {value!r}: expected name or schema.name")
        return value.lower()

    @field_validator("notify_channel")
    @classmethod
    def _channel(cls, value: str) -> str:
        if not _IDENT.fullmatch(value):
            raise ValueError(f"invalid notifyChannel {value!r}: expected a plain identifier")
        return value.lower()


def trigger_name(table: str, channel: str) -> str:
    """The name of Tandem's trigger on ``table`` and of its function (in the table's schema)."""
    return "tandem_cfg_notify_" + hashlib.sha256(f"{table}/{channel}".encode()).hexdigest()[:12]


def migration_sql(table: str, channel: str, *, trigger: bool) -> list[str]:
    """The statements creating the table and, with ``trigger``, its notify trigger."""
    quoted = quote_table_name(table)
    name = trigger_name(table, channel)
    schema = table.rpartition(".")[0]
    function = f'"{schema}".{name}' if schema else name
    statements = [
        f"CREATE TABLE IF NOT EXISTS {quoted} (key text PRIMARY KEY, value text NOT NULL, "
        "version text NOT NULL DEFAULT '', metadata json)"
    ]
    if trigger:
        statements += [
            f"""CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE row_data json; payload text;
BEGIN
  IF TG_OP = 'DELETE' THEN row_data := row_to_json(OLD); ELSE row_data := row_to_json(NEW); END IF;
  payload := json_build_object('table', TG_TABLE_NAME, 'action', TG_OP, 'data', row_data)::text;
  IF octet_length(payload) > 7900 THEN
    payload := json_build_object('table', TG_TABLE_NAME, 'action', TG_OP,
                                 'key', row_data->>'key')::text;
  END IF;
  PERFORM pg_notify('{channel}', payload);
  RETURN NULL;
END $$""",
            f"DROP TRIGGER IF EXISTS {name} ON {quoted}",
            f"CREATE TRIGGER {name} AFTER INSERT OR UPDATE OR DELETE ON {quoted} "
            f"FOR EACH ROW EXECUTE FUNCTION {function}()",
        ]
    return statements


def _item(row: Mapping[str, Any]) -> ConfigurationItem:
    meta = row.get("metadata")
    if isinstance(meta, str):
        meta = json.loads(meta) if meta else None
    return ConfigurationItem(
        value=str(row.get("value") or ""),
        version=str(row.get("version") or ""),
        metadata={str(k): str(v) for k, v in meta.items()} if isinstance(meta, dict) else {},
    )


class PostgresConfigurationStore:
    info: ClassVar[ComponentInfo] = ComponentInfo(
        type="configuration.postgresql", stability=Stability.ALPHA
    )
    Metadata: ClassVar[type[BaseMetadata]] = PostgresConfigurationMetadata

    def __init__(
        self, metadata: PostgresConfigurationMetadata, *, context: ComponentContext
    ) -> None:
        self._md = metadata
        self._ctx = context
        self._log = context.logger
        self._target = parse_connection_string(metadata.connection_string)
        self._table = quote_table_name(metadata.table)
        self._table_name = metadata.table.rpartition(".")[2]
        self._pool: asyncpg.Pool | None = None
        self._subs = Subscriptions()
        self._channels = {metadata.notify_channel}
        self._listener: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()
        self._conn: asyncpg.Connection | None = None
        self._fetches: set[asyncio.Task[None]] = set()

    def features(self) -> frozenset[ConfigurationFeature]:
        return frozenset()

    @property
    def application_name(self) -> str:
        """The listening connection's ``application_name`` (to find it in pg_stat_activity)."""
        return f"tandem-cfg-{self._md.table}-{self._ctx.name}"[:63]

    async def _connect(self, **kwargs: Any) -> Any:
        settings = dict(self._target.server_settings)
        settings.update(kwargs.pop("server_settings", {}))
        return await asyncpg.connect(
            self._target.dsn, timeout=self._md.timeout, server_settings=settings, **kwargs
        )

    async def init(self) -> None:
        if self._pool is not None:
            return
        where = self._target.description
        try:
            async with asyncio.timeout(self._md.timeout):
                conn = await self._connect()
                try:
                    async with conn.transaction():
                        await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_ID)
                        for sql in migration_sql(
                            self._md.table, self._md.notify_channel, trigger=self._md.create_trigger
                        ):
                            await conn.execute(sql)
                finally:
                    await conn.close()
                pool = await asyncpg.create_pool(
                    self._target.dsn,
                    min_size=0,
                    max_size=self._md.max_conns or self._target.max_conns or 4,
                    command_timeout=self._md.timeout,
                    timeout=self._md.timeout,
                    server_settings=dict(self._target.server_settings) or None,
                )
        except _CONNECTION_ERRORS as exc:
            raise ConnectionError(
                f"configuration.postgresql {self._ctx.name}: cannot use PostgreSQL ({where}): "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        self._pool = pool

    async def close(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
        for task in list(self._fetches):
            task.cancel()
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    # ---- reads ----------------------------------------------------------------------------

    async def get(
        self, keys: Sequence[str], metadata: Mapping[str, str] | None = None
    ) -> dict[str, ConfigurationItem]:
        if self._pool is None:
            raise RuntimeError("configuration.postgresql is not initialised")
        sql = f"SELECT key, value, version, metadata FROM {self._table}"  # noqa: S608 (validated)
        try:
            async with asyncio.timeout(self._md.timeout):
                if keys:
                    rows = await self._pool.fetch(sql + " WHERE key = ANY($1::text[])", list(keys))
                else:
                    rows = await self._pool.fetch(sql)
        except asyncpg.DataError as exc:
            raise InvalidRequest(f"keys the database cannot hold: {exc}") from exc  # e.g. NUL
        return {row["key"]: _item(row) for row in rows}

    # ---- subscriptions --------------------------------------------------------------------

    async def subscribe(
        self,
        keys: Sequence[str],
        handler: UpdateHandler,
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        meta = dict(metadata or {})
        channel = meta.get(CHANNEL_METADATA, "").lower()
        if channel and not _IDENT.fullmatch(channel):
            raise InvalidRequest(f"invalid {CHANNEL_METADATA} {channel!r}: expected an identifier")
        if self._listener is None:
            self._listener = asyncio.create_task(self._listen(), name="configuration.postgresql")
        try:
            async with asyncio.timeout(self._md.timeout):
                await self._listening.wait()
                if channel and channel not in self._channels:
                    self._channels.add(channel)
                    if self._conn is not None:
                        await self._conn.add_listener(channel, self._on_notify)
        except TimeoutError:
            raise ConnectionError(
                f"configuration.postgresql {self._ctx.name}: cannot listen for changes "
                f"({self._target.description})"
            ) from None
        return self._subs.add(keys, handler, await self.get(keys), meta)

    async def unsubscribe(self, subscription_id: str) -> None:
        self._subs.remove(subscription_id)

    async def _listen(self) -> None:
        backoff, reconnect, warned = 0.05, False, False
        while True:
            conn: Any = None
            try:
                conn = await self._connect(
                    server_settings={"application_name": self.application_name}
                )
                lost = asyncio.Event()
                conn.add_termination_listener(lambda _c, lost=lost: lost.set())
                for channel in sorted(self._channels):
                    await conn.add_listener(channel, self._on_notify)
                if reconnect and self._subs:
                    watched = self._subs.watched()
                    current = await self.get(sorted(watched) if watched is not None else [])
                    self._subs.resync(current, watched)
                    self._log.info("configuration.postgresql %s: listening again", self._ctx.name)
                self._conn = conn
                self._listening.set()
                backoff, reconnect, warned = 0.05, True, False
                while not lost.is_set():
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(_CHECK_EVERY):
                            await lost.wait()
                    if not lost.is_set():
                        async with asyncio.timeout(self._md.timeout):
                            await conn.execute("SELECT 1")
                raise ConnectionError("the listening connection was closed")
            except Exception as exc:  # whatever it was, keep listening: reconnect and resync
                self._listening.clear()
                self._conn = None
                reconnect = True
                if not isinstance(exc, _CONNECTION_ERRORS):
                    self._log.exception(
                        "configuration.postgresql %s: listener failed", self._ctx.name
                    )
                if not warned:
                    self._log.warning(
                        "configuration.postgresql %s: lost notifications (%s); reconnecting",
                        self._ctx.name,
                        exc,
                    )
                    warned = True
            finally:
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.terminate()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 2.0)

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        try:
            note = json.loads(payload)
            if not isinstance(note, dict) or note.get("table") != self._table_name:
                return
            action = str(note.get("action", "")).upper()
            data = note.get("data")
        except ValueError:
            return
        if isinstance(data, dict) and "key" in data:
            key = str(data["key"])
            deleted = [key] if action == "DELETE" else []
            self._subs.publish({key: _item(data)}, deleted=deleted)
        elif "key" in note:  # too big to notify: read the row back
            task = asyncio.create_task(self._fetch(str(note["key"]), action))
            self._fetches.add(task)
            task.add_done_callback(self._fetches.discard)

    async def _fetch(self, key: str, action: str) -> None:
        try:
            found = await self.get([key]) if action != "DELETE" else {}
        except Exception as exc:
            self._log.warning("configuration.postgresql: cannot read %r: %s", key, exc)
            return
        if key in found:
            self._subs.publish({key: found[key]})
        else:
            self._subs.publish({key: DELETED}, deleted=[key])
