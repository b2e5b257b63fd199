"""The embedded defaults used when no resources are configured: zero setup, durable."""

from __future__ import annotations

from pathlib import Path

from runtime.resources.manifest import ComponentManifest

__all__ = ["default_components"]


def default_components(home: Path) -> list[ComponentManifest]:
    """``statestore``: SQLite in ``$TANDEM_HOME/data/state.db``, shared by every app on the
    machine (keys are prefixed with the app id); ``flags``: ``$TANDEM_HOME/flags.json`` as a
    ``flags.file`` source when that file exists."""
    db = home / "data" / "state.db"
    statestore = ComponentManifest.model_validate(
        {
            "apiVersion": "dapr.io/v1alpha1",
            "kind": "Component",
            "metadata": {"name": "statestore"},
            "spec": {
                "type": "state.sqlite",
                "version": "v1",
                "metadata": [{"name": "connectionString", "value": str(db)}],
            },
            "source": "<embedded defaults>",
        }
    )
    flags = home / "flags.json"
    if not flags.is_file():
        return [statestore]
    # ``flags``: the flagd flag file $TANDEM_HOME/flags.json, when it exists (watched)
    flag_source = ComponentManifest.model_validate(
        {
            "apiVersion": "dapr.io/v1alpha1",
            "kind": "Component",
            "metadata": {"name": "flags"},
            "spec": {
                "type": "flags.file",
                "version": "v1",
                "metadata": [{"name": "path", "value": str(flags)}],
            },
            "source": "<embedded defaults>",
        }
    )
    return [statestore, flag_source]
