"""StateService: every state API semantic, for HTTP and gRPC alike.

Callers pass user keys; the service applies the store's key prefix, validates keys and
options, parses ``ttlInSeconds``, checks features, records telemetry through the Observer and
maps component errors to API errors (so both protocols report the same codes).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from components.errors import (
    BulkError,
    ETagInvalid,
    ETagMismatch,
    InvalidRequest,
    NotSupported,
    shown,
)
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
from runtime.errors import FieldViolation
from runtime.keyprefix import KEY_SEPARATOR, has_nul, separator_problem
from runtime.observability import NOOP_OBSERVER, Observer
from runtime.services import state_errors as op_errors
from runtime.services._calls import ComponentCalls
from runtime.services.state_errors import OpErrors, StateErrors
from runtime.services.state_query import QuerySyntaxError, decode_query, parse_query

if TYPE_CHECKING:
    from runtime.resiliency import Resiliency
    from runtime.services.pubsub_outbox import Outbox

__all__ = [
    "MAX_LIST_LIMIT",
    "DeleteItem",
    "KeyList",
    "QueryResults",
    "SaveItem",
    "StateResult",
    "StateService",
    "TxOperation",
    "list_limit_error",
]

T = TypeVar("T")
BLOCK = "state"
SEPARATOR = KEY_SEPARATOR
MAX_LIST_LIMIT = 1000
# Longest user key (UTF-8 bytes), the same for every store: PostgreSQL cannot index a key much
# past 2.7 KB, so the limit leaves room for the key prefix. Longer keys are a 400, not a 500.
MAX_KEY_BYTES = 1024


def _cut(text: str, limit: int = 128) -> str:
    """``text`` cut to ``limit`` UTF-8 bytes: a caller's input echoed in an error stays short
    (a gRPC status travels in headers, which clients cap at 8 KiB)."""
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", "ignore") + "..."


def _too_long(text: str) -> bool:
    return len(text.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES


class StateResult(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    value: bytes | None  # None: missing
    etag: str | None = None
    metadata: Mapping[str, str] = msgspec.field(default_factory=dict)
    error: str | None = None


class SaveItem(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    value: bytes
    etag: str | None = None
    metadata: Mapping[str, str] = msgspec.field(default_factory=dict)
    concurrency: str | None = None
    consistency: str | None = None


class DeleteItem(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    etag: str | None = None
    metadata: Mapping[str, str] = msgspec.field(default_factory=dict)
    concurrency: str | None = None
    consistency: str | None = None


class TxOperation(msgspec.Struct, frozen=True, kw_only=True):
    operation: str  # "upsert" | "delete"
    item: SaveItem | DeleteItem


class QueryResults(msgspec.Struct, frozen=True, kw_only=True):
    results: Sequence[StateResult]
    token: str | None
    metadata: Mapping[str, str] = msgspec.field(default_factory=dict)


class KeyList(msgspec.Struct, frozen=True, kw_only=True):
    keys: Sequence[str]
    token: str | None


def _rfc3339(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _enum(
    kind: type[Concurrency] | type[Consistency],
    value: str | None,
    what: str,
    invalid: Callable[[str, str], errors.APIError],
) -> Any:
    """``value`` as ``kind``; ``invalid(field, description)`` builds the error otherwise."""
    if not value:
        return None
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(e.value for e in kind)
        raise invalid(what, f"invalid {what} {shown(value)}: expected one of {allowed}") from None


def _detail(exc: BaseException) -> str:
    """A component error's text for a message, cut to 512 bytes (it may echo the input)."""
    return _cut(str(exc), 512)


def _illegal_key(store: str, key: str, field_name: str | None = None) -> errors.APIError:
    """A key containing ``||`` with Dapr's three details (the violation's field is the key
    itself, as Dapr sends it, or ``field_name``: ``keyPrefix``, ``prefix``); the key is echoed
    cut to 128 bytes, as it appears twice and a gRPC status must fit in headers."""
    err = StateErrors.ILLEGAL_KEY(key=_cut(key), resource=store)
    err.violations = (FieldViolation(_cut(field_name or key), err.message),)
    return err


def list_limit_error(store: str, limit: str) -> errors.APIError:
    """A ``limit`` for key listing that is not an integer from 1 to MAX_LIST_LIMIT."""
    err = StateErrors.LIST_KEYS_LIMIT(limit=limit, max=MAX_LIST_LIMIT, resource=store)
    err.violations = (FieldViolation("limit", err.message),)
    return err


