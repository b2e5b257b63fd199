"""MetadataService: what this sidecar runs, for ``/v1.0/metadata`` and ``GetMetadata``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from runtime import errors
from runtime._version import __version__
from runtime.compstore import ComponentStore

__all__ = [
    "MAX_ATTRIBUTES_BYTES",
    "AppConnection",
    "ComponentInfo",
    "MetadataService",
    "MetadataSnapshot",
]

MAX_ATTRIBUTES_BYTES = 256 * 1024  # keys and values of the extended attributes, UTF-8


def _size(key: str, value: str | None) -> int:
    if value is None:
        return 0
    return len(key.encode("utf-8", "surrogatepass")) + len(value.encode("utf-8", "surrogatepass"))


@dataclass(frozen=True, slots=True, kw_only=True)
class ComponentInfo:
    name: str
    type: str
    version: str
    capabilities: tuple[str, ...]


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
    subscriptions: tuple[object, ...] = field(default=())


class MetadataService:
    def __init__(
        self,
        components: ComponentStore,
        *,
        app_id: str,
        app_connection: AppConnection,
        extended: Mapping[str, str] | None = None,
    ) -> None:
        self._components = components
        self._app_id = app_id
        self._app_connection = app_connection
        self._extended: dict[str, str] = {
            "daprRuntimeVersion": __version__,
            "runtime": "tandem",
            **(extended or {}),
        }
        self._attributes_bytes = sum(_size(k, v) for k, v in self._extended.items())

    def set_attribute(self, key: str, value: str) -> None:
        """Set one extended attribute; InvalidArgument past ``MAX_ATTRIBUTES_BYTES`` in all.

        The bound keeps a client from growing the sidecar's memory without limit and every
        metadata answer past the API's message size.
        """
        total = self._attributes_bytes - _size(key, self._extended.get(key)) + _size(key, value)
        if total > MAX_ATTRIBUTES_BYTES:
            raise errors.InvalidArgument(
                f"metadata attributes would take {total} bytes, more than the "
                f"{MAX_ATTRIBUTES_BYTES} allowed in total",
                code=errors.ErrorCode.MALFORMED_REQUEST,
            )
        self._extended[key] = value
        self._attributes_bytes = total

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
        )
