"""``state.redis``: a state store on a plain Redis server (no modules), Dapr-compatible.

Contract (``components.state._api``): features ETAG, TRANSACTIONAL, TTL and LIST_KEYS; not
QUERY_API (Dapr's query support needs RedisJSON + RediSearch, which this store does not use).

Storage layout, the same as Dapr's redis state store so either can read what the other wrote:
each store key (``appid||key``) is a Redis HASH with fields

- ``data``: the value bytes, unchanged;
- ``version``: an integer, 1 when the key is created and +1 on every write. The ETag is its
  decimal text ("1", "2", ...); an ETag that is not a positive decimal raises ``ETagInvalid``, a
  well-formed one that is not current ``ETagMismatch``. An empty ETag counts as none (Dapr's rule).

A TTL is the hash's own Redis TTL (EXPIRE); a write without TTL removes an existing one (PERSIST),
and ``get`` reports it as ``expires_at``. The metadata ``ttlInSeconds`` sets a default TTL for
writes whose request gives none.

Every ETag / first-write check runs in one Lua script with its write, so checks are atomic;
``transact`` is one script that checks every operation (in order, as the earlier ones of the
transaction leave the data) before it writes anything. ``bulk_set`` / ``bulk_delete`` are one
pipeline of such scripts and are not atomic: the keys that failed are reported in ``BulkError``.
``get`` is a single round trip (one script returns the value, version and remaining TTL).
``list_keys`` uses SCAN: pages are at least once and unordered (see ``RedisStateStore.list_keys``).

Resilience: the connection pool reconnects by itself after a server restart (scripts are loaded
again on NOSCRIPT), connection errors are retried with jittered backoff within the operation
timeout (``readTimeout`` / ``writeTimeout``), and an unreachable server fails an operation within
about that timeout instead of hanging. Metadata: see ``_metadata``.
"""

from components.state.redis._metadata import RedisStateMetadata
from components.state.redis._store import RedisStateStore

__all__ = ["RedisStateMetadata", "RedisStateStore"]
