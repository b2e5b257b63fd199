"""The embedded defaults used when no resources are configured: zero setup, durable."""

from __future__ import annotations

from pathlib import Path

from runtime.resources.manifest import ComponentManifest, ComponentSpec, MetadataItem, ObjectMeta

__all__ = ["default_components"]


def _embedded(name: str, type_: str, metadata: dict[str, str]) -> ComponentManifest:
    """A valid manifest made without validation: the defaults are constants (the tests check
    each equals its validated form), and a sidecar on them never builds the manifest models'
    validators."""
    return ComponentManifest.model_construct(
        apiVersion="dapr.io/v1alpha1",
        kind="Component",
        metadata=ObjectMeta.model_construct(name=name),
        spec=ComponentSpec.model_construct(
            type=type_,
            version="v1",
            metadata=[MetadataItem.model_construct(name=k, value=v) for k, v in metadata.items()],
        ),
        source="<embedded defaults>",
    )


def default_components(home: Path) -> list[ComponentManifest]:
    """``statestore``: SQLite in ``$TANDEM_HOME/data/state.db``, shared by every app on the
    machine (keys are prefixed with the app id); ``pubsub``: SQLite in
    ``$TANDEM_HOME/data/pubsub.db``, shared likewise (apps on one machine talk through it);
    ``flags``: ``$TANDEM_HOME/flags.json`` as a ``flags.file`` source when that file exists."""
    data = home / "data"
    found = [
        _embedded("statestore", "state.sqlite", {"connectionString": str(data / "state.db")}),
        _embedded("pubsub", "pubsub.sqlite", {"connectionString": str(data / "pubsub.db")}),
    ]
    flags = home / "flags.json"
    if flags.is_file():  # the flagd flag file, watched
        found.append(_embedded("flags", "flags.file", {"path": str(flags)}))
    return found
