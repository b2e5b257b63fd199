"""``state.postgresql``: a state store on PostgreSQL (asyncpg).

- ``PostgresStateStore`` (``_store``): the component and its contract;
- ``PostgresMetadata`` (``_metadata``): its metadata (connection string forms, table names,
  timeout, cleanup interval, pool size);
- ``_migrations``: the versioned, concurrency-safe schema migrations and the table layout;
- ``_query``: translation of the Query filter to SQL over ``value_json`` (offset tokens).
"""

from components.state.postgresql._metadata import PostgresMetadata
from components.state.postgresql._store import PostgresStateStore

__all__ = ["PostgresMetadata", "PostgresStateStore"]
