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
``consistency`` is ignored (one server: reads always see the last write).

``list_keys`` uses SCAN, so unlike the ``KeyLister`` default its pages are *at least once and
unordered*: keys come in hash order and a key may show up on two pages (see
``RedisStateStore.list_keys``).

ETags follow Dapr's counter: a key deleted and written again starts over at "1", so an ETag read
before the delete matches the new item again (the contract compares ETags as strings).

Resilience: the connection pool reconnects by itself after a server restart (scripts are loaded
again on NOSCRIPT), connection errors are retried with jittered backoff within the operation
timeout (``readTimeout``), and an unreachable or unresponsive server fails an operation within
about that timeout instead of hanging. Timeouts are not retried. As with any Redis client, a
connection lost after a write was sent but before its reply arrived makes the retry send it again
(a conditional write may then report a mismatch against its own first attempt). Metadata: see
``_metadata``.
"""

from components.state.redis._metadata import RedisStateMetadata
from components.state.redis._store import RedisStateStore

__all__ = ["RedisStateMetadata", "RedisStateStore"]
