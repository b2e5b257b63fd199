"""``RedisStateStore``: the ``state.redis`` component (the package docstring has the contract)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, TypeVar, cast

from redis.asyncio import BlockingConnectionPool, ConnectionPool, Redis
from redis.asyncio.connection import Connection, SSLConnection
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import (
    AuthenticationError,
    AuthorizationError,
    NoScriptError,
    RedisError,
    ResponseError,
)
from redis.exceptions import ConnectionError as RedisConnectionError

from components.base import BaseMetadata, ComponentContext, ComponentInfo
from components.errors import BulkError, ETagInvalid, ETagMismatch, InvalidRequest, shown
from components.state._api import StateFeature
from components.state._etag import check_version_etag
from components.state._types import (
    BulkGetItem,
    Concurrency,
    DeleteRequest,
    GetRequest,
    KeysPage,
    ListKeysRequest,
    SetRequest,
    StateItem,
    TransactionOp,
)
from components.state.redis import _scripts
from components.state.redis._metadata import RedisStateMetadata

__all__ = ["RedisStateStore"]

_T = TypeVar("_T")

_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")
_FEATURES = frozenset(
    {StateFeature.ETAG, StateFeature.TRANSACTIONAL, StateFeature.TTL, StateFeature.LIST_KEYS}
)
_SCAN_MIN_COUNT = 64
_SCAN_MAX_COUNT = 10_000
_NOT_RETRIED = (AuthenticationError, AuthorizationError)

_Execute = Callable[..., Awaitable[Any]]


class _BudgetRetry(Retry):
    """redis-py's retry loop, but a retry is only attempted while the operation's budget lasts.

    Only connection errors are retried (a timeout has already used the budget, and replaying a
    write after a lost reply is not harmless), with jittered exponential backoff; refused
    credentials are not retried.
    """

    def __init__(self, *, retries: int, base: float, cap: float, budget: float) -> None:
        super().__init__(
            ExponentialWithJitterBackoff(base=base, cap=cap),
            retries,
            supported_errors=(RedisConnectionError,),
        )
        self._budget = budget

    async def call_with_retry(
        self,
        do: Callable[[], Awaitable[_T]],
        fail: Callable[..., Any],
        is_retryable: Callable[[Exception], bool] | None = None,
        with_failure_count: bool = False,
    ) -> _T:
        # (the backoff is stateless, so there is nothing to reset per call)
        deadline = time.monotonic() + self._budget
        failures = 0
        while True:
            try:
                return await do()
            except self._supported_errors as error:
                if isinstance(error, _NOT_RETRIED) or (
                    is_retryable is not None and not is_retryable(error)
                ):
                    raise
                failures += 1
                if with_failure_count:
                    await fail(error, failures)
                else:
                    await fail(error)
                pause = self._backoff.compute(failures)
                if failures > self._retries or time.monotonic() + pause >= deadline:
                    raise
                if pause > 0:
                    await asyncio.sleep(pause)


class _AutoPipeline:
    """Commands issued in the same event-loop tick go to Redis as one pipeline.

    ``execute`` queues a command and returns a future for its reply; the first command of a
    tick schedules ``_flush`` for the end of the tick, which sends the whole batch in one
    write on one pooled connection (a lone command goes as a plain command) and resolves each
    future with its reply, or its error (a Redis error reply comes back as that command's
    exception). Batches run as tasks of their own, bounded by ``budget`` seconds, so a caller
    that stops waiting (cancelled, timed out) does not cut a batch short and the connection's
    replies never desynchronise. Connection errors are retried by the client's retry policy,
    for the whole batch, as for a single command.
    """

    __slots__ = ("_budget", "_client", "_command", "_loop", "_queue", "_tasks")

    def __init__(self, client: Redis, budget: float) -> None:
        self._client = client
        # execute_command is untyped in redis-py; bound once, it is also the cheapest call path
        self._command = cast(_Execute, client.execute_command)
        self._budget = budget
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: list[tuple[tuple[Any, ...], asyncio.Future[Any]]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    def execute(self, *args: Any) -> asyncio.Future[Any]:
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        future = loop.create_future()
        if not self._queue:
            loop.call_soon(self._flush)
        self._queue.append((args, future))
        return future

    def _flush(self) -> None:
        batch, self._queue = self._queue, []
        if self._loop is None or not batch:
            return
        task = self._loop.create_task(self._run(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, batch: list[tuple[tuple[Any, ...], asyncio.Future[Any]]]) -> None:
        client = self._client
        try:
            async with asyncio.timeout(self._budget):
                if len(batch) == 1:
                    try:
                        replies: list[Any] = [await self._command(*batch[0][0])]
                    except ResponseError as exc:
                        replies = [exc]
                else:
                    async with client.pipeline(transaction=False) as pipe:
                        for args, _ in batch:
                            pipe.execute_command(*args)
                        replies = await pipe.execute(raise_on_error=False)
        except BaseException as exc:  # every waiter gets the batch's failure, then it goes on
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for (_, future), reply in zip(batch, replies, strict=True):
            if future.done():  # the caller stopped waiting
                continue
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    async def close(self) -> None:
        """Fail what is queued, wait for the batches in flight."""
        batch, self._queue = self._queue, []
        for _, future in batch:
            if not future.done():
                future.set_exception(RedisConnectionError("the store is closing"))
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


def _condition(etag: str | None, concurrency: Concurrency | None) -> bytes:
    """The APPLY script's condition for a request; ETagInvalid for a malformed ETag.

    An empty ETag is the same as none (Dapr's rule); first-write without an ETag means the key
    must not exist.
    """
    if etag:
        return check_version_etag(etag).encode()
    if concurrency is Concurrency.FIRST_WRITE:
        return _scripts.COND_ABSENT
    return _scripts.COND_NONE


def _escape_glob(text: str) -> str:
    return _GLOB_SPECIAL.sub(r"\\\1", text)


def _encode_token(cursor: int, pending: Sequence[str]) -> str | None:
    if pending:
        blob = json.dumps(list(pending), separators=(",", ":")).encode()
        return f"{cursor}.{base64.urlsafe_b64encode(blob).rstrip(b'=').decode()}"
    return None if cursor == 0 else str(cursor)


def _decode_token(token: str) -> tuple[int, list[str]]:
    cursor_text, _, blob = token.partition(".")
    try:
        cursor = int(cursor_text)
        pending: Any = []
        if blob:
            pending = json.loads(base64.urlsafe_b64decode(blob + "=" * (-len(blob) % 4)))
    except (ValueError, binascii.Error, RecursionError):
        raise InvalidRequest(f"invalid list-keys token {shown(token)}") from None
    bad_cursor = not 0 <= cursor < 2**64  # Redis SCAN cursors are unsigned 64-bit
    if bad_cursor or not isinstance(pending, list) or not all(isinstance(k, str) for k in pending):
        raise InvalidRequest(f"invalid list-keys token {shown(token)}")
    return cursor, pending


class RedisStateStore:
    """State store on a Redis server (no modules needed); Dapr-compatible data layout."""

    info: ClassVar[ComponentInfo] = ComponentInfo(type="state.redis")
    Metadata: ClassVar[type[BaseMetadata]] = RedisStateMetadata

    def __init__(self, metadata: RedisStateMetadata, *, context: ComponentContext) -> None:
        self._md = metadata
        self._ctx = context
        self._client: Redis | None = None
        self._batcher: _AutoPipeline | None = None
        self._execute: _Execute = self._not_initialized
        self._get_sha = ""
        self._apply_sha = ""
        self._default_ttl = metadata.default_ttl

    # ---- lifecycle ----------------------------------------------------------------------

    def _build_client(self) -> Redis:
        md = self._md
        host, port = md.address
        timeout = md.operation_timeout
        retry = _BudgetRetry(
            retries=max(md.max_retries, 0),
            base=md.min_retry_backoff,
            cap=md.max_retry_backoff,
            budget=timeout,
        )
        kwargs: dict[str, Any] = {
            "host": host,
            "port": port,
            "db": md.redis_db,
            "username": md.redis_username,
            "password": md.redis_password.get_secret_value() if md.redis_password else None,
            # No socket timeout: redis-py would wrap every read and write in
            # asyncio.wait_for (a task each). The operation budget is one asyncio.timeout
            # around each call instead (see init); a cancelled read drops its connection.
            "socket_timeout": None,
            "socket_connect_timeout": md.dial_timeout,
            "socket_keepalive": True,
            "retry": retry,
            "health_check_interval": 10,
            "decode_responses": False,
            "protocol": 2,
            "connection_class": SSLConnection if md.enable_tls else Connection,
        }
        pool: ConnectionPool
        if md.pool_size > 0:
            pool = BlockingConnectionPool(max_connections=md.pool_size, timeout=timeout, **kwargs)
        else:
            pool = ConnectionPool(**kwargs)
        return Redis.from_pool(pool)

    async def init(self) -> None:
        if self._client is not None:
            return
        md = self._md
        if md.query_indexes is not None:
            self._ctx.logger.warning(
                "state.redis %s: queryIndexes is ignored (the query API needs RediSearch)",
                self._ctx.name,
            )
        if "write_timeout" in md.model_fields_set and md.write_timeout != md.read_timeout:
            self._ctx.logger.warning(
                "state.redis %s: writeTimeout is not used on its own; readTimeout (%ss) bounds "
                "both reads and writes",
                self._ctx.name,
                md.read_timeout,
            )
        host, port = md.address
        client = self._build_client()
        get_script = client.register_script(_scripts.GET)
        apply_script = client.register_script(_scripts.APPLY)
        try:
            async with asyncio.timeout(md.operation_timeout + md.dial_timeout):
                await client.ping()
                await client.script_load(_scripts.GET)
                await client.script_load(_scripts.APPLY)
        except (RedisError, OSError, TimeoutError) as exc:
            await client.aclose()
            raise ConnectionError(
                f"state.redis {self._ctx.name}: cannot use redis at {host}:{port} "
                f"(db {md.redis_db}): {exc}"
            ) from exc
        self._get_sha, self._apply_sha = get_script.sha, apply_script.sha
        self._client = client
        # Single-key commands are auto-pipelined: concurrent callers share one write and one
        # pooled connection per loop tick (the batch is bounded by the operation budget).
        self._batcher = _AutoPipeline(client, md.operation_timeout)
        self._execute = self._batcher.execute

    async def close(self) -> None:
        client, self._client = self._client, None
        batcher, self._batcher = self._batcher, None
        self._execute = self._not_initialized
        if batcher is not None:
            await batcher.close()
        if client is not None:
            await client.aclose()

    def features(self) -> frozenset[StateFeature]:
        return _FEATURES

    @property
    def max_transaction_ops(self) -> int | None:
        return None

    def _require(self) -> Redis:
        client = self._client
        if client is None:
            raise RuntimeError(f"state.redis {self._ctx.name} is not initialized")
        return client

    async def _not_initialized(self, *args: Any) -> Any:
        return self._require()

    async def _load_scripts(self) -> None:
        client = self._require()
        async with asyncio.timeout(self._md.operation_timeout):
            await client.script_load(_scripts.GET)
            await client.script_load(_scripts.APPLY)

    # ---- reads --------------------------------------------------------------------------

    @staticmethod
    def _item(key: str, reply: list[Any]) -> StateItem:
        version = reply[1]
        pttl = reply[2]
        return StateItem(
            key=key,
            value=reply[0],
            etag=version.decode() if version is not None else None,
            expires_at=datetime.now(UTC) + timedelta(milliseconds=pttl) if pttl >= 0 else None,
        )

    async def get(self, req: GetRequest) -> StateItem | None:
        try:
            reply = await self._execute("EVALSHA", self._get_sha, 1, req.key)
        except NoScriptError:  # the server restarted or flushed its script cache
            await self._load_scripts()
            reply = await self._execute("EVALSHA", self._get_sha, 1, req.key)
        if reply is None:
            return None
        return self._item(req.key, reply)

    async def _pipeline(self, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
        """Run ``commands`` in one non-transactional pipeline; errors come back as values.

        Commands that failed with NOSCRIPT did not run: the scripts are loaded and only those
        are sent again.
        """
        client = self._require()
        async with (
            asyncio.timeout(self._md.operation_timeout),
            client.pipeline(transaction=False) as pipe,
        ):
            for command in commands:
                pipe.execute_command(*command)
            results: list[Any] = await pipe.execute(raise_on_error=False)
        retry = [i for i, r in enumerate(results) if isinstance(r, NoScriptError)]
        if retry:
            await self._load_scripts()
            async with (
                asyncio.timeout(self._md.operation_timeout),
                client.pipeline(transaction=False) as pipe,
            ):
                for i in retry:
                    pipe.execute_command(*commands[i])
                for i, r in zip(retry, await pipe.execute(raise_on_error=False), strict=True):
                    results[i] = r
        return results

    async def bulk_get(self, reqs: Sequence[GetRequest]) -> list[BulkGetItem]:
        if not reqs:
            return []
        sha = self._get_sha
        results = await self._pipeline([("EVALSHA", sha, 1, r.key) for r in reqs])
        out: list[BulkGetItem] = []
        for req, reply in zip(reqs, results, strict=True):
            if isinstance(reply, Exception):
                out.append(BulkGetItem(key=req.key, error=str(reply)))
            elif reply is None:
                out.append(BulkGetItem(key=req.key))
            else:
                out.append(BulkGetItem(key=req.key, item=self._item(req.key, reply)))
        return out

    # ---- writes -------------------------------------------------------------------------

    def _ttl(self, req: SetRequest) -> int:
        """Seconds of TTL for a write, 0 for none.

        The store default applies when the request says nothing about TTL: an explicit
        ``ttlInSeconds: -1`` arrives as None but is still in the request metadata, and means none.
        """
        ttl = req.ttl_seconds
        if ttl is not None:
            if ttl < 0:
                raise InvalidRequest(f"ttl must be a positive number of seconds, not {ttl}")
            return ttl  # 0: none
        if self._default_ttl is not None and "ttlInSeconds" not in req.metadata:
            return self._default_ttl
        return 0

    def _set_args(self, req: SetRequest) -> tuple[bytes, bytes, bytes, int]:
        return (
            _scripts.OP_SET,
            _condition(req.etag, req.concurrency),
            req.value,
            self._ttl(req),
        )

    @staticmethod
    def _delete_args(req: DeleteRequest) -> tuple[bytes, bytes, bytes, int]:
        return (_scripts.OP_DELETE, _condition(req.etag, None), b"", 0)

    async def _apply(self, keys: Sequence[str], args: Sequence[Any]) -> int:
        command = ("EVALSHA", self._apply_sha, len(keys), *keys, *args)
        try:
            result = await self._execute(*command)
        except NoScriptError:
            await self._load_scripts()
            result = await self._execute(*command)
        return int(result)

    async def set(self, req: SetRequest) -> None:
        if await self._apply((req.key,), self._set_args(req)):
            raise ETagMismatch(req.key)

    async def delete(self, req: DeleteRequest) -> None:
        if not req.etag:
            await self._execute("DEL", req.key)
        elif await self._apply((req.key,), self._delete_args(req)):
            raise ETagMismatch(req.key)

    async def _bulk_write(
        self, reqs: Sequence[SetRequest] | Sequence[DeleteRequest]
    ) -> dict[str, Exception]:
        errors: dict[str, Exception] = {}
        sent: list[str] = []
        commands: list[tuple[Any, ...]] = []
        for req in reqs:
            try:
                if isinstance(req, SetRequest):
                    args = self._set_args(req)
                elif not req.etag:
                    sent.append(req.key)
                    commands.append(("DEL", req.key))
                    continue
                else:
                    args = self._delete_args(req)
            except (ETagInvalid, InvalidRequest) as exc:
                errors[req.key] = exc
                continue
            sent.append(req.key)
            commands.append(("EVALSHA", self._apply_sha, 1, req.key, *args))
        if commands:
            for key, command, reply in zip(
                sent, commands, await self._pipeline(commands), strict=True
            ):
                if isinstance(reply, Exception):
                    errors[key] = reply
                elif command[0] == "EVALSHA" and reply:
                    errors[key] = ETagMismatch(key)
        return errors

    async def bulk_set(self, reqs: Sequence[SetRequest]) -> None:
        errors = await self._bulk_write(reqs)
        if errors:
            raise BulkError(errors)

    async def bulk_delete(self, reqs: Sequence[DeleteRequest]) -> None:
        errors = await self._bulk_write(reqs)
        if errors:
            raise BulkError(errors)

    async def transact(self, ops: Sequence[TransactionOp]) -> None:
        if not ops:
            return
        keys: list[str] = []
        args: list[Any] = []
        for op in ops:
            keys.append(op.key)
            args.extend(self._set_args(op) if isinstance(op, SetRequest) else self._delete_args(op))
        failed = await self._apply(keys, args)
        if failed:
            raise ETagMismatch(ops[failed - 1].key)

    # ---- key listing --------------------------------------------------------------------

    async def list_keys(self, req: ListKeysRequest) -> KeysPage:
        """Keys starting with ``req.prefix``, at most ``req.limit`` per page.

        Redis lists keys with SCAN, so pages are *at least once, unordered*: keys come in hash
        order, not sorted, and a key may appear on more than one page (never twice on one page).
        Every key that exists from the first page to the last is listed; keys written or deleted
        meanwhile may or may not be. Expired keys are never listed. The token is the SCAN cursor,
        followed by the keys of the last SCAN batch that did not fit in the page, if any; a token
        stays valid whatever happens to the data.
        """
        if req.limit < 1:
            raise InvalidRequest(f"list-keys limit must be at least 1, not {req.limit}")
        client = self._require()
        limit = req.limit
        match = _escape_glob(req.prefix) + "*"
        if req.token:
            cursor, pending = _decode_token(req.token)
            started = True
            if pending:
                pending = await self._existing(pending)
        else:
            cursor, pending, started = 0, [], False
        keys: list[str] = []
        seen: set[str] = set()
        count = min(max(limit, _SCAN_MIN_COUNT), _SCAN_MAX_COUNT)
        while True:
            taken = 0
            for key in pending:
                if len(keys) >= limit:
                    break
                taken += 1
                if key not in seen:
                    seen.add(key)
                    keys.append(key)
            pending = pending[taken:]
            if len(keys) >= limit or (started and cursor == 0):
                break
            async with asyncio.timeout(self._md.operation_timeout):
                cursor, batch = await client.scan(cursor, match=match, count=count)
            started = True
            pending = [cast(bytes, k).decode("utf-8", "surrogateescape") for k in batch]
            if len(pending) < limit - len(keys):  # sparse keyspace: look at more per round trip
                count = min(count * 2, _SCAN_MAX_COUNT)
        return KeysPage(keys=keys, token=_encode_token(cursor, pending))

    async def _existing(self, keys: list[str]) -> list[str]:
        """``keys`` without those deleted or expired since they were scanned."""
        found = await self._pipeline([("EXISTS", k) for k in keys])
        return [k for k, n in zip(keys, found, strict=True) if n == 1]
