"""``PostgresStateStore``: the ``state.postgresql`` component on an asyncpg pool.

Contract (beyond ``components.state``):

- Features: ETAG, TRANSACTIONAL, TTL, QUERY_API, LIST_KEYS. Consistency options are accepted and
  ignored (PostgreSQL is always strongly consistent).
- ETags are UUIDs, new and random on every write. ``""`` counts as no ETag (Dapr's rule). A
  caller ETag that is not a hyphenated UUID raises ``ETagInvalid`` before any I/O; a UUID that
  is not current raises ``ETagMismatch`` (also for a missing or expired key). FIRST_WRITE
  without an ETag succeeds only when the key is absent (or expired), else ``ETagMismatch``.
  Requests are checked with the shared ``check_set`` / ``check_delete``: ``ttl_seconds`` 0
  means no TTL, a negative one raises ``InvalidRequest``.
- TTL: ``expires_at`` is computed by the server (``now() + ttl``); rows at or past it are
  invisible to get, bulk_get, list_keys and query, and ETag checks treat them as missing. A
  background task deletes them every ``cleanupInterval``; across processes sharing the table,
  the row ``last-cleanup:<table>`` of the metadata table is claimed with a conditional upsert,
  so at most one process cleans per interval. ``cleanup_expired()`` runs one round by hand.
- ``bulk_get`` is one statement (``key = ANY($1)``); ``bulk_set`` / ``bulk_delete`` try every
  item and raise ``BulkError``; ``transact`` runs all operations in order in one SQL transaction
  (any error, e.g. ``ETagMismatch``, rolls everything back). No limit on operations.
- ``list_keys``: key (byte) order, keyset pagination; the token is the last key returned,
  base64url encoded. ``query``: see ``_query`` (offset pagination).
- Values are stored as given (``bytea``); when they are UTF-8 JSON that PostgreSQL accepts as
  ``jsonb`` they are also stored in ``value_json`` for queries.
- Resilience: every operation, including pool acquisition and reconnecting, is bounded by
  ``timeout`` and then raises ``TimeoutError``; other connection errors propagate as raised by
  asyncpg / the OS. A call that times out drops its connection instead of waiting for the
  server to acknowledge a cancel. The pool opens connections on demand and replaces closed
  ones when they are next acquired, so once the server is back the same instance serves again
  without a restart. One retry, within the same deadline, follows a connection-level error
  raised while connecting or before the statement was sent (any operation), or at any point
  for operations whose repetition is harmless (reads, unconditional upserts and deletes): a
  pooled connection the server has dropped costs no failed request.
- Performance: statements are prepared once per connection (asyncpg's statement cache), so a
  get is one round trip. Connections are returned to the pool without the default reset query
  (one round trip per operation saved): the store keeps no session state (no SET, LISTEN,
  cursors or session-level advisory locks), and an open transaction is still rolled back.
"""

# Only validated, double-quoted identifiers are interpolated into SQL; values are $n parameters.
# ruff: noqa: S608

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from typing import Any, ClassVar, TypeVar

import asyncpg

from components.base import BaseMetadata, ComponentContext, ComponentInfo
from components.errors import (
    BulkError,
    ETagInvalid,
    ETagMismatch,
    InvalidRequest,
)
from components.state._api import StateFeature
from components.state._base import check_delete, check_set
from components.state._etag import check_uuid_etag, given_etag
from components.state._query import decode_key_token, encode_key_token, encode_offset_token
from components.state._types import (
    BulkGetItem,
    Concurrency,
    DeleteRequest,
    GetRequest,
    KeysPage,
    ListKeysRequest,
    Query,
    QueryItem,
    QueryResult,
    SetRequest,
    StateItem,
    TransactionOp,
)
from components.state.postgresql._metadata import PostgresMetadata, quote_table_name
from components.state.postgresql._migrations import migrate
from components.state.postgresql._query import NOT_EXPIRED, build_query, key_range

__all__ = ["PostgresStateStore"]

T = TypeVar("T")

_FEATURES = frozenset(
    {
        StateFeature.ETAG,
        StateFeature.TRANSACTIONAL,
        StateFeature.TTL,
        StateFeature.QUERY_API,
        StateFeature.LIST_KEYS,
    }
)

