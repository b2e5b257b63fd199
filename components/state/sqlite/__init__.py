"""``state.sqlite``: the embedded, durable default state store (one SQLite file).

Features ETAG, TRANSACTIONAL, TTL, QUERY_API, LIST_KEYS.

- ``SqliteStateStore`` (``_store``): the component, its lifecycle and its contract;
- ``SqliteMetadata`` (``_metadata``): connection string (default ``<home>/state/<name>.db``),
  table name, busy timeout, cleanup interval;
- ``_migrations``: versioned schema, recorded in a ``metadata`` table; ``SCHEMA_VERSION`` is the
  level this code writes, and a newer table makes ``init()`` fail;
- ``_sql``: the fixed per-table statements (values are always bound parameters);
- ``_query``: validation and SQL translation of queries and key listings.
"""

from components.state.sqlite._metadata import SqliteMetadata
from components.state.sqlite._migrations import SCHEMA_VERSION
from components.state.sqlite._store import SqliteStateStore

__all__ = ["SCHEMA_VERSION", "SqliteMetadata", "SqliteStateStore"]
