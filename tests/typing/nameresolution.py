"""Name resolvers, checked statically against ``NameResolver`` and ``RegisteringResolver``."""

from __future__ import annotations

from components.nameresolution import NameResolver, RegisteringResolver
from components.nameresolution.dns import DnsResolver
from components.nameresolution.mdns import MdnsResolver
from components.nameresolution.redis import RedisResolver
from components.nameresolution.sqlite import SqliteResolver
from components.nameresolution.static import StaticResolver

__all__ = ["CHECKED"]


# One function per Protocol: mypy then names the offending class ("Argument 2 to ...").
def _resolvers(*classes: type[NameResolver]) -> tuple[type[NameResolver], ...]:
    return classes


def _registering(*classes: type[RegisteringResolver]) -> object:
    return classes


CHECKED = _resolvers(SqliteResolver, StaticResolver, DnsResolver, MdnsResolver, RedisResolver)
_registering(SqliteResolver, MdnsResolver, RedisResolver)