# Errors after which the connection (not the request) is at fault: the statement may have
# reached the server, so only an operation whose repetition is harmless is retried.
_CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,  # includes ConnectionDoesNotExistError
    asyncpg.exceptions.OperatorInterventionError,  # admin shutdown, cannot connect now
    ConnectionError,
    EOFError,
)
# Raised by asyncpg before anything is sent (a closed connection, or one whose protocol state
# was upset by the server's termination notice): any operation may be retried.
_UNSENT_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
)
_CLEANUP_BATCH = 1000
_CLEANUP_CLAIM_SLACK = 0.9  # a claim older than 90 % of the interval may be renewed


async def _no_reset(conn: Any) -> None:
    """Pool ``reset`` hook: nothing to undo (see the module docstring)."""


def _is_connection_error(exc: BaseException) -> bool:
    return isinstance(exc, _CONNECTION_ERRORS + _UNSENT_ERRORS) and not isinstance(
        exc, TimeoutError
    )


def _json_text(value: bytes) -> str | None:
    """The value as JSON text for ``value_json``, or None when it is not JSON jsonb accepts."""
    try:
        text = value.decode("utf-8")
        doc = json.loads(text, parse_constant=_reject_constant, parse_float=_numeric)
    except (UnicodeDecodeError, ValueError, RecursionError, ArithmeticError):
        return None
    return text if _jsonb_safe(doc) else None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _numeric(literal: str) -> Decimal:
    """A JSON number with a fraction or exponent, if PostgreSQL's ``numeric`` can hold it."""
    number = Decimal(literal)
    # numeric: at most 131072 digits before the decimal point and 16383 after it.
    if number.adjusted() >= 131_000 or int(number.as_tuple().exponent) < -16_000:
        raise ValueError(f"{literal} is out of numeric range")
    return number


def _jsonb_safe(doc: Any) -> bool:
    """False when a string holds what jsonb rejects (NUL, lone surrogates)."""
    stack = [doc]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item or any("\ud800" <= c <= "\udfff" for c in item):
                return False
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True


