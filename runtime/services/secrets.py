"""SecretsService: reading secrets for both APIs, with the Configuration's ``secrets.scopes``.

Order of checks (each its own error, see ``secrets_errors``): a secret store is loaded at all,
the store exists, the key is well formed, the scope allows the key, then the store is asked. A
denied key is refused before the store is asked, so the answer is the same whether or not the
secret exists. Bulk leaves denied secrets out.

Scoping is Dapr's (``SecretsScope.IsSecretAllowed``): a store without a scope allows all; with a
non-empty ``allowedSecrets``, exactly those are allowed (``defaultAccess`` and
``deniedSecrets`` do not matter); otherwise a key in ``deniedSecrets`` is denied and the rest
follow ``defaultAccess`` (``allow`` unless it says ``deny``, any case). Names match exactly.

Secret values are never logged, put in errors or in span attributes here; backend failures
are reported by exception type and message only (components keep values out of those).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, TypeVar

import msgspec

from components.errors import shown
from components.secretstores import SecretStore
from runtime import errors
from runtime.compstore import ComponentStore
from runtime.observability import NOOP_OBSERVER, Observer
from runtime.services._calls import ComponentCalls
from runtime.services.secrets_errors import SecretsErrors

if TYPE_CHECKING:
    from runtime.resiliency import Resiliency

__all__ = ["MAX_KEY_BYTES", "SecretScope", "SecretsService"]

T = TypeVar("T")
BLOCK = "secretstores"
MAX_KEY_BYTES = 1024
_SHOWN_KEY = 128


class SecretScope(msgspec.Struct, frozen=True, kw_only=True):
    """One store's entry of the Configuration's ``secrets.scopes``."""

    default_access: str = "allow"
    allowed: frozenset[str] = frozenset()
    denied: frozenset[str] = frozenset()

    def allows(self, key: str) -> bool:
        if self.allowed:
            return key in self.allowed
        if key in self.denied:
            return False
        return self.default_access.lower() != "deny"


def _shown(key: str) -> str:
    """The key as an error message may quote it: repr, cut short."""
    return shown(key, _SHOWN_KEY)


class SecretsService:
    def __init__(
        self,
        components: ComponentStore,
        *,
        scopes: Mapping[str, SecretScope] | None = None,
        observer: Observer = NOOP_OBSERVER,
        resiliency: Resiliency | None = None,
    ) -> None:
        self._components = components
        self._scopes = dict(scopes or {})
        self._calls = ComponentCalls(BLOCK, observer=observer, resiliency=resiliency)

    @staticmethod
    def scopes_from(
        entries: Iterable[tuple[str, str, Iterable[str], Iterable[str]]],
    ) -> dict[str, SecretScope]:
        """``{store: SecretScope}`` from ``(storeName, defaultAccess, allowed, denied)``; a
        later entry for the same store replaces an earlier one."""
        return {
            store: SecretScope(
                default_access=access, allowed=frozenset(allowed), denied=frozenset(denied)
            )
            for store, access, allowed, denied in entries
        }

    def _store(self, name: str) -> SecretStore:
        if not self._components.has_block(BLOCK):
            raise SecretsErrors.STORES_NOT_CONFIGURED()
        live = self._components.secret_store(name)
        if live is None:
            raise SecretsErrors.STORE_NOT_FOUND(name=_shown(name))
        return live.instance

    def allowed(self, store: str, key: str) -> bool:
        scope = self._scopes.get(store)
        return scope is None or scope.allows(key)

    @staticmethod
    def _check_key(key: str) -> None:
        problem = None
        if not key:
            problem = "a key is required"
        elif "\x00" in key:
            problem = "NUL is not allowed"
        elif len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
            problem = f"longer than {MAX_KEY_BYTES} bytes"
        if problem is not None:
            raise SecretsErrors.KEY_INVALID(key=_shown(key), detail=problem)

    async def _call(
        self,
        store: str,
        op: str,
        fail: Callable[[str], errors.APIError],
        fn: Callable[[], Awaitable[T]],
    ) -> T:
        """Run a store call under its resiliency policies; a failure becomes ``fail(detail)``."""
        try:
            return await self._calls.run(store, op, fn)
        except errors.APIError:
            raise
        except TimeoutError as exc:
            raise fail("timed out") from exc
        except Exception as exc:
            raise fail(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__) from exc

    async def get(self, store: str, key: str, metadata: Mapping[str, str]) -> dict[str, str]:
        """The secret ``key`` of ``store``. Raises a ``SecretsErrors`` entry."""
        component = self._store(store)
        self._check_key(key)
        shown = _shown(key)
        if not self.allowed(store, key):
            raise SecretsErrors.PERMISSION_DENIED(key=key[:_SHOWN_KEY], store=store)
        found = await self._call(
            store,
            "get",
            lambda detail: SecretsErrors.GET_FAILED(key=shown, store=store, detail=detail),
            lambda: component.get(key, metadata),
        )
        if found is None:
            raise SecretsErrors.SECRET_NOT_FOUND(key=shown, store=store)
        return found

    async def bulk(self, store: str, metadata: Mapping[str, str]) -> dict[str, dict[str, str]]:
        """Every secret of ``store`` the scope allows, by name."""
        component = self._store(store)
        found = await self._call(
            store,
            "bulk_get",
            lambda detail: SecretsErrors.BULK_GET_FAILED(store=store, detail=detail),
            lambda: component.bulk_get(metadata),
        )
        if store not in self._scopes:
            return found
        return {name: values for name, values in found.items() if self.allowed(store, name)}