def _no_etags() -> errors.APIError:
    return StateErrors.FEATURE_NOT_SUPPORTED(detail="the state store does not support ETags")


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
        self._prefixes: dict[str, str] = {}
        self._calls = ComponentCalls(BLOCK, observer=observer, resiliency=resiliency)
        self._outbox: Outbox | None = None

    def set_outbox(self, outbox: Outbox) -> None:
        """Transactions on stores with outbox metadata publish their changes through it."""
        self._outbox = outbox

    # ---- lookup and keys ------------------------------------------------------------------

    def _live(self, name: str) -> LiveComponent[StateStore]:
        if not self._components.has_block(BLOCK):
            raise StateErrors.STORE_NOT_CONFIGURED()
        live = self._components.state(name)
        if live is None:
            raise StateErrors.STORE_NOT_FOUND(name=_cut(name), metadata={"appID": self._app_id})
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
        if separator_problem(setting):
            raise _illegal_key(name, setting, "keyPrefix")
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
            raise StateErrors.KEY_REQUIRED()
        if _too_long(key):  # first: the errors below echo the key
            raise StateErrors.KEY_TOO_LONG(
                what="key", key=shown(key), limit=MAX_KEY_BYTES, resource=store
            )
        if has_nul(key):
            raise StateErrors.KEY_NUL(what="key", key=shown(key), resource=store)
        if separator_problem(key):
            raise _illegal_key(store, key)
        return self._prefix(store) + key

    def _user_key(self, store: str, stored: str) -> str:
        return stored[len(self._prefix(store)) :]

    # ---- helpers --------------------------------------------------------------------------

    async def _call(
        self,
        store: str,
        op: str,
        errs: OpErrors,
        fn: Callable[[], Awaitable[T]],
        **fields: object,
    ) -> T:
        """Run a store call under its resiliency policies (each attempt observed); its failure
        becomes one of ``errs`` (message ``fields`` + detail)."""
        try:
            return await self._calls.run(store, op, fn)
        except errors.APIError:
            raise
        except ETagMismatch as exc:
            raise errs.conflict.build({**fields, "store": store, "detail": _detail(exc)}) from exc
        except (ETagInvalid, InvalidRequest) as exc:
            raise errs.invalid.build({**fields, "store": store, "detail": _detail(exc)}) from exc
        except NotSupported as exc:
            raise StateErrors.FEATURE_NOT_SUPPORTED(detail=_detail(exc)) from exc
        except BulkError as exc:
            inner = list(exc.errors.values())
            kind = errs.failed
            if inner and all(isinstance(e, ETagMismatch) for e in inner):
                kind = errs.conflict
            elif inner and all(
                isinstance(e, ETagInvalid | ETagMismatch | InvalidRequest) for e in inner
            ):  # only the caller's input failed (the stale ETags among them too)
                kind = errs.invalid
            raise kind.build({**fields, "store": store, "detail": _detail(exc)}) from exc
        except TimeoutError as exc:
            raise errs.failed.build({**fields, "store": store, "detail": "timed out"}) from exc
        except Exception as exc:
            detail = _detail(exc) or type(exc).__name__
            raise errs.failed.build({**fields, "store": store, "detail": detail}) from exc

    def _ttl(
        self,
        name: str,
        store: StateStore,
        metadata: Mapping[str, str],
        errs: OpErrors,
    ) -> int | None:
        raw = metadata.get("ttlInSeconds")
        if raw is None:
            return None
        try:
            ttl = int(str(raw).strip())
        except ValueError:
            ttl = None
        if ttl is None or ttl < -1 or ttl > 2**31 - 1:
            what = f"invalid ttlInSeconds {shown(raw)}: expected -1 (no expiry) or 0..2147483647"
            raise errs.invalid(
                store=name,
                detail=what,
                resource=name,
                violations=[FieldViolation("ttlInSeconds", what)],
            )
        if ttl <= 0:  # -1 (Dapr's "never expires") and 0 both mean no TTL, in every store
            return None
        if StateFeature.TTL not in store.features():
            raise StateErrors.FEATURE_NOT_SUPPORTED(
                detail="the state store does not support ttlInSeconds"
            )
        return ttl

    def _invalid(
        self, name: str, errs: OpErrors, **fields: object
    ) -> Callable[[str, str], errors.APIError]:
        """Builds ``errs.invalid`` for a malformed field of a request to store ``name``."""

        def build(field_name: str, description: str) -> errors.APIError:
            return errs.invalid.build(
                {**fields, "store": name, "detail": description},
                resource=name,
                violations=[FieldViolation(field_name, description)],
            )

        return build

    def _set_request(
        self, name: str, store: StateStore, item: SaveItem, errs: OpErrors
    ) -> SetRequest:
        meta = dict(item.metadata)
        if item.etag is not None and StateFeature.ETAG not in store.features():
            raise _no_etags()
        invalid = self._invalid(name, errs)
        return SetRequest(
            key=self._key(name, item.key),
            value=item.value,
            etag=item.etag,
            concurrency=_enum(Concurrency, item.concurrency, "concurrency", invalid),
            consistency=_enum(Consistency, item.consistency, "consistency", invalid),
            ttl_seconds=self._ttl(name, store, meta, errs),
            content_type=meta.get("contentType"),
            metadata=meta,
        )

    def _delete_request(
        self, name: str, item: DeleteItem, errs: OpErrors, **fields: object
    ) -> DeleteRequest:
        invalid = self._invalid(name, errs, **fields)
        return DeleteRequest(
            key=self._key(name, item.key),
            etag=item.etag,
            concurrency=_enum(Concurrency, item.concurrency, "concurrency", invalid),
            consistency=_enum(Consistency, item.consistency, "consistency", invalid),
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
            consistency=_enum(
                Consistency,
                consistency,
                "consistency",
                self._invalid(name, op_errors.GET, key=_cut(key)),
            ),
            metadata=metadata or {},
        )
        item = await self._call(name, "get", op_errors.GET, lambda: store.get(req), key=_cut(key))
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
            op_errors.BULK_GET,
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
        errs = op_errors.SAVE
        reqs = [self._set_request(name, store, item, errs) for item in items]
        if not reqs:
            return
        if len(reqs) == 1:
            await self._call(name, "set", errs, lambda: store.set(reqs[0]))
        else:
            await self._call(name, "bulk_set", errs, lambda: store.bulk_set(reqs))

    async def delete(self, name: str, item: DeleteItem) -> None:
        store = self._store(name)
        target = f"with key {_cut(item.key)}"
        req = self._delete_request(name, item, op_errors.DELETE, target=target)
        if req.etag is not None and StateFeature.ETAG not in store.features():
            raise _no_etags()
        await self._call(name, "delete", op_errors.DELETE, lambda: store.delete(req), target=target)

    async def bulk_delete(self, name: str, items: Sequence[DeleteItem]) -> None:
        store = self._store(name)
        target = f"in state store {name}"
        reqs = [self._delete_request(name, item, op_errors.DELETE, target=target) for item in items]
        if reqs:
            await self._call(
                name,
                "bulk_delete",
                op_errors.DELETE,
                lambda: store.bulk_delete(reqs),
                target=target,
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
            raise StateErrors.TRANSACTIONS_NOT_SUPPORTED(store=name, resource=name)
        outbox = self._outbox
        if outbox is not None and outbox.config(name) is not None:
            operations = await outbox.before_commit(name, operations)
        errs = op_errors.TRANSACTION
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
                        errs,
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
                        errs,
                    )
                )
            else:
                raise StateErrors.UNSUPPORTED_OPERATION(operation=_cut(op.operation, 64), index=i)
        if not ops:
            return
        limit = store.max_transaction_ops
        if limit is not None and len(ops) > limit:
            raise StateErrors.TOO_MANY_TRANSACTIONS(
                count=len(ops),
                limit=limit,
                store=name,
                resource=name,
                metadata={
                    "currentOpsTransaction": str(len(ops)),
                    "maxOpsPerTransaction": str(limit),
                },
            )
        await self._call(name, "transact", errs, lambda: store.transact(ops))

    async def query(
        self, name: str, query_json: bytes | str, metadata: Mapping[str, str] | None = None
    ) -> QueryResults:
        store = self._store(name)
        # a capability is reachable only when declared, even if the method exists
        if not (
            StateFeature.QUERY_API in store.features() and isinstance(store, QueryableStateStore)
        ):
            raise StateErrors.QUERYING_NOT_SUPPORTED(store=name, resource=name)
        try:
            doc = decode_query(query_json)
            q = parse_query(doc, key_prefix=self._prefix(name), metadata=dict(metadata or {}))
        except QuerySyntaxError as exc:
            raise StateErrors.QUERY_INVALID(
                detail=exc,
                resource=name,
                violations=[FieldViolation("query", str(exc))],
            ) from None
        result = await self._call(name, "query", op_errors.QUERY, lambda: store.query(q))
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
            raise StateErrors.FEATURE_NOT_SUPPORTED(
                detail=f"state store {name} doesn't support listing keys"
            )
        if _too_long(prefix):
            raise StateErrors.KEY_TOO_LONG(
                what="prefix", key=shown(prefix), limit=MAX_KEY_BYTES, resource=name
            )
        if has_nul(prefix):
            raise StateErrors.KEY_NUL(what="prefix", key=shown(prefix), resource=name)
        if separator_problem(prefix):
            raise _illegal_key(name, prefix, "prefix")
        limit = 100 if limit is None else limit
        if not 1 <= limit <= MAX_LIST_LIMIT:
            raise list_limit_error(name, str(limit))
        req = ListKeysRequest(prefix=self._prefix(name) + prefix, limit=limit, token=token or None)
        page = await self._call(
            name,
            "list_keys",
            op_errors.LIST_KEYS,
            lambda: store.list_keys(req),
        )
        return KeyList(keys=[self._user_key(name, k) for k in page.keys], token=page.token)
