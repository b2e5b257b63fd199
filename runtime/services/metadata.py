"""MetadataService: what this sidecar runs, for ``/v1.0/metadata`` and ``GetMetadata``."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from runtime._version import __version__
from runtime.compstore import ComponentStore

__all__ = [
    "AppConnection",
    "ComponentInfo",
    "MetadataService",
    "MetadataSnapshot",
    "SubscriptionInfo",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class ComponentInfo:
    name: str
    type: str
    version: str
    capabilities: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscriptionInfo:
    """One active pub/sub subscription; ``type`` is DECLARATIVE, PROGRAMMATIC or STREAMING."""

    pubsub_name: str
    topic: str
    type: str
    rules: tuple[tuple[str, str], ...] = ()  # (CEL match, path); the default has match ""
    metadata: Mapping[str, str] = field(default_factory=dict)
    dead_letter_topic: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class AppConnection:
    port: int | None
    protocol: str
    channel_address: str
    health_check_path: str | None = None
    health_probe_interval: str | None = None
    health_probe_timeout: str | None = None
    health_threshold: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MetadataSnapshot:
    id: str
    runtime_version: str
    components: tuple[ComponentInfo, ...]
    extended: Mapping[str, str]
    app_connection: AppConnection
    enabled_features: tuple[str, ...] = ()
    subscriptions: tuple[SubscriptionInfo, ...] = field(default=())


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

    def set_subscriptions(self, provider: Callable[[], Sequence[SubscriptionInfo]]) -> None:
        """Where the active pub/sub subscriptions come from (set once delivery is built)."""
        self._subscriptions = provider

    def set_attribute(self, key: str, value: str) -> None:
        self._extended[key] = value

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
