"""MetadataService: what this sidecar runs, for ``/v1.0/metadata`` and ``GetMetadata``."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import msgspec

from runtime._version import __version__
from runtime.compstore import ComponentStore
from runtime.services.metadata_errors import MetadataErrors

__all__ = [
    "MAX_ATTRIBUTES",
    "MAX_ATTRIBUTES_SIZE",
    "MAX_ATTRIBUTE_KEY",
    "MAX_ATTRIBUTE_VALUE",
    "AppConnection",
    "ComponentInfo",
    "MetadataService",
    "MetadataSnapshot",
    "SubscriptionInfo",
]

# Bounds on the extended attributes set through the API (``PUT /v1.0/metadata/{key}``,
# ``SetMetadata``): every caller reads them all back in one response, so they must stay far
# below the API's message size. Sizes are UTF-8 bytes.
MAX_ATTRIBUTE_KEY = 256
MAX_ATTRIBUTE_VALUE = 64 * 1024
MAX_ATTRIBUTES = 1000
MAX_ATTRIBUTES_SIZE = 1 << 20


class ComponentInfo(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    type: str
    version: str
    capabilities: tuple[str, ...]


class SubscriptionInfo(msgspec.Struct, frozen=True, kw_only=True):
    """One active pub/sub subscription; ``type`` is DECLARATIVE, PROGRAMMATIC or STREAMING."""

    pubsub_name: str
    topic: str
    type: str
    rules: tuple[tuple[str, str], ...] = ()  # (CEL match, path); the default has match ""
    metadata: Mapping[str, str] = msgspec.field(default_factory=dict)
    dead_letter_topic: str = ""


class AppConnection(msgspec.Struct, frozen=True, kw_only=True):
    port: int | None
    protocol: str
    channel_address: str
    max_concurrency: int | None = None  # --app-max-concurrency; None: unlimited
    health_check_path: str | None = None
    health_probe_interval: str | None = None
    health_probe_timeout: str | None = None
    health_threshold: int | None = None


class MetadataSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    runtime_version: str
    components: tuple[ComponentInfo, ...]
    extended: Mapping[str, str]
    app_connection: AppConnection
    enabled_features: tuple[str, ...] = ()
    subscriptions: tuple[SubscriptionInfo, ...] = ()


class MetadataService:
    def __init__(
        self,
        components: ComponentStore,
        *,
        app_id: str,
        app_connection: AppConnection,
        extended: Mapping[str, str] | None = None,
        subscriptions: Callable[[], Sequence[SubscriptionInfo]] = tuple,
    ) -> None:
        self._components = components
        self._subscriptions = subscriptions
        self._app_id = app_id
        self._app_connection = app_connection
        self._extended: dict[str, str] = {
            "daprRuntimeVersion": __version__,
            "runtime": "tandem",
            **(extended or {}),
        }
        self._size = sum(len(k.encode()) + len(v.encode()) for k, v in self._extended.items())

    def set_runtime_attribute(self, key: str, value: str) -> None:
        """Set one of the runtime's own attributes (``appPID``, ...): not bounded, counted."""
        old = self._extended.get(key)
        freed = 0 if old is None else len(key.encode()) + len(old.encode())
        self._extended[key] = value
        self._size += len(key.encode()) + len(value.encode()) - freed

    def set_subscriptions(self, provider: Callable[[], Sequence[SubscriptionInfo]]) -> None:
        """Where the active pub/sub subscriptions come from (set once delivery is built)."""
        self._subscriptions = provider

    def set_attribute(self, key: str, value: str) -> None:
        """Set an extended attribute for an API caller; a bad key or a bound exceeded raise
        the MetadataErrors entry and leave the attributes unchanged."""
        key_size = len(key.encode())
        if not 0 < key_size <= MAX_ATTRIBUTE_KEY:
            raise MetadataErrors.ATTRIBUTE_KEY_INVALID(max=MAX_ATTRIBUTE_KEY, size=key_size)
        value_size = len(value.encode())
        if value_size > MAX_ATTRIBUTE_VALUE:
            raise MetadataErrors.ATTRIBUTES_TOO_LARGE(
                detail=f"metadata value of {key!r} is {value_size} bytes; "
                f"limit {MAX_ATTRIBUTE_VALUE}"
            )
        old = self._extended.get(key)
        if old is None and len(self._extended) >= MAX_ATTRIBUTES:
            raise MetadataErrors.ATTRIBUTES_TOO_LARGE(
                detail=f"too many metadata attributes: limit {MAX_ATTRIBUTES}"
            )
        freed = 0 if old is None else key_size + len(old.encode())
        if self._size - freed + key_size + value_size > MAX_ATTRIBUTES_SIZE:
            raise MetadataErrors.ATTRIBUTES_TOO_LARGE(
                detail=f"metadata attributes would exceed {MAX_ATTRIBUTES_SIZE} bytes in all"
            )
        self._extended[key] = value
        self._size += key_size + value_size - freed

    def snapshot(self) -> MetadataSnapshot:
        comps = []
        for live in sorted(self._components, key=lambda c: c.name):
            features = getattr(live.instance, "features", None)
            caps = tuple(sorted(str(f) for f in features())) if callable(features) else ()
            comps.append(
                ComponentInfo(
                    name=live.name, type=live.type, version=live.version, capabilities=caps
                )
            )
        return MetadataSnapshot(
            id=self._app_id,
            runtime_version=__version__,
            components=tuple(comps),
            extended=dict(self._extended),
            app_connection=self._app_connection,
            subscriptions=tuple(self._subscriptions()),
        )
