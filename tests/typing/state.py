"""State stores, checked statically against ``StateStore`` and their capability Protocols."""

from __future__ import annotations

from components.state import KeyLister, QueryableStateStore, StateStore, TransactionalStateStore
from components.state.in_memory import InMemoryStateStore
from components.state.postgresql import PostgresStateStore
from components.state.redis import RedisStateStore
from components.state.sqlite import SqliteStateStore

__all__ = ["CHECKED"]


# One function per Protocol: mypy then names the offending class ("Argument 2 to ...").
def _state(*classes: type[StateStore]) -> tuple[type[StateStore], ...]:
    return classes


def _transactional(*classes: type[TransactionalStateStore]) -> object:
    return classes


def _queryable(*classes: type[QueryableStateStore]) -> object:
    return classes


def _key_listers(*classes: type[KeyLister]) -> object:
    return classes


CHECKED = _state(InMemoryStateStore, SqliteStateStore, RedisStateStore, PostgresStateStore)
_transactional(InMemoryStateStore, SqliteStateStore, RedisStateStore, PostgresStateStore)
_queryable(InMemoryStateStore, SqliteStateStore, PostgresStateStore)
_key_listers(InMemoryStateStore, SqliteStateStore, RedisStateStore, PostgresStateStore)
