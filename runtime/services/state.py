"""StateService: every state API semantic, for HTTP and gRPC alike.

Callers pass user keys; the service applies the store's key prefix, validates keys and
options, parses ``ttlInSeconds``, checks features, records telemetry through the Observer and
maps component errors to API errors (so both protocols report the same codes).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from components.errors import BulkError, ETagInvalid, ETagMismatch, InvalidRequest, NotSupported
from components.state import (
    BulkGetItem,
    Concurrency,
    Consistency,
    DeleteRequest,
    GetRequest,
    KeyLister,
    ListKeysRequest,
    QueryableStateStore,
    SetRequest,
    StateFeature,
    StateStore,
    TransactionalStateStore,
)
from runtime import errors
from runtime.compstore import ComponentStore, LiveComponent
from runtime.errors import ErrorCode
from runtime.keyprefix import KEY_SEPARATOR, separator_problem
from runtime.observability import NOOP_OBSERVER, Observer
from runtime.services.state_query import QuerySyntaxError, parse_query

if TYPE_CHECKING:
    from runtime.resiliency import Resiliency, Runner

__all__ = [
    "DeleteItem",
    "KeyList",
    "QueryResults",
    "SaveItem",
    "StateResult",
    "StateService",
    "TxOperation",
]

T = TypeVar("T")
BLOCK = "state"
SEPARATOR = KEY_SEPARATOR
MAX_LIST_LIMIT = 1000


@dataclass(frozen=True, slots=True, kw_only=True)
class StateResult:
    key: str
    value: bytes | None  # None: missing
    etag: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SaveItem:
    key: str
    value: bytes
    etag: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    concurrency: str | None = None
    consistency: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteItem:
    key: str
    etag: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    concurrency: str | None = None
    consistency: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TxOperation:
    operation: str  # "upsert" | "delete"
    item: SaveItem | DeleteItem


@dataclass(frozen=True, slots=True, kw_only=True)
class QueryResults:
    results: Sequence[StateResult]
    token: str | None
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyList:
    keys: Sequence[str]
    token: str | None


def _rfc3339(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _enum(
    kind: type[Concurrency] | type[Consistency], value: str | None, what: str, code: ErrorCode
) -> Any:
    if not value:
        return None
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(e.value for e in kind)
        raise errors.InvalidArgument(
            f"invalid {what} {value!r}: expected one of {allowed}", code=code
        ) from None


class StateService:
    def __init__(
        self,
        components: ComponentStore,
        *,
        app_id: str,
        namespace: str = "default",
        observer: Observer = NOOP_OBSERVER,
        resiliency: Resiliency | None = None,
    ) -> None:
        self._components = components
        self._app_id = app_id
        self._namespace = namespace
        self._observer = observer
        self._prefixes: dict[str, str] = {}
        self._resiliency = resiliency
        self._runners: dict[str, Runner | None] = {}  # store -> its outbound policies

    # ---- lookup and keys ------------------------------------------------------------------

    def _live(self, name: str) -> LiveComponent[StateStore]:
        if not self._components.has_block(BLOCK):
            raise errors.FailedPrecondition(
                "state store is not configured",
                code=ErrorCode.STATE_STORE_NOT_CONFIGURED,
                reason="DAPR_STATE_NOT_CONFIGURED",
            )
        live = self._components.state(name)
        if live is None:
            raise errors.InvalidArgument(
                f"state store {name} is not found",
                code=ErrorCode.STATE_STORE_NOT_FOUND,
                reason="DAPR_STATE_NOT_FOUND",
                metadata={"appID": self._app_id},
            )
        return live

    def _store(self, name: str) -> StateStore:
        return self._live(name).instance

    def _prefix(self, name: str) -> str:
        """The store key prefix of store ``name``, as Dapr derives it from ``keyPrefix``.

        Dapr lower-cases the setting before using it, so a custom prefix is lower-cased too
        (``MyApp`` stores ``myapp||key``); a setting containing ``||`` is refused.
        """
        cached = self._prefixes.get(name)
        if cached is not None:
            return cached
        setting = self._live(name).runtime_metadata.get("keyprefix", "appid").strip().lower()
        if problem := separator_problem(setting):
            raise errors.InvalidArgument(
                f"{problem} (keyPrefix of state store {name})",
                code=ErrorCode.MALFORMED_REQUEST,
                reason="DAPR_STATE_ILLEGAL_KEY",
            )
        match setting:
            case "appid" | "":
                prefix = self._app_id + SEPARATOR if self._app_id else ""
            case "name":
                prefix = name + SEPARATOR
            case "namespace":
                if not self._app_id:
                    prefix = ""
                elif self._namespace:
                    prefix = f"{self._namespace}.{self._app_id}{SEPARATOR}"
                else:
                    prefix = self._app_id + SEPARATOR
            case "none":
                prefix = ""
            case _:
                prefix = setting + SEPARATOR
        self._prefixes[name] = prefix
        return prefix

    def _key(self, store: str, key: str) -> str:
        if not key:
            raise errors.InvalidArgument(
                "key is a required field", code=ErrorCode.MALFORMED_REQUEST
            )
        if problem := separator_problem(key):
            raise errors.InvalidArgument(
                problem,
                code=ErrorCode.MALFORMED_REQUEST,
                reason="DAPR_STATE_ILLEGAL_KEY",
            )
        return self._prefix(store) + key

    def _user_key(self, store: str, stored: str) -> str:
        return stored[len(self._prefix(store)) :]

    # ---- helpers --------------------------------------------------------------------------

    def _runner(self, store: str) -> Runner | None:
        """The store's ``components.<store>.outbound`` resiliency policies, or None."""
        if self._resiliency is None:
            return None
        try:
            return self._runners[store]
        except KeyError:
            runner = self._runners[store] = self._resiliency.component_outbound(store, BLOCK)
            return runner

    async def _observed(self, store: str, op: str, fn: Callable[[], Awaitable[T]]) -> T:
        async with self._observer.component_call(BLOCK, store, op):
            return await fn()

    async def _call(
        self, store: str, op: str, code: ErrorCode, what: str, fn: Callable[[], Awaitable[T]]
    ) -> T:
        """Every component call passes here: resiliency policies (each attempt observed),
        then the mapping of component errors to API errors."""
        runner = self._runner(store)
        try:
            if runner is None:  # fast path: no policy
                async with self._observer.component_call(BLOCK, store, op):
                    return await fn()
            return await runner.run(lambda: self._observed(store, op, fn))
        except errors.APIError:
            raise
        except ETagMismatch as exc:
            raise errors.Conflict(f"{what}: {exc}", code=code) from exc
        except ETagInvalid as exc:
            raise errors.InvalidArgument(f"{what}: {exc}", code=code) from exc
        except NotSupported as exc:
            raise errors.NotSupported(f"{what}: {exc}") from exc
        except InvalidRequest as exc:
            raise errors.InvalidArgument(f"{what}: {exc}", code=code) from exc
        except BulkError as exc:
            inner = list(exc.errors.values())
            kind: type[errors.APIError] = errors.Internal
            if inner and all(isinstance(e, ETagMismatch) for e in inner):
                kind = errors.Conflict
            elif inner and all(
                isinstance(e, ETagInvalid | ETagMismatch | InvalidRequest) for e in inner
            ):  # only the caller's input failed (the stale ETags among them too)
                kind = errors.InvalidArgument
            raise kind(f"{what}: {exc}", code=code) from exc
        except TimeoutError as exc:
            raise errors.Internal(f"{what}: timed out", code=code) from exc
        except Exception as exc:
            raise errors.Internal(f"{what}: {str(exc) or type(exc).__name__}", code=code) from exc

    def _ttl(self, store: StateStore, metadata: Mapping[str, str], code: ErrorCode) -> int | None:
        raw = metadata.get("ttlInSeconds")
        if raw is None:
            return None
        try:
            ttl = int(str(raw).strip())
        except ValueError:
            raise errors.InvalidArgument(
                f"invalid ttlInSeconds {raw!r}: expected an integer number of seconds", code=code
            ) from None
        if ttl < -1 or ttl > 2**31 - 1:
            raise errors.InvalidArgument(
                f"invalid ttlInSeconds {ttl}: expected -1 (no expiry) or 0..2147483647", code=code
            )
        if ttl <= 0:  # -1 (Dapr's "never expires") and 0 both mean no TTL, in every store
            return None
        if StateFeature.TTL not in store.features():
            raise errors.NotSupported("the state store does not support ttlInSeconds")
        return ttl

    def _set_request(
        self, name: str, store: StateStore, item: SaveItem, code: ErrorCode
    ) -> SetRequest:
        meta = dict(item.metadata)
        if item.etag is not None and StateFeature.ETAG not in store.features():
            raise errors.NotSupported("the state store does not support ETags")
        return SetRequest(
            key=self._key(name, item.key),
            value=item.value,
            etag=item.etag,
            concurrency=_enum(Concurrency, item.concurrency, "concurrency", code),
            consistency=_enum(Consistency, item.consistency, "consistency", code),
            ttl_seconds=self._ttl(store, meta, code),
            content_type=meta.get("contentType"),
            metadata=meta,
        )

    def _delete_request(self, name: str, item: DeleteItem, code: ErrorCode) -> DeleteRequest:
        return DeleteRequest(
            key=self._key(name, item.key),
            etag=item.etag,
            concurrency=_enum(Concurrency, item.concurrency, "concurrency", code),
            consistency=_enum(Consistency, item.consistency, "consistency", code),
            metadata=dict(item.metadata),
        )

    # ---- API ------------------------------------------------------------------------------

    def features(self, name: str) -> frozenset[StateFeature]:
        return self._store(name).features()

    async def get(
        self,
        name: str,
        key: str,
        *,
        consistency: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> StateResult:
        store = self._store(name)
        req = GetRequest(
            key=self._key(name, key),
            consistency=_enum(Consistency, consistency, "consistency", ErrorCode.STATE_GET),
            metadata=metadata or {},
        )
        item = await self._call(
            name,
            "get",
            ErrorCode.STATE_GET,
            f"fail to get {key} from state store {name}",
            lambda: store.get(req),
        )
        if item is None:
            return StateResult(key=key, value=None)
        meta = {"ttlExpireTime": _rfc3339(item.expires_at)} if item.expires_at else {}
        return StateResult(key=key, value=item.value, etag=item.etag, metadata=meta)

    async def bulk_get(
        self, name: str, keys: Sequence[str], *, metadata: Mapping[str, str] | None = None
    ) -> list[StateResult]:
        store = self._store(name)
        reqs = [GetRequest(key=self._key(name, k), metadata=metadata or {}) for k in keys]
        if not reqs:
            return []
        items: list[BulkGetItem] = await self._call(
            name,
            "bulk_get",
            ErrorCode.STATE_BULK_GET,
            f"failed getting bulk state from state store {name}",
            lambda: store.bulk_get(reqs),
        )
        out: list[StateResult] = []
        for user_key, got in zip(keys, items, strict=True):
            item = got.item
            if item is None:
                out.append(StateResult(key=user_key, value=None, error=got.error))
                continue
            meta = {"ttlExpireTime": _rfc3339(item.expires_at)} if item.expires_at else {}
            out.append(StateResult(key=user_key, value=item.value, etag=item.etag, metadata=meta))
        return out

    async def save(self, name: str, items: Sequence[SaveItem]) -> None:
        store = self._store(name)
        code = ErrorCode.STATE_SAVE
        reqs = [self._set_request(name, store, item, code) for item in items]
        if not reqs:
            return
        what = f"failed saving state in state store {name}"
        if len(reqs) == 1:
            await self._call(name, "set", code, what, lambda: store.set(reqs[0]))
        else:
            await self._call(name, "bulk_set", code, what, lambda: store.bulk_set(reqs))

    async def delete(self, name: str, item: DeleteItem) -> None:
        store = self._store(name)
        req = self._delete_request(name, item, ErrorCode.STATE_DELETE)
        if req.etag is not None and StateFeature.ETAG not in store.features():
            raise errors.NotSupported("the state store does not support ETags")
        await self._call(
            name,
            "delete",
            ErrorCode.STATE_DELETE,
            f"failed deleting state with key {item.key}",
            lambda: store.delete(req),
        )

    async def bulk_delete(self, name: str, items: Sequence[DeleteItem]) -> None:
        store = self._store(name)
        reqs = [self._delete_request(name, item, ErrorCode.STATE_DELETE) for item in items]
        if reqs:
            await self._call(
                name,
                "bulk_delete",
                ErrorCode.STATE_DELETE,
                f"failed deleting state in state store {name}",
                lambda: store.bulk_delete(reqs),
            )

    async def transact(
        self,
        name: str,
        operations: Sequence[TxOperation],
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        store = self._store(name)
        # a capability is reachable only when declared, even if the method exists
        if not (
            StateFeature.TRANSACTIONAL in store.features()
            and isinstance(store, TransactionalStateStore)
        ):
            raise errors.NotSupported(
                f"state store {name} doesn't support transactions",
                reason="DAPR_STATE_TRANSACTIONS_NOT_SUPPORTED",
            )
        code = ErrorCode.STATE_TRANSACTION
        shared = dict(metadata or {})
        ops: list[SetRequest | DeleteRequest] = []
        for i, op in enumerate(operations):
            kind = op.operation.lower()
            item = op.item
            merged = {**shared, **item.metadata}
            if kind == "upsert" and isinstance(item, SaveItem):
                ops.append(
                    self._set_request(
                        name,
                        store,
                        SaveItem(
                            key=item.key,
                            value=item.value,
                            etag=item.etag,
                            metadata=merged,
                            concurrency=item.concurrency,
                            consistency=item.consistency,
                        ),
                        code,
                    )
                )
            elif kind == "delete":
                ops.append(
                    self._delete_request(
                        name,
                        DeleteItem(
                            key=item.key,
                            etag=item.etag,
                            metadata=merged,
                            concurrency=item.concurrency,
                            consistency=item.consistency,
                        ),
                        code,
                    )
                )
            else:
                raise errors.UnsupportedOperation(
                    f"operation type {op.operation!r} not supported (operations[{i}]): "
                    "expected upsert or delete"
                )
        if not ops:
            return
        limit = store.max_transaction_ops
        if limit is not None and len(ops) > limit:
            raise errors.InvalidArgument(
                f"the transaction contains {len(ops)} operations, more than the maximum of "
                f"{limit} the state store {name} allows",
                code=ErrorCode.STATE_STORE_TOO_MANY_TRANSACTIONS,
                reason="DAPR_STATE_TOO_MANY_TRANSACTIONS",
            )
        await self._call(
            name,
            "transact",
            code,
            f"error while executing state transaction on store {name}",
            lambda: store.transact(ops),
        )

    async def query(
        self, name: str, query_json: bytes | str, metadata: Mapping[str, str] | None = None
    ) -> QueryResults:
        store = self._store(name)
        # a capability is reachable only when declared, even if the method exists
        if not (
            StateFeature.QUERY_API in store.features() and isinstance(store, QueryableStateStore)
        ):
            raise errors.NotSupported(
                f"state store {name} doesn't support query",
                reason="DAPR_STATE_QUERYING_NOT_SUPPORTED",
            )
        try:
            doc = json.loads(query_json)
            q = parse_query(doc, key_prefix=self._prefix(name), metadata=dict(metadata or {}))
        except (ValueError, QuerySyntaxError) as exc:
            raise errors.InvalidArgument(
                f"failed parsing query: {exc}",
                code=ErrorCode.STATE_QUERY,
                reason="DAPR_STATE_QUERY_FAILED",
            ) from None
        result = await self._call(
            name,
            "query",
            ErrorCode.STATE_QUERY,
            f"failed query in state store {name}",
            lambda: store.query(q),
        )
        return QueryResults(
            results=[
                StateResult(key=self._user_key(name, it.key), value=it.value, etag=it.etag)
                for it in result.items
            ],
            token=result.token,
        )

    async def list_keys(
        self, name: str, *, prefix: str = "", limit: int | None = None, token: str | None = None
    ) -> KeyList:
        store = self._store(name)
        # a capability is reachable only when declared, even if the method exists
        if not (StateFeature.LIST_KEYS in store.features() and isinstance(store, KeyLister)):
            raise errors.NotSupported(f"state store {name} doesn't support listing keys")
        if SEPARATOR in prefix:
            raise errors.InvalidArgument(
                f"prefix can't contain '{SEPARATOR}'", code=ErrorCode.MALFORMED_REQUEST
            )
        limit = 100 if limit is None else limit
        if not 1 <= limit <= MAX_LIST_LIMIT:
            raise errors.InvalidArgument(
                f"limit must be between 1 and {MAX_LIST_LIMIT}", code=ErrorCode.MALFORMED_REQUEST
            )
        req = ListKeysRequest(prefix=self._prefix(name) + prefix, limit=limit, token=token or None)
        page = await self._call(
            name,
            "list_keys",
            ErrorCode.STATE_LIST_KEYS,
            f"failed listing keys in state store {name}",
            lambda: store.list_keys(req),
        )
        return KeyList(keys=[self._user_key(name, k) for k in page.keys], token=page.token)