class PostgresStateStore:
    """State store on PostgreSQL (see the module docstring for the contract)."""

    info: ClassVar[ComponentInfo] = ComponentInfo(type="state.postgresql")
    Metadata: ClassVar[type[BaseMetadata]] = PostgresMetadata

    def __init__(self, metadata: PostgresMetadata, *, context: ComponentContext) -> None:
        self._md = metadata
        self._ctx = context
        self._log = context.logger
        self._target = metadata.target()
        self._timeout = metadata.timeout
        self._table = metadata.table_name
        self._t = quote_table_name(metadata.table_name)
        self._meta_t = quote_table_name(metadata.metadata_table_name)
        self._pool: Any = None
        self._cleanup_task: asyncio.Task[None] | None = None
        self.migrations_applied = 0  # how many migrations this instance's init applied

        t, live = self._t, NOT_EXPIRED
        self._sql_get = f"SELECT value, etag, expires_at FROM {t} WHERE key = $1 AND {live}"
        self._sql_bulk_get = (
            f"SELECT key, value, etag, expires_at FROM {t} WHERE key = ANY($1::text[]) AND {live}"
        )
        expires = "now() + make_interval(secs => $5::float8)"
        insert = (
            f"INSERT INTO {t} AS s (key, value, value_json, etag, expires_at, updated_at) "
            f"VALUES ($1, $2, $3::jsonb, $4, {expires}, now()) "
            "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, "
            "value_json = EXCLUDED.value_json, etag = EXCLUDED.etag, "
            "expires_at = EXCLUDED.expires_at, updated_at = EXCLUDED.updated_at"
        )
        self._sql_upsert = insert
        self._sql_insert_new = (
            f"{insert} WHERE s.expires_at IS NOT NULL AND s.expires_at <= now() RETURNING TRUE"
        )
        self._sql_update_etag = (
            f"UPDATE {t} SET value = $2, value_json = $3::jsonb, etag = $4, "
            f"expires_at = {expires}, updated_at = now() "
            f"WHERE key = $1 AND etag = $6 AND {live} RETURNING TRUE"
        )
        self._sql_delete = f"DELETE FROM {t} WHERE key = $1"
        self._sql_delete_etag = (
            f"DELETE FROM {t} WHERE key = $1 AND etag = $2 AND {live} RETURNING TRUE"
        )
        self._sql_claim_cleanup = (
            f"INSERT INTO {self._meta_t} AS m (key, value) "
            "VALUES ($1, extract(epoch FROM now())::text) "
            "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value "
            "WHERE m.value::float8 <= extract(epoch FROM now()) - $2::float8 RETURNING TRUE"
        )
        self._sql_cleanup = (
            f"DELETE FROM {t} WHERE key IN (SELECT key FROM {t} "
            "WHERE expires_at IS NOT NULL AND expires_at <= now() "
            f"LIMIT {_CLEANUP_BATCH} FOR UPDATE SKIP LOCKED)"
        )

    # ---- lifecycle -------------------------------------------------------------------------

    def features(self) -> frozenset[StateFeature]:
        return _FEATURES

    @property
    def max_transaction_ops(self) -> int | None:
        return None

    async def init(self) -> None:
        if self._pool is not None:
            return
        where = self._target.description
        # min_size=0: connections open on demand, so an outage leaves no background reconnect
        # loop behind; the first connection is opened (and checked) right here.
        pool = await asyncpg.create_pool(
            self._target.dsn,
            min_size=0,
            max_size=self._md.pool_size,
            command_timeout=self._timeout,
            timeout=self._timeout,  # connect timeout
            server_settings=dict(self._target.server_settings) or None,
            reset=_no_reset,
        )
        try:
            try:
                async with asyncio.timeout(self._timeout):
                    conn = await pool.acquire()
            except Exception as exc:
                raise ConnectionError(
                    f"state.postgresql: cannot connect to PostgreSQL ({where}): "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            try:
                async with asyncio.timeout(self._timeout):
                    self.migrations_applied = await migrate(
                        conn, table=self._table, metadata_table=self._md.metadata_table_name
                    )
            except Exception as exc:
                raise RuntimeError(
                    f"state.postgresql: preparing table {self._table!r} ({where}) failed: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            await self._release(pool, conn)
        except BaseException:
            pool.terminate()
            raise
        self._pool = pool
        if self.migrations_applied:
            self._log.info(
                "state.postgresql %s: applied %d migration(s) to %s",
                self._ctx.name,
                self.migrations_applied,
                self._table,
            )
        if self._md.cleanup_interval > 0:
            self._cleanup_task = asyncio.create_task(
                self._cleanup_loop(), name=f"state.postgresql cleanup {self._ctx.name}"
            )

    async def close(self) -> None:
        task, self._cleanup_task = self._cleanup_task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            async with asyncio.timeout(self._timeout):
                await pool.close()
        except Exception:  # in-flight operations or a dead server: do not wait any longer
            pool.terminate()

    # ---- operation runner ------------------------------------------------------------------

    async def _run(self, op: Callable[[Any], Awaitable[T]], *, idempotent: bool = False) -> T:
        """Run ``op(conn)`` on a pooled connection within ``timeout`` (see module docstring).

        One retry, within the same deadline, after a connection-level error raised while
        connecting or before the statement was sent, or (``idempotent``) at any point.
        """
        pool = self._pool
        if pool is None:
            raise RuntimeError("state.postgresql store is not initialised (or closed)")
        started = time.monotonic()
        try:
            async with asyncio.timeout(self._timeout):
                for attempt in (1, 2):
                    try:
                        conn = await pool.acquire(timeout=self._timeout)
                    except Exception as exc:
                        if attempt == 1 and _is_connection_error(exc):
                            continue
                        raise
                    try:
                        return await self._use(pool, conn, op)
                    except Exception as exc:
                        unsent = isinstance(exc, _UNSENT_ERRORS)
                        if attempt == 1 and (unsent or (idempotent and _is_connection_error(exc))):
                            self._log.debug("state.postgresql: retrying after %r", exc)
                            continue
                        raise
                raise AssertionError("unreachable")
        except TimeoutError as exc:
            elapsed = time.monotonic() - started
            raise TimeoutError(
                f"state.postgresql: no answer from {self._target.description} "
                f"within {elapsed:.1f}s (timeout {self._timeout:g}s)"
            ) from exc
        except asyncpg.DataError as exc:  # the request's data, e.g. a NUL character in a key
            raise InvalidRequest(f"state.postgresql: the server refused the data: {exc}") from exc

    async def _use(self, pool: Any, conn: Any, op: Callable[[Any], Awaitable[T]]) -> T:
        try:
            result = await op(conn)
        except (TimeoutError, asyncio.CancelledError):
            # The statement may still run, or the server may not answer at all: do not wait for
            # it to acknowledge a cancel (the pool would, for up to ``timeout`` more). Dropping
            # the connection returns it to the pool, which reconnects on the next acquire.
            conn.terminate()
            raise
        except Exception as exc:
            if _is_connection_error(exc):
                conn.terminate()  # never hand a broken connection to the next caller
            else:
                await self._release(pool, conn)
            raise
        await self._release(pool, conn)
        return result

    async def _release(self, pool: Any, conn: Any) -> None:
        try:
            await pool.release(conn)
        except Exception as exc:  # asyncpg has dropped the connection; the result stands
            self._log.debug("state.postgresql: releasing a connection failed: %r", exc)

    # ---- reads -----------------------------------------------------------------------------

    async def get(self, req: GetRequest) -> StateItem | None:
        row = await self._run(lambda c: c.fetchrow(self._sql_get, req.key), idempotent=True)
        if row is None:
            return None
        return StateItem(
            key=req.key, value=row["value"], etag=str(row["etag"]), expires_at=row["expires_at"]
        )

    async def bulk_get(self, reqs: Sequence[GetRequest]) -> list[BulkGetItem]:
        if not reqs:
            return []
        keys = list(dict.fromkeys(r.key for r in reqs))
        rows = await self._run(lambda c: c.fetch(self._sql_bulk_get, keys), idempotent=True)
        found = {
            r["key"]: StateItem(
                key=r["key"], value=r["value"], etag=str(r["etag"]), expires_at=r["expires_at"]
            )
            for r in rows
        }
        return [BulkGetItem(key=r.key, item=found.get(r.key)) for r in reqs]

    async def query(self, q: Query) -> QueryResult:
        sql, params, limit, offset = build_query(self._t, q)
        rows = await self._run(lambda c: c.fetch(sql, *params), idempotent=True)
        token = None
        if limit is not None and len(rows) > limit:
            rows = rows[:limit]
            token = encode_offset_token(offset + limit)
        items = [QueryItem(key=r["key"], value=r["value"], etag=str(r["etag"])) for r in rows]
        return QueryResult(items=items, token=token)

    async def list_keys(self, req: ListKeysRequest) -> KeysPage:
        if req.limit < 1:
            raise InvalidRequest(f"limit must be at least 1, got {req.limit}")
        params: list[Any] = []
        conds = key_range(req.prefix, params)
        if req.token:
            after = decode_key_token(req.token)
            if after >= req.prefix:  # keys sort as their UTF-8 bytes, like Python strings
                if conds:
                    params[0] = after
                    conds[0] = "key > $1"
                else:
                    params.append(after)
                    conds.append("key > $1")
        params.append(req.limit + 1)
        where = " AND ".join([*conds, NOT_EXPIRED])
        sql = f"SELECT key FROM {self._t} WHERE {where} ORDER BY key LIMIT ${len(params)}"
        rows = await self._run(lambda c: c.fetch(sql, *params), idempotent=True)
        keys = [r["key"] for r in rows[: req.limit]]
        token = encode_key_token(keys[-1]) if len(rows) > req.limit else None
        return KeysPage(keys=keys, token=token)

    # ---- writes ----------------------------------------------------------------------------

    @staticmethod
    def _idempotent(req: TransactionOp) -> bool:
        return given_etag(req.etag) is None and (
            isinstance(req, DeleteRequest) or req.concurrency is not Concurrency.FIRST_WRITE
        )

    @staticmethod
    def _check(req: TransactionOp) -> str | None:
        """Validate ``req`` before any I/O; its ETag in canonical form (None: no ETag)."""
        if isinstance(req, SetRequest):
            check_set(req, _FEATURES)
        else:
            check_delete(req, _FEATURES)
        etag = given_etag(req.etag)
        return None if etag is None else check_uuid_etag(etag)

    async def _set(self, conn: Any, req: SetRequest) -> None:
        expected = self._check(req)
        ttl = check_set(req, _FEATURES)
        value = bytes(req.value)
        args = (
            req.key,
            value,
            _json_text(value),
            uuid.uuid4(),
            None if ttl is None else float(ttl),
        )
        if expected is not None:
            if not await conn.fetchval(self._sql_update_etag, *args, expected):
                raise ETagMismatch(req.key)
        elif req.concurrency is Concurrency.FIRST_WRITE:
            if not await conn.fetchval(self._sql_insert_new, *args):
                raise ETagMismatch(req.key)
        else:
            await conn.execute(self._sql_upsert, *args)

    async def _delete(self, conn: Any, req: DeleteRequest) -> None:
        expected = self._check(req)
        if expected is not None:
            if not await conn.fetchval(self._sql_delete_etag, req.key, expected):
                raise ETagMismatch(req.key)
        else:
            await conn.execute(self._sql_delete, req.key)

    async def set(self, req: SetRequest) -> None:
        self._check(req)
        await self._run(lambda c: self._set(c, req), idempotent=self._idempotent(req))

    async def delete(self, req: DeleteRequest) -> None:
        self._check(req)
        await self._run(lambda c: self._delete(c, req), idempotent=self._idempotent(req))

    async def _bulk(self, reqs: Sequence[TransactionOp]) -> None:
        async def apply(conn: Any) -> dict[str, Exception]:
            errors: dict[str, Exception] = {}
            for req in reqs:
                try:
                    if isinstance(req, SetRequest):
                        await self._set(conn, req)
                    else:
                        await self._delete(conn, req)
                except (ETagMismatch, ETagInvalid, InvalidRequest, asyncpg.PostgresError) as exc:
                    if _is_connection_error(exc):
                        raise
                    if isinstance(exc, asyncpg.DataError):  # bad input, as in _run
                        exc = InvalidRequest(f"the server refused the data: {exc}")
                    errors[req.key] = exc
            return errors

        if not reqs:
            return
        errors = await self._run(apply)
        if errors:
            raise BulkError(errors)

    async def bulk_set(self, reqs: Sequence[SetRequest]) -> None:
        await self._bulk(reqs)

    async def bulk_delete(self, reqs: Sequence[DeleteRequest]) -> None:
        await self._bulk(reqs)

    async def transact(self, ops: Sequence[TransactionOp]) -> None:
        for op in ops:
            self._check(op)  # ETagInvalid / InvalidRequest before any I/O
        if not ops:
            return

        async def apply(conn: Any) -> None:
            async with conn.transaction():
                for op in ops:
                    if isinstance(op, SetRequest):
                        await self._set(conn, op)
                    else:
                        await self._delete(conn, op)

        await self._run(apply)

    # ---- expiry cleanup --------------------------------------------------------------------

    async def cleanup_expired(self) -> int | None:
        """Delete expired rows unless a process (this one included) did within the interval.

        Returns the number of rows deleted, or None when the claim was held by another round.
        """
        interval = self._md.cleanup_interval * _CLEANUP_CLAIM_SLACK
        claim_key = f"last-cleanup:{self._table}"
        claimed = await self._run(
            lambda c: c.fetchval(self._sql_claim_cleanup, claim_key, interval)
        )
        if not claimed:
            return None
        total = 0
        while True:
            status = await self._run(lambda c: c.execute(self._sql_cleanup))
            deleted = int(status.rsplit(" ", 1)[-1])
            total += deleted
            if deleted < _CLEANUP_BATCH:
                return total

    async def _cleanup_loop(self) -> None:
        while True:
            await asyncio.sleep(self._md.cleanup_interval)
            try:
                deleted = await self.cleanup_expired()
            except Exception as exc:  # the server may be down: try again next interval
                self._log.warning("state.postgresql %s: cleanup failed: %s", self._ctx.name, exc)
            else:
                if deleted:
                    self._log.debug(
                        "state.postgresql %s: deleted %d expired row(s)", self._ctx.name, deleted
                    )
